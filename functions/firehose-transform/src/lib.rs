//! The Firehose data-transformation function, for users whose Firehose stream reads the Kinesis
//! stream directly: each incoming record becomes exactly one output record, with the same core
//! as the `ingest` function.
//!
//! - `Ok`: the record had rows; `data` is its JSON rows, newline-separated, and
//!   `metadata.partitionKeys` holds `dt` and `hour` (two digits, as in the lake's `hour=03`)
//!   for dynamic partitioning. Firehose gives a
//!   record one partition, so **a record whose rows span two hours goes to the hour of its
//!   earliest row**; each row keeps its exact `ts` (a filter on `hour` finds it in that hour).
//! - `Dropped`: nothing to ingest (a CloudWatch Logs control message, an empty record).
//! - `ProcessingFailed`: no line of the record parsed (or its payload is damaged), or its rows
//!   would push the response past Lambda's 6 MB limit. Firehose writes the original record to
//!   the stream's error output, so it can be replayed; nothing is lost.
//!
//! Rejected lines of records that also had rows are logged, one structured line each with the
//! raw data, and counted.

use std::collections::HashMap;

use aws_lambda_events::event::firehose::{KinesisFirehoseResponse, KinesisFirehoseResponseRecord};
use loglake_decode::{DecoderOptions, Reject, RejectRecord};
use loglake_parser::UtcHour;
use loglake_stream::{StreamEncoder, StreamSink, StreamStats};
use serde::Deserialize;

/// The transformation event, read leniently. `aws_lambda_events`' `KinesisFirehoseEvent`
/// requires a numeric `subsequenceNumber` and a numeric arrival time in the Kinesis metadata,
/// while Firehose sends `""` and (in AWS's own examples) date strings there: one such field
/// would fail the whole invocation. Only what the transformation uses is read, and each
/// record's base64 is decoded on its own so a bad one fails only that record.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseEvent {
    #[serde(default)]
    pub delivery_stream_arn: Option<String>,
    #[serde(default)]
    pub source_kinesis_stream_arn: Option<String>,
    pub records: Vec<FirehoseRecord>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseRecord {
    pub record_id: String,
    /// Base64, as Firehose sends it.
    pub data: String,
    #[serde(default)]
    pub kinesis_record_metadata: Option<KinesisMetadata>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisMetadata {
    #[serde(default)]
    pub shard_id: Option<String>,
    #[serde(default)]
    pub sequence_number: Option<String>,
}

/// The log format (`auto` when unset).
pub const LOG_FORMAT_VAR: &str = "LOG_FORMAT";
/// `true` fills `extra_fields` with the format's other fields (default `false`).
pub const KEEP_EXTRA_FIELDS_VAR: &str = "KEEP_EXTRA_FIELDS";

/// How client addresses are written (default `none`), and the key of `hash`.
pub const ANONYMIZE_IP_VAR: &str = "ANONYMIZE_IP";
pub const ANONYMIZE_IP_KEY_VAR: &str = "ANONYMIZE_IP_KEY";

/// Every environment variable the function reads (README.md documents each).
pub const ENV_VARS: [&str; 5] = [
    LOG_FORMAT_VAR,
    KEEP_EXTRA_FIELDS_VAR,
    ANONYMIZE_IP_VAR,
    ANONYMIZE_IP_KEY_VAR,
    loglake_parser::enrich::ENRICHMENT_DIR_SETTING,
];

/// Lambda's synchronous response limit is 6 MB; this keeps room for the JSON around the data.
pub const RESPONSE_BUDGET_BYTES: usize = 6 * 1024 * 1024 - 64 * 1024;

/// Firehose's names for the three outcomes.
pub const OK: &str = "Ok";
pub const DROPPED: &str = "Dropped";
pub const PROCESSING_FAILED: &str = "ProcessingFailed";

/// What one invocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransformStats {
    pub stream: StreamStats,
    pub ok: u64,
    pub dropped: u64,
    pub failed: u64,
    /// Records failed only because the response was full.
    pub over_budget: u64,
}

