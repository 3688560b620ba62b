//! The Kinesis-triggered `ingest` function: access-log records in, rows out, in one of two
//! wirings ([`Output`]):
//!
//! - [`IngestFunction`]: JSON rows through Firehose (which converts them to Parquet in the
//!   lake), rejects to a second stream or the log. The CPU part ([`prepare`]) is pure: Kinesis
//!   event → `PutRecordBatch` requests. Delivery ([`delivery`]) retries what Firehose refuses.
//! - [`LakeIngestFunction`] ([`lake_output`]): Parquet files written straight into the lake by
//!   the lake's own writer, rejects as NDJSON beside them.
//!
//! Either way, whatever is not delivered is reported back to Kinesis as a batch item failure so
//! it is redelivered: nothing is dropped.

pub mod config;
pub mod delivery;
pub mod lake_output;
pub mod metrics;
pub mod raw_event;

use std::sync::{Mutex, PoisonError};
use std::time::{Instant as StdInstant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::streams::KinesisEventResponse;
use loglake_decode::{DecoderOptions, Reject, RejectRecord};
use loglake_parser::UtcHour;
use loglake_stream::firehose::{
    first_input_to_redeliver, PutRequest, RecordPacker, MAX_RECORD_BYTES,
};
use loglake_stream::{JsonRows, StreamEncoder, StreamSink, StreamStats, UserAgentColumns};
use tokio::time::Instant;

pub use config::{Config, ConfigError, LakeDest, Output};
use delivery::{deliver, DeliveryReport, PutRecordBatch, RetryPolicy};
pub use lake_output::LakeIngestFunction;
pub use loglake_stream::{EventError, KinesisBatch, KinesisBatchRecord, KinesisEventText};
use metrics::InvocationMetrics;
pub use raw_event::RawEvents;

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

/// Reads the event and decodes each record as it is read, packing the rows (and rejects) into
/// Firehose requests. `user_agents` are the agents classified by earlier invocations, and come
/// back with this one's added. An event that is not a Kinesis event is an error.
pub fn prepare<'a>(
    event: &'a KinesisEventText,
    options: DecoderOptions,
    rejects: RejectsOutput,
    user_agents: &mut UserAgentColumns,
) -> Result<(KinesisBatch<'a>, PreparedBatch), EventError> {
    let mut encoder = StreamEncoder::with_user_agents(options, std::mem::take(user_agents));
    let mut sink = PackingSink {
        rows: RecordPacker::new(),
        rejects: (rejects == RejectsOutput::Stream).then(RecordPacker::new),
    };
    let records = event.read_each(|index, record| {
        encoder.push_base64(index, &record.source, &record.kinesis.data, &mut sink);
    });
    let (stats, classified) = encoder.finish_keeping_user_agents(&mut sink);
    *user_agents = classified;
    let prepared = PreparedBatch {
        rows: sink.rows.finish(),
        rejects: sink.rejects.map(RecordPacker::finish).unwrap_or_default(),
        stats,
    };
    Ok((records?, prepared))
}

struct PackingSink {
    rows: RecordPacker,
    rejects: Option<RecordPacker>,
}

impl StreamSink for PackingSink {
    /// A batch's text becomes one Firehose record as it is: the decoder ends JSON batches below
    /// the record limit. Only a batch ended by a very long row is packed row by row.
    fn rows(&mut self, rows: JsonRows, inputs: &[usize]) -> Option<JsonRows> {
        if rows.ndjson_len() > MAX_RECORD_BYTES {
            return self.rows_one_by_one(rows, inputs);
        }
        let first_input = inputs.first().copied().unwrap_or_default();
        self.rows
            .push_record(rows.len(), first_input, rows.into_ndjson())
            .expect("checked against the record limit above");
        None
    }

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

/// The function in the Firehose wiring: its settings, its Firehose client, and what it keeps
/// between invocations.
pub struct IngestFunction<C> {
    pub config: Config,
    pub client: C,
    pub retry: RetryPolicy,
    /// From [`Output::Firehose`].
    stream: String,
    rejects_stream: Option<String>,
    /// The user agents classified so far (bounded, see `UserAgentCache`).
    user_agents: Mutex<UserAgentColumns>,
}

impl<C: PutRecordBatch> IngestFunction<C> {
    /// # Panics
    /// When `config.output` is not [`Output::Firehose`] ([`LakeIngestFunction`] is the other
    /// wiring's).
    pub fn new(config: Config, client: C) -> Self {
        let Output::Firehose {
            stream,
            rejects_stream,
        } = config.output.clone()
        else {
            panic!("the Firehose wiring needs FIREHOSE_STREAM_NAME, not LAKE_DEST");
        };
        Self {
            config,
            client,
            retry: RetryPolicy::default(),
            stream,
            rejects_stream,
            user_agents: Mutex::default(),
        }
    }

