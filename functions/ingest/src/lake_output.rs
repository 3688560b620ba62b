//! The lake wiring (`LAKE_DEST`): each invocation's rows written as Parquet straight into the
//! lake by the lake's own writer (one file per hour the batch touches, sorted by `ts`), its
//! rejects as one NDJSON object under `rejects/dt=…/`. No Firehose: no per-GB ingestion,
//! conversion or partitioning charges; the scheduled compaction merges the small files.
//!
//! Files are named after the batch's first Kinesis record. When anything fails, Kinesis is asked
//! to redeliver from that record, so the retry writes the same names and replaces what the failed
//! attempt wrote instead of adding to it.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Instant as StdInstant, SystemTime, UNIX_EPOCH};

use arrow::array::RecordBatch;
use aws_lambda_events::event::streams::KinesisEventResponse;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use loglake_decode::{AccessLogBatchBuilder, DecoderOptions, PaddedUserAgent, Reject};
use loglake_lake::lake::{relative_key, source_id};
use loglake_lake::{LakeError, LakeOptions, LakeWriter, REJECTS_DIR};
use loglake_parser::{UserAgentCache, UtcHour};
use loglake_stream::{
    KinesisBatch, KinesisEventText, RowsSink, StreamEncoder, StreamRecord, StreamStats,
};
use tokio::time::Instant;

use crate::delivery::{classify_sdk_error, PutError, RetryPolicy};
use crate::metrics::InvocationMetrics;
use crate::{Config, EventError, LakeDest, Output};

/// The user agents a [`LakeIngestFunction`] keeps between invocations.
pub type UserAgentRows = UserAgentCache<PaddedUserAgent>;

/// One object for the lake: its key relative to the lake's root, and its bytes (shared, so a
/// retried upload does not copy them).
#[derive(Debug)]
pub struct LakeObject {
    pub relative_key: String,
    pub body: Bytes,
}

/// One invocation's objects, ready to upload.
#[derive(Debug)]
pub struct PreparedObjects {
    pub objects: Vec<LakeObject>,
    pub stats: StreamStats,
}

/// Why a batch could not be made into objects (nothing is uploaded; Kinesis redelivers it).
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("writing the batch's Parquet files: {0}")]
    Lake(#[from] LakeError),
    #[error("the batch's staging directory: {0}")]
    Staging(std::io::Error),
}

/// Reads the event, decodes each record into Arrow batches as it is read, and writes them with
/// the lake writer under `staging`; returns the files' bytes, with the rejects' NDJSON object
/// under the day the batch's first record reached the stream (`today` for a record without an
/// arrival time, which Kinesis always gives), so a redelivery after midnight rewrites the same
/// object. An event that is not a Kinesis event is an error.
pub fn prepare_objects<'a>(
    event: &'a KinesisEventText,
    options: DecoderOptions,
    user_agents: &mut UserAgentRows,
    staging: &Path,
    today: UtcHour,
) -> Result<(KinesisBatch<'a>, PreparedObjects), PrepareError> {
    let mut encoder = StreamEncoder::<AccessLogBatchBuilder>::with_row_builder(
        options,
        std::mem::take(user_agents),
    );
    let mut sink: Option<LakeSink> = None;
    let mut rejects_day = today;
    let records = event.read_each(|index, record| {
        // The first record names the batch's files and dates its rejects.
        let sink = sink.get_or_insert_with(|| {
            if let Some(seconds) = record.kinesis.approximate_arrival_seconds {
                rejects_day = UtcHour::of_micros((seconds * 1e6) as i64);
            }
            LakeSink::new(staging, &record.source)
        });
        encoder.push_base64(index, &record.source, &record.kinesis.data, sink);
    });
    // An event without records writes nothing, whatever the sink is named.
    let mut sink = sink.unwrap_or_else(|| LakeSink::new(staging, ""));
    let (stats, classified) = encoder.finish_keeping_user_agents(&mut sink);
    *user_agents = classified;
    let objects = sink.finish(staging, rejects_day)?;
    Ok((records?, PreparedObjects { objects, stats }))
}

