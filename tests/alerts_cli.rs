//! `loglake report --alerts` on the sample's lake: the hour of the scanner's minute crosses the
//! error-spike and detection thresholds and an ordinary hour does not; the crossed ones are
//! published over the wire to the stand-in's SNS topic, whose subscribed queue receives them.

#[path = "../functions/ingest/tests/support/http.rs"]
mod http;

use std::process::Command;

use serde_json::{json, Value};

fn loglake(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_loglake"))
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn an_hour_over_its_thresholds_is_alerted_and_published() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake = lake.to_str().unwrap();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/sample/access.log");
    assert!(loglake(&["ingest", "--out", lake, sample]).0);
    let thresholds = [
        "--alert-5xx-rate-pct",
        "5",
        "--alert-error-spike-ratio",
        "3",
        "--alert-detections",
        "10",
    ];
    let check = |hour: &str, extra: &[&str]| {
        let mut args = vec!["report", "--lake", lake, "--alerts", "--hour", hour];
        args.extend(thresholds);
        args.extend(extra);
        let (ok, out) = loglake(&args);
        assert!(ok, "{out}");
        out
    };
    let quiet = check("2026-11-01T10", &[]);
    assert!(quiet.contains("no threshold crossed"), "{quiet}");
    let scanned = check("2026-11-02T04", &[]);
    assert!(scanned.contains("30 that look like attacks"), "{scanned}");
    assert!(scanned.contains("ALERT detections") && scanned.contains("ALERT error_spike"));
    assert!(!scanned.contains("ALERT server_error_rate"), "{scanned}");
    let (ok, out) = loglake(&["report", "--lake", lake, "--alerts"]);
    assert!(!ok && out.contains("needs a threshold"), "{out}");

    // Published to the stand-in's topic, and received by a queue subscribed to it.
    let Some(endpoint) = http::aws_standin() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .region(aws_sdk_sns::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_sns::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .endpoint_url(&endpoint)
            .build(),
    );
    let suffix = std::process::id();
    let topic = runtime
        .block_on(
            sns.create_topic()
                .name(format!("cli-alarms-{suffix}"))
                .send(),
        )
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let sqs = |target: &str, body: Value| {
        http::aws_json(&endpoint, "sqs", &format!("AmazonSQS.{target}"), &body)
    };
    let queue = format!("cli-on-call-{suffix}");
    let queue_url = sqs("CreateQueue", json!({"QueueName": queue}))["QueueUrl"]
        .as_str()
        .unwrap()
        .to_string();
    runtime
        .block_on(
            sns.subscribe()
                .topic_arn(&topic)
                .protocol("sqs")
                .endpoint(format!("arn:aws:sqs:us-east-1:123456789012:{queue}"))
                .attributes("RawMessageDelivery", "true")
                .send(),
        )
        .unwrap();
    let published = check("2026-11-02T04", &["--alert-topic", &topic]);
    assert!(published.contains("published to"), "{published}");
    check("2026-11-01T10", &["--alert-topic", &topic]);
    let received = sqs(
        "ReceiveMessage",
        json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1}),
    );
    let messages = received["Messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        messages.len(),
        1,
        "only the hour over its thresholds: {received}"
    );
    let body = messages[0]["Body"].as_str().unwrap();
    assert!(
        body.contains("2026-11-02 04:00") && body.contains("- detections: 30 requests"),
        "{body}"
    );
}
