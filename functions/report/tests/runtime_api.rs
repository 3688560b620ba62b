//! The real `report` binary under the Lambda Runtime API emulator, as Lambda runs it: its
//! settings from the environment, the schedule's event in, the day's reports started on the
//! local stand-in's Athena and the page uploaded to its S3.

#[path = "../../ingest/tests/support/http.rs"]
mod http;
#[path = "../../ingest/tests/support/runtime_api.rs"]
mod runtime_api;

use serde_json::json;

use http::{aws_standin, http};
use runtime_api::*;

#[test]
fn the_binary_runs_the_days_reports_with_the_settings_lambda_gives_it() {
    let Some(endpoint) = aws_standin() else {
        return;
    };
    let bucket = "bootstrap-report";
    let (status, _) = http("PUT", &format!("{endpoint}/{bucket}"), b"");
    assert!(status < 300, "creating the bucket: {status}");
    let (api, calls) = runtime_api(json!({"date": "2026-11-21"}));
    let mut command = lambda_command(env!("CARGO_BIN_EXE_report"), &api, &endpoint);
    command.envs([
        ("ATHENA_WORKGROUP", "primary"),
        ("ATHENA_DATABASE", "loglake"),
        ("REPORTS_OUTPUT", "s3://bootstrap-report/reports"),
        ("REPORTS", "traffic_by_hour,bots"),
    ]);
    let response = invoke_once(command, &calls);

    let reports: Vec<&str> = (response["reports"].as_array().unwrap().iter())
        .map(|r| r["report"].as_str().unwrap())
        .collect();
    assert_eq!(reports, ["traffic_by_hour", "bots"], "{response}");
    let page = "reports/dt=2026-11-21/report.html";
    assert_eq!(response["page"], format!("s3://{bucket}/{page}"));
    let (status, body) = http("GET", &format!("{endpoint}/{bucket}/{page}"), b"");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("<section class=\"panel\" id=\"all-bots\""));
}
