//! The scheduled `report` function: runs the chosen shipped reports on Athena for one day
//! (yesterday, UTC, unless the event names a date) and has Athena write each result's CSV under
//! `REPORTS_OUTPUT/dt=YYYY-MM-DD/REPORT/` (Athena names the file after the query id). One
//! failing report does not stop the others; the invocation fails at the end if any did, so the
//! function's error metric and alarm see it. The results together also make one HTML page
//! (`loglake_queries::dashboard`), uploaded as `REPORTS_OUTPUT/dt=YYYY-MM-DD/report.html`.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::error::DisplayErrorContext;
use loglake_parser::timestamp::civil_from_days;
use loglake_queries::alerts::{
    evaluate, notification, publish, window_sql, Thresholds, Window, WindowCounts,
};
use loglake_queries::athena::{run_query, AthenaTarget, PollPolicy};
use loglake_queries::dashboard::OVERVIEW_REPORTS;
use loglake_queries::{DateRange, Report, ResultTable, SqlSettings, REPORTS};
use serde::{Deserialize, Serialize};

/// Every environment variable the function reads (README.md documents each).
pub const ENV_VARS: [&str; 9] = [
    "ATHENA_WORKGROUP",
    "ATHENA_DATABASE",
    "REPORTS_OUTPUT",
    "REPORTS",
    "VISIT_GAP_MINUTES",
    "ALERT_TOPIC_ARN",
    "ALERT_5XX_RATE_PCT",
    "ALERT_ERROR_SPIKE_RATIO",
    "ALERT_DETECTIONS",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub workgroup: String,
    pub database: String,
    /// `s3://bucket/reports/`
    pub output: String,
    pub reports: Vec<&'static Report>,
    /// What the reports' SQL runs with (the visit gap).
    pub sql: SqlSettings,
    /// What an hour of traffic is held to (`{"alerts": …}` events); all off unless set.
    pub thresholds: Thresholds,
    /// Where alerts go.
    pub alert_topic: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set: {1}")]
    Missing(&'static str, &'static str),
    #[error("REPORTS_OUTPUT={0:?} is not an s3:// URI")]
    BadOutput(String),
    #[error("REPORTS names an unknown report {0:?}")]
    UnknownReport(String),
    #[error("VISIT_GAP_MINUTES={0:?} is not a whole number of minutes from 1")]
    BadVisitGap(String),
    #[error("{0}={1:?} is not a number")]
    BadThreshold(&'static str, String),
    #[error("an alert threshold is set but ALERT_TOPIC_ARN, where alerts go, is not")]
    NoAlertTopic,
}

impl Config {
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let workgroup = set("ATHENA_WORKGROUP").ok_or(ConfigError::Missing(
            "ATHENA_WORKGROUP",
            "the Athena workgroup to run in",
        ))?;
        let database = set("ATHENA_DATABASE").ok_or(ConfigError::Missing(
            "ATHENA_DATABASE",
            "the Glue database holding access_logs",
        ))?;
        let output = set("REPORTS_OUTPUT").ok_or(ConfigError::Missing(
            "REPORTS_OUTPUT",
            "where the CSV results go, e.g. s3://bucket/reports/",
        ))?;
        if !output.starts_with("s3://") {
            return Err(ConfigError::BadOutput(output));
        }
        let reports = match set("REPORTS") {
            None => REPORTS.iter().collect(),
            Some(names) => names
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|n| loglake_queries::report(n).ok_or(ConfigError::UnknownReport(n.into())))
                .collect::<Result<_, _>>()?,
        };
        let mut sql = SqlSettings::default();
        if let Some(gap) = set("VISIT_GAP_MINUTES") {
            sql.visit_gap_minutes = (gap.trim().parse().ok())
                .filter(|&minutes: &u32| minutes > 0)
                .ok_or(ConfigError::BadVisitGap(gap))?;
        }
        let number = |name: &'static str| -> Result<Option<f64>, ConfigError> {
            set(name)
                .map(|v| {
                    (v.trim().parse::<f64>().ok())
                        .filter(|n| n.is_finite() && *n >= 0.0)
                        .ok_or(ConfigError::BadThreshold(name, v))
                })
                .transpose()
        };
        let thresholds = Thresholds {
            server_error_rate_pct: number("ALERT_5XX_RATE_PCT")?,
            error_spike_ratio: number("ALERT_ERROR_SPIKE_RATIO")?,
            detections: number("ALERT_DETECTIONS")?.map(|n| n.ceil() as u64),
        };
        let alert_topic = set("ALERT_TOPIC_ARN");
        if thresholds.any() && alert_topic.is_none() {
            return Err(ConfigError::NoAlertTopic);
        }
        Ok(Self {
            workgroup,
            database,
            output: format!("{}/", output.trim_end_matches('/')),
            reports,
            sql,
            thresholds,
            alert_topic,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }
}

/// The invocation's input: an EventBridge scheduled event (whose fields are ignored), or
/// `{"date": "YYYY-MM-DD"}` to run one day again; `{"alerts": {}}` checks the last complete hour
/// against the alert thresholds instead (`{"alerts": {"hour": "YYYY-MM-DDTHH"}}` another hour).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReportRequest {
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub alerts: Option<AlertsRequest>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsRequest {
    #[serde(default)]
    pub hour: Option<String>,
}

