//! The report function's alert check over the wire to the local AWS stand-in: the hour's counts
//! come back from Athena (moto answers with the row queued here: it runs no SQL; the query itself
//! runs on DataFusion in tests/query_cli.rs), the crossed thresholds are published to the SNS
//! topic, and a queue subscribed to the topic receives them; an hour within the thresholds
//! publishes nothing. Then the real `report` binary, under the Runtime API emulator with the
//! settings the template gives it, does the same for an `{"alerts": …}` event.

#[path = "../../ingest/tests/support/http.rs"]
mod http;
#[path = "../../ingest/tests/support/runtime_api.rs"]
mod runtime_api;

use std::time::Duration;

use aws_sdk_athena::config::{BehaviorVersion, Credentials, Region};
use loglake_queries::alerts::Window;
use loglake_queries::athena::PollPolicy;
use loglake_report::{check_alerts, Config};
use serde_json::{json, Value};

/// Queues Athena's answer to the next query: the window's counts, one row under its header.
fn queue_counts(endpoint: &str, counts: [u64; 5]) {
    let names = [
        "requests",
        "server_errors",
        "errors",
        "errors_week_before",
        "detections",
    ];
    let row = |values: Vec<String>| json!({"Data": values.into_iter().map(|v| json!({"VarCharValue": v})).collect::<Vec<_>>()});
    let results = json!({
        "results": [{
            "rows": [row(names.iter().map(|n| n.to_string()).collect()), row(counts.iter().map(u64::to_string).collect())],
            "column_info": names.iter().map(|n| json!({"Name": n, "Label": n, "Type": "bigint"})).collect::<Vec<_>>(),
        }]
    });
    let (status, answer) = http::http(
        "POST",
        &format!("{endpoint}/moto-api/static/athena/query-results"),
        results.to_string().as_bytes(),
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&answer));
}

#[test]
fn crossed_thresholds_reach_the_topics_subscribers() {
    let Some(endpoint) = http::aws_standin() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let credentials = Credentials::new("test", "test", None, None, "tests");
    let athena = aws_sdk_athena::Client::from_conf(
        aws_sdk_athena::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials.clone())
            .endpoint_url(&endpoint)
            .build(),
    );
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::Config::builder()
            .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
            .region(aws_sdk_sns::config::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .endpoint_url(&endpoint)
            .build(),
    );
    // The stack's topic, and a queue subscribed to it (as an email or a pager would be).
    let suffix = std::process::id();
    let topic = runtime
        .block_on(sns.create_topic().name(format!("alarms-{suffix}")).send())
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let sqs = |target: &str, body: Value| {
        http::aws_json(&endpoint, "sqs", &format!("AmazonSQS.{target}"), &body)
    };
    let queue = format!("on-call-{suffix}");
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
    let config = Config::from_vars(|name| match name {
        "ATHENA_WORKGROUP" => Some("primary".to_string()),
        "ATHENA_DATABASE" => Some("loglake".to_string()),
        "REPORTS_OUTPUT" => Some("s3://lake/reports".to_string()),
        "ALERT_TOPIC_ARN" => Some(topic.clone()),
        "ALERT_5XX_RATE_PCT" => Some("5".to_string()),
        "ALERT_ERROR_SPIKE_RATIO" => Some("3".to_string()),
        "ALERT_DETECTIONS" => Some("1".to_string()),
        _ => None,
    })
    .unwrap();
    let poll = PollPolicy {
        first_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
    };
    let window = Window::parse("2026-11-21T09").unwrap();

    // 8 % of the hour answered 5xx, errors 12× last week's, 3 attacks: all three alerts.
    queue_counts(&endpoint, [1000, 80, 120, 10, 3]);
    let check = runtime
        .block_on(check_alerts(&athena, &sns, &config, &window, poll))
        .unwrap();
    assert_eq!(check.alerts.len(), 3, "{check:?}");
    assert!(check.published.is_some());
    let received = sqs(
        "ReceiveMessage",
        json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1}),
    );
    let messages = received["Messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 1, "{received}");
    let body = messages[0]["Body"].as_str().unwrap();
    for expected in [
        "2026-11-21 09:00",
        "8.0 % of 1000 requests answered 5xx",
        "error_spike",
        "3 requests look like attacks",
    ] {
        assert!(body.contains(expected), "{expected}: {body}");
    }
    sqs(
        "DeleteMessage",
        json!({"QueueUrl": queue_url, "ReceiptHandle": messages[0]["ReceiptHandle"]}),
    );

    // An ordinary hour: nothing published.
    queue_counts(&endpoint, [1000, 2, 30, 25, 0]);
    let quiet = runtime
        .block_on(check_alerts(&athena, &sns, &config, &window, poll))
        .unwrap();
    assert!(
        quiet.alerts.is_empty() && quiet.published.is_none(),
        "{quiet:?}"
    );
    assert_eq!(quiet.requests, 1000);
    let received = sqs(
        "ReceiveMessage",
        json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1}),
    );
    assert!(
        received["Messages"].as_array().is_none_or(|m| m.is_empty()),
        "{received}"
    );

    // The binary, as Lambda runs it, on the hourly schedule's event naming the hour.
    queue_counts(&endpoint, [500, 60, 70, 5, 0]);
    let event = json!({"alerts": {"hour": "2026-11-21T09"}});
    let (api, calls) = runtime_api::runtime_api(event);
    let mut command = runtime_api::lambda_command(env!("CARGO_BIN_EXE_report"), &api, &endpoint);
    command.envs([
        ("ATHENA_WORKGROUP", "primary"),
        ("ATHENA_DATABASE", "loglake"),
        ("REPORTS_OUTPUT", "s3://lake/reports"),
        ("ALERT_TOPIC_ARN", topic.as_str()),
        ("ALERT_5XX_RATE_PCT", "5"),
        ("ALERT_ERROR_SPIKE_RATIO", ""),
        ("ALERT_DETECTIONS", ""),
    ]);
    let response = runtime_api::invoke_once(command, &calls);
    assert_eq!(response["hour"], "2026-11-21T09", "{response}");
    let alerts = response["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "only the 5xx rate is on: {response}");
    assert!(alerts[0]
        .as_str()
        .unwrap()
        .starts_with("server_error_rate: 12.0 %"));
    assert!(response["published"].is_string());
    let received = sqs(
        "ReceiveMessage",
        json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1}),
    );
    assert_eq!(
        received["Messages"].as_array().map(Vec::len),
        Some(1),
        "{received}"
    );
}
