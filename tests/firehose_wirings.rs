//! The template's Firehose wirings end to end, through a Firehose stand-in that processes records
//! as AWS documents (tests/support/firehose.rs) and configured from template.yaml itself, with
//! real logs: every line becomes a row under the right `dt`/`hour` or a reject, none twice, and
//! nothing lands in Firehose's error output.
//!
//! Needs the local S3 stand-in (moto, `AWS_ENDPOINT_URL`, started by scripts/test) and PyPI `jq`
//! in scripts/test's venv for the template's partitioning query.

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_firehose::config::{BehaviorVersion, Credentials, Region};
use loglake_decode::DecoderOptions;
use loglake_ingest::delivery::{FirehoseClient, RetryPolicy};
use loglake_ingest::{Config, IngestFunction, KinesisEventText};
use serde_json::Value;
use support::cfn::template_with;
use support::firehose::{DeliveryConfig, FirehoseStandin, Transform};
use support::functions::*;

/// Firehose's clock when the test's buffers fill: what `!{timestamp:…}` expressions give.
const ARRIVAL: &str = "2026-12-07T10:15:00";

/// Real access-log lines, the way shippers put them in Kinesis: mostly one line a record (Vector,
/// Fluent Bit, the Kinesis Agent), some records of several lines, and lines that are not access
/// logs. Returns the records and the lines of each.
fn kinesis_records() -> Option<Vec<Vec<String>>> {
    let shared = shared_data()?;
    let text = std::fs::read(shared.join("access/elastic_apache_combined.log")).unwrap();
    let mut lines: Vec<String> = String::from_utf8_lossy(&text)
        .lines()
        .take(4_000)
        .map(str::to_owned)
        .collect();
    for file in std::fs::read_dir(shared.join("access/malformed")).unwrap() {
        let text = std::fs::read(file.unwrap().path()).unwrap();
        lines.extend(String::from_utf8_lossy(&text).lines().map(str::to_owned));
    }
    let sizes = [1, 1, 1, 7, 1, 40, 1, 1];
    let mut records = Vec::new();
    let mut rest = lines.as_slice();
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (record, after) = rest.split_at((*size).min(rest.len()));
        records.push(record.to_vec());
        rest = after;
    }
    Some(records)
}

fn record_bytes(lines: &[String]) -> Vec<u8> {
    let mut data = lines.join("\n").into_bytes();
    data.push(b'\n');
    data
}

/// Every object under `prefix`, gunzipped when gzip, as JSON lines with the object's key.
fn delivered(endpoint: &str, bucket: &str, prefix: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (key, mut data) in s3_objects(endpoint, bucket) {
        if !key.starts_with(prefix) {
            continue;
        }
        if data.starts_with(&[0x1f, 0x8b]) {
            let mut plain = Vec::new();
            flate2::read::MultiGzDecoder::new(data.as_slice())
                .read_to_end(&mut plain)
                .unwrap();
            data = plain;
        }
        for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            out.push((key.clone(), serde_json::from_slice(line).unwrap()));
        }
    }
    out
}

/// `dt=…/hour=…` of an object key under `access_logs/`.
fn partition_of(key: &str) -> String {
    let parts: Vec<&str> = key.split('/').collect();
    format!("{}/{}", parts[1], parts[2])
}

/// `dt=…/hour=…` of a row's `ts` as Firehose's conversion read it (`2026-11-01T10:00:00…Z`).
fn partition_of_ts(ts: &str) -> String {
    format!("dt={}/hour={}", &ts[..10], &ts[11..13])
}

/// Each input line once: `(source, source_line)` to how it came out.
fn each_line_once(rows: &[(String, Value)], rejects: &[Value]) -> BTreeMap<(String, i64), usize> {
    let mut seen: BTreeMap<(String, i64), usize> = BTreeMap::new();
    let id = |v: &Value| {
        (
            v["source"].as_str().unwrap().to_string(),
            v["source_line"].as_i64().unwrap(),
        )
    };
    for (_, row) in rows {
        *seen.entry(id(row)).or_default() += 1;
    }
    for reject in rejects {
        *seen.entry(id(reject)).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "lines delivered twice: {twice:?}");
    seen
}

/// The lines of the records, by the `(source, source_line)` the functions give them.
fn expected_lines(records: &[Vec<String>]) -> BTreeMap<(String, i64), String> {
    let mut expected = BTreeMap::new();
    for (index, lines) in records.iter().enumerate() {
        for (n, line) in lines.iter().enumerate() {
            expected.insert((record_source(index), n as i64 + 1), line.clone());
        }
    }
    expected
}

fn firehose_client(endpoint: &str) -> FirehoseClient {
    let config = aws_sdk_firehose::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint)
        .build();
    FirehoseClient(aws_sdk_firehose::Client::from_conf(config))
}

/// What one wiring delivered from the test's records.
struct Delivered {
    /// Rows with the key of the object that holds them.
    rows: Vec<(String, Value)>,
    rejects: Vec<Value>,
    /// The lines of each Kinesis record sent.
    records: Vec<Vec<String>>,
}