    /// Handles one event: prepare, deliver rows then rejects, and name the first Kinesis record
    /// to redeliver if anything could not be delivered before `deadline`. An event that is not
    /// a Kinesis event is an error, before anything is sent.
    pub async fn handle(
        &self,
        event: &KinesisEventText,
        deadline: Instant,
    ) -> Result<(KinesisEventResponse, InvocationMetrics), EventError> {
        let started = StdInstant::now();
        let rejects_output = match self.rejects_stream {
            Some(_) => RejectsOutput::Stream,
            None => RejectsOutput::Log,
        };
        let (event, prepared) = {
            // Invocations come one at a time; a panic elsewhere leaves a cache still worth using.
            let mut user_agents = self
                .user_agents
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            prepare(
                event,
                self.config.decoder_options(),
                rejects_output,
                &mut user_agents,
            )?
        };
        let rows = deliver(
            &self.client,
            &self.stream,
            prepared.rows,
            &self.retry,
            deadline,
        )
        .await;
        let rejects = match &self.rejects_stream {
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

        let metrics = InvocationMetrics {
            firehose_records: rows.records_sent + rejects.records_sent,
            firehose_bytes: rows.bytes_sent + rejects.bytes_sent,
            retries: rows.retries + rejects.retries,
            records_redelivered: redeliver_from
                .map_or(0, |first| (event.records.len() - first) as u64),
            ..InvocationMetrics::of_stats(prepared.stats, started)
        };
        Ok((response, metrics))
    }
}

/// Converts the invocation's deadline (ms since the epoch, from the Lambda context) to an instant.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Instant::now() + std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use serde_json::json;

    use super::*;

    /// A Kinesis event of one record per item of `data`.
    fn event<'a>(data: impl IntoIterator<Item = &'a String>) -> KinesisEventText {
        let records: Vec<serde_json::Value> = data
            .into_iter()
            .enumerate()
            .map(|(index, lines)| {
                json!({
                    "eventID": format!("shardId-000000000000:{index}"),
                    "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/web",
                    "kinesis": {
                        "sequenceNumber": index.to_string(),
                        "data": base64::engine::general_purpose::STANDARD.encode(lines),
                    }
                })
            })
            .collect();
        KinesisEventText::new(json!({ "Records": records }).to_string())
    }

    /// The rows of each Firehose record, checked against the record's bookkeeping, and the
    /// `path` of every row in order.
    fn prepared_paths(event: &KinesisEventText) -> (Vec<String>, Vec<usize>) {
        let (records, prepared) = prepare(
            event,
            DecoderOptions::default(),
            RejectsOutput::Stream,
            &mut UserAgentColumns::default(),
        )
        .unwrap();
        let mut paths = Vec::new();
        let mut rows_per_record = Vec::new();
        for request in &prepared.rows {
            assert!(request.bytes <= loglake_stream::firehose::MAX_REQUEST_BYTES);
            for packed in &request.records {
                assert!(packed.data.len() <= MAX_RECORD_BYTES);
                let rows: Vec<serde_json::Value> = std::str::from_utf8(&packed.data)
                    .unwrap()
                    .lines()
                    .map(|row| serde_json::from_str(row).unwrap())
                    .collect();
                assert_eq!(rows.len(), packed.rows);
                let first_source = rows[0][loglake_stream::json_key("source")]
                    .as_str()
                    .unwrap();
                assert_eq!(first_source, records.records[packed.first_input].source);
                rows_per_record.push(packed.rows);
                paths.extend(rows.iter().map(|row| {
                    row[loglake_stream::json_key("path")]
                        .as_str()
                        .unwrap()
                        .to_string()
                }));
            }
        }
        assert_eq!(paths.len() as u64, prepared.stats.lines_in);
        (paths, rows_per_record)
    }

