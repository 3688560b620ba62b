//! The Kinesis-triggered `ingest` function: access-log records in, JSON rows out through
//! Firehose (which converts them to Parquet in the lake), rejects to a second stream or the log.
//!
//! The CPU part ([`prepare`]) is pure: Kinesis event → `PutRecordBatch` requests. Delivery
//! ([`delivery`]) retries what Firehose refuses, and whatever still fails is reported back to
//! Kinesis as a batch item failure so it is redelivered: nothing is dropped.

pub mod config;
pub mod delivery;
pub mod event;
pub mod metrics;

use std::sync::{Mutex, PoisonError};
use std::time::{Instant as StdInstant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::streams::KinesisEventResponse;
use loglake_parser::{LogFormat, UtcHour};
use loglake_schemas::firehose::{first_input_to_redeliver, PutRequest, RecordPacker};
use loglake_schemas::{
    DecoderOptions, Reject, RejectRecord, StreamEncoder, StreamSink, StreamStats, UserAgentColumns,
};
use tokio::time::Instant;

pub use config::{Config, ConfigError};
use delivery::{deliver, DeliveryReport, PutRecordBatch, RetryPolicy};
pub use event::{EventError, KinesisBatch, KinesisBatchRecord, KinesisEventText};
use metrics::InvocationMetrics;

/// Where rejects go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectsOutput {
    /// Packed as NDJSON for the rejects Firehose stream.
    Stream,
    /// Logged, one structured line each with its raw data.
    Log,
}

/// One invocation's requests, ready to send.
#[derive(Debug)]
pub struct PreparedBatch {
    pub rows: Vec<PutRequest>,
    /// Empty when rejects are logged.
    pub rejects: Vec<PutRequest>,
    pub stats: StreamStats,
}

/// The `source` of a Kinesis record's rows: `kinesis:STREAM/SHARD/SEQUENCE`, which with the
/// line number identifies every input line.
pub fn record_source(record: &KinesisBatchRecord<'_>) -> String {
    // `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`; stream names have no `/`. Split on chars,
    // not on a `&str` pattern: this runs for each of up to 10,000 records.
    let stream = record
        .event_source_arn
        .rsplit_once('/')
        .filter(|(prefix, _)| prefix.ends_with(":stream"))
        .map_or("unknown", |(_, name)| name);
    let shard = record
        .event_id
        .split_once(':')
        .map_or("unknown", |(shard, _)| shard);
    // Built by hand: `format!` grows its string several times, and this runs 10,000 times.
    let sequence = &record.kinesis.sequence_number;
    let mut source = String::with_capacity(10 + stream.len() + shard.len() + sequence.len());
    for part in ["kinesis:", stream, "/", shard, "/", sequence] {
        source.push_str(part);
    }
    source
}

/// Decodes every record of the event and packs its rows (and rejects) into Firehose requests.
/// `user_agents` are the agents classified by earlier invocations, and come back with this
/// one's added.
pub fn prepare(
    event: &KinesisBatch<'_>,
    format: LogFormat,
    rejects: RejectsOutput,
    user_agents: &mut UserAgentColumns,
) -> PreparedBatch {
    let options = DecoderOptions {
        format,
        ..Default::default()
    };
    let mut encoder = StreamEncoder::with_user_agents(options, std::mem::take(user_agents));
    let mut sink = PackingSink {
        rows: RecordPacker::new(),
        rejects: (rejects == RejectsOutput::Stream).then(RecordPacker::new),
    };
    for (index, record) in event.records.iter().enumerate() {
        let source = record_source(record);
        encoder.push_base64(index, &source, &record.kinesis.data, &mut sink);
    }
    let (stats, classified) = encoder.finish_keeping_user_agents(&mut sink);
    *user_agents = classified;
    PreparedBatch {
        rows: sink.rows.finish(),
        rejects: sink.rejects.map(RecordPacker::finish).unwrap_or_default(),
        stats,
    }
}

struct PackingSink {
    rows: RecordPacker,
    rejects: Option<RecordPacker>,
}

impl StreamSink for PackingSink {
    fn row(&mut self, input: usize, _hour: UtcHour, json: &[u8]) {
        // A row comes from a line of at most 64 KiB: even escaped six-fold it stays far below
        // Firehose's 1,000 KiB record limit.
        self.rows
            .push_row(input, json)
            .expect("rows of lines within the line limit fit a Firehose record");
    }

