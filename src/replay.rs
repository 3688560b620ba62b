//! `loglake replay-failures`: the Kinesis batches the `ingest` function gave up on, read back from
//! the stream by sequence number and written into the lake as the function writes them.
//!
//! When a batch's retries are exhausted, Lambda sends the failure queue an invocation record that
//! names the batch, not its data: its stream, shard and first and last sequence numbers
//! (`KinesisBatchInfo`; AWS Lambda Developer Guide, "Retain discarded batch records for a Kinesis
//! Data Streams event source"). The records stay readable while the stream retains them
//! (`StreamRetentionHours`). Read back, they go through the same library code as in the function,
//! under the same file names (the batch's first record names them), so a replay of a batch that
//! did land in part replaces its files rather than adding rows. Given the queue's URL, it reads
//! the messages itself and deletes each once its batch is in the lake.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use aws_sdk_kinesis::types::ShardIteratorType;
use base64::Engine;
use loglake_ingest::lake_output::S3Client;
use loglake_ingest::{Config, KinesisEventText, LakeIngestFunction};
use serde::Deserialize;
use serde_json::{json, Value};

/// What the failure queue's message says about the batch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedBatch {
    pub shard_id: String,
    pub start_sequence_number: String,
    pub end_sequence_number: String,
    pub stream_arn: String,
}

#[derive(Deserialize)]
struct InvocationRecord {
    #[serde(rename = "KinesisBatchInfo")]
    batch: FailedBatch,
}

/// The failed batches in `text`: invocation records one per line, or the output of `aws sqs
/// receive-message` (`{"Messages": [{"Body": "<record>"}, …]}`). Read from a file, the messages
/// stay in the queue: `aws sqs delete-message` them once replayed.
pub fn failed_batches(text: &str) -> anyhow::Result<Vec<FailedBatch>> {
    let mut bodies = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line).context("a message is not JSON")?;
        match value.get("Messages").and_then(Value::as_array) {
            Some(messages) => {
                for message in messages {
                    let body = message["Body"]
                        .as_str()
                        .context("a message without a Body")?;
                    bodies.push(serde_json::from_str(body).context("a Body is not JSON")?);
                }
            }
            None => bodies.push(value),
        }
    }
    bodies.into_iter().map(batch_of).collect()
}

/// The failed batch one message's body names.
fn failed_batch(body: &str) -> anyhow::Result<FailedBatch> {
    batch_of(serde_json::from_str(body).context("a message is not JSON")?)
}

fn batch_of(body: Value) -> anyhow::Result<FailedBatch> {
    serde_json::from_value::<InvocationRecord>(body)
        .map(|record| record.batch)
        .context("not a Kinesis invocation record (no KinesisBatchInfo)")
}

/// Kinesis sequence numbers are decimal strings without leading zeros: the longer is larger.
fn after(sequence: &str, last: &str) -> bool {
    sequence
        .len()
        .cmp(&last.len())
        .then_with(|| sequence.cmp(last))
        .is_gt()
}

/// The batch's records, read from the stream, as a Lambda Kinesis event.
async fn read_batch(
    kinesis: &aws_sdk_kinesis::Client,
    batch: &FailedBatch,
) -> anyhow::Result<(String, usize)> {
    let stream_name = batch.stream_arn.rsplit('/').next().unwrap_or_default();
    let mut iterator = kinesis
        .get_shard_iterator()
        .stream_arn(&batch.stream_arn)
        .shard_id(&batch.shard_id)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .starting_sequence_number(&batch.start_sequence_number)
        .send()
        .await
        .with_context(|| format!("GetShardIterator for {}", batch.shard_id))?
        .shard_iterator;
    let region = batch.stream_arn.split(':').nth(3).unwrap_or_default();
    let mut records = Vec::new();
    // A batch is at most 10,000 records, GetRecords at most 10,000 a call; the shard's iterator
    // may return empty pages before it reaches them.
    let mut empty_pages = 0;
    'reading: while let Some(current) = iterator.take() {
        let page = kinesis
            .get_records()
            .stream_arn(&batch.stream_arn)
            .shard_iterator(current)
            .send()
            .await
            .with_context(|| format!("GetRecords for {}", batch.shard_id))?;
        if page.records().is_empty() {
            empty_pages += 1;
            if empty_pages > 20 || page.millis_behind_latest() == Some(0) {
                break;
            }
        }
        for record in page.records() {
            if after(record.sequence_number(), &batch.end_sequence_number) {
                break 'reading;
            }
            let arrival = record
                .approximate_arrival_timestamp()
                .map(|t| t.as_secs_f64());
            records.push(json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record.partition_key(),
                    "sequenceNumber": record.sequence_number(),
                    "data": base64::engine::general_purpose::STANDARD.encode(record.data().as_ref()),
                    "approximateArrivalTimestamp": arrival,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("{}:{}", batch.shard_id, record.sequence_number()),
                "eventName": "aws:kinesis:record",
                "awsRegion": region,
                "eventSourceARN": batch.stream_arn,
            }));
            if record.sequence_number() == batch.end_sequence_number {
                break 'reading;
            }
        }
        iterator = page.next_shard_iterator;
    }
    if records.is_empty() {
        bail!(
            "no record of {stream_name}/{} from {} is left in the stream (past its retention?)",
            batch.shard_id,
            batch.start_sequence_number
        );
    }
    let count = records.len();
    Ok((json!({ "Records": records }).to_string(), count))
}

