//! The Lambda entry point (`bootstrap`) of the scheduled reports. Settings are documented in
//! README.md.

use lambda_runtime::tracing::subscriber::EnvFilter;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use loglake_queries::athena::{self, PollPolicy};
use loglake_report::{run_reports, upload_page, yesterday_utc, Config, ReportRequest, RunSummary};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_target(false)
        .init();
    let config = Config::from_env().inspect_err(|error| {
        tracing::error!(%error, "invalid configuration");
    })?;
    let client = athena::client_from_env().await;
    let s3 = loglake_backfill::s3::S3::client_from_env().await;
    let (config, client, s3) = (&config, &client, &s3);

    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ReportRequest>| async move {
            let date = event
                .payload
                .date
                .unwrap_or_else(|| yesterday_utc(std::time::SystemTime::now()));
            let run = run_reports(client, config, &date, PollPolicy::default()).await?;
            let mut summary: RunSummary = run.summary;
            summary.page = Some(upload_page(s3, config, &date, run.page).await?);
            match summary.failed() {
                0 => Ok::<_, Error>(summary),
                failed => Err(format!(
                    "{failed} of {} reports failed for {date}: {}",
                    summary.reports.len(),
                    serde_json::to_string(&summary).unwrap_or_default()
                )
                .into()),
            }
        },
    ))
    .await
}
