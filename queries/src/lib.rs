//! The shipped reports: Athena (Trino) SQL in `queries/reports/`, one file each, every one
//! filtered on a `dt` range given as two execution parameters (`?`, `?`: from and to,
//! `YYYY-MM-DD`, inclusive). The same text runs on Athena and, after [`for_datafusion`], locally.
//! Also here: the DDL, a result table both engines fill, its rendering (and the reports together
//! as one HTML page, [`dashboard`]), and the Athena runner.

pub mod alerts;
pub mod athena;
pub mod dashboard;
pub mod detections;
pub mod grafana;
pub mod json_path;
pub mod table;

pub use table::{Cell, OutputFormat, ResultTable};

/// One shipped report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub name: &'static str,
    pub sql: &'static str,
}

impl Report {
    /// The report's one-line description: its first line, a `--` comment.
    pub fn description(&self) -> &'static str {
        self.sql
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("--"))
            .map_or("", str::trim)
    }
}

macro_rules! reports {
    ($($name:literal),* $(,)?) => {
        &[$(Report { name: $name, sql: include_str!(concat!("../reports/", $name, ".sql")) }),*]
    };
}

/// Every report in `queries/reports/` (a test checks the folder and this list agree).
pub const REPORTS: &[Report] = reports!(
    "traffic_by_hour",
    "traffic_by_day",
    "status_by_hour",
    "error_rate_by_hour",
    "top_paths",
    "top_404_paths",
    "top_referrers",
    "browsers",
    "operating_systems",
    "device_categories",
    "countries",
    "networks",
    "bot_share",
    "bots",
    "bandwidth_by_path",
    "slowest_paths",
    "top_clients",
    "top_vhosts",
    "static_files",
    "visit_time",
    "remote_users",
    "methods_and_protocols",
    "referrer_urls",
    "visits_by_day",
    "entry_exit_pages",
    "security_summary",
    "security_detections",
    "error_bursts",
    "cache_status",
    "content_types",
    "tls_versions",
    // not a panel of the page: the details of `traffic_by_hour`'s hours (and last, so that
    // the page's other reports start first)
    "top_paths_by_hour",
);

/// The DDL in `queries/ddl/`, in the order to run it (`LAKE_BUCKET` to be replaced).
pub const DDL: &[(&str, &str)] = &[
    (
        "create_database",
        include_str!("../ddl/create_database.sql"),
    ),
    ("access_logs", include_str!("../ddl/access_logs.sql")),
    ("rejects", include_str!("../ddl/rejects.sql")),
    (
        "access_logs_unique",
        include_str!("../ddl/access_logs_unique.sql"),
    ),
];

/// The view of `access_logs` without the copies an at-least-once delivery leaves
/// (`ddl/access_logs_unique.sql`): `loglake query --unique` reads it.
pub const UNIQUE_VIEW: &str = "access_logs_unique";

/// A report's SQL reading `table` in place of `access_logs` (each report reads it in one
/// `FROM access_logs` line; a test checks).
pub fn reading(sql: &str, table: &str) -> String {
    sql.replace("FROM access_logs\n", &format!("FROM {table}\n"))
}

/// How the visit reports write their gap: a visitor's next request more than this many seconds
/// after the last starts a new visit (30 minutes, Google Analytics' and Matomo's default).
const VISIT_GAP_SQL: &str = ") <= 1800 THEN 0";

/// What a report's SQL is run with, beyond its dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlSettings {
    /// Read the view without redelivered copies ([`UNIQUE_VIEW`]).
    pub unique: bool,
    /// The inactivity that ends a visit, in minutes.
    pub visit_gap_minutes: u32,
}

impl Default for SqlSettings {
    fn default() -> Self {
        Self {
            unique: false,
            visit_gap_minutes: 30,
        }
    }
}

impl SqlSettings {
    /// `report`'s SQL with these settings applied.
    pub fn sql(&self, report: &Report) -> String {
        let sql = match self.unique {
            true => reading(report.sql, UNIQUE_VIEW),
            false => report.sql.to_string(),
        };
        let gap = format!(") <= {} THEN 0", u64::from(self.visit_gap_minutes) * 60);
        sql.replace(VISIT_GAP_SQL, &gap)
    }
}

pub fn report(name: &str) -> Option<&'static Report> {
    REPORTS.iter().find(|r| r.name == name)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("unknown report {0:?} (`loglake query --list` lists them)")]
    UnknownReport(String),
    #[error("{0:?} is not a date of the form YYYY-MM-DD")]
    BadDate(String),
    #[error("--from {0} is after --to {1}")]
    EmptyRange(String, String),
    #[error("the report has {found} parameters, expected 2 (from and to)")]
    Parameters { found: usize },
}

/// The date range a report covers, both ends included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateRange {
    pub from: String,
    pub to: String,
}