/// What a replay did.
#[derive(Debug, Default, serde::Serialize)]
pub struct ReplaySummary {
    pub batches: u64,
    pub records: u64,
    pub lines_in: u64,
    pub rows_out: u64,
    pub rejected: u64,
    /// Messages deleted from the queue, their batch in the lake.
    pub messages_deleted: u64,
    /// Batches or messages not replayed, with why (their messages stay in the queue).
    pub errors: Vec<String>,
}

/// Reads failed batches back from the stream and writes them into a lake.
struct Replayer {
    kinesis: aws_sdk_kinesis::Client,
    function: LakeIngestFunction<S3Client>,
}

impl Replayer {
    fn new(aws: &aws_config::SdkConfig, config: Config) -> Self {
        Self {
            kinesis: aws_sdk_kinesis::Client::new(aws),
            function: LakeIngestFunction::new(config, S3Client::from_shared_config(aws)),
        }
    }

    /// Replays one batch; its totals go into `summary` once the whole batch is in the lake.
    async fn replay(&self, batch: &FailedBatch, summary: &mut ReplaySummary) -> anyhow::Result<()> {
        let (event, records) = read_batch(&self.kinesis, batch).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15 * 60);
        let (response, metrics) = (self.function)
            .handle(&KinesisEventText::new(event), deadline)
            .await
            .with_context(|| format!("writing the batch of {}", batch.shard_id))?;
        if let Some(failure) = response.batch_item_failures.first() {
            bail!(
                "the lake refused part of the batch of {} from record {:?}: run again",
                batch.shard_id,
                failure.item_identifier
            );
        }
        summary.batches += 1;
        summary.records += records as u64;
        summary.lines_in += metrics.lines_in;
        summary.rows_out += metrics.rows_out;
        summary.rejected += metrics.rejected;
        Ok(())
    }
}

/// How long a received message stays invisible to other readers of the queue while its batch is
/// replayed: a batch is at most 10,000 records, read and written well within it.
const REPLAY_VISIBILITY_SECONDS: i32 = 15 * 60;

/// Replays every message of the failure queue at `queue_url`, deleting each once its batch is in
/// the lake. A message that fails stays, visible again at once for the next run.
async fn replay_queue(
    replayer: &Replayer,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    summary: &mut ReplaySummary,
) -> anyhow::Result<()> {
    let mut kept = Vec::new();
    loop {
        // Long polling (WaitTimeSeconds > 0) asks every SQS server, so an empty answer means an
        // empty queue rather than a sample that missed the messages (Amazon SQS Developer
        // Guide, "Amazon SQS short and long polling").
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(REPLAY_VISIBILITY_SECONDS)
            .send()
            .await
            .with_context(|| format!("ReceiveMessage from {queue_url}"))?;
        if received.messages().is_empty() {
            break;
        }
        for message in received.messages() {
            let id = message.message_id().unwrap_or("?");
            let handle = message.receipt_handle().unwrap_or_default();
            let replayed = match failed_batch(message.body().unwrap_or_default()) {
                Ok(batch) => replayer.replay(&batch, summary).await,
                Err(error) => Err(error),
            };
            match replayed {
                Ok(()) => {
                    sqs.delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .with_context(|| {
                            format!("DeleteMessage {id} (its batch is in the lake)")
                        })?;
                    summary.messages_deleted += 1;
                }
                Err(error) => {
                    summary.errors.push(format!("message {id}: {error:#}"));
                    kept.push(handle.to_string());
                }
            }
        }
    }
    for handle in kept {
        sqs.change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await
            .context("ChangeMessageVisibility of a message kept")?;
    }
    Ok(())
}

/// `loglake replay-failures MESSAGES --lake LAKE`: MESSAGES is the failure queue's URL, a file of
/// its messages, or `-`.
pub fn run(messages: &str, lake: &str, json: bool) -> anyhow::Result<ExitCode> {
    let from_queue = messages.starts_with("https://") || messages.starts_with("http://");
    let batches = match messages {
        _ if from_queue => Vec::new(),
        "-" => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            failed_batches(&text)?
        }
        path => failed_batches(
            &std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        )?,
    };
    // The function's settings, with this lake as its destination.
    let config = Config::from_vars(|name| match name {
        "LAKE_DEST" => Some(lake.to_string()),
        "FIREHOSE_STREAM_NAME" => None,
        _ => std::env::var(name).ok(),
    })?;
    let runtime = tokio::runtime::Runtime::new()?;
    let summary = runtime.block_on(async {
        let aws = aws_config::load_from_env().await;
        let replayer = Replayer::new(&aws, config);
        let mut summary = ReplaySummary::default();
        if from_queue {
            let sqs = aws_sdk_sqs::Client::new(&aws);
            replay_queue(&replayer, &sqs, messages, &mut summary).await?;
        }
        for batch in &batches {
            if let Err(error) = replayer.replay(batch, &mut summary).await {
                summary.errors.push(format!("{error:#}"));
            }
        }
        anyhow::Ok(summary)
    })?;
    let deleted = match from_queue {
        true => format!(", {} messages deleted", summary.messages_deleted),
        false => String::new(),
    };
    let line = format!(
        "{} batches, {} records: {} lines → {} rows, {} rejected, in {lake}{deleted}",
        summary.batches, summary.records, summary.lines_in, summary.rows_out, summary.rejected
    );
    let errors = summary.errors.iter().map(String::as_str);
    Ok(crate::finish_run(errors, &summary, json, &line))
}