    fn reject(&mut self, input: usize, reject: &Reject, json: &[u8]) {
        match &mut self.rejects {
            Some(packer) => packer
                .push_row(input, json)
                .expect("rejects keep at most 64 KiB of raw data"),
            None => RejectRecord::from(reject).log(),
        }
    }
}

/// The function: its settings, its Firehose client, and what it keeps between invocations.
pub struct IngestFunction<C> {
    pub config: Config,
    pub client: C,
    pub retry: RetryPolicy,
    /// The user agents classified so far (bounded, see `UserAgentCache`).
    user_agents: Mutex<UserAgentColumns>,
}

impl<C: PutRecordBatch> IngestFunction<C> {
    pub fn new(config: Config, client: C) -> Self {
        Self {
            config,
            client,
            retry: RetryPolicy::default(),
            user_agents: Mutex::default(),
        }
    }

    /// Handles one event: prepare, deliver rows then rejects, and name the first Kinesis record
    /// to redeliver if anything could not be delivered before `deadline`.
    pub async fn handle(
        &self,
        event: &KinesisBatch<'_>,
        deadline: Instant,
    ) -> (KinesisEventResponse, InvocationMetrics) {
        let started = StdInstant::now();
        let rejects_output = match self.config.rejects_stream {
            Some(_) => RejectsOutput::Stream,
            None => RejectsOutput::Log,
        };
        let prepared = {
            // Invocations come one at a time; a panic elsewhere leaves a cache still worth using.
            let mut user_agents = self
                .user_agents
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let format = self.config.log_format;
            prepare(event, format, rejects_output, &mut user_agents)
        };
        let rows = deliver(
            &self.client,
            &self.config.firehose_stream,
            prepared.rows,
            &self.retry,
            deadline,
        )
        .await;
        let rejects = match &self.config.rejects_stream {
            Some(stream) => {
                deliver(
                    &self.client,
                    stream,
                    prepared.rejects,
                    &self.retry,
                    deadline,
                )
                .await
            }
            None => DeliveryReport::default(),
        };

        let mut response = KinesisEventResponse::default();
        let redeliver_from =
            first_input_to_redeliver(rows.undelivered.iter().chain(&rejects.undelivered));
        if let Some(first) = redeliver_from {
            let sequence = &event.records[first].kinesis.sequence_number;
            tracing::error!(
                first_record = first,
                sequence_number = %sequence,
                undelivered_rows = rows.undelivered.iter().map(|r| r.rows).sum::<usize>(),
                undelivered_rejects = rejects.undelivered.iter().map(|r| r.rows).sum::<usize>(),
                last_error = rows.last_error.as_deref().or(rejects.last_error.as_deref()),
                "Firehose did not take every record: asking Kinesis to redeliver from here"
            );
            response.add_failure(sequence.to_string());
        }

        let stats = prepared.stats;
        let now_micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        let metrics = InvocationMetrics {
            records_in: stats.records_in,
            lines_in: stats.lines_in,
            rows_out: stats.rows_out,
            rejected: stats.rejected,
            rejected_by_reason: stats.rejects_by_reason.into_iter().collect(),
            firehose_records: rows.records_sent + rejects.records_sent,
            firehose_bytes: rows.bytes_sent + rejects.bytes_sent,
            retries: rows.retries + rejects.retries,
            records_redelivered: redeliver_from
                .map_or(0, |first| (event.records.len() - first) as u64),
            handler_ms: started.elapsed().as_secs_f64() * 1e3,
            max_event_lag_ms: stats
                .oldest_ts_micros
                .map(|oldest| (now_micros - oldest) as f64 / 1e3),
        };
        (response, metrics)
    }

    /// Prints the invocation's metrics as one EMF line on stdout.
    pub fn emit_metrics(&self, metrics: &InvocationMetrics) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let emf = metrics.to_emf(
            &self.config.metrics_namespace,
            &self.config.function_name,
            now_ms,
        );
        println!("{emf}");
    }
}

/// Converts the invocation's deadline (ms since the epoch, from the Lambda context) to an instant.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Instant::now() + std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
