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

/// A stream of each test's own, so the tests can run again on the same stand-in.
fn stream(test: &str) -> String {
    format!("replay-{test}-{}", std::process::id())
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

/// A stream of real lines in records of 1 to 7 lines, as shippers send them, and the failure
/// queue's message for the batch of its records 5 to 40 that the function gave up on.
struct FailedBatch {
    stream: String,
    shard: String,
    sequences: Vec<String>,
    records: Vec<Vec<String>>,
    first: usize,
    last: usize,
    message: String,
}

impl FailedBatch {
    fn new(endpoint: &str, test: &str) -> Self {
        let kinesis = |target: &str, body: Value| {
            aws_json(
                endpoint,
                "kinesis",
                &format!("Kinesis_20131202.{target}"),
                &body,
            )
        };
        let stream = stream(test);
        let stream_arn = format!("arn:aws:kinesis:us-east-1:123456789012:stream/{stream}");
        kinesis(
            "CreateStream",
            json!({"StreamName": stream, "ShardCount": 1}),
        );
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
        Self {
            stream,
            shard,
            sequences,
            records,
            first,
            last,
            message,
        }
    }

    /// `(source, source_line)` of every line of the failed batch.
    fn lines(&self) -> BTreeSet<(String, i64)> {
        let mut expected = BTreeSet::new();
        for index in self.first..=self.last {
            let source = format!(
                "kinesis:{}/{}/{}",
                self.stream, self.shard, self.sequences[index]
            );
            for n in 1..=self.records[index].len() {
                expected.insert((source.clone(), n as i64));
            }
        }
        expected
    }
}

/// A bucket of its own for the lake; returns `s3://bucket/lake`.
fn lake_bucket(endpoint: &str, name: &str) -> (String, String) {
    let bucket = format!("{name}-{}", std::process::id());
    let (status, _) = http("PUT", &format!("{endpoint}/{bucket}"), b"");
    assert_eq!(status, 200);
    let lake = format!("s3://{bucket}/lake");
    (bucket, lake)
}

/// Rejected lines in the lake's rejects objects.
fn lake_rejects(endpoint: &str, bucket: &str) -> u64 {
    s3_objects(endpoint, bucket)
        .iter()
        .filter(|(key, _)| key.contains("/rejects/"))
        .map(|(_, data)| {
            data.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count() as u64
        })
        .sum()
}

#[test]
fn a_failed_batch_is_read_back_from_the_stream_into_the_lake_once() {
    let Some(endpoint) = aws_standin() else {
        return;
    };
    let failed = FailedBatch::new(&endpoint, "file");
    let (first, last, message) = (failed.first, failed.last, failed.message.clone());
    let records = &failed.records;
    let expected_lines: usize = records[first..=last].iter().map(Vec::len).sum();
    let (bucket, lake) = lake_bucket(&endpoint, "replay-lake");

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
    let rows = lake_rows(&endpoint, &bucket);
    assert_eq!(rows.len() as u64, rows_out.unwrap());
    assert!(rows.is_subset(&failed.lines()), "rows of other batches");
    assert_eq!(lake_rejects(&endpoint, &bucket), rejected.unwrap());

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

/// Given the failure queue's URL, it reads the messages itself (moto's SQS, over the wire) and
/// deletes each once its batch is in the lake; a message it cannot replay stays, visible again.
#[test]
fn the_failure_queue_is_read_and_each_replayed_message_deleted() {
    let Some(endpoint) = aws_standin() else {
        return;
    };
    let sqs = |target: &str, body: Value| {
        aws_json(&endpoint, "sqs", &format!("AmazonSQS.{target}"), &body)
    };
    let failed = FailedBatch::new(&endpoint, "queue");
    let queue = format!("replay-failures-{}", std::process::id());
    let queue_url = sqs("CreateQueue", json!({"QueueName": queue}))["QueueUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let not_lambdas = r#"{"Records": []}"#;
    for body in [failed.message.as_str(), not_lambdas] {
        sqs(
            "SendMessage",
            json!({"QueueUrl": queue_url, "MessageBody": body}),
        );
    }
    let (bucket, lake) = lake_bucket(&endpoint, "replay-queue-lake");

    let output = replay(&[&queue_url, "--lake", &lake, "--json"], None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "one message was not replayed");
    assert!(stderr.contains("KinesisBatchInfo"), "{stderr}");
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (
            summary["batches"].as_u64(),
            summary["messages_deleted"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let rows = lake_rows(&endpoint, &bucket);
    let expected = failed.lines();
    assert!(rows.is_subset(&expected));
    assert_eq!(
        rows.len() as u64 + lake_rejects(&endpoint, &bucket),
        expected.len() as u64,
        "every line of the batch a row or a reject"
    );

    // Only the message it could not replay is left (none still in flight), and at once.
    let attributes = sqs(
        "GetQueueAttributes",
        json!({"QueueUrl": queue_url, "AttributeNames": ["All"]}),
    );
    let count = |name: &str| attributes["Attributes"][name].as_str().map(str::to_owned);
    assert_eq!(
        (
            count("ApproximateNumberOfMessages"),
            count("ApproximateNumberOfMessagesNotVisible")
        ),
        (Some("1".into()), Some("0".into())),
        "{attributes}"
    );
    let left = sqs(
        "ReceiveMessage",
        json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1}),
    );
    let bodies: Vec<&str> = left["Messages"]
        .as_array()
        .map(|m| m.iter().map(|m| m["Body"].as_str().unwrap()).collect())
        .unwrap_or_default();
    assert_eq!(bodies, [not_lambdas]);
}
