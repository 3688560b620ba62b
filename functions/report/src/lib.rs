//! The scheduled `report` function: runs the chosen shipped reports on Athena for one day
//! (yesterday, UTC, unless the event names a date) and has Athena write each result's CSV under
//! `REPORTS_OUTPUT/dt=YYYY-MM-DD/REPORT/` (Athena names the file after the query id). One
//! failing report does not stop the others; the invocation fails at the end if any did, so the
//! function's error metric and alarm see it.

use std::time::{SystemTime, UNIX_EPOCH};

use loglake_parser::timestamp::civil_from_days;
use loglake_queries::athena::{run_query, AthenaTarget, PollPolicy};
use loglake_queries::{DateRange, Report, REPORTS};
use serde::{Deserialize, Serialize};

/// Every environment variable the function reads (README.md documents each).
pub const ENV_VARS: [&str; 4] = [
    "ATHENA_WORKGROUP",
    "ATHENA_DATABASE",
    "REPORTS_OUTPUT",
    "REPORTS",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub workgroup: String,
    pub database: String,
    /// `s3://bucket/reports/`
    pub output: String,
    pub reports: Vec<&'static Report>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is not set: {1}")]
    Missing(&'static str, &'static str),
    #[error("REPORTS_OUTPUT={0:?} is not an s3:// URI")]
    BadOutput(String),
    #[error("REPORTS names an unknown report {0:?}")]
    UnknownReport(String),
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
        Ok(Self {
            workgroup,
            database,
            output: format!("{}/", output.trim_end_matches('/')),
            reports,
        })
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }
}

/// The invocation's input: an EventBridge scheduled event (whose fields are ignored), or
/// `{"date": "YYYY-MM-DD"}` to run one day again.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReportRequest {
    #[serde(default)]
    pub date: Option<String>,
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

/// Runs every configured report for `date`.
pub async fn run_reports(
    client: &aws_sdk_athena::Client,
    config: &Config,
    date: &str,
    poll: PollPolicy,
) -> Result<RunSummary, loglake_queries::QueryError> {
    let range = DateRange::new(date, date)?;
    let mut reports = Vec::new();
    for report in &config.reports {
        let target = AthenaTarget {
            workgroup: config.workgroup.clone(),
            database: config.database.clone(),
            output: Some(format!("{}dt={date}/{}/", config.output, report.name)),
        };
        let outcome = match run_query(client, &target, report.sql, &range.parameters(), poll).await
        {
            Ok(result) => {
                tracing::info!(
                    report = report.name,
                    rows = result.table.rows.len(),
                    data_scanned_bytes = result.data_scanned_bytes,
                    cost_usd = result.cost_usd(),
                    "report done"
                );
                ReportOutcome {
                    report: report.name.into(),
                    rows: Some(result.table.rows.len()),
                    data_scanned_bytes: Some(result.data_scanned_bytes),
                    output_location: result.output_location.or(target.output),
                    error: None,
                }
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
    Ok(RunSummary {
        date: date.into(),
        reports,
    })
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
    }

    #[test]
    fn yesterday_is_the_previous_utc_day() {
        // 2026-03-01T00:30:00Z
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_772_325_000);
        assert_eq!(yesterday_utc(now), "2026-02-28");
    }
}