    #[test]
    fn cloudfront_real_time_records_one_per_kinesis_record_become_rows() {
        // CloudFront puts one record per request, without a line ending; the real records of
        // parser/tests/data/cloudfront_realtime (their SOURCE.md names the fields).
        let sample = include_str!("../../../parser/tests/data/cloudfront_realtime/ownstats.log");
        let records: Vec<String> = sample.lines().map(str::to_owned).collect();
        let format = "cloudfront_realtime:timestamp,c-ip,sc-status,cs-uri-stem,cs-bytes,\
                      x-edge-location,time-taken,cs-user-agent,cs-referer,cs-uri-query,\
                      x-edge-result-type,asn";
        let prepare_as = |format: &str| {
            let options = DecoderOptions {
                format: format.parse().unwrap(),
                ..DecoderOptions::default()
            };
            let user_agents = &mut UserAgentColumns::default();
            prepare(
                &event(&records),
                options,
                RejectsOutput::Stream,
                user_agents,
            )
            .unwrap()
            .1
        };
        let prepared = prepare_as(format);
        assert_eq!((prepared.stats.lines_in, prepared.stats.rejected), (3, 0));
        let rows: Vec<serde_json::Value> = (prepared.rows.iter())
            .flat_map(|request| &request.records)
            .flat_map(|packed| std::str::from_utf8(&packed.data).unwrap().lines())
            .map(|row| serde_json::from_str(row).unwrap())
            .collect();
        let column =
            |row: &serde_json::Value, name: &str| row[loglake_stream::json_key(name)].clone();
        assert_eq!(rows.len(), 3);
        assert_eq!(column(&rows[0], "path"), "/hello.gif");
        assert_eq!(
            column(&rows[2], "client_ip"),
            "2600:1700:2328:7f60:fc5c:8867:7522:1bef"
        );
        assert_eq!(column(&rows[2], "referrer"), "https://mapthe.cloud/");
        assert_eq!(column(&rows[1], "status"), 200);

        // The same records under a setting that forgot a field are rejects, each with its reason.
        let prepared = prepare_as("cloudfront_realtime:timestamp,c-ip,sc-status,cs-uri-stem");
        assert_eq!((prepared.stats.lines_in, prepared.stats.rejected), (3, 3));
        let rejects = String::from_utf8(prepared.rejects[0].records[0].data.clone()).unwrap();
        assert!(rejects.contains("field_count"), "{rejects}");
    }

    #[test]
    fn rows_reach_firehose_records_once_and_in_order_whatever_the_batch_text() {
        let line = |path: &str| {
            format!("10.0.0.1 - - [10/Oct/2020:13:55:36 +0000] \"GET /{path} HTTP/1.1\" 200 5 \"-\" \"curl/8.0\"\n")
        };
        // One short row's JSON, with its newline.
        let row_bytes = {
            let (_, prepared) = prepare(
                &event([&line("0")]),
                DecoderOptions::default(),
                RejectsOutput::Stream,
                &mut UserAgentColumns::default(),
            )
            .unwrap();
            prepared.rows[0].bytes
        };
        // Short rows to 700 KB, then a line of control bytes (escaped six-fold: 360 KB of JSON)
        // ends the first batch over the record limit, so it is packed row by row; then more
        // short rows, in batches that each become one record as they are.
        let before = 700_000 / row_bytes;
        let control = "\u{1}".repeat(60_000);
        let mut first = String::new();
        for i in 0..before {
            first.push_str(&line(&i.to_string()));
        }
        first.push_str(&line(&control));
        let data: Vec<String> = std::iter::once(first)
            .chain((1..3_000).map(|i| line(&format!("r{i}"))))
            .collect();
        let (paths, rows_per_record) = prepared_paths(&event(&data));

        let expected: Vec<String> = (0..before)
            .map(|i| format!("/{i}"))
            .chain([format!("/{control}")])
            .chain((1..3_000).map(|i| format!("/r{i}")))
            .collect();
        assert_eq!(paths, expected);
        assert!(rows_per_record[0] < before + 1, "the first batch is split");
        assert!(rows_per_record.len() >= 3);
    }

    #[test]
    fn an_event_that_is_not_a_kinesis_event_is_an_error() {
        let text = KinesisEventText::new(r#"{"Records": [{"kinesis": {}}]}"#);
        let mut user_agents = UserAgentColumns::default();
        let result = prepare(
            &text,
            DecoderOptions::default(),
            RejectsOutput::Stream,
            &mut user_agents,
        );
        assert_eq!(
            result.unwrap_err().to_string(),
            "not a Kinesis event: a record has no kinesis.data"
        );
    }
}
