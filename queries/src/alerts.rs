//! Alerts: one hour of traffic (the window) held to thresholds — the share of 5xx answers, errors
//! against the same hour a week before, requests that look like attacks — and the message that
//! says which were crossed. Each threshold is off unless set. The counts come from one query
//! ([`window_sql`]) that runs on Athena and on the local lake alike.

use crate::detections::{detection_case, detections};
use crate::{Cell, ResultTable};

/// Too few requests to judge a rate or a spike by: an hour with fewer never alerts on them.
pub const MIN_REQUESTS: u64 = 20;

/// What to alert on; `None` is off.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Thresholds {
    /// The share of requests answered 5xx, in percent, at or above which to alert.
    pub server_error_rate_pct: Option<f64>,
    /// Errors (4xx and 5xx) at least this many times those of the same hour a week before.
    pub error_spike_ratio: Option<f64>,
    /// Requests that look like attacks (`queries/detections.json`) at or above this many.
    pub detections: Option<u64>,
}

impl Thresholds {
    pub fn any(&self) -> bool {
        self.server_error_rate_pct.is_some()
            || self.error_spike_ratio.is_some()
            || self.detections.is_some()
    }
}

/// The hour alerts look at: a day (`YYYY-MM-DD`, checked) and an hour of it, UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub dt: String,
    pub hour: u32,
    /// The same hour seven days before.
    pub week_before: String,
}

impl Window {
    /// The hour starting at `epoch_seconds` (rounded down to the hour).
    pub fn at(epoch_seconds: i64) -> Self {
        let date = |seconds: i64| {
            let (y, m, d) = loglake_parser::timestamp::civil_from_days(seconds.div_euclid(86_400));
            format!("{y:04}-{m:02}-{d:02}")
        };
        Self {
            dt: date(epoch_seconds),
            hour: (epoch_seconds.rem_euclid(86_400) / 3_600) as u32,
            week_before: date(epoch_seconds - 7 * 86_400),
        }
    }

    /// `YYYY-MM-DDTHH`, as the command line and the function's event name an hour.
    pub fn parse(text: &str) -> Option<Self> {
        let (date, hour) = text.split_once('T')?;
        crate::DateRange::new(date, date).ok()?;
        let hour: i64 = hour.parse().ok().filter(|h| (0..24).contains(h))?;
        let seconds = loglake_parser::timestamp::parse_utc_instant(date)? / 1_000_000;
        Some(Self::at(seconds + hour * 3_600))
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:02}:00–{:02}:59 UTC", self.dt, self.hour, self.hour)
    }
}

/// The window's counts over `access_logs`, in one row: `requests`, `server_errors`, `errors`,
/// `errors_week_before`, `detections`. Literal dates (both checked by [`Window`]), so the same
/// text runs on Athena and DataFusion without parameters.
pub fn window_sql(window: &Window) -> String {
    let (now, before, hour) = (&window.dt, &window.week_before, window.hour);
    let case = detection_case(&detections());
    format!(
        "SELECT
  coalesce(sum(CASE WHEN dt = '{now}' THEN 1 ELSE 0 END), 0) AS requests,
  coalesce(sum(CASE WHEN dt = '{now}' AND status >= 500 THEN 1 ELSE 0 END), 0) AS server_errors,
  coalesce(sum(CASE WHEN dt = '{now}' AND status >= 400 THEN 1 ELSE 0 END), 0) AS errors,
  coalesce(sum(CASE WHEN dt = '{before}' AND status >= 400 THEN 1 ELSE 0 END), 0) AS errors_week_before,
  coalesce(sum(CASE WHEN dt = '{now}' AND detection IS NOT NULL THEN 1 ELSE 0 END), 0) AS detections
FROM (
  SELECT
    dt,
    status,
{case}
  FROM access_logs
  WHERE dt IN ('{now}', '{before}') AND hour = {hour}
) AS window_rows
"
    )
}

/// The counts [`window_sql`] returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCounts {
    pub requests: u64,
    pub server_errors: u64,
    pub errors: u64,
    pub errors_week_before: u64,
    pub detections: u64,
}

impl WindowCounts {
    /// From the query's one row (Athena gives text, DataFusion integers).
    pub fn from_table(table: &ResultTable) -> Option<Self> {
        let row = table.rows.first()?;
        let value = |name: &str| -> Option<u64> {
            let index = table.columns.iter().position(|c| c == name)?;
            match &row[index] {
                Cell::Int(v) => u64::try_from(*v).ok(),
                Cell::Float(v) => Some(*v as u64),
                Cell::Text(text) => text.parse().ok(),
                Cell::Null => Some(0),
                _ => None,
            }
        };
        Some(Self {
            requests: value("requests")?,
            server_errors: value("server_errors")?,
            errors: value("errors")?,
            errors_week_before: value("errors_week_before")?,
            detections: value("detections")?,
        })
    }
}

/// A threshold crossed, and what to tell whoever is on call.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub kind: &'static str,
    pub message: String,
}