/// [`prepare_objects`] for records in hand rather than in an event (`loglake ship --out`): each
/// decoded as a stream record, the files named after `name` (the same name writes the same
/// files), the rejects dated `rejects_day`.
pub fn prepare_records<'r>(
    records: impl IntoIterator<Item = StreamRecord<'r>>,
    name: &str,
    options: DecoderOptions,
    user_agents: &mut UserAgentRows,
    staging: &Path,
    rejects_day: UtcHour,
) -> Result<PreparedObjects, PrepareError> {
    let mut encoder = StreamEncoder::<AccessLogBatchBuilder>::with_row_builder(
        options,
        std::mem::take(user_agents),
    );
    let mut sink = LakeSink::new(staging, name);
    for (index, record) in records.into_iter().enumerate() {
        encoder.push(index, record, &mut sink);
    }
    let (stats, classified) = encoder.finish_keeping_user_agents(&mut sink);
    *user_agents = classified;
    let objects = sink.finish(staging, rejects_day)?;
    Ok(PreparedObjects { objects, stats })
}

/// Writes a batch's rows with a [`LakeWriter`] and keeps its rejects' NDJSON.
struct LakeSink {
    writer: LakeWriter,
    source: String,
    rejects: Vec<u8>,
    /// The first write error: later rows are not written, the batch is redelivered.
    error: Option<LakeError>,
}

impl LakeSink {
    fn new(staging: &Path, first_source: &str) -> Self {
        let options = LakeOptions {
            // A batch is at most Lambda's 6 MB event (more once gzip records are opened),
            // usually less: its hours stay open until the end, one file each.
            buffer_budget_bytes: 64 << 20,
            idle_batches: u64::MAX,
            ..LakeOptions::default()
        };
        Self {
            writer: LakeWriter::new(staging, first_source, options),
            source: first_source.to_string(),
            rejects: Vec::new(),
            error: None,
        }
    }

    fn finish(self, staging: &Path, day: UtcHour) -> Result<Vec<LakeObject>, PrepareError> {
        if let Some(error) = self.error {
            return Err(error.into());
        }
        let mut objects = Vec::new();
        for path in self.writer.finish()?.files {
            let body = std::fs::read(&path).map_err(PrepareError::Staging)?;
            objects.push(LakeObject {
                relative_key: relative_key(staging, &path),
                body: body.into(),
            });
        }
        if !self.rejects.is_empty() {
            // Under the day, as the `rejects` Glue table reads them.
            objects.push(LakeObject {
                relative_key: format!(
                    "{REJECTS_DIR}/dt={}/{}.ndjson",
                    day.date_string(),
                    source_id(&self.source)
                ),
                body: self.rejects.into(),
            });
        }
        Ok(objects)
    }
}

impl RowsSink<RecordBatch> for LakeSink {
    fn rows(&mut self, rows: RecordBatch, _inputs: &[usize]) -> Option<RecordBatch> {
        if self.error.is_none() {
            self.error = self.writer.write(&rows).err();
        }
        None
    }

    fn reject(&mut self, _input: usize, _reject: &Reject, json: &[u8]) {
        self.rejects.extend_from_slice(json);
        self.rejects.push(b'\n');
    }
}

/// The `PutObject` call, as a trait so the retry logic is tested without a network.
pub trait PutObject {
    fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
    ) -> impl std::future::Future<Output = Result<(), PutError>>;
}

/// The real S3 client.
pub struct S3Client(pub aws_sdk_s3::Client);

impl S3Client {
    /// A client from the shared AWS settings. With an endpoint override (`AWS_ENDPOINT_URL`, or
    /// `AWS_ENDPOINT_URL_S3`), requests use path-style addressing, which S3 stand-ins (moto,
    /// MinIO) need, as `loglake backfill` does.
    pub fn from_shared_config(shared: &aws_config::SdkConfig) -> Self {
        let path_style =
            shared.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let config = aws_sdk_s3::config::Builder::from(shared)
            .force_path_style(path_style)
            .build();
        Self(aws_sdk_s3::Client::from_conf(config))
    }
}

