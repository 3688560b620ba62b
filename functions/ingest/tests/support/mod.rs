//! Test support shared by the function crates' integration tests (firehose-transform includes
//! this file too): record encodings as shippers produce them, Lambda events, and a Firehose
//! stand-in; `http.rs` has the HTTP pieces.
#![allow(dead_code)]

#[path = "http.rs"]
mod http;
pub use http::*;
#[path = "runtime_api.rs"]
pub mod runtime_api;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};

pub const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/web-logs";

pub fn base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A CloudWatch Logs subscription record: gzip of the JSON envelope, one event per line.
pub fn cloudwatch_envelope(lines: &[&str]) -> Vec<u8> {
    let events: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| json!({"id": i.to_string(), "timestamp": 0, "message": line}))
        .collect();
    let envelope = json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012",
        "logGroup": "/web/access", "logStream": "i-0abc", "subscriptionFilters": ["all"],
        "logEvents": events,
    });
    gzip(envelope.to_string().as_bytes())
}

pub fn cloudwatch_control_message() -> Vec<u8> {
    gzip(br#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}"#)
}

/// A KPL aggregated record (the Kinesis Producer Library's format: magic, protobuf, MD5), as
/// `loglake ship --record-format kpl` makes them.
pub fn kpl_aggregate(user_records: &[&[u8]]) -> Vec<u8> {
    loglake_parser::payload::kpl_aggregate("partition-key", user_records)
}

/// The sequence number of record `index` of an event.
pub fn sequence_number(index: usize) -> String {
    format!("4959033827149025660855969253836157109592157598913658{index:04}")
}

/// A Kinesis event as Lambda delivers it, with these records' data.
pub fn kinesis_event(records: &[Vec<u8>]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, data)| {
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "web-1",
                    "sequenceNumber": sequence_number(i),
                    "data": base64(data),
                    "approximateArrivalTimestamp": 1_700_000_000.5
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000003:{}", sequence_number(i)),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/loglake-ingest",
                "awsRegion": "us-east-1",
                "eventSourceARN": STREAM_ARN
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The source name the function gives record `index` of [`kinesis_event`].
pub fn record_source(index: usize) -> String {
    format!(
        "kinesis:web-logs/shardId-000000000003/{}",
        sequence_number(index)
    )
}

/// A Firehose transformation event for records Firehose read from a Kinesis stream, as JSON.
pub fn firehose_event_json(records: &[Vec<u8>]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, data)| {
            json!({
                "recordId": format!("rec-{i}"),
                "approximateArrivalTimestamp": 1_700_000_000_000u64,
                "data": base64(data),
                // as Firehose sends it: an empty subsequence number
                "kinesisRecordMetadata": {
                    "shardId": "shardId-000000000001",
                    "partitionKey": "web-1",
                    "approximateArrivalTimestamp": "2026-11-22T10:00:00.000Z",
                    "sequenceNumber": sequence_number(i),
                    "subsequenceNumber": ""
                }
            })
        })
        .collect();
    json!({
        "invocationId": "inv-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/web-logs-lake",
        "sourceKinesisStreamArn": STREAM_ARN,
        "region": "us-east-1",
        "records": records,
    })
}

/// Real access-log lines: the first `n` of the shared Apache log when it is there, else of
/// the sample.
pub fn real_lines(n: usize) -> Vec<String> {
    let lines = match shared_data() {
        Some(shared) => std::fs::read_to_string(shared.join("access/elastic_apache_combined.log"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect(),
        None => sample_lines(),
    };
    lines.into_iter().take(n).collect()
}

/// The repository's root (the including crate may be any of the workspace's).
pub fn repository() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    (crate_dir.ancestors())
        .find(|dir| dir.join("Cargo.lock").is_file())
        .expect("the workspace root")
        .to_path_buf()
}

/// The shared real data, when present (CI always has it).
pub fn shared_data() -> Option<PathBuf> {
    let dir = repository().join("../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        assert!(
            std::env::var_os("LOGLAKE_REQUIRE_SHARED_DATA").is_none(),
            "LOGLAKE_REQUIRE_SHARED_DATA is set but {} is missing",
            dir.display()
        );
        eprintln!("skipping: {} is missing", dir.display());
        None
    }
}

