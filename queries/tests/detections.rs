//! The security reports are what `queries/src/detections.rs` writes from `queries/detections.json`.

use loglake_queries::detections::{detections, detections_report, summary_report};

#[test]
fn the_security_reports_are_written_from_the_detections_file() {
    let detections = detections();
    let names: Vec<&str> = detections.iter().map(|d| d.name.as_str()).collect();
    assert!(names.len() >= 7, "{names:?}");
    for detection in &detections {
        assert!(!detection.fields.is_empty() && !detection.about.is_empty());
        regex::Regex::new(&detection.pattern).expect("DataFusion's engine compiles it");
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/reports");
    for (name, sql) in [
        ("security_detections", detections_report(&detections)),
        ("security_summary", summary_report(&detections)),
    ] {
        let path = format!("{dir}/{name}.sql");
        if std::env::var_os("UPDATE_DETECTION_REPORTS").is_some() {
            std::fs::write(&path, &sql).unwrap();
        }
        let shipped = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            shipped, sql,
            "{path} is out of date: UPDATE_DETECTION_REPORTS=1 cargo test -p loglake-queries detections"
        );
    }
}