impl DateRange {
    /// Checks both dates (`YYYY-MM-DD`, a real calendar day) and their order.
    pub fn new(from: &str, to: &str) -> Result<Self, QueryError> {
        for date in [from, to] {
            if !is_date(date) {
                return Err(QueryError::BadDate(date.to_string()));
            }
        }
        if from > to {
            return Err(QueryError::EmptyRange(from.into(), to.into()));
        }
        Ok(Self {
            from: from.into(),
            to: to.into(),
        })
    }

    /// The two execution parameters as SQL literals (Athena substitutes them as written).
    /// The period of the same length just before this one (`2026-11-08..2026-11-14` for
    /// `2026-11-15..2026-11-21`), for comparing; `None` for an open range (one end at
    /// 1970-01-01 or 9999-12-31, the defaults) or one that would start before 1970.
    pub fn previous(&self) -> Option<DateRange> {
        if self.from == "1970-01-01" || self.to == "9999-12-31" {
            return None;
        }
        let (from, to) = (day_number(&self.from)?, day_number(&self.to)?);
        let length = to - from + 1;
        (from - length >= 0).then(|| DateRange {
            from: date_of(from - length),
            to: date_of(from - 1),
        })
    }

    /// This range and the [`previous`](Self::previous) one, as one range: the days a
    /// comparison with the period before reads.
    pub fn with_previous(&self) -> DateRange {
        match self.previous() {
            Some(previous) => DateRange {
                from: previous.from,
                to: self.to.clone(),
            },
            None => self.clone(),
        }
    }

    /// The one day `date` (`YYYY-MM-DD`).
    pub fn day(date: &str) -> Result<Self, QueryError> {
        Self::new(date, date)
    }

    /// The `days` days ending on `last` (`YYYY-MM-DD`), `last` included.
    pub fn ending(last: &str, days: u32) -> Result<Self, QueryError> {
        let end = day_number(last).ok_or_else(|| QueryError::BadDate(last.to_string()))?;
        Self::new(&date_of(end - i64::from(days.max(1)) + 1), last)
    }

    /// This range with a day more at each end (within 1970-01-01..9999-12-31): the UTC days
    /// that can hold a request made on one of its days in any time zone (UTC-12 to UTC+14).
    pub fn widened_by_a_day(&self) -> DateRange {
        let step = |date: &str, by: i64, limit: &str| match day_number(date) {
            Some(n) if date != limit => date_of(n + by),
            _ => date.to_string(),
        };
        DateRange {
            from: step(&self.from, -1, "1970-01-01"),
            to: step(&self.to, 1, "9999-12-31"),
        }
    }

    pub fn parameters(&self) -> [String; 2] {
        [format!("'{}'", self.from), format!("'{}'", self.to)]
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
fn day_number(date: &str) -> Option<i64> {
    loglake_parser::parse_utc_instant(date).map(|us| us.div_euclid(86_400_000_000))
}

/// The `YYYY-MM-DD` date of a day number.
fn date_of(days: i64) -> String {
    let (y, m, d) = loglake_parser::timestamp::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) {
        return false;
    }
    if !digits(5..7) || !digits(8..10) {
        return false;
    }
    let year: u32 = text[0..4].parse().unwrap_or(0);
    let month: u32 = text[5..7].parse().unwrap_or(0);
    let day: u32 = text[8..10].parse().unwrap_or(0);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days_in_month).contains(&day)
}

/// Where Trino and DataFusion name a function differently: (Trino, DataFusion). The only
/// rewrite the local engine needs; each report is otherwise run as written.
pub const FUNCTION_RENAMES: &[(&str, &str)] = &[("approx_percentile(", "approx_percentile_cont(")];

/// `sql` with its two `?` parameters replaced by `values`, in order. A `?` inside a string
/// literal (`'a?b'`, a regular expression) or a `--` comment is no parameter.
pub fn bind_parameters(sql: &str, values: &[String; 2]) -> Result<String, QueryError> {
    let mut out = String::with_capacity(sql.len() + 32);
    let mut found = 0;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                // a string literal, '' being an escaped quote inside it
                out.push(c);
                while let Some(inner) = chars.next() {
                    out.push(inner);
                    if inner == '\'' {
                        if chars.peek() == Some(&'\'') {
                            out.push(chars.next().expect("peeked"));
                        } else {
                            break;
                        }
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                // a comment, to the end of the line
                out.push(c);
                for inner in chars.by_ref() {
                    out.push(inner);
                    if inner == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                if let Some(value) = values.get(found) {
                    out.push_str(value);
                }
                found += 1;
            }
            _ => out.push(c),
        }
    }
    if found != 2 {
        return Err(QueryError::Parameters { found });
    }
    Ok(out)
}

