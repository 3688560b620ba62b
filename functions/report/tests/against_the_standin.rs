//! The report function's work against the local AWS stand-in (moto's Athena): every chosen
//! report is started for the day, with its results under reports/dt=…/NAME/, and the day's
//! page is uploaded to moto's S3 and read back.

#[path = "../../ingest/tests/support/http.rs"]
mod http;

use std::time::Duration;

use aws_sdk_athena::config::{BehaviorVersion, Credentials, Region};
use loglake_queries::athena::PollPolicy;
use loglake_report::{run_reports, upload_page, Config};

#[test]
fn every_chosen_report_runs_for_the_day() {
    let Some(endpoint) = http::aws_standin() else {
        return;
    };
    let client = aws_sdk_athena::Client::from_conf(
        aws_sdk_athena::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .endpoint_url(&endpoint)
            .build(),
    );
    let config = Config::from_vars(|name| {
        match name {
            "ATHENA_WORKGROUP" => Some("primary"),
            "ATHENA_DATABASE" => Some("loglake"),
            "REPORTS_OUTPUT" => Some("s3://lake/reports"),
            "REPORTS" => Some("traffic_by_hour,top_paths,bots"),
            _ => None,
        }
        .map(str::to_owned)
    })
    .unwrap();
    let poll = PollPolicy {
        first_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let run = runtime
        .block_on(run_reports(&client, &config, "2026-11-21", poll))
        .unwrap();
    let summary = run.summary;
    assert_eq!(summary.failed(), 0, "{summary:?}");
    let names: Vec<&str> = summary.reports.iter().map(|r| r.report.as_str()).collect();
    assert_eq!(names, ["traffic_by_hour", "top_paths", "bots"]);
    for outcome in &summary.reports {
        let location = outcome.output_location.as_deref().unwrap();
        assert!(
            location.starts_with(&format!(
                "s3://lake/reports/dt=2026-11-21/{}/",
                outcome.report
            )),
            "{location}"
        );
    }
    // The page: a panel per report, uploaded where README.md says.
    let (status, _) = http::http("PUT", &format!("{endpoint}/lake"), b"");
    assert!(status < 300, "creating the bucket: {status}");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .endpoint_url(&endpoint)
            .force_path_style(true)
            .build(),
    );
    let location = runtime
        .block_on(upload_page(&s3, &config, "2026-11-21", run.page))
        .unwrap();
    assert_eq!(location, "s3://lake/reports/dt=2026-11-21/report.html");
    let (status, body) = http::http(
        "GET",
        &format!("{endpoint}/lake/reports/dt=2026-11-21/report.html"),
        b"",
    );
    assert_eq!(status, 200);
    let page = String::from_utf8(body).unwrap();
    assert!(page.contains("<title>loglake: Athena loglake.access_logs (2026-11-21)"));
    let panels: Vec<&str> = page
        .split("<section class=\"panel\" id=\"")
        .skip(1)
        .map(|section| section.split('"').next().unwrap())
        .collect();
    assert_eq!(panels, ["all-traffic_by_hour", "all-top_paths", "all-bots"]);

    // a bad date is refused before anything runs
    assert!(runtime
        .block_on(run_reports(&client, &config, "2026-11-31", poll))
        .is_err());
}