/// `Wiring=LambdaIngest`: the ingest function sends JSON rows and rejects to the template's two
/// delivery streams; returns what Firehose delivered.
fn run_lambda_ingest(partitioning: &str, bucket: &str) -> Option<Delivered> {
    let (endpoint, records) = (aws_standin()?, kinesis_records()?);
    support::jq_python()?;
    let mut template = template_with("Wiring", "LambdaIngest");
    template["Parameters"]["Partitioning"]["Default"] = partitioning.into();
    let streams = vec![
        DeliveryConfig::from_template(&template, "DeliveryStream"),
        DeliveryConfig::from_template(&template, "RejectsDeliveryStream"),
    ];
    let firehose = FirehoseStandin::new(streams, None, &endpoint, bucket, ARRIVAL);
    let config = Config::from_vars(|name| match name {
        "FIREHOSE_STREAM_NAME" => Some("DeliveryStream".into()),
        "REJECTS_STREAM_NAME" => Some("RejectsDeliveryStream".into()),
        _ => None,
    })
    .unwrap();
    let mut function = IngestFunction::new(config, firehose_client(&firehose.serve()));
    function.retry = RetryPolicy {
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    };

    let data: Vec<Vec<u8>> = records.iter().map(|r| record_bytes(r)).collect();
    let event = kinesis_event(&data).to_string();
    assert!(event.len() < 6 * 1024 * 1024, "Lambda's 6 MB event limit");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (response, _) = runtime
        .block_on(function.handle(&KinesisEventText::new(event), deadline))
        .unwrap();
    assert!(
        response.batch_item_failures.is_empty(),
        "the stand-in refused what the function sent"
    );
    firehose.flush();

    let errors = delivered(&endpoint, bucket, "firehose-errors/");
    assert!(
        errors.is_empty(),
        "Firehose failed {} records: {}",
        errors.len(),
        errors[0].1["errorMessage"]
    );
    let rows = delivered(&endpoint, bucket, "access_logs/");
    let rejects = delivered(&endpoint, bucket, "rejects/")
        .into_iter()
        .map(|(_, reject)| reject)
        .collect();
    Some(Delivered {
        rows,
        rejects,
        records,
    })
}

/// Event time (the default): deaggregation, then the template's query files each row under its
/// own hour.
#[test]
fn lambda_ingest_by_event_time_files_every_row_under_its_hour() {
    let Some(Delivered {
        rows,
        rejects,
        records,
    }) = run_lambda_ingest("EventTime", "wiring-event-time")
    else {
        return;
    };
    let expected = expected_lines(&records);
    let seen = each_line_once(&rows, &rejects);
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    assert!(rows.len() > 3_900 && !rejects.is_empty());
    for (key, row) in &rows {
        let line = &expected[&(
            row["source"].as_str().unwrap().to_string(),
            row["source_line"].as_i64().unwrap(),
        )];
        let (dt, hour) = expected_partition(line);
        assert_eq!(
            partition_of(key),
            format!("dt={dt}/hour={hour:02}"),
            "{line}"
        );
        assert_eq!(
            partition_of(key),
            partition_of_ts(row["ts"].as_str().unwrap())
        );
    }
}

/// Arrival time: no deaggregation, no query; rows stay in their records and every object is
/// filed under Firehose's clock.
#[test]
fn lambda_ingest_by_arrival_time_delivers_every_row_under_the_arrival_hour() {
    let Some(Delivered {
        rows,
        rejects,
        records,
    }) = run_lambda_ingest("ArrivalTime", "wiring-arrival-time")
    else {
        return;
    };
    let seen = each_line_once(&rows, &rejects);
    assert_eq!(seen.len(), expected_lines(&records).len());
    for (key, _) in &rows {
        assert_eq!(partition_of(key), "dt=2026-12-07/hour=10");
    }
}

/// `Wiring=FirehoseReadsStream`: Firehose reads the Kinesis records and calls the
/// firehose-transform code; each record's rows are filed under the hour the transform names
/// (its earliest row's), and a record without rows goes to the error output with its data.
#[test]
fn firehose_reading_the_stream_files_every_row_through_the_transform() {
    let (Some(endpoint), Some(records)) = (aws_standin(), kinesis_records()) else {
        return;
    };
    let template = template_with("Wiring", "FirehoseReadsStream");
    let config = DeliveryConfig::from_template(&template, "DeliveryStream");
    let rejected = Arc::new(Mutex::new(0_u64));
    let counted = Arc::clone(&rejected);
    let transform: Transform = Arc::new(move |event: &Value| {
        let event = serde_json::from_value(event.clone()).unwrap();
        let (response, stats) =
            loglake_firehose_transform::transform(&event, DecoderOptions::default());
        *counted.lock().unwrap() += stats.stream.rejected;
        serde_json::to_value(response).unwrap()
    });
    let bucket = "wiring-reads-stream";
    let firehose = FirehoseStandin::new(vec![config], Some(transform), &endpoint, bucket, ARRIVAL);
    for (index, lines) in records.iter().enumerate() {
        firehose.read_from_kinesis(
            "DeliveryStream",
            "shardId-000000000003",
            &sequence_number(index),
            record_bytes(lines),
        );
    }
    firehose.flush();

    let rows = delivered(&endpoint, bucket, "access_logs/");
    let seen = each_line_once(&rows, &[]);
    let expected = expected_lines(&records);
    let rejected = *rejected.lock().unwrap() as usize;
    assert_eq!(rows.len() + rejected, expected.len());
    assert!(seen.keys().all(|line| expected.contains_key(line)));
    // Records whose lines were all rejected are Firehose's processing failures, data kept.
    let failed = delivered(&endpoint, bucket, "firehose-errors/");
    assert!(failed
        .iter()
        .all(|(key, _)| key.contains("/processing-failed/")));
    for (key, row) in &rows {
        let own = partition_of_ts(row["ts"].as_str().unwrap());
        assert!(partition_of(key) <= own, "{key} holds a row of {own}");
    }
}
