//! The Lambda entry point (`bootstrap`) of the scheduled reports. Settings are documented in
//! README.md.

use lambda_runtime::tracing::subscriber::EnvFilter;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use loglake_queries::alerts::Window;
use loglake_queries::athena::PollPolicy;
use loglake_report::{
    check_alerts, last_complete_hour, run_reports, upload_page, yesterday_utc, Config,
    ReportRequest, RunSummary,
};
use serde_json::Value;

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
    // One load of the settings and credentials for the Athena and SNS clients.
    let aws = aws_config::load_from_env().await;
    let (client, sns) = (
        aws_sdk_athena::Client::new(&aws),
        aws_sdk_sns::Client::new(&aws),
    );
    let s3 = loglake_backfill::s3::S3::client_from_env().await;
    let (config, client, s3, sns) = (&config, &client, &s3, &sns);

    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ReportRequest>| async move {
            if let Some(alerts) = event.payload.alerts {
                let window = match alerts.hour {
                    Some(hour) => Window::parse(&hour)
                        .ok_or_else(|| format!("{hour:?} is not an hour (YYYY-MM-DDTHH)"))?,
                    None => last_complete_hour(std::time::SystemTime::now()),
                };
                let check =
                    check_alerts(client, sns, config, &window, PollPolicy::default()).await?;
                tracing::info!(hour = %check.hour, alerts = check.alerts.len(), "alerts checked");
                return Ok::<Value, Error>(serde_json::to_value(check)?);
            }
            let date = event
                .payload
                .date
                .unwrap_or_else(|| yesterday_utc(std::time::SystemTime::now()));
            let run = run_reports(client, config, &date, PollPolicy::default()).await?;
            let mut summary: RunSummary = run.summary;
            summary.page = Some(upload_page(s3, config, &date, run.page).await?);
            match summary.failed() {
                0 => Ok(serde_json::to_value(summary)?),
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