impl PutObject for S3Client {
    async fn put_object(&self, bucket: &str, key: &str, body: Bytes) -> Result<(), PutError> {
        self.0
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(classify_sdk_error)
    }
}

/// What uploading one invocation's objects achieved.
#[derive(Debug, Default)]
pub struct UploadReport {
    pub objects_sent: u64,
    pub bytes_sent: u64,
    pub retries: u64,
    /// The error that stopped the upload; `None` when every object is in the lake.
    pub error: Option<String>,
}

/// Uploads `objects` in order, each retried with backoff within the deadline; stops at the first
/// that cannot be uploaded (the batch is redelivered and rewritten whole).
pub async fn upload(
    client: &impl PutObject,
    dest: &LakeDest,
    objects: Vec<LakeObject>,
    policy: &RetryPolicy,
    deadline: Instant,
) -> UploadReport {
    let mut report = UploadReport::default();
    for object in objects {
        let key = dest.key(&object.relative_key);
        let bytes = object.body.len() as u64;
        let mut attempt = 1;
        loop {
            match client
                .put_object(&dest.bucket, &key, object.body.clone())
                .await
            {
                Ok(()) => {
                    report.objects_sent += 1;
                    report.bytes_sent += bytes;
                    break;
                }
                Err(PutError::Fatal(message)) => {
                    report.error = Some(format!("{key}: {message}"));
                    return report;
                }
                Err(PutError::Retryable(message)) => {
                    let wait = policy.backoff(attempt);
                    let out_of_time = Instant::now() + wait + policy.deadline_margin > deadline;
                    if attempt >= policy.max_attempts || out_of_time {
                        report.error = Some(format!("{key}: {message}"));
                        return report;
                    }
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                    report.retries += 1;
                }
            }
        }
    }
    report
}

/// The function in the lake wiring: its settings, its S3 client, and what it keeps between
/// invocations.
pub struct LakeIngestFunction<C> {
    pub config: Config,
    pub client: C,
    pub retry: RetryPolicy,
    /// From [`Output::Lake`].
    dest: LakeDest,
    /// Where batches are staged (the function's `/tmp`).
    staging_root: PathBuf,
    user_agents: Mutex<UserAgentRows>,
}

impl<C: PutObject> LakeIngestFunction<C> {
    /// # Panics
    /// When `config.output` is not [`Output::Lake`] ([`crate::IngestFunction`] is the other
    /// wiring's).
    pub fn new(config: Config, client: C) -> Self {
        let Output::Lake(dest) = config.output.clone() else {
            panic!("the lake wiring needs LAKE_DEST, not FIREHOSE_STREAM_NAME");
        };
        Self {
            config,
            client,
            retry: RetryPolicy::default(),
            dest,
            staging_root: std::env::temp_dir(),
            user_agents: Mutex::default(),
        }
    }