/// The thresholds `counts` crossed.
pub fn evaluate(counts: &WindowCounts, thresholds: &Thresholds) -> Vec<Alert> {
    let mut alerts = Vec::new();
    let enough = counts.requests >= MIN_REQUESTS;
    if let (Some(limit), true) = (thresholds.server_error_rate_pct, enough) {
        let rate = 100.0 * counts.server_errors as f64 / counts.requests as f64;
        if rate >= limit {
            alerts.push(Alert {
                kind: "server_error_rate",
                message: format!(
                    "{rate:.1} % of {} requests answered 5xx ({} of them; threshold {limit} %)",
                    counts.requests, counts.server_errors
                ),
            });
        }
    }
    if let (Some(ratio), true) = (thresholds.error_spike_ratio, counts.errors >= MIN_REQUESTS) {
        let before = counts.errors_week_before.max(1);
        if counts.errors as f64 >= ratio * before as f64 {
            alerts.push(Alert {
                kind: "error_spike",
                message: format!(
                    "{} errors (4xx and 5xx), against {} in the same hour a week before ({:.1}×; threshold {ratio}×)",
                    counts.errors,
                    counts.errors_week_before,
                    counts.errors as f64 / before as f64
                ),
            });
        }
    }
    if let Some(limit) = thresholds.detections {
        if counts.detections >= limit {
            alerts.push(Alert {
                kind: "detections",
                message: format!(
                    "{} requests look like attacks (threshold {limit}; the security_detections report has them)",
                    counts.detections
                ),
            });
        }
    }
    alerts
}

/// The notification for `alerts` in `window` of `source` (a lake or an Athena database): a
/// subject (SNS allows 100 characters) and a body.
pub fn notification(source: &str, window: &Window, alerts: &[Alert]) -> (String, String) {
    let kinds: Vec<&str> = alerts.iter().map(|a| a.kind).collect();
    let mut subject = format!("loglake alert: {} at {}", kinds.join(", "), window);
    if subject.chars().count() > 100 {
        subject = subject.chars().take(99).collect::<String>() + "…";
    }
    let mut body = format!("{source}, {window}:\n");
    for alert in alerts {
        body.push_str(&format!("- {}: {}\n", alert.kind, alert.message));
    }
    (subject, body)
}

/// Publishes the notification to an SNS topic; returns the message id.
pub async fn publish(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    (subject, body): (String, String),
) -> Result<String, String> {
    let published = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(subject)
        .message(body)
        .send()
        .await
        .map_err(|e| {
            format!(
                "publishing to {topic_arn}: {}",
                aws_sdk_sns::error::DisplayErrorContext(e)
            )
        })?;
    Ok(published.message_id().unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(
        requests: u64,
        server_errors: u64,
        errors: u64,
        before: u64,
        detections: u64,
    ) -> WindowCounts {
        WindowCounts {
            requests,
            server_errors,
            errors,
            errors_week_before: before,
            detections,
        }
    }

    #[test]
    fn each_threshold_alerts_when_crossed_and_not_when_off() {
        let all = Thresholds {
            server_error_rate_pct: Some(5.0),
            error_spike_ratio: Some(3.0),
            detections: Some(1),
        };
        let kinds = |c: WindowCounts, t: &Thresholds| -> Vec<&'static str> {
            evaluate(&c, t).iter().map(|a| a.kind).collect()
        };
        assert_eq!(
            kinds(counts(1000, 60, 90, 20, 2), &all),
            ["server_error_rate", "error_spike", "detections"]
        );
        assert!(kinds(counts(1000, 40, 50, 20, 0), &all).is_empty());
        assert!(kinds(counts(1000, 60, 90, 20, 2), &Thresholds::default()).is_empty());
        // too few requests for a rate, too few errors for a spike; no errors a week ago counts as one
        assert!(kinds(counts(10, 10, 10, 0, 0), &all).is_empty());
        assert_eq!(kinds(counts(100, 0, 25, 0, 0), &all), ["error_spike"]);
    }

    #[test]
    fn windows_are_hours_of_a_day_and_the_week_before() {
        let window = Window::parse("2026-03-03T05").unwrap();
        assert_eq!(
            (window.dt.as_str(), window.hour, window.week_before.as_str()),
            ("2026-03-03", 5, "2026-02-24")
        );
        assert_eq!(Window::at(0).dt, "1970-01-01");
        for bad in ["2026-03-03", "2026-03-03T24", "2026-02-30T01", "x"] {
            assert!(Window::parse(bad).is_none(), "{bad}");
        }
        let sql = window_sql(&window);
        assert!(sql.contains("dt IN ('2026-03-03', '2026-02-24') AND hour = 5"));
        let (subject, body) = notification(
            "lake",
            &window,
            &evaluate(
                &counts(100, 50, 50, 1, 0),
                &Thresholds {
                    server_error_rate_pct: Some(1.0),
                    ..Default::default()
                },
            ),
        );
        assert!(
            subject.starts_with("loglake alert: server_error_rate at 2026-03-03 05:00")
                && subject.chars().count() <= 100
        );
        assert!(
            body.contains("50.0 % of 100 requests answered 5xx"),
            "{body}"
        );
    }
}