/// The `source` of a record's rows: the Kinesis record it was read from when Firehose says so,
/// else the Firehose record id.
pub fn record_source(event: &FirehoseEvent, record: &FirehoseRecord) -> String {
    if let Some(kinesis) = &record.kinesis_record_metadata {
        let stream = event
            .source_kinesis_stream_arn
            .as_deref()
            .and_then(|arn| arn.rsplit_once(":stream/"))
            .map_or("unknown", |(_, name)| name);
        return format!(
            "kinesis:{stream}/{}/{}",
            kinesis.shard_id.as_deref().unwrap_or("unknown"),
            kinesis.sequence_number.as_deref().unwrap_or("unknown")
        );
    }
    let delivery_stream = event
        .delivery_stream_arn
        .as_deref()
        .and_then(|arn| arn.rsplit_once('/'))
        .map_or("unknown", |(_, name)| name);
    format!("firehose:{delivery_stream}/{}", record.record_id)
}

/// The rows and rejects of one input record.
#[derive(Default)]
struct RecordOutput {
    rows: Vec<u8>,
    row_count: usize,
    earliest_hour: Option<UtcHour>,
    rejects: usize,
}

struct PerRecordSink {
    outputs: Vec<RecordOutput>,
}

impl StreamSink for PerRecordSink {
    fn row(&mut self, input: usize, hour: UtcHour, json: &[u8]) {
        let output = &mut self.outputs[input];
        output.rows.extend_from_slice(json);
        output.rows.push(b'\n');
        output.row_count += 1;
        output.earliest_hour = Some(output.earliest_hour.map_or(hour, |h| h.min(hour)));
    }

    fn reject(&mut self, input: usize, reject: &Reject, _json: &[u8]) {
        self.outputs[input].rejects += 1;
        RejectRecord::from(reject).log();
    }
}

/// Transforms one Firehose event: one output record per input record, in order.
pub fn transform(
    event: &FirehoseEvent,
    options: DecoderOptions,
) -> (KinesisFirehoseResponse, TransformStats) {
    let mut encoder = StreamEncoder::new(options);
    let mut sink = PerRecordSink {
        outputs: (0..event.records.len())
            .map(|_| RecordOutput::default())
            .collect(),
    };
    for (index, record) in event.records.iter().enumerate() {
        let source = record_source(event, record);
        encoder.push_base64(index, &source, record.data.as_bytes(), &mut sink);
    }
    let mut stats = TransformStats {
        stream: encoder.finish(&mut sink),
        ..Default::default()
    };

    let mut response = KinesisFirehoseResponse::default();
    let mut response_bytes = 16;
    for (record, output) in event.records.iter().zip(sink.outputs) {
        let record_id = record.record_id.clone();
        let mut out = KinesisFirehoseResponseRecord::default();
        out.record_id = Some(record_id.clone());
        // recordId, result, metadata and the JSON around them
        let overhead = 160 + record_id.len();
        match output.earliest_hour {
            None if output.rejects == 0 => {
                out.result = Some(DROPPED.into());
                stats.dropped += 1;
            }
            None => {
                out.result = Some(PROCESSING_FAILED.into());
                stats.failed += 1;
            }
            Some(hour) => {
                let encoded = output.rows.len().div_ceil(3) * 4;
                if response_bytes + overhead + encoded > RESPONSE_BUDGET_BYTES {
                    tracing::error!(
                        record_id = %record_id,
                        rows = output.row_count,
                        "response would exceed Lambda's 6 MB limit: failing the record so \
                         Firehose keeps it in the error output (lower the transformation's \
                         buffer size)"
                    );
                    out.result = Some(PROCESSING_FAILED.into());
                    stats.failed += 1;
                    stats.over_budget += 1;
                } else {
                    response_bytes += encoded;
                    out.result = Some(OK.into());
                    *out.data = output.rows;
                    out.metadata.partition_keys = HashMap::from([
                        ("dt".to_string(), hour.date_string()),
                        ("hour".to_string(), format!("{:02}", hour.hour_of_day())),
                    ]);
                    stats.ok += 1;
                }
            }
        }
        response_bytes += overhead;
        response.records.push(out);
    }
    (response, stats)
}