    /// Handles one event: write its Parquet files, upload them, and have Kinesis redeliver the
    /// whole batch if any of it did not reach the lake before `deadline`. An event that is not a
    /// Kinesis event is an error, before anything is written.
    pub async fn handle(
        &self,
        event: &KinesisEventText,
        deadline: Instant,
    ) -> Result<(KinesisEventResponse, InvocationMetrics), EventError> {
        let started = StdInstant::now();
        let staging = tempfile::Builder::new()
            .prefix("loglake-ingest-")
            .tempdir_in(&self.staging_root);
        let prepared = match staging {
            Err(error) => Err(PrepareError::Staging(error)),
            Ok(ref dir) => {
                let mut user_agents = self
                    .user_agents
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                prepare_objects(
                    event,
                    self.config.decoder_options(),
                    &mut user_agents,
                    dir.path(),
                    UtcHour::of_micros(now_micros()),
                )
            }
        };
        let (event, prepared) = match prepared {
            Ok(prepared) => prepared,
            Err(PrepareError::Event(error)) => return Err(error),
            Err(error) => {
                // Nothing was uploaded: the whole batch again, later.
                let event = event.read()?;
                tracing::error!(%error, "the batch could not be written: asking Kinesis to redeliver it");
                let mut response = KinesisEventResponse::default();
                if let Some(first) = event.records.first() {
                    response.add_failure(first.kinesis.sequence_number.to_string());
                }
                let metrics = InvocationMetrics {
                    records_in: event.records.len() as u64,
                    records_redelivered: event.records.len() as u64,
                    handler_ms: started.elapsed().as_secs_f64() * 1e3,
                    ..Default::default()
                };
                return Ok((response, metrics));
            }
        };
        let report = upload(
            &self.client,
            &self.dest,
            prepared.objects,
            &self.retry,
            deadline,
        )
        .await;

        let mut response = KinesisEventResponse::default();
        let mut redelivered = 0;
        if let (Some(error), Some(first)) = (&report.error, event.records.first()) {
            let sequence = &first.kinesis.sequence_number;
            tracing::error!(
                sequence_number = %sequence,
                objects_written = report.objects_sent,
                last_error = %error,
                "the lake did not take every file: asking Kinesis to redeliver the batch"
            );
            response.add_failure(sequence.to_string());
            redelivered = event.records.len() as u64;
        }
        let metrics = InvocationMetrics {
            lake_objects: report.objects_sent,
            lake_bytes: report.bytes_sent,
            retries: report.retries,
            records_redelivered: redelivered,
            ..InvocationMetrics::of_stats(prepared.stats, started)
        };
        Ok((response, metrics))
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::time::Duration;

    use base64::Engine;
    use serde_json::json;

    use super::*;

    const LINE_10H: &str =
        r#"1.2.3.4 - - [10/Oct/2020:10:59:59 +0000] "GET /a HTTP/1.1" 200 10 "-" "curl/8.0""#;
    const LINE_11H: &str =
        r#"5.6.7.8 - - [10/Oct/2020:11:00:01 +0000] "GET /b HTTP/1.1" 404 - "-" "Mozilla/5.0""#;

    fn event(records: &[&str]) -> KinesisEventText {
        let records: Vec<serde_json::Value> = records
            .iter()
            .enumerate()
            .map(|(index, data)| {
                json!({
                    "eventID": format!("shardId-000000000000:{index}"),
                    "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/web",
                    "kinesis": {
                        "sequenceNumber": format!("4959{index}"),
                        // 2020-09-13T12:26:40Z
                        "approximateArrivalTimestamp": 1_600_000_000.25,
                        "data": base64::engine::general_purpose::STANDARD.encode(data),
                    }
                })
            })
            .collect();
        KinesisEventText::new(json!({ "Records": records }).to_string())
    }

    #[test]
    fn a_batch_becomes_one_file_per_hour_and_its_rejects_one_object_under_the_day() {
        let staging = tempfile::tempdir().unwrap();
        let text = event(&[
            &format!("{LINE_11H}\nnot a log line\n{LINE_10H}\n"),
            &format!("{LINE_10H}\n"),
        ]);
        let today = UtcHour::of_micros(1_700_000_000_000_000);
        let (records, prepared) = prepare_objects(
            &text,
            DecoderOptions::default(),
            &mut UserAgentRows::default(),
            staging.path(),
            today,
        )
        .unwrap();
        assert_eq!(records.records.len(), 2);
        let stats = &prepared.stats;
        assert_eq!((stats.lines_in, stats.rows_out, stats.rejected), (4, 3, 1));
        // 10/Oct/2020:10:59:59 UTC
        assert_eq!(stats.oldest_ts_micros, Some(1_602_327_599_000_000));

        let keys: Vec<&str> = prepared
            .objects
            .iter()
            .map(|o| o.relative_key.as_str())
            .collect();
        // Named after the batch's first record, so a redelivered batch rewrites the same keys.
        let id = source_id("kinesis:web/shardId-000000000000/49590");
        assert_eq!(
            keys,
            [
                format!("access_logs/dt=2020-10-10/hour=10/{id}-0000.parquet"),
                format!("access_logs/dt=2020-10-10/hour=11/{id}-0000.parquet"),
                // under the day the record arrived, not the invocation's (`today`): a
                // redelivery after midnight replaces the object instead of adding a second
                format!("rejects/dt=2020-09-13/{id}.ndjson"),
            ]
        );
        let reject: serde_json::Value = serde_json::from_slice(&prepared.objects[2].body).unwrap();
        assert_eq!(reject["source"], "kinesis:web/shardId-000000000000/49590");
        assert_eq!(reject["source_line"], 2);
        assert_eq!(reject["raw"], "not a log line");
    }

    #[test]
    fn an_event_without_records_makes_no_objects() {
        let staging = tempfile::tempdir().unwrap();
        let (_, prepared) = prepare_objects(
            &event(&[]),
            DecoderOptions::default(),
            &mut UserAgentRows::default(),
            staging.path(),
            UtcHour::of_micros(0),
        )
        .unwrap();
        assert!(prepared.objects.is_empty());
        assert_eq!(prepared.stats.lines_in, 0);
    }

    /// Answers each `PutObject` from a script, and records the keys asked for.
    struct Scripted {
        script: RefCell<Vec<Result<(), PutError>>>,
        keys: RefCell<Vec<String>>,
    }

    impl PutObject for Scripted {
        async fn put_object(&self, _bucket: &str, key: &str, _body: Bytes) -> Result<(), PutError> {
            self.keys.borrow_mut().push(key.to_string());
            self.script.borrow_mut().remove(0)
        }
    }

    fn objects(n: usize) -> Vec<LakeObject> {
        (0..n)
            .map(|i| LakeObject {
                relative_key: format!("access_logs/f{i}"),
                body: Bytes::from(vec![0; 10]),
            })
            .collect()
    }

    fn upload_with(script: Vec<Result<(), PutError>>, n: usize) -> (UploadReport, Vec<String>) {
        let client = Scripted {
            script: RefCell::new(script),
            keys: RefCell::default(),
        };
        let dest = LakeDest::parse("s3://lake/web/").unwrap();
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            ..RetryPolicy::default()
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let report = runtime.block_on(upload(&client, &dest, objects(n), &policy, deadline));
        (report, client.keys.into_inner())
    }

    #[test]
    fn throttled_uploads_are_retried_and_a_refused_one_stops_the_rest() {
        let slow_down = || Err(PutError::Retryable("SlowDown".into()));
        let (report, keys) = upload_with(vec![Ok(()), slow_down(), slow_down(), Ok(())], 2);
        assert_eq!(
            (report.objects_sent, report.bytes_sent, report.retries),
            (2, 20, 2)
        );
        assert_eq!(report.error, None);
        assert_eq!(
            keys,
            [
                "web/access_logs/f0",
                "web/access_logs/f1",
                "web/access_logs/f1",
                "web/access_logs/f1"
            ]
        );

        let denied = Err(PutError::Fatal("AccessDenied".into()));
        let (report, keys) = upload_with(vec![Ok(()), denied], 3);
        assert_eq!(report.objects_sent, 1);
        assert_eq!(
            report.error.as_deref(),
            Some("web/access_logs/f1: AccessDenied")
        );
        assert_eq!(keys.len(), 2, "nothing after the refused file is sent");

        let always = (0..RetryPolicy::default().max_attempts)
            .map(|_| slow_down())
            .collect();
        let (report, _) = upload_with(always, 1);
        assert_eq!(report.objects_sent, 0);
        assert!(report.error.unwrap().ends_with("SlowDown"));
    }
}