/// What an alert check found, and where it went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertCheck {
    pub hour: String,
    pub requests: u64,
    pub server_errors: u64,
    pub errors: u64,
    pub errors_week_before: u64,
    pub detections: u64,
    pub alerts: Vec<String>,
    /// The SNS message id, when alerts were published.
    pub published: Option<String>,
}

/// The hour before the one `now` is in.
pub fn last_complete_hour(now: SystemTime) -> Window {
    let seconds = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Window::at(seconds - 3_600)
}

/// Counts `window` on Athena, holds it to the thresholds and publishes what they found.
pub async fn check_alerts(
    athena: &aws_sdk_athena::Client,
    sns: &aws_sdk_sns::Client,
    config: &Config,
    window: &Window,
    poll: PollPolicy,
) -> Result<AlertCheck, String> {
    let target = AthenaTarget {
        workgroup: config.workgroup.clone(),
        database: config.database.clone(),
        output: Some(format!("{}alerts/", config.output)),
    };
    let result = run_query(athena, &target, &window_sql(window), &[], poll)
        .await
        .map_err(|e| format!("counting {window}: {e}"))?;
    let counts = WindowCounts::from_table(&result.table)
        .ok_or_else(|| format!("counting {window}: no counts in {:?}", result.table.columns))?;
    let alerts = evaluate(&counts, &config.thresholds);
    let published = match (alerts.is_empty(), &config.alert_topic) {
        (false, Some(topic)) => {
            let source = format!("Athena {}.access_logs", config.database);
            Some(publish(sns, topic, notification(&source, window, &alerts)).await?)
        }
        _ => None,
    };
    Ok(AlertCheck {
        hour: format!("{}T{:02}", window.dt, window.hour),
        requests: counts.requests,
        server_errors: counts.server_errors,
        errors: counts.errors,
        errors_week_before: counts.errors_week_before,
        detections: counts.detections,
        alerts: alerts
            .into_iter()
            .map(|a| format!("{}: {}", a.kind, a.message))
            .collect(),
        published,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportOutcome {
    pub report: String,
    pub rows: Option<usize>,
    pub data_scanned_bytes: Option<i64>,
    pub output_location: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub date: String,
    pub reports: Vec<ReportOutcome>,
    /// Where the day's HTML page went (`s3://…/dt=…/report.html`), once uploaded.
    pub page: Option<String>,
}

/// A day's run: its summary, and the HTML page of the reports that ran.
#[derive(Debug, Clone)]
pub struct ReportRun {
    pub summary: RunSummary,
    pub page: String,
}

impl RunSummary {
    pub fn failed(&self) -> usize {
        self.reports.iter().filter(|r| r.error.is_some()).count()
    }
}

/// Yesterday's UTC date, `YYYY-MM-DD`.
pub fn yesterday_utc(now: SystemTime) -> String {
    let days = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64 / 86_400);
    let (year, month, day) = civil_from_days(days - 1);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Runs every configured report for `date`, and renders the ones that ran as one page.
pub async fn run_reports(
    client: &aws_sdk_athena::Client,
    config: &Config,
    date: &str,
    poll: PollPolicy,
) -> Result<ReportRun, loglake_queries::QueryError> {
    let range = DateRange::new(date, date)?;
    let mut reports = Vec::new();
    let mut tables: Vec<(&Report, ResultTable)> = Vec::new();
    for report in &config.reports {
        let target = AthenaTarget {
            workgroup: config.workgroup.clone(),
            database: config.database.clone(),
            output: Some(format!("{}dt={date}/{}/", config.output, report.name)),
        };
        let sql = config.sql.sql(report);
        let outcome = match run_query(client, &target, &sql, &range.parameters(), poll).await {
            Ok(result) => {
                tracing::info!(
                    report = report.name,
                    rows = result.table.rows.len(),
                    data_scanned_bytes = result.data_scanned_bytes,
                    cost_usd = result.cost_usd(),
                    "report done"
                );
                let outcome = ReportOutcome {
                    report: report.name.into(),
                    rows: Some(result.table.rows.len()),
                    data_scanned_bytes: Some(result.data_scanned_bytes),
                    output_location: result.output_location.or(target.output),
                    error: None,
                };
                tables.push((report, result.table));
                outcome
            }
            Err(error) => {
                tracing::error!(report = report.name, %error, "report failed");
                ReportOutcome {
                    report: report.name.into(),
                    rows: None,
                    data_scanned_bytes: None,
                    output_location: None,
                    error: Some(error.to_string()),
                }
            }
        };
        reports.push(outcome);
    }
    let panels: Vec<(&Report, &ResultTable)> = tables.iter().map(|(r, t)| (*r, t)).collect();
    // The overview's reports for the day before, to compare (the page only: a failure there
    // leaves the change out).
    let mut before = Vec::new();
    if let Some(previous) = range.previous() {
        for name in OVERVIEW_REPORTS {
            let report = loglake_queries::report(name).expect("a shipped report");
            let target = AthenaTarget {
                workgroup: config.workgroup.clone(),
                database: config.database.clone(),
                output: Some(format!("{}dt={date}/previous/{name}/", config.output)),
            };
            let sql = config.sql.sql(report);
            match run_query(client, &target, &sql, &previous.parameters(), poll).await {
                Ok(result) => before.push((report, result.table)),
                Err(error) => {
                    tracing::warn!(report = name, %error, "the day before's report failed")
                }
            }
        }
    }
    let previous: Vec<(&Report, &ResultTable)> = before.iter().map(|(r, t)| (*r, t)).collect();
    let title = format!("loglake: Athena {}.access_logs ({date})", config.database);
    Ok(ReportRun {
        summary: RunSummary {
            date: date.into(),
            reports,
            page: None,
        },
        page: loglake_queries::dashboard::render(&title, &panels, &previous),
    })
}

/// Where the page of `date` goes: the bucket and key under `REPORTS_OUTPUT`.
pub fn page_location(config: &Config, date: &str) -> (String, String) {
    let path = config.output.trim_start_matches("s3://");
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    (bucket.into(), format!("{prefix}dt={date}/report.html"))
}

/// Uploads the day's page; returns its `s3://` location.
pub async fn upload_page(
    s3: &aws_sdk_s3::Client,
    config: &Config,
    date: &str,
    page: String,
) -> Result<String, String> {
    let (bucket, key) = page_location(config, date);
    s3.put_object()
        .bucket(&bucket)
        .key(&key)
        .content_type("text/html; charset=utf-8")
        .body(page.into_bytes().into())
        .send()
        .await
        .map_err(|error| {
            format!(
                "uploading s3://{bucket}/{key}: {}",
                DisplayErrorContext(error)
            )
        })?;
    Ok(format!("s3://{bucket}/{key}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn settings() {
        let base = [
            ("ATHENA_WORKGROUP", "loglake"),
            ("ATHENA_DATABASE", "loglake"),
            ("REPORTS_OUTPUT", "s3://lake/reports"),
        ];
        let all = config(&base).unwrap();
        assert_eq!(all.reports.len(), REPORTS.len());
        assert_eq!(all.output, "s3://lake/reports/");
        let mut chosen = base.to_vec();
        chosen.push(("REPORTS", "top_paths, bots"));
        let names: Vec<&str> = config(&chosen)
            .unwrap()
            .reports
            .iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["top_paths", "bots"]);
        chosen[3] = ("REPORTS", "top_paths,nope");
        assert_eq!(
            config(&chosen),
            Err(ConfigError::UnknownReport("nope".into()))
        );
        assert!(matches!(
            config(&base[1..]),
            Err(ConfigError::Missing("ATHENA_WORKGROUP", _))
        ));
        let mut bad = base.to_vec();
        bad[2] = ("REPORTS_OUTPUT", "/tmp/reports");
        assert!(matches!(config(&bad), Err(ConfigError::BadOutput(_))));
        assert_eq!(all.sql.visit_gap_minutes, 30);
        let mut gap = base.to_vec();
        gap.push(("VISIT_GAP_MINUTES", "45"));
        assert_eq!(config(&gap).unwrap().sql.visit_gap_minutes, 45);
        gap[3] = ("VISIT_GAP_MINUTES", "0");
        assert!(matches!(config(&gap), Err(ConfigError::BadVisitGap(_))));
        assert!(!all.thresholds.any() && all.alert_topic.is_none());
        let mut alerting = base.to_vec();
        alerting.push(("ALERT_5XX_RATE_PCT", "2.5"));
        assert_eq!(config(&alerting), Err(ConfigError::NoAlertTopic));
        alerting.push((
            "ALERT_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:alarms",
        ));
        alerting.push(("ALERT_DETECTIONS", ""));
        let alerting = config(&alerting).unwrap();
        assert_eq!(alerting.thresholds.server_error_rate_pct, Some(2.5));
        assert_eq!(alerting.thresholds.detections, None, "empty is off");
        let mut bad = base.to_vec();
        bad.push(("ALERT_ERROR_SPIKE_RATIO", "lots"));
        assert!(matches!(config(&bad), Err(ConfigError::BadThreshold(..))));
    }

    #[test]
    fn the_page_goes_under_the_output_prefix() {
        let at = |output: &str| {
            let config = config(&[
                ("ATHENA_WORKGROUP", "w"),
                ("ATHENA_DATABASE", "d"),
                ("REPORTS_OUTPUT", output),
            ])
            .unwrap();
            page_location(&config, "2026-11-21")
        };
        assert_eq!(
            at("s3://lake/reports"),
            ("lake".into(), "reports/dt=2026-11-21/report.html".into())
        );
        assert_eq!(
            at("s3://lake"),
            ("lake".into(), "dt=2026-11-21/report.html".into())
        );
    }

    #[test]
    fn yesterday_is_the_previous_utc_day() {
        // 2026-03-01T00:30:00Z
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_772_325_000);
        assert_eq!(yesterday_utc(now), "2026-02-28");
    }
}