/// A report's SQL for DataFusion: the two `?` parameters replaced by the range's literals (the
/// dates are validated, so they are safe to inline) and Trino-only function names renamed.
/// `?` inside string literals and comments is left alone.
pub fn for_datafusion(sql: &str, range: &DateRange) -> Result<String, QueryError> {
    let mut out = bind_parameters(sql, &range.parameters())?;
    for (trino, datafusion) in FUNCTION_RENAMES {
        out = out.replace(trino, datafusion);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_visit_gap_is_a_setting_of_every_visit_report() {
        let visits: Vec<&Report> = REPORTS
            .iter()
            .filter(|r| r.sql.contains("lag(ts)"))
            .collect();
        assert_eq!(visits.len(), 2);
        let hour = SqlSettings {
            visit_gap_minutes: 60,
            ..SqlSettings::default()
        };
        for report in visits {
            assert_eq!(
                report.sql.matches(VISIT_GAP_SQL).count(),
                1,
                "{}",
                report.name
            );
            assert_eq!(SqlSettings::default().sql(report), report.sql);
            let sql = hour.sql(report);
            assert!(sql.contains(") <= 3600 THEN 0") && !sql.contains("1800"));
        }
    }

    #[test]
    fn a_widened_range_has_a_day_more_at_each_end_within_the_calendar() {
        let widened = DateRange::new("2026-12-31", "2027-01-01")
            .unwrap()
            .widened_by_a_day();
        assert_eq!(
            (widened.from.as_str(), widened.to.as_str()),
            ("2026-12-30", "2027-01-02")
        );
        let open = DateRange::new("1970-01-01", "9999-12-31")
            .unwrap()
            .widened_by_a_day();
        assert_eq!(
            (open.from.as_str(), open.to.as_str()),
            ("1970-01-01", "9999-12-31")
        );
    }

    #[test]
    fn the_previous_period_has_the_same_length() {
        let week = DateRange::new("2026-11-15", "2026-11-21").unwrap();
        assert_eq!(
            week.previous(),
            DateRange::new("2026-11-08", "2026-11-14").ok()
        );
        let day = DateRange::new("2026-03-01", "2026-03-01").unwrap();
        assert_eq!(
            day.previous(),
            DateRange::new("2026-02-28", "2026-02-28").ok()
        );
        assert_eq!(
            DateRange::new("1970-01-01", "2026-01-01")
                .unwrap()
                .previous(),
            None
        );
        assert_eq!(
            DateRange::new("2026-01-01", "9999-12-31")
                .unwrap()
                .previous(),
            None
        );
        assert_eq!(
            DateRange::new("1970-01-02", "1970-01-05")
                .unwrap()
                .previous(),
            None
        );
    }

    #[test]
    fn dates_are_validated() {
        assert!(DateRange::new("2026-11-01", "2026-11-30").is_ok());
        assert!(DateRange::new("2024-02-29", "2024-02-29").is_ok());
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-11-01",
            "2026-11-31",
            "x",
        ] {
            assert_eq!(
                DateRange::new(bad, "2026-12-01"),
                Err(QueryError::BadDate(bad.into()))
            );
        }
        assert!(matches!(
            DateRange::new("2026-11-02", "2026-11-01"),
            Err(QueryError::EmptyRange(..))
        ));
    }

    #[test]
    fn the_datafusion_rewrite_fills_parameters_and_renames_functions_only() {
        let range = DateRange::new("2026-11-01", "2026-11-02").unwrap();
        let sql = "-- what? a comment\nSELECT approx_percentile(x, 0.5), 'it''s ?' FROM t WHERE dt BETWEEN ? AND ?";
        assert_eq!(
            for_datafusion(sql, &range).unwrap(),
            "-- what? a comment\nSELECT approx_percentile_cont(x, 0.5), 'it''s ?' FROM t WHERE dt BETWEEN '2026-11-01' AND '2026-11-02'"
        );
        assert_eq!(
            for_datafusion("SELECT 1 WHERE dt = ?", &range),
            Err(QueryError::Parameters { found: 1 })
        );
    }

    #[test]
    fn every_report_reads_the_table_in_one_line_that_reading_rewrites() {
        for report in REPORTS {
            assert_eq!(
                report.sql.matches("access_logs").count(),
                1,
                "{}",
                report.name
            );
            let unique = reading(report.sql, UNIQUE_VIEW);
            assert_eq!(unique.matches(UNIQUE_VIEW).count(), 1, "{}", report.name);
            assert_eq!(unique.replace(UNIQUE_VIEW, "access_logs"), report.sql);
        }
        let view = DDL.iter().find(|(name, _)| *name == UNIQUE_VIEW).unwrap().1;
        assert!(view.contains(&format!("VIEW {UNIQUE_VIEW} AS")));
    }

    #[test]
    fn every_report_has_a_description_and_two_parameters() {
        let range = DateRange::new("2026-01-01", "2026-01-31").unwrap();
        for report in REPORTS {
            assert!(!report.description().is_empty(), "{}", report.name);
            assert!(report.description().ends_with('.'), "{}", report.name);
            let sql = for_datafusion(report.sql, &range).unwrap();
            assert!(
                sql.contains("dt BETWEEN '2026-01-01' AND '2026-01-31'"),
                "{}",
                report.name
            );
        }
        assert_eq!(report("top_paths").unwrap().name, "top_paths");
        assert!(report("nope").is_none());
    }
}
