//! The security reports, written from `queries/detections.json`: the patterns are data, and the
//! reports' SQL (`reports/security_detections.sql`, `reports/security_summary.sql`) is this
//! module's output for them (a test fails when a file is out of date;
//! `UPDATE_DETECTION_REPORTS=1 cargo test -p loglake-queries detections` rewrites them).

use serde::Deserialize;

/// The detections file, as shipped.
pub const DETECTIONS_JSON: &str = include_str!("../detections.json");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetectionsFile {
    #[allow(dead_code)] // documentation for whoever edits the file
    about: String,
    detections: Vec<Detection>,
}

/// One kind of attack: a pattern over some of a request's fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detection {
    pub name: String,
    pub about: String,
    pub fields: Vec<Field>,
    /// A regular expression over the lower-cased field.
    pub pattern: String,
    /// Only requests the site answered with a 4xx status.
    #[serde(default)]
    pub status_4xx: bool,
}

/// What a pattern is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The path with its query string, `path?query`.
    Target,
    Path,
    UserAgent,
    Referrer,
}

impl Field {
    /// The field, lower-cased, as SQL over `access_logs`.
    fn sql(self) -> &'static str {
        match self {
            Field::Target => "lower(coalesce(path, '') || coalesce('?' || query, ''))",
            Field::Path => "lower(path)",
            Field::UserAgent => "lower(user_agent)",
            Field::Referrer => "lower(referrer)",
        }
    }
}

/// The shipped detections, in the order a row is given the first that matches.
pub fn detections() -> Vec<Detection> {
    let file: DetectionsFile =
        serde_json::from_str(DETECTIONS_JSON).expect("queries/detections.json is valid");
    file.detections
}

/// The `CASE` that names a row's detection (NULL for none), indented for the reports' CTE.
pub(crate) fn detection_case(detections: &[Detection]) -> String {
    let mut case = String::from("    CASE\n");
    for detection in detections {
        let pattern = detection.pattern.replace('\'', "''");
        let matches: Vec<String> = (detection.fields.iter())
            .map(|field| format!("regexp_like({}, '{pattern}')", field.sql()))
            .collect();
        let mut condition = matches.join(" OR ");
        if detection.status_4xx {
            condition = format!("status BETWEEN 400 AND 499 AND ({condition})");
        }
        case.push_str(&format!(
            "      WHEN {condition} THEN '{}'\n",
            detection.name
        ));
    }
    case.push_str("    END AS detection");
    case
}

/// The rows of `access_logs` in range with their detection, as a CTE named `checked`.
fn checked(detections: &[Detection], columns: &str) -> String {
    format!(
        "WITH checked AS (\n  SELECT\n    {columns},\n{}\n  FROM access_logs\n  WHERE dt BETWEEN ? AND ?\n)\n",
        detection_case(detections)
    )
}

/// `reports/security_detections.sql`: the evidence, the most recent requests detected.
pub fn detections_report(detections: &[Detection]) -> String {
    format!(
        "-- The 200 most recent requests that look like attacks (queries/detections.json), with their evidence.\n{}SELECT\n  detection,\n  ts,\n  client_ip,\n  method,\n  path,\n  query,\n  status,\n  user_agent\nFROM checked\nWHERE detection IS NOT NULL\nORDER BY ts DESC, source, source_line\nLIMIT 200\n",
        checked(
            detections,
            "ts,\n    client_ip,\n    method,\n    path,\n    query,\n    status,\n    user_agent,\n    source,\n    source_line"
        )
    )
}

/// `reports/security_summary.sql`: each detection's requests, clients and time span.
pub fn summary_report(detections: &[Detection]) -> String {
    format!(
        "-- Requests that look like attacks, by kind (queries/detections.json): how many, from how many clients, first and last seen.\n{}SELECT\n  detection,\n  count(*) AS requests,\n  count(DISTINCT client_ip) AS clients,\n  min(ts) AS first_seen,\n  max(ts) AS last_seen\nFROM checked\nWHERE detection IS NOT NULL\nGROUP BY detection\nORDER BY requests DESC, detection\n",
        checked(detections, "ts,\n    client_ip")
    )
}
