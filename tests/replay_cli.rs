//! `loglake replay-failures` end to end: a Kinesis batch the ingest function gave up on, named
//! by the failure queue's message, read back from the local stand-in's Kinesis by sequence
//! number and written into its S3 as the function writes it; every line of the batch a row or a
//! reject, nothing of other batches, and a second replay changes nothing.

#[path = "../functions/ingest/tests/support/http.rs"]
mod http;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use base64::Engine;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{json, Value};

use http::{aws_json, aws_standin, http, s3_objects};

/// A stream of its own, so the test can run again on the same stand-in.
fn stream() -> String {
    format!("replay-web-{}", std::process::id())
}

fn replay(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loglake"))
        .arg("replay-failures")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// Lines of real logs when the shared data is there, else the sample's, and a line that is not
/// a log line.
fn lines() -> Vec<String> {
    let shared = std::path::Path::new("../shared/data/access/elastic_apache_combined.log");
    let path = if shared.exists() {
        shared.to_path_buf()
    } else {
        std::path::PathBuf::from("sample/access.log")
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let mut lines: Vec<String> = text.lines().take(200).map(str::to_owned).collect();
    lines.insert(57, "this is not an access log line".into());
    lines
}

/// `(source, source_line)` of every row in the lake's Parquet files.
fn lake_rows(endpoint: &str, bucket: &str) -> BTreeSet<(String, i64)> {
    let mut rows = BTreeSet::new();
    for (key, data) in s3_objects(endpoint, bucket) {
        if !key.contains("/access_logs/") {
            continue;
        }
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(data))
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let sources = batch["source"].as_string::<i32>();
            let numbers = batch["source_line"].as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                let line = (sources.value(row).to_string(), numbers.value(row));
                assert!(rows.insert(line.clone()), "{line:?} twice");
            }
        }
    }
    rows
}

#[test]
fn a_failed_batch_is_read_back_from_the_stream_into_the_lake_once() {
    let Some(endpoint) = aws_standin() else {
        return;
    };
    let kinesis = |target: &str, body: Value| {
        aws_json(
            &endpoint,
            "kinesis",
            &format!("Kinesis_20131202.{target}"),
            &body,
        )
    };
    let stream = stream();
    let stream_arn = format!("arn:aws:kinesis:us-east-1:123456789012:stream/{stream}");
    kinesis(
        "CreateStream",
        json!({"StreamName": stream, "ShardCount": 1}),
    );
    // Records of 1 to 7 lines, as shippers send them.
    let lines = lines();
    let mut records: Vec<Vec<String>> = Vec::new();
    let mut rest = lines.as_slice();
    for size in [1, 3, 1, 7, 1, 2].iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (record, after) = rest.split_at((*size).min(rest.len()));
        records.push(record.to_vec());
        rest = after;
    }
    let entries: Vec<Value> = records
        .iter()
        .map(|lines| {
            let data = format!("{}\n", lines.join("\n"));
            json!({"Data": base64::engine::general_purpose::STANDARD.encode(data), "PartitionKey": "web-1"})
        })
        .collect();
    let put = kinesis(
        "PutRecords",
        json!({"StreamName": stream, "Records": entries}),
    );
    let sequences: Vec<String> = put["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["SequenceNumber"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sequences.len(), records.len());
    let shard = put["Records"][0]["ShardId"].as_str().unwrap().to_string();

    // The batch of records 5 to 40 failed for good: Lambda's invocation record names it.
    let (first, last) = (5, 40);
    let message = json!({
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 11},
        "version": "1.0",
        "KinesisBatchInfo": {
            "shardId": shard, "startSequenceNumber": sequences[first],
            "endSequenceNumber": sequences[last], "batchSize": last - first + 1,
            "streamArn": stream_arn,
        },
    })
    .to_string();
    let expected_lines: usize = records[first..=last].iter().map(Vec::len).sum();
    let bucket = format!("replay-lake-{}", std::process::id());
    let lake = format!("s3://{bucket}/lake");
    let (status, _) = http("PUT", &format!("{endpoint}/{bucket}"), b"");
    assert_eq!(status, 200);

    let dir = tempfile::tempdir().unwrap();
    let messages = dir.path().join("messages.ndjson");
    std::fs::write(&messages, format!("{message}\n")).unwrap();
    let output = replay(
        &[messages.to_str().unwrap(), "--lake", &lake, "--json"],
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["batches"], 1);
    assert_eq!(summary["records"], last - first + 1);
    assert_eq!(summary["lines_in"], expected_lines);
    let (rows_out, rejected) = (summary["rows_out"].as_u64(), summary["rejected"].as_u64());
    assert_eq!(rows_out.unwrap() + rejected.unwrap(), expected_lines as u64);

    // Exactly the batch's lines: every row's source one of its records, every line there once.
    let source = |index: usize| format!("kinesis:{stream}/{shard}/{}", sequences[index]);
    let mut expected = BTreeSet::new();
    for (index, lines) in records.iter().enumerate().take(last + 1).skip(first) {
        for n in 1..=lines.len() {
            expected.insert((source(index), n as i64));
        }
    }
    let rows = lake_rows(&endpoint, &bucket);
    assert_eq!(rows.len() as u64, rows_out.unwrap());
    assert!(rows.is_subset(&expected), "rows of other batches");
    let rejects: usize = s3_objects(&endpoint, &bucket)
        .iter()
        .filter(|(key, _)| key.contains("/rejects/"))
        .map(|(_, data)| {
            data.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count()
        })
        .sum();
    assert_eq!(rejects as u64, rejected.unwrap());

    // Replayed again, as `aws sqs receive-message` prints the message: the same objects.
    let before: BTreeMap<String, Vec<u8>> = s3_objects(&endpoint, &bucket).into_iter().collect();
    let received = json!({"Messages": [{"MessageId": "m-1", "Body": message}]}).to_string();
    let again = replay(&["-", "--lake", &lake], Some(&received));
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let after: BTreeMap<String, Vec<u8>> = s3_objects(&endpoint, &bucket).into_iter().collect();
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    assert_eq!(lake_rows(&endpoint, &bucket), rows);

    // A message that is not Lambda's invocation record is an error, and writes nothing.
    let bad = replay(&["-", "--lake", &lake], Some(r#"{"Records": []}"#));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("KinesisBatchInfo"));
}
