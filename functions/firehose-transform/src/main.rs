//! The Lambda entry point (`bootstrap`) of the Firehose transformation: read `LOG_FORMAT`, then
//! hand each event to the library. Settings are documented in README.md.

use lambda_runtime::tracing::subscriber::EnvFilter;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use loglake_decode::DecoderOptions;
use loglake_firehose_transform::{
    FirehoseEvent, ANONYMIZE_IP_KEY_VAR, ANONYMIZE_IP_VAR, KEEP_EXTRA_FIELDS_VAR, LOG_FORMAT_VAR,
};
use loglake_parser::{Enrichment, ExtraFields, IpAnonymization, LogFormat};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_target(false)
        .init();

    let setting = |name| std::env::var(name).ok();
    let format = LogFormat::from_setting(setting(LOG_FORMAT_VAR).as_deref())
        .inspect_err(|error| tracing::error!(%error, "invalid LOG_FORMAT"))?;
    let keep_extra_fields = ExtraFields::from_setting(setting(KEEP_EXTRA_FIELDS_VAR).as_deref())
        .inspect_err(|error| tracing::error!(%error, "invalid KEEP_EXTRA_FIELDS"))?;
    let anonymize_ip = IpAnonymization::from_setting(
        setting(ANONYMIZE_IP_VAR).as_deref(),
        setting(ANONYMIZE_IP_KEY_VAR).as_deref(),
    )
    .inspect_err(|error| tracing::error!(%error, "invalid ANONYMIZE_IP"))?;
    let options = DecoderOptions {
        format,
        keep_extra_fields,
        anonymize_ip,
        enrichment: Enrichment::from_env(|warning| tracing::warn!(warning, "enrichment data")),
        ..Default::default()
    };

    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<FirehoseEvent>| async move {
            let (response, stats) = loglake_firehose_transform::transform(&event.payload, options);
            tracing::info!(
                records = stats.stream.records_in,
                lines_in = stats.stream.lines_in,
                rows_out = stats.stream.rows_out,
                rejected = stats.stream.rejected,
                ok = stats.ok,
                dropped = stats.dropped,
                failed = stats.failed,
                over_budget = stats.over_budget,
                "transformed"
            );
            Ok::<_, Error>(response)
        },
    ))
    .await
}
