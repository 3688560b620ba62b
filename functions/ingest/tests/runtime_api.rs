//! The real `ingest` binary under a Lambda Runtime API emulator (the two endpoints a runtime
//! uses: `invocation/next` and `invocation/{id}/response`), as AWS runs it: init from the
//! environment, one Kinesis event in, the response JSON and the EMF line out.

mod support;

use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::runtime_api::*;
use support::*;

/// The Embedded Metric Format line among what the function printed.
fn emf_line(stdout: &[u8]) -> Value {
    let stdout = String::from_utf8_lossy(stdout);
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("_aws").is_some())
        .unwrap_or_else(|| panic!("no EMF line in:\n{stdout}"))
}

fn start_ingest(runtime_api: &str, firehose: &str, stream_setting: Option<&str>) -> Child {
    start_ingest_with(runtime_api, firehose, stream_setting, &[])
}

fn start_ingest_with(
    runtime_api: &str,
    firehose: &str,
    stream_setting: Option<&str>,
    settings: &[(&str, &str)],
) -> Child {
    let mut command = lambda_command(env!("CARGO_BIN_EXE_ingest"), runtime_api, firehose);
    if let Some(stream) = stream_setting {
        command.env("FIREHOSE_STREAM_NAME", stream);
    }
    command.envs(settings.iter().copied());
    command.spawn().unwrap()
}

/// What the function logs, with hashed addresses and rejects logged (no rejects stream): the key
/// never, a client's address never, and a raw line only in the WARN line of its reject.
#[test]
fn the_logs_hold_no_key_no_address_and_raw_lines_only_in_reject_warnings() {
    const KEY: &str = "a secret key that must never be logged";
    let lines = sample_lines();
    let mut records: Vec<Vec<u8>> = lines[..100]
        .chunks(10)
        .map(|chunk| chunk.join("\n").into_bytes())
        .collect();
    records.push(b"not a log line from 198.51.100.77 asking /private/path".to_vec());
    let (firehose, _) = fake_firehose(|_, _| FirehoseReply::FailEntries(vec![]));
    let (api, calls) = runtime_api(kinesis_event(&records));
    let settings = [("ANONYMIZE_IP", "hash"), ("ANONYMIZE_IP_KEY", KEY)];
    let mut child = start_ingest_with(&api, &firehose, Some("rows"), &settings);
    for _ in 0..3 {
        // next, the response, next again: the invocation is done
        calls.recv_timeout(Duration::from_secs(30)).unwrap();
    }
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    assert!(!logs.contains(KEY), "the key was logged:\n{logs}");
    let addresses = (lines[..100].iter())
        .map(|line| line.split(' ').next().unwrap())
        .chain(["198.51.100.77"]);
    for address in addresses {
        assert!(!logs.contains(address), "{address} was logged:\n{logs}");
    }
    let entries: Vec<Value> = (logs.lines())
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let with_raw: Vec<&Value> = (entries.iter())
        .filter(|entry| entry.to_string().contains("/private/path"))
        .collect();
    assert_eq!(with_raw.len(), 1, "the reject, once:\n{logs}");
    assert_eq!(with_raw[0]["level"], "WARN", "{}", with_raw[0]);
    assert!(
        with_raw[0].to_string().contains("ip-"),
        "its address hashed"
    );
}

#[test]
fn the_binary_serves_an_invocation_as_lambda_runs_it() {
    let lines = sample_lines();
    let records: Vec<Vec<u8>> = lines[..200]
        .chunks(10)
        .map(|chunk| chunk.join("\n").into_bytes())
        .collect();
    let (firehose, accepted) = fake_firehose(|_, _| FirehoseReply::FailEntries(vec![]));
    let (api, calls) = runtime_api(kinesis_event(&records));

    let started = Instant::now();
    let mut child = start_ingest(&api, &firehose, Some("rows"));
    let first_next = match calls.recv_timeout(Duration::from_secs(30)).unwrap() {
        RuntimeCall::Next(at) => at.duration_since(started),
        _ => panic!("the runtime's first call must be invocation/next"),
    };
    let response = match calls.recv_timeout(Duration::from_secs(30)).unwrap() {
        RuntimeCall::Response(body) => body,
        RuntimeCall::Error(error) => panic!("the runtime reported an error: {error}"),
        RuntimeCall::Next(_) => panic!("no response to the invocation"),
    };
    // It asks for the next invocation once done.
    assert!(matches!(
        calls.recv_timeout(Duration::from_secs(30)).unwrap(),
        RuntimeCall::Next(_)
    ));
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    eprintln!("time to the first invocation/next (debug build): {first_next:?}");

    assert_eq!(response, serde_json::json!({"batchItemFailures": []}));
    let rows: usize = accepted
        .lock()
        .unwrap()
        .iter()
        .map(|(_, data)| data.iter().filter(|&&b| b == b'\n').count())
        .sum();
    assert_eq!(rows, 200);

    // One EMF line with the invocation's numbers, and JSON logs.
    let emf = emf_line(&output.stdout);
    assert_eq!(emf["LinesIn"], 200.0);
    assert_eq!(emf["RowsOut"], 200.0);
    assert_eq!(emf["Rejected"], 0.0);
    assert_eq!(emf["FunctionName"], "loglake-ingest");
    assert!(emf["MaxEventLagMs"].as_f64().unwrap() > 0.0);
}

/// With `LAKE_DEST` the binary writes the batch into the lake itself, over the wire to the local
/// stand-in's S3 (path-style, as stand-ins need).
#[test]
fn the_binary_in_the_lake_wiring_writes_the_batch_to_s3() {
    let Some(endpoint) = aws_standin() else {
        return;
    };
    let bucket = format!("loglake-bootstrap-{}", std::process::id());
    let (status, body) = http("PUT", &format!("{endpoint}/{bucket}"), b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let records: Vec<Vec<u8>> = sample_lines()[..50]
        .chunks(10)
        .map(|chunk| chunk.join("\n").into_bytes())
        .collect();
    let (api, calls) = runtime_api(kinesis_event(&records));
    let dest = format!("s3://{bucket}/lake");
    let mut child = start_ingest_with(&api, &endpoint, None, &[("LAKE_DEST", &dest)]);
    let response = next_response(&calls).unwrap();
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(response, serde_json::json!({"batchItemFailures": []}));

    let objects = s3_objects(&endpoint, &bucket);
    assert!(!objects.is_empty());
    for (key, data) in &objects {
        assert!(key.starts_with("lake/access_logs/dt="), "{key}");
        assert!(data.starts_with(b"PAR1"), "{key} is Parquet");
    }
    let emf = emf_line(&output.stdout);
    assert_eq!(emf["RowsOut"], 50.0);
    assert_eq!(emf["LakeObjects"], objects.len() as f64);
}

#[test]
fn a_missing_setting_fails_init_with_a_clear_message() {
    let (api, _calls) = runtime_api(kinesis_event(&[]));
    let child = start_ingest(&api, "http://127.0.0.1:9", None);
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(all.contains("set one of FIREHOSE_STREAM_NAME"), "{all}");
}
