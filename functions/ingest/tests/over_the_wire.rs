//! The ingest function over the wire: against Firehose, the local AWS stand-in (moto, started by
//! scripts/test) delivering to S3, and a Firehose stand-in on loopback that fails entries and
//! throttles, to prove the retries and the redelivery contract; in the lake wiring, Parquet
//! written straight to the stand-in's S3.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_sdk_firehose::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_firehose::types::{DeliveryStreamType, ExtendedS3DestinationConfiguration};
use base64::Engine;
use loglake_ingest::delivery::{FirehoseClient, RetryPolicy};
use loglake_ingest::lake_output::S3Client;
use loglake_ingest::metrics::InvocationMetrics;
use loglake_ingest::{Config, IngestFunction, KinesisEventText, LakeIngestFunction};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{json, Value};
use support::*;
use tokio::time::Instant;

fn firehose_client(endpoint: &str) -> FirehoseClient {
    let config = aws_sdk_firehose::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint)
        .retry_config(aws_sdk_firehose::config::retry::RetryConfig::disabled())
        .build();
    FirehoseClient(aws_sdk_firehose::Client::from_conf(config))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn function(
    endpoint: &str,
    rows_stream: &str,
    rejects_stream: Option<&str>,
) -> IngestFunction<FirehoseClient> {
    let config = Config::from_vars(|name| match name {
        "FIREHOSE_STREAM_NAME" => Some(rows_stream.into()),
        "REJECTS_STREAM_NAME" => rejects_stream.map(str::to_owned),
        _ => None,
    })
    .unwrap();
    let mut function = IngestFunction::new(config, firehose_client(endpoint));
    function.retry = RetryPolicy {
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    function
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

/// The event's text as the function receives it; `.read()` gives its records.
fn event_text(event: &Value) -> KinesisEventText {
    KinesisEventText::new(event.to_string())
}

/// Every input line by its `(source, source_line)`: each must come back once, as a row or a
/// reject.
type ExpectedLines = BTreeMap<(String, i64), Vec<u8>>;

/// Kinesis records in every encoding shippers use, built from `lines`, and what each line's
/// `(source, source_line)` is.
fn records_in_every_encoding(lines: &[Vec<u8>]) -> (Vec<Vec<u8>>, ExpectedLines) {
    let mut records = Vec::new();
    let mut expected = BTreeMap::new();
    for (chunk_index, chunk) in lines.chunks(7).enumerate() {
        let index = records.len();
        let mut joined = Vec::new();
        for line in chunk {
            joined.extend_from_slice(line);
            joined.push(b'\n');
        }
        let (data, texts): (Vec<u8>, Vec<Vec<u8>>) = match chunk_index % 5 {
            0 => (joined, chunk.to_vec()),
            1 => (gzip(&joined), chunk.to_vec()),
            2 => {
                let messages: Vec<String> = chunk
                    .iter()
                    .map(|l| String::from_utf8_lossy(l).into_owned())
                    .collect();
                let refs: Vec<&str> = messages.iter().map(String::as_str).collect();
                let texts = messages.iter().map(|m| m.as_bytes().to_vec()).collect();
                (cloudwatch_envelope(&refs), texts)
            }
            3 => {
                // KPL: the first lines plain in one user record, the rest gzip in another
                let (head, tail) = chunk.split_at(chunk.len() / 2);
                let plain: Vec<u8> = head
                    .iter()
                    .flat_map(|l| [l.as_slice(), b"\n"].concat())
                    .collect();
                let zipped = gzip(
                    &tail
                        .iter()
                        .flat_map(|l| [l.as_slice(), b"\n"].concat())
                        .collect::<Vec<u8>>(),
                );
                (kpl_aggregate(&[&plain, &zipped]), chunk.to_vec())
            }
            _ => {
                // CRLF line endings and no final newline
                let mut crlf = Vec::new();
                for (i, line) in chunk.iter().enumerate() {
                    if i > 0 {
                        crlf.extend_from_slice(b"\r\n");
                    }
                    crlf.extend_from_slice(line);
                }
                (crlf, chunk.to_vec())
            }
        };
        records.push(data);
        for (n, raw) in texts.into_iter().enumerate() {
            expected.insert((record_source(index), n as i64 + 1), raw);
        }
    }
    (records, expected)
}

/// Records that cannot be decoded: each must come back as one record-level reject.
fn damaged_records() -> Vec<(Vec<u8>, &'static str)> {
    let good =
        gzip(b"1.2.3.4 - - [10/Oct/2020:13:55:36 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"x\"\n");
    let mut bad_md5 = kpl_aggregate(&[b"a line\n"]);
    let last = bad_md5.len() - 1;
    bad_md5[last] ^= 0xff;
    let mut bad_protobuf = vec![0xF3, 0x89, 0x9A, 0xC2, 0x0a, 0xff, 0xff];
    bad_protobuf.extend_from_slice(&md5::compute(&bad_protobuf[4..]).0);
    vec![
        (good[..good.len() / 2].to_vec(), "bad_gzip"),
        (bad_md5, "kpl_checksum_mismatch"),
        (bad_protobuf, "bad_kpl_aggregate"),
        (
            gzip(br#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"#),
            "bad_cloudwatch_envelope",
        ),
    ]
}

fn real_lines() -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = sample_lines()
        .into_iter()
        .take(300)
        .map(String::into_bytes)
        .collect();
    if let Some(shared) = shared_data() {
        for dir in ["access/apache", "access/nginx", "access/malformed"] {
            let mut files: Vec<_> = std::fs::read_dir(shared.join(dir))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            for file in files {
                lines.extend(file_lines(&file).into_iter().take(400));
            }
        }
        lines.extend(
            file_lines(&shared.join("access/elastic_apache_combined.log"))
                .into_iter()
                .take(1_500),
        );
    }
    lines
}

fn file_lines(path: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap();
    let mut lines: Vec<Vec<u8>> = data.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    if lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    // Lines end in LF in the records built from them; a CR of the file's own CRLF would be
    // stripped by the parser and so could not be compared.
    for line in &mut lines {
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    lines
}

fn create_firehose_to_s3(endpoint: &str, bucket: &str, stream: &str, prefix: &str) {
    let (status, body) = http("PUT", &format!("{endpoint}/{bucket}"), b"");
    assert!(
        status == 200 || status == 409,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let client = firehose_client(endpoint).0;
    let destination = ExtendedS3DestinationConfiguration::builder()
        .role_arn("arn:aws:iam::123456789012:role/loglake-firehose")
        .bucket_arn(format!("arn:aws:s3:::{bucket}"))
        .prefix(prefix)
        .build()
        .unwrap();
    runtime()
        .block_on(
            client
                .create_delivery_stream()
                .delivery_stream_name(stream)
                .delivery_stream_type(DeliveryStreamType::DirectPut)
                .extended_s3_destination_configuration(destination)
                .send(),
        )
        .unwrap();
}

/// A bucket with a rows stream delivering to `access_logs/` and a rejects stream delivering to
/// `rejects/` (names unique to the bucket: moto names streams per account), and the function
/// writing to them.
fn function_into_s3(endpoint: &str, bucket: &str) -> IngestFunction<FirehoseClient> {
    let rows_stream = format!("rows-{bucket}");
    let rejects_stream = format!("rejects-{bucket}");
    create_firehose_to_s3(endpoint, bucket, &rows_stream, "access_logs/");
    create_firehose_to_s3(endpoint, bucket, &rejects_stream, "rejects/");
    function(endpoint, &rows_stream, Some(&rejects_stream))
}

/// The JSON objects under `prefix` in the bucket (moto writes one object per call).
fn delivered(endpoint: &str, bucket: &str, prefix: &str) -> Vec<Value> {
    s3_objects(endpoint, bucket)
        .into_iter()
        .filter(|(key, _)| key.starts_with(prefix))
        .flat_map(|(_, data)| {
            data.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// The event of [`records_in_every_encoding`] over the real lines, with damaged records, a
/// CloudWatch control message, an empty record and one whose data is not base64; what each line
/// must become, and the record-level reject reason of each damaged record.
fn event_of_every_kind() -> (
    KinesisEventText,
    ExpectedLines,
    HashMap<String, &'static str>,
) {
    let lines = real_lines();
    let (mut records, expected) = records_in_every_encoding(&lines);
    let mut expected_record_rejects = HashMap::new();
    for (data, reason) in damaged_records() {
        expected_record_rejects.insert(record_source(records.len()), reason);
        records.push(data);
    }
    records.push(cloudwatch_control_message());
    records.push(Vec::new());
    // a record whose data in the event is not base64: one reject, not a failed invocation
    expected_record_rejects.insert(record_source(records.len()), "bad_base64");
    records.push(Vec::new());
    let mut event = kinesis_event(&records);
    event["Records"][records.len() - 1]["kinesis"]["data"] = "not base64!".into();
    (event_text(&event), expected, expected_record_rejects)
}

/// Checks that every expected line came back exactly once: as one of `rows` (its source, line
/// number and the `dt`/`hour` it was filed under) or as one of `rejects`, and each damaged
/// record as one reject of its reason.
fn reconcile(
    rows: &[(String, i64, (String, i64))],
    rejects: &[Value],
    mut expected: ExpectedLines,
    mut expected_record_rejects: HashMap<String, &'static str>,
    metrics: &InvocationMetrics,
) {
    assert_eq!(metrics.lines_in, metrics.rows_out + metrics.rejected);
    assert_eq!(rows.len() as u64, metrics.rows_out);
    assert_eq!(rejects.len() as u64, metrics.rejected);
    assert_eq!(
        metrics.lines_in as usize,
        expected.len() + expected_record_rejects.len()
    );
    assert!(
        metrics.rows_out as usize > expected.len() * 9 / 10,
        "{metrics:?}"
    );
    for (source, number, partition) in rows {
        let key = (source.clone(), *number);
        let line = expected
            .remove(&key)
            .unwrap_or_else(|| panic!("row {key:?} delivered twice or never sent"));
        let text = String::from_utf8_lossy(&line);
        assert_eq!(partition, &expected_partition(&text), "{text}");
    }
    for reject in rejects {
        let source = reject["source"].as_str().unwrap().to_string();
        let number = reject["source_line"].as_i64().unwrap();
        if number == 0 {
            let reason = expected_record_rejects
                .remove(&source)
                .expect("one reject per damaged record");
            assert_eq!(reject["reason"], reason);
            continue;
        }
        let line = expected
            .remove(&(source.clone(), number))
            .unwrap_or_else(|| panic!("reject {reject} delivered twice or never sent"));
        let raw = match reject["raw_encoding"].as_str().unwrap() {
            "text" => reject["raw"].as_str().unwrap().as_bytes().to_vec(),
            _ => base64::engine::general_purpose::STANDARD
                .decode(reject["raw"].as_str().unwrap())
                .unwrap(),
        };
        assert_eq!(raw, line);
    }
    assert!(
        expected.is_empty(),
        "lost: {:?}",
        expected.keys().take(5).collect::<Vec<_>>()
    );
    assert!(expected_record_rejects.is_empty());
}

#[test]
fn every_line_reaches_s3_once_as_a_row_or_a_reject() {
    let Some(endpoint) = aws_standin() else {
        return;
    };
    let bucket = format!("loglake-it-{}", std::process::id());
    let function = function_into_s3(&endpoint, &bucket);
    let (text, expected, expected_record_rejects) = event_of_every_kind();

    let (response, metrics) = runtime()
        .block_on(function.handle(&text, deadline()))
        .unwrap();
    assert!(response.batch_item_failures.is_empty());

    // The template's partitioning query reads dt and hour off `ts` (tests/template.rs).
    let rows: Vec<(String, i64, (String, i64))> = delivered(&endpoint, &bucket, "access_logs/")
        .iter()
        .map(|row| {
            let field = |name| &row[loglake_stream::json_key(name)];
            let ts = field("ts").as_str().unwrap();
            (
                field("source").as_str().unwrap().to_string(),
                field("source_line").as_i64().unwrap(),
                (ts[..10].to_string(), ts[11..13].parse().unwrap()),
            )
        })
        .collect();
    let rejects = delivered(&endpoint, &bucket, "rejects/");
    reconcile(&rows, &rejects, expected, expected_record_rejects, &metrics);
}

fn lake_function(endpoint: &str, dest: &str) -> LakeIngestFunction<S3Client> {
    let config = Config::from_vars(|name| (name == "LAKE_DEST").then(|| dest.to_string())).unwrap();
    let s3 = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    let mut function = LakeIngestFunction::new(config, S3Client(aws_sdk_s3::Client::from_conf(s3)));
    function.retry = RetryPolicy {
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    };
    function
}

/// Each row of the Parquet objects under `prefix`: its source, line number, and the `dt` and
/// `hour` of the partition its file is in.
fn parquet_rows(objects: &[(String, Vec<u8>)], prefix: &str) -> Vec<(String, i64, (String, i64))> {
    let mut rows = Vec::new();
    for (key, data) in objects.iter().filter(|(key, _)| key.starts_with(prefix)) {
        assert!(key.ends_with(".parquet"), "{key}");
        let mut parts = key[prefix.len()..].split('/');
        let dt = parts
            .next()
            .unwrap()
            .strip_prefix("dt=")
            .unwrap()
            .to_string();
        let hour: i64 = parts
            .next()
            .unwrap()
            .strip_prefix("hour=")
            .unwrap()
            .parse()
            .unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(data.clone()))
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let sources = batch.column_by_name("source").unwrap().as_string::<i32>();
            let numbers = batch
                .column_by_name("source_line")
                .unwrap()
                .as_primitive::<Int64Type>();
            for (source, number) in sources.iter().zip(numbers.iter()) {
                rows.push((
                    source.unwrap().to_string(),
                    number.unwrap(),
                    (dt.clone(), hour),
                ));
            }
        }
    }
    rows
}

#[test]
fn the_lake_wiring_writes_every_line_once_as_parquet_or_a_reject_and_a_retry_replaces_it() {
    let Some(endpoint) = aws_standin() else {
        return;
    };
    let bucket = format!("loglake-lake-{}", std::process::id());
    let (status, body) = http("PUT", &format!("{endpoint}/{bucket}"), b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let function = lake_function(&endpoint, &format!("s3://{bucket}/web/"));
    let (text, expected, expected_record_rejects) = event_of_every_kind();

    let (response, metrics) = runtime()
        .block_on(function.handle(&text, deadline()))
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    let objects = s3_objects(&endpoint, &bucket);
    assert_eq!(metrics.lake_objects as usize, objects.len());
    assert_eq!(
        metrics.lake_bytes as usize,
        objects.iter().map(|(_, data)| data.len()).sum::<usize>()
    );
    let rows = parquet_rows(&objects, "web/access_logs/");
    let rejects: Vec<Value> = objects
        .iter()
        .filter(|(key, _)| key.starts_with("web/rejects/dt="))
        .flat_map(|(_, data)| {
            data.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect();
    reconcile(&rows, &rejects, expected, expected_record_rejects, &metrics);

    // Kinesis redelivers a batch from its first record: the same names, so the retry's files
    // replace the first attempt's instead of adding rows.
    runtime()
        .block_on(function.handle(&text, deadline()))
        .unwrap();
    let again = s3_objects(&endpoint, &bucket);
    assert_eq!(again, objects);
}

#[test]
fn a_lake_that_refuses_the_files_gets_the_whole_batch_redelivered() {
    let Some(endpoint) = aws_standin() else {
        return;
    };
    // No such bucket: S3 refuses every file, and retrying cannot help.
    let function = lake_function(&endpoint, "s3://loglake-no-such-bucket/");
    let lines: Vec<Vec<u8>> = sample_lines()
        .into_iter()
        .take(20)
        .map(String::into_bytes)
        .collect();
    let (records, _) = records_in_every_encoding(&lines);
    let text = event_text(&kinesis_event(&records));
    let (response, metrics) = runtime()
        .block_on(function.handle(&text, deadline()))
        .unwrap();
    let failures: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_deref().unwrap())
        .collect();
    assert_eq!(failures, [sequence_number(0)]);
    assert_eq!(metrics.records_redelivered, records.len() as u64);
    assert_eq!(metrics.lake_objects, 0);
}

#[test]
fn the_shared_kinesis_event_fixtures_reconcile() {
    let (Some(endpoint), Some(shared)) = (aws_standin(), shared_data()) else {
        return;
    };
    let bucket = format!("loglake-fixtures-{}", std::process::id());
    let function = function_into_s3(&endpoint, &bucket);
    let runtime = runtime();

    let mut fixtures = Vec::new();
    for dir in std::fs::read_dir(shared.join("events")).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let json: Value = serde_json::from_str(&text).unwrap();
            if json["Records"][0]["kinesis"]["data"].is_string() {
                fixtures.push((path, json, text));
            }
        }
    }
    assert!(fixtures.len() >= 5, "found {}", fixtures.len());
    let (mut lines_in, mut rows_out, mut rejected) = (0, 0, 0);
    for (path, json, text) in &fixtures {
        // the fixture's own text, laid out as its author wrote it
        let text = KinesisEventText::new(text.clone());
        let event = text
            .read()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // The function's lean reading of the event agrees with aws_lambda_events' full one.
        let full: KinesisEvent = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(event.records.len(), full.records.len());
        for (lean, full) in event.records.iter().zip(&full.records) {
            assert_eq!(lean.kinesis.sequence_number, full.kinesis.sequence_number);
            assert_eq!(lean.event_id, full.event_id.as_deref().unwrap_or_default());
            let data = base64::engine::general_purpose::STANDARD
                .decode(&lean.kinesis.data)
                .unwrap();
            assert_eq!(data, full.kinesis.data.0);
        }
        let (response, metrics) = runtime
            .block_on(function.handle(&text, deadline()))
            .unwrap();
        assert!(
            response.batch_item_failures.is_empty(),
            "{}",
            path.display()
        );
        assert_eq!(metrics.lines_in, metrics.rows_out + metrics.rejected);
        assert!(metrics.lines_in > 0, "{}", path.display());
        lines_in += metrics.lines_in;
        rows_out += metrics.rows_out;
        rejected += metrics.rejected;
    }
    let rows = delivered(&endpoint, &bucket, "access_logs/");
    let rejects = delivered(&endpoint, &bucket, "rejects/");
    assert_eq!(rows.len() as u64, rows_out);
    assert_eq!(rejects.len() as u64, rejected);
    assert_eq!(lines_in, rows_out + rejected);
}

/// What one invocation against a Firehose stand-in did.
struct Run {
    /// The sequence numbers handed back for redelivery.
    failures: Vec<String>,
    /// (stream, record data) Firehose accepted.
    accepted: Vec<(String, Vec<u8>)>,
    metrics: InvocationMetrics,
}

/// Runs `records` through the function against a Firehose stand-in answering with `reply`.
fn run_against(
    records: &[Vec<u8>],
    reply: impl Fn(usize, &[Vec<u8>]) -> FirehoseReply + Send + Sync + 'static,
) -> Run {
    let (endpoint, accepted) = fake_firehose(reply);
    let function = function(&endpoint, "rows", Some("rejects"));
    let text = event_text(&kinesis_event(records));
    let (response, metrics) = runtime()
        .block_on(function.handle(&text, deadline()))
        .unwrap();
    let failures = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect();
    let accepted = accepted.lock().unwrap().clone();
    Run {
        failures,
        accepted,
        metrics,
    }
}

/// The (source, source_line) of every row (or reject) in the accepted records of `stream`.
fn accepted_rows(accepted: &[(String, Vec<u8>)], stream: &str) -> Vec<(String, i64)> {
    accepted
        .iter()
        .filter(|(s, _)| s == stream)
        .flat_map(|(_, data)| {
            data.split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let row: Value = serde_json::from_slice(l).unwrap();
                    // rows have the columns' JSON keys, rejects their fields' names
                    let key = |name| match stream {
                        "rows" => loglake_stream::json_key(name),
                        _ => name,
                    };
                    (
                        row[key("source")].as_str().unwrap().to_string(),
                        row[key("source_line")].as_i64().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Many records of sample lines: enough rows for several Firehose records.
fn many_records() -> (Vec<Vec<u8>>, usize) {
    let lines = sample_lines();
    let records: Vec<Vec<u8>> = lines
        .iter()
        .cycle()
        .take(6_000)
        .collect::<Vec<_>>()
        .chunks(4)
        .map(|chunk| {
            chunk
                .iter()
                .flat_map(|l| [l.as_bytes(), b"\n"].concat())
                .collect()
        })
        .collect();
    (records, 6_000)
}

#[test]
fn throttling_and_failed_entries_are_retried_until_everything_is_delivered() {
    let (records, _) = many_records();
    let Run {
        failures,
        accepted,
        metrics,
    } = run_against(&records, |call, _| match call {
        0 => FirehoseReply::Throttle,
        1 => FirehoseReply::FailEntries(vec![0, 2]),
        2 => FirehoseReply::Throttle,
        _ => FirehoseReply::FailEntries(vec![]),
    });
    assert!(failures.is_empty());
    assert!(metrics.retries >= 3, "{metrics:?}");
    let rows = accepted_rows(&accepted, "rows");
    assert_eq!(rows.len() as u64, metrics.rows_out);
    let mut unique = rows.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), rows.len(), "a row was delivered twice");
    assert!(metrics.firehose_records >= 4, "{metrics:?}");
}

#[test]
fn what_firehose_keeps_refusing_is_redelivered_by_kinesis_and_nothing_is_lost() {
    let (records, _) = many_records();
    // Firehose refuses every record holding rows of input record 700, on every try.
    let poisoned = record_source(700);
    let refuse = move |_: usize, batch: &[Vec<u8>]| {
        let failed = batch
            .iter()
            .enumerate()
            .filter(|(_, data)| {
                String::from_utf8_lossy(data).contains(&format!(
                    "\"{}\":\"{poisoned}\"",
                    loglake_stream::json_key("source")
                ))
            })
            .map(|(i, _)| i)
            .collect();
        FirehoseReply::FailEntries(failed)
    };
    let Run {
        failures,
        accepted,
        metrics,
    } = run_against(&records, refuse);
    assert_eq!(failures.len(), 1);
    let first = (0..records.len())
        .position(|i| sequence_number(i) == failures[0])
        .expect("the failure names a record of the batch");
    assert!(
        first <= 700,
        "redelivery must start at or before the refused record"
    );
    assert!(metrics.records_redelivered as usize == records.len() - first);

    // Every line of the records before the redelivery point was delivered exactly once, as a
    // row or a reject.
    let delivered = accepted_rows(&accepted, "rows");
    let delivered_rejects = accepted_rows(&accepted, "rejects");
    let source_index: HashMap<String, usize> =
        (0..records.len()).map(|i| (record_source(i), i)).collect();
    let mut before: Vec<&(String, i64)> = delivered
        .iter()
        .chain(&delivered_rejects)
        .filter(|(source, _)| source_index[source] < first)
        .collect();
    let count_before = before.len();
    before.sort();
    before.dedup();
    assert_eq!(
        before.len(),
        count_before,
        "duplicates before the redelivery point"
    );
    let lines_before: usize = records[..first]
        .iter()
        .map(|r| r.iter().filter(|&&b| b == b'\n').count())
        .sum();
    assert_eq!(count_before, lines_before);

    // Kinesis redelivers from there; this time Firehose takes everything.
    let redelivery = run_against(&records[first..], |_, _| FirehoseReply::FailEntries(vec![]));
    assert!(redelivery.failures.is_empty());
    let again = accepted_rows(&redelivery.accepted, "rows");
    // the redelivered event starts its record numbering at 0
    let mut all: Vec<(usize, i64)> = delivered
        .iter()
        .map(|(s, n)| (source_index[s], *n))
        .collect();
    all.extend(again.iter().map(|(s, n)| (source_index[s] + first, *n)));
    all.sort();
    all.dedup();
    assert_eq!(all.len() as u64, metrics.rows_out, "a row was lost");
}

/// Rows of `accepted` by (source, source_line), with the row's JSON: the copies a redelivery left
/// must be the same row.
fn rows_by_line(accepted: &[(String, Vec<u8>)]) -> BTreeMap<(String, i64), Vec<Vec<u8>>> {
    let mut rows: BTreeMap<(String, i64), Vec<Vec<u8>>> = BTreeMap::new();
    for (_, data) in accepted.iter().filter(|(stream, _)| stream == "rows") {
        for row in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let parsed: Value = serde_json::from_slice(row).unwrap();
            let key = (
                parsed[loglake_stream::json_key("source")]
                    .as_str()
                    .unwrap()
                    .to_string(),
                parsed[loglake_stream::json_key("source_line")]
                    .as_i64()
                    .unwrap(),
            );
            rows.entry(key).or_default().push(row.to_vec());
        }
    }
    rows
}

#[test]
fn firehose_down_for_part_of_the_run_delays_delivery_and_loses_nothing() {
    let (records, _) = many_records();
    let Run {
        failures,
        accepted,
        metrics,
    } = run_against(&records, |call, _| match call {
        0..=5 => FirehoseReply::Down,
        _ => FirehoseReply::FailEntries(vec![]),
    });
    assert!(failures.is_empty(), "{failures:?}");
    assert!(metrics.retries >= 6, "{metrics:?}");
    let rows = rows_by_line(&accepted);
    assert_eq!(rows.len() as u64, metrics.rows_out);
    assert!(
        rows.values().all(|copies| copies.len() == 1),
        "a row arrived twice"
    );
}

/// Lambda kills an invocation that runs out of time, answering nothing: Kinesis then hands the
/// whole batch to the function again. What Firehose took before the kill arrives twice, and the
/// copies are exactly the rows with the same `source` and `source_line`, byte for byte.
#[test]
fn a_function_killed_mid_batch_is_redelivered_and_only_whole_rows_are_duplicated() {
    let (records, _) = many_records();
    let text = event_text(&kinesis_event(&records));
    // Firehose takes the rows' records but the first; the retry of that one hangs, and the
    // invocation is killed while it does.
    let hanging = Arc::new(AtomicBool::new(false));
    let hang = Arc::clone(&hanging);
    let (endpoint, first_accepted) = fake_firehose(move |call, _| match call {
        0 => FirehoseReply::FailEntries(vec![0]),
        _ => {
            hang.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(500));
            FirehoseReply::FailEntries(vec![])
        }
    });
    let killed = runtime().block_on(async {
        let function = function(&endpoint, "rows", Some("rejects"));
        let hung = async {
            while !hanging.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::select! {
            _ = function.handle(&text, deadline()) => false,
            () = hung => true,
        }
    });
    assert!(killed, "the invocation should have been cut short");
    // the hanging call completes on Firehose's side after the kill, as a real one can
    std::thread::sleep(Duration::from_millis(800));
    let first = first_accepted.lock().unwrap().clone();
    assert!(!first.is_empty());

    let again = run_against(&records, |_, _| FirehoseReply::FailEntries(vec![]));
    assert!(again.failures.is_empty());
    let mut all = first.clone();
    all.extend(again.accepted.iter().cloned());
    let rows = rows_by_line(&all);
    // every line arrived (at least once) ...
    assert_eq!(rows.len() as u64, again.metrics.rows_out);
    // ... and every copy is the same row, and the copies are what Firehose took before the kill
    assert!(rows
        .values()
        .all(|copies| copies.windows(2).all(|w| w[0] == w[1])));
    let copies: usize = rows.values().map(|copies| copies.len() - 1).sum();
    assert_eq!(
        copies,
        rows_by_line(&first).values().map(Vec::len).sum::<usize>()
    );
    assert!(copies > 0);
}

/// Where Lambda's event source mapping reads a shard next: it advances past a batch the function
/// answered without failures, re-reads from the first failure it reported, and re-reads the whole
/// batch of an invocation that was killed.
enum Checkpoint {
    TrimHorizon,
    At(String),
    After(String),
}

/// A batch of the shard from `checkpoint`, as a Lambda event, with its records' sequence numbers.
fn read_shard(
    aws: &str,
    stream: &str,
    shard: &str,
    arn: &str,
    checkpoint: &Checkpoint,
) -> (Value, Vec<String>) {
    let mut request = json!({"StreamName": stream, "ShardId": shard});
    match checkpoint {
        Checkpoint::TrimHorizon => request["ShardIteratorType"] = "TRIM_HORIZON".into(),
        Checkpoint::At(sequence) | Checkpoint::After(sequence) => {
            let kind = match checkpoint {
                Checkpoint::At(_) => "AT_SEQUENCE_NUMBER",
                _ => "AFTER_SEQUENCE_NUMBER",
            };
            request["ShardIteratorType"] = kind.into();
            request["StartingSequenceNumber"] = sequence.as_str().into();
        }
    }
    let kinesis = |target: &str, body: &Value| aws_json(aws, "kinesis", target, body);
    let iterator = kinesis("Kinesis_20131202.GetShardIterator", &request)["ShardIterator"].clone();
    let batch = kinesis(
        "Kinesis_20131202.GetRecords",
        &json!({"ShardIterator": iterator, "Limit": 400}),
    );
    let records = batch["Records"].as_array().unwrap();
    let sequences: Vec<String> = records
        .iter()
        .map(|r| r["SequenceNumber"].as_str().unwrap().to_string())
        .collect();
    let event = json!({"Records": records.iter().map(|r| json!({
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": r["PartitionKey"],
            "sequenceNumber": r["SequenceNumber"],
            "data": r["Data"],
            "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"],
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": format!("{shard}:{}", r["SequenceNumber"].as_str().unwrap()),
        "eventName": "aws:kinesis:record",
        "awsRegion": "us-east-1",
        "eventSourceARN": arn,
    })).collect::<Vec<_>>()});
    (event, sequences)
}

/// The whole real-time path under chaos, with the records in the local stand-in's Kinesis stream
/// and read back as Lambda's event source mapping reads them: Firehose down for a while, then an
/// invocation killed mid-batch, then one record refused on every try. Every line arrives; the
/// only copies are whole rows with the same `source` and `source_line`, each a byte-identical
/// copy of its first delivery.
#[test]
fn through_a_kinesis_stream_every_line_arrives_despite_outages_kills_and_refusals() {
    let Some(aws) = aws_standin() else {
        return;
    };
    let kinesis = |target: &str, body: Value| aws_json(&aws, "kinesis", target, &body);
    let stream = format!("web-logs-{}", std::process::id());
    kinesis(
        "Kinesis_20131202.CreateStream",
        json!({"StreamName": stream, "ShardCount": 1}),
    );
    let description = kinesis(
        "Kinesis_20131202.DescribeStream",
        json!({"StreamName": stream}),
    );
    let arn = description["StreamDescription"]["StreamARN"]
        .as_str()
        .unwrap();
    let shard = description["StreamDescription"]["Shards"][0]["ShardId"]
        .as_str()
        .unwrap();
    let (records, lines) = many_records();
    let mut sequences = Vec::new();
    for chunk in records.chunks(500) {
        let entries: Vec<Value> = chunk
            .iter()
            .map(|data| json!({"Data": base64(data), "PartitionKey": "web-1"}))
            .collect();
        let put = kinesis(
            "Kinesis_20131202.PutRecords",
            json!({"StreamName": stream, "Records": entries}),
        );
        assert_eq!(put["FailedRecordCount"], 0);
        let put = put["Records"].as_array().unwrap();
        sequences.extend(
            put.iter()
                .map(|r| r["SequenceNumber"].as_str().unwrap().to_string()),
        );
    }

    // Firehose: down for its first calls; the first call with rows of input record 500 hangs
    // until the invocation is killed (and then takes its records, as a call in flight can); the
    // record holding rows of input record 1,000 is refused as often as the function tries in
    // one invocation, so it hands that record back to Kinesis.
    let source_of = |index: usize| {
        format!(
            "\"{}\":\"kinesis:{stream}/{shard}/{}\"",
            loglake_stream::json_key("source"),
            sequences[index]
        )
    };
    let (killed_at, refused) = (source_of(500), source_of(1_000));
    let hanging = Arc::new(AtomicBool::new(false));
    let hang = Arc::clone(&hanging);
    let (hung, refusals) = (AtomicBool::new(false), std::sync::atomic::AtomicU32::new(0));
    let attempts = RetryPolicy::default().max_attempts;
    let (firehose, accepted) = fake_firehose(move |call, batch| {
        let holding = |source: &str| {
            (batch.iter().enumerate())
                .filter(|(_, data)| String::from_utf8_lossy(data).contains(source))
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        };
        if call < 3 {
            return FirehoseReply::Down;
        }
        if !holding(&killed_at).is_empty() && !hung.swap(true, Ordering::SeqCst) {
            hang.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
        }
        let refuse = holding(&refused);
        if !refuse.is_empty() && refusals.fetch_add(1, Ordering::SeqCst) < attempts {
            return FirehoseReply::FailEntries(refuse);
        }
        FirehoseReply::FailEntries(vec![])
    });

    let (mut checkpoint, mut kills, mut handed_back, mut invocations) =
        (Checkpoint::TrimHorizon, 0, 0, 0);
    loop {
        let (event, batch) = read_shard(&aws, &stream, shard, arn, &checkpoint);
        let Some(last) = batch.last() else {
            break;
        };
        invocations += 1;
        assert!(invocations < 50, "the stream should drain");
        let text = event_text(&event);
        let answer = runtime().block_on(async {
            let function = function(&firehose, "rows", Some("rejects"));
            let killed = async {
                while !hanging.swap(false, Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            };
            tokio::select! {
                answer = function.handle(&text, deadline()) => Some(answer.unwrap().0),
                () = killed => None,
            }
        });
        checkpoint = match answer {
            None => {
                kills += 1;
                std::thread::sleep(Duration::from_millis(500));
                checkpoint
            }
            Some(response) => match response.batch_item_failures.first() {
                Some(failure) => {
                    handed_back += 1;
                    Checkpoint::At(failure.item_identifier.clone().unwrap())
                }
                None => Checkpoint::After(last.clone()),
            },
        };
    }
    assert_eq!(
        (kills, handed_back),
        (1, 1),
        "each fault should have happened once"
    );

    let accepted = accepted.lock().unwrap().clone();
    let rows = rows_by_line(&accepted);
    let rejects: BTreeSet<(String, i64)> =
        accepted_rows(&accepted, "rejects").into_iter().collect();
    let known: BTreeSet<String> = (sequences.iter())
        .map(|sequence| format!("kinesis:{stream}/{shard}/{sequence}"))
        .collect();
    assert!(rows
        .keys()
        .chain(&rejects)
        .all(|(source, _)| known.contains(source)));
    assert_eq!(
        rows.len() + rejects.len(),
        lines,
        "every line, as a row or a reject"
    );
    assert!(rows
        .values()
        .all(|copies| copies.windows(2).all(|w| w[0] == w[1])));
    assert!(
        rows.values().any(|copies| copies.len() > 1),
        "the kill and the hand-back leave copies"
    );
}
