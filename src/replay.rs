//! `loglake replay-failures`: the Kinesis batches the `ingest` function gave up on, read back from
//! the stream by sequence number and written into the lake as the function writes them.
//!
//! When a batch's retries are exhausted, Lambda sends the failure queue an invocation record that
//! names the batch, not its data: its stream, shard and first and last sequence numbers
//! (`KinesisBatchInfo`; AWS Lambda Developer Guide, "Retain discarded batch records for a Kinesis
//! Data Streams event source"). The records stay readable while the stream retains them
//! (`StreamRetentionHours`). Read back, they go through the same library code as in the function,
//! under the same file names (the batch's first record names them), so a replay of a batch that
//! did land in part replaces its files rather than adding rows.

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
/// receive-message` (`{"Messages": [{"Body": "<record>"}, …]}`).
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
    bodies
        .into_iter()
        .map(|body| {
            serde_json::from_value::<InvocationRecord>(body)
                .map(|record| record.batch)
                .context("not a Kinesis invocation record (no KinesisBatchInfo)")
        })
        .collect()
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
}

/// Replays `batches` into the lake of `config` (its `LAKE_DEST`).
pub async fn replay(config: Config, batches: &[FailedBatch]) -> anyhow::Result<ReplaySummary> {
    let aws = aws_config::load_from_env().await;
    let kinesis = aws_sdk_kinesis::Client::new(&aws);
    let function = LakeIngestFunction::new(config, S3Client::from_shared_config(&aws));
    let mut summary = ReplaySummary::default();
    for batch in batches {
        let (event, records) = read_batch(&kinesis, batch).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15 * 60);
        let (response, metrics) = function
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
    }
    Ok(summary)
}

/// `loglake replay-failures MESSAGES --lake LAKE`.
pub fn run(messages: &str, lake: &str, json: bool) -> anyhow::Result<ExitCode> {
    let text = match messages {
        "-" => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text)?;
            text
        }
        path => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
    };
    let batches = failed_batches(&text)?;
    // The function's settings, with this lake as its destination.
    let config = Config::from_vars(|name| match name {
        "LAKE_DEST" => Some(lake.to_string()),
        "FIREHOSE_STREAM_NAME" => None,
        _ => std::env::var(name).ok(),
    })?;
    let runtime = tokio::runtime::Runtime::new()?;
    let summary = runtime.block_on(replay(config, &batches))?;
    let line = format!(
        "{} batches, {} records: {} lines → {} rows, {} rejected, in {lake}",
        summary.batches, summary.records, summary.lines_in, summary.rows_out, summary.rejected
    );
    Ok(crate::finish_run(std::iter::empty(), &summary, json, &line))
}