/// The repository's own sample log (always present).
pub fn sample_lines() -> Vec<String> {
    let path = repository().join("sample/access.log");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The UTC `dt` and `hour` of an access-log line, computed from its `[10/Oct/2000:13:55:36
/// -0700]` independently of the parser under test.
pub fn expected_partition(line: &str) -> (String, i64) {
    let open = line.find('[').expect("a timestamp");
    let stamp = &line[open + 1..open + 27];
    let day: i64 = stamp[0..2].parse().unwrap();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == &stamp[3..6])
    .unwrap() as i64
        + 1;
    let year: i64 = stamp[7..11].parse().unwrap();
    let seconds: i64 = stamp[12..14].parse::<i64>().unwrap() * 3600
        + stamp[15..17].parse::<i64>().unwrap() * 60
        + stamp[18..20].parse::<i64>().unwrap();
    let sign = if &stamp[21..22] == "-" { -1 } else { 1 };
    let offset = sign
        * (stamp[22..24].parse::<i64>().unwrap() * 3600
            + stamp[24..26].parse::<i64>().unwrap() * 60);
    // Days since 1970-01-01 by counting: slow and obviously right.
    let is_leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = |y: i64, m: i64| match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let mut days: i64 = (1970..year)
        .map(|y| if is_leap(y) { 366 } else { 365 })
        .sum();
    days += (1..month).map(|m| month_days(year, m)).sum::<i64>() + day - 1;
    let utc = days * 86_400 + seconds - offset;
    let (utc_days, hour) = (utc.div_euclid(86_400), utc.rem_euclid(86_400) / 3600);
    let (mut y, mut d) = (1970, utc_days);
    while d >= if is_leap(y) { 366 } else { 365 } {
        d -= if is_leap(y) { 366 } else { 365 };
        y += 1;
    }
    let mut m = 1;
    while d >= month_days(y, m) {
        d -= month_days(y, m);
        m += 1;
    }
    (format!("{y:04}-{m:02}-{:02}", d + 1), hour)
}

/// What a stand-in Firehose does with one `PutRecordBatch` call.
pub enum FirehoseReply {
    /// Fail the whole call as throttled (`ServiceUnavailableException`).
    Throttle,
    /// The service is down: HTTP 503 without an AWS error body, as a load balancer in front of
    /// it answers.
    Down,
    /// Accept the records, except those at these indices (failed with `ServiceUnavailableException`).
    FailEntries(Vec<usize>),
}

/// The records a stand-in Firehose accepted, per stream, in order.
pub type Accepted = Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

/// A Firehose stand-in on loopback speaking the real JSON protocol (`Firehose_20150804`):
/// `reply(call number, records)` decides each call's fate.
pub fn fake_firehose(
    reply: impl Fn(usize, &[Vec<u8>]) -> FirehoseReply + Send + Sync + 'static,
) -> (String, Accepted) {
    let accepted: Accepted = Arc::default();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let store = Arc::clone(&accepted);
    let addr = serve(move |request| {
        let target = request
            .headers
            .get("x-amz-target")
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            target, "Firehose_20150804.PutRecordBatch",
            "unexpected call"
        );
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let stream = body["DeliveryStreamName"].as_str().unwrap().to_string();
        let records: Vec<Vec<u8>> = body["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                base64::engine::general_purpose::STANDARD
                    .decode(r["Data"].as_str().unwrap())
                    .unwrap()
            })
            .collect();
        let call = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match reply(call, &records) {
            FirehoseReply::Down => {
                HttpResponse::json(503, &json!({"message": "Service Unavailable"}))
            }
            FirehoseReply::Throttle => {
                let mut response = HttpResponse::json(
                    400,
                    &json!({"__type": "ServiceUnavailableException", "message": "Slow down."}),
                );
                response.headers.push((
                    "x-amzn-ErrorType".into(),
                    "ServiceUnavailableException".into(),
                ));
                response
            }
            FirehoseReply::FailEntries(failed) => {
                let mut store = store.lock().unwrap();
                let responses: Vec<Value> = records
                    .into_iter()
                    .enumerate()
                    .map(|(i, data)| {
                        if failed.contains(&i) {
                            json!({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."})
                        } else {
                            store.push((stream.clone(), data));
                            json!({"RecordId": format!("rec-{call}-{i}")})
                        }
                    })
                    .collect();
                HttpResponse::json(
                    200,
                    &json!({"FailedPutCount": failed.len(), "Encrypted": false, "RequestResponses": responses}),
                )
            }
        }
    });
    (format!("http://{addr}"), accepted)
}
