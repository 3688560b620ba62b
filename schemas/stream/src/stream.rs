//! Stream records (Kinesis records, Firehose records) → rows and rejects: the core of the
//! real-time functions, free of AWS so it is tested and benchmarked on its own. Rows are JSON
//! for Firehose ([`StreamEncoder`]) or Arrow batches for the lake writer
//! ([`StreamEncoder::with_row_builder`]).
//!
//! Records share one [`Decoder`] (its parser state and user-agent cache carry over), and each
//! output row and reject is handed to a sink ([`RowsSink`], [`StreamSink`] for JSON rows) with
//! the index of the record it came from, in input order, so a caller can pack rows for Firehose
//! and still know which record to have redelivered, or group the rows per record.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::TimestampMicrosecondType;
use loglake_decode::{DecodedBatch, Decoder, DecoderOptions, Reject, RejectRecord, RowBuilder};
use loglake_parser::payload::{decode_payload, LogText};
use loglake_parser::{RejectReason, UserAgentCache, UtcHour};
use serde::Serialize;

use crate::json::{JsonRows, JsonRowsBuilder, UserAgentJson};

/// One input record: where it came from (e.g. `kinesis:STREAM/SHARD/SEQUENCE`) and its data,
/// already base64-decoded.
#[derive(Debug, Clone, Copy)]
pub struct StreamRecord<'a> {
    pub source: &'a str,
    pub data: &'a [u8],
}

/// Receives the output of a [`StreamEncoder`], in input order.
pub trait RowsSink<Rows> {
    /// A batch of rows, row `i` from record `inputs[i]`; returns them when they can be reused.
    fn rows(&mut self, rows: Rows, inputs: &[usize]) -> Option<Rows>;
    /// One reject of record `input`, with its JSON object (no newline) for the rejects output.
    fn reject(&mut self, input: usize, reject: &Reject, json: &[u8]);
}

/// Receives the JSON rows of a [`StreamEncoder`], in input order, one by one or in batches.
pub trait StreamSink {
    /// One row as a JSON object (no newline), from record `input`, in UTC hour `hour`.
    fn row(&mut self, input: usize, hour: UtcHour, json: &[u8]);
    /// A batch of rows, row `i` from record `inputs[i]`. A sink that can use the batch's text
    /// as it is ([`JsonRows::into_ndjson`]) takes it, saving a copy, and returns `None`. By
    /// default, [`StreamSink::row`] for each row, and the rows are returned for reuse.
    fn rows(&mut self, rows: JsonRows, inputs: &[usize]) -> Option<JsonRows> {
        self.rows_one_by_one(rows, inputs)
    }

    /// [`StreamSink::row`] for each row; the rows are returned for reuse.
    fn rows_one_by_one(&mut self, rows: JsonRows, inputs: &[usize]) -> Option<JsonRows> {
        for ((json, hour), &input) in rows.iter().zip(inputs) {
            self.row(input, hour, json);
        }
        Some(rows)
    }
    /// One reject of record `input`, with its JSON object (no newline) for the rejects output.
    fn reject(&mut self, input: usize, reject: &Reject, json: &[u8]);
}

impl<S: StreamSink> RowsSink<JsonRows> for S {
    fn rows(&mut self, rows: JsonRows, inputs: &[usize]) -> Option<JsonRows> {
        StreamSink::rows(self, rows, inputs)
    }

    fn reject(&mut self, input: usize, reject: &Reject, json: &[u8]) {
        StreamSink::reject(self, input, reject, json)
    }
}

/// What an encoder counts of the rows a decoder flushes, whichever builder made them.
pub trait EncodedRows {
    fn row_count(&self) -> usize;
    /// The earliest `ts` among the rows (µs since the epoch).
    fn oldest_ts_micros(&self) -> Option<i64>;
}

impl EncodedRows for JsonRows {
    fn row_count(&self) -> usize {
        self.len()
    }

    fn oldest_ts_micros(&self) -> Option<i64> {
        self.oldest_ts_micros
    }
}

impl EncodedRows for RecordBatch {
    fn row_count(&self) -> usize {
        self.num_rows()
    }

    fn oldest_ts_micros(&self) -> Option<i64> {
        let ts = self.column_by_name("ts")?;
        ts.as_primitive_opt::<TimestampMicrosecondType>()?
            .iter()
            .flatten()
            .min()
    }
}

/// What an encoder saw. `lines_in == rows_out + rejected`, always.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamStats {
    pub records_in: u64,
    pub lines_in: u64,
    pub rows_out: u64,
    pub rejected: u64,
    pub rejects_by_reason: BTreeMap<&'static str, u64>,
    /// CloudWatch Logs control messages: acknowledged, nothing to ingest.
    pub control_messages: u64,
    pub lossy_utf8_rows: u64,
    /// The earliest event time among the rows (µs since the epoch), for the event-time lag.
    pub oldest_ts_micros: Option<i64>,
}

/// The user agents a [`StreamEncoder`] has classified, with their columns rendered as JSON. A
/// warm function keeps them from one invocation to the next
/// ([`StreamEncoder::finish_keeping_user_agents`], [`StreamEncoder::with_user_agents`]): a
/// distinct agent is then classified once, not once per batch (woothee takes 1–4 µs per agent).
pub type UserAgentColumns = UserAgentCache<UserAgentJson>;

/// Decodes stream records and hands their rows (JSON by default) and rejects to a sink.
pub struct StreamEncoder<B: RowBuilder = JsonRowsBuilder> {
    decoder: Decoder<B>,
    /// For each finished record whose rows (rejects) are not all emitted yet: (record index,
    /// rows (rejects) total at its end, as [`Decoder::totals`] counts them).
    row_ends: VecDeque<(usize, u64)>,
    reject_ends: VecDeque<(usize, u64)>,
    /// The record being decoded now.
    current: usize,
    rows_emitted: u64,
    rejects_emitted: u64,
    json: Vec<u8>,
    base64_buffer: Vec<u8>,
    /// The record of each row of the batch being emitted.
    row_inputs: Vec<usize>,
    stats: StreamStats,
}

impl StreamEncoder {
    pub fn new(options: DecoderOptions) -> Self {
        Self::with_user_agents(options, UserAgentColumns::default())
    }

    /// An encoder that starts with the user agents an earlier one classified.
    pub fn with_user_agents(options: DecoderOptions, user_agents: UserAgentColumns) -> Self {
        Self::with_row_builder(options, user_agents)
    }
}

impl<B: RowBuilder> StreamEncoder<B>
where
    B::Rows: EncodedRows,
{
    /// An encoder whose rows are `B`'s (e.g. `loglake_decode::AccessLogBatchBuilder`'s Arrow
    /// batches), starting with the user agents an earlier one classified.
    pub fn with_row_builder(
        options: DecoderOptions,
        user_agents: UserAgentCache<B::UserAgent>,
    ) -> Self {
        Self {
            decoder: Decoder::with_row_builder("", options).with_user_agents(user_agents),
            row_ends: VecDeque::new(),
            reject_ends: VecDeque::new(),
            current: 0,
            rows_emitted: 0,
            rejects_emitted: 0,
            json: Vec::with_capacity(4096),
            base64_buffer: Vec::new(),
            row_inputs: Vec::new(),
            stats: StreamStats::default(),
        }
    }

    /// Decodes record number `input` (indices must increase). A payload that cannot be decoded
    /// (corrupt gzip, bad KPL aggregate, …) becomes one reject carrying the record's bytes.
    pub fn push(
        &mut self,
        input: usize,
        record: StreamRecord<'_>,
        sink: &mut impl RowsSink<B::Rows>,
    ) {
        self.start_record(input, record.source);
        match decode_payload(record.data) {
            Err(error) => self
                .decoder
                .reject_record(error.reject_reason(), record.data),
            Ok(payload) => {
                self.stats.control_messages += payload.control_messages as u64;
                for text in &payload.texts {
                    match text {
                        LogText::Lines(lines) => self.feed(lines, sink),
                        // (rows named by the file and line they were read from: sent again
                        // after a crash, the same lines are the same rows to the unique view)
                        LogText::Shipped {
                            source,
                            first_line,
                            lines,
                        } => {
                            self.decoder.set_source(Arc::<str>::from(source.as_str()));
                            self.decoder.set_next_line(*first_line);
                            self.feed(lines, sink);
                            // (a KPL user record after it, not shipped, is the record's again)
                            self.decoder.set_source(Arc::<str>::from(record.source));
                        }
                        LogText::Messages(messages) => {
                            for message in messages {
                                self.feed(message.as_bytes(), sink);
                                self.feed(b"\n", sink);
                            }
                        }
                    }
                    // Texts are separate (KPL user records): a line never runs across two.
                    self.decoder.finish(false);
                }
            }
        }
        self.end_record(input, sink);
    }

    /// [`StreamEncoder::push`] for data still in base64, as Lambda events carry it (decoded into
    /// one reused buffer). Data that is not valid base64 is one `bad_base64` reject of the
    /// record, not a failed invocation.
    pub fn push_base64(
        &mut self,
        input: usize,
        source: &str,
        data_base64: &[u8],
        sink: &mut impl RowsSink<B::Rows>,
    ) {
        let mut data = std::mem::take(&mut self.base64_buffer);
        data.clear();
        // SIMD base64: 8 MB of it in a full batch, a tenth of the CPU time with the scalar crate.
        match base64_simd::STANDARD.decode_append(data_base64, &mut data) {
            Ok(()) => self.push(
                input,
                StreamRecord {
                    source,
                    data: &data,
                },
                sink,
            ),
            Err(_) => self.reject_record(input, source, RejectReason::BadBase64, data_base64, sink),
        }
        self.base64_buffer = data;
    }

    /// Records record number `input` as one reject: the record still counts, as a line in and a
    /// reject out.
    fn reject_record(
        &mut self,
        input: usize,
        source: &str,
        reason: RejectReason,
        raw: &[u8],
        sink: &mut impl RowsSink<B::Rows>,
    ) {
        self.start_record(input, source);
        self.decoder.reject_record(reason, raw);
        self.end_record(input, sink);
    }

    fn start_record(&mut self, input: usize, source: &str) {
        debug_assert!(self.stats.records_in == 0 || input > self.current);
        self.current = input;
        self.stats.records_in += 1;
        self.decoder.set_source(Arc::<str>::from(source));
    }

    fn end_record(&mut self, input: usize, sink: &mut impl RowsSink<B::Rows>) {
        let (rows, rejects) = self.decoder.totals();
        self.row_ends.push_back((input, rows));
        self.reject_ends.push_back((input, rejects));
        if self.decoder.is_full() {
            self.flush(sink);
        }
    }

    /// Flushes what is pending and returns the totals.
    pub fn finish(self, sink: &mut impl RowsSink<B::Rows>) -> StreamStats {
        self.finish_keeping_user_agents(sink).0
    }

    /// [`StreamEncoder::finish`], also handing back the user agents classified so far, for the
    /// next encoder.
    pub fn finish_keeping_user_agents(
        mut self,
        sink: &mut impl RowsSink<B::Rows>,
    ) -> (StreamStats, UserAgentCache<B::UserAgent>) {
        self.flush(sink);
        debug_assert_eq!(
            self.stats.lines_in,
            self.stats.rows_out + self.stats.rejected
        );
        (self.stats, self.decoder.into_user_agents())
    }

    fn feed(&mut self, mut bytes: &[u8], sink: &mut impl RowsSink<B::Rows>) {
        while !bytes.is_empty() {
            let used = self.decoder.decode(bytes);
            bytes = &bytes[used..];
            if self.decoder.is_full() {
                self.flush(sink);
            }
        }
    }

    fn flush(&mut self, sink: &mut impl RowsSink<B::Rows>) {
        let Some(batch) = self.decoder.flush() else {
            return;
        };
        self.count(&batch);
        self.row_inputs.clear();
        for _ in 0..batch.rows.row_count() {
            let input = record_of(&mut self.row_ends, self.rows_emitted, self.current);
            self.row_inputs.push(input);
            self.rows_emitted += 1;
        }
        if let Some(rows) = sink.rows(batch.rows, &self.row_inputs) {
            self.decoder.recycle(rows);
        }
        for reject in &batch.rejects {
            let input = record_of(&mut self.reject_ends, self.rejects_emitted, self.current);
            self.json.clear();
            serde_json::to_writer(&mut self.json, &RejectRecord::from(reject))
                .expect("a reject always serializes");
            sink.reject(input, reject, &self.json);
            self.rejects_emitted += 1;
        }
    }

    fn count(&mut self, batch: &DecodedBatch<B::Rows>) {
        let stats = &mut self.stats;
        stats.lines_in += batch.lines_in;
        stats.rows_out += batch.rows.row_count() as u64;
        stats.rejected += batch.rejects.len() as u64;
        stats.lossy_utf8_rows += batch.lossy_utf8_rows;
        for reject in &batch.rejects {
            *stats
                .rejects_by_reason
                .entry(reject.reason.as_str())
                .or_default() += 1;
        }
        if let Some(oldest) = batch.rows.oldest_ts_micros() {
            stats.oldest_ts_micros = Some(stats.oldest_ts_micros.map_or(oldest, |o| o.min(oldest)));
        }
    }
}

/// The record that output number `emitted` (of rows, or of rejects) came from: the first
/// finished record whose total runs past it (records before it are done and forgotten), else
/// the record being decoded. Outputs arrive in order, so this is amortised O(1).
fn record_of(ends: &mut VecDeque<(usize, u64)>, emitted: u64, current: usize) -> usize {
    while ends.front().is_some_and(|&(_, end)| end <= emitted) {
        ends.pop_front();
    }
    ends.front().map_or(current, |&(input, _)| input)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;
    use loglake_schema::json_key;

    const LINE_10H: &str =
        r#"1.2.3.4 - - [10/Oct/2020:10:59:59 +0000] "GET /a HTTP/1.1" 200 10 "-" "curl/8.0""#;
    const LINE_11H: &str =
        r#"5.6.7.8 - - [10/Oct/2020:11:00:01 +0000] "GET /b HTTP/1.1" 404 - "-" "Mozilla/5.0""#;

    #[derive(Default)]
    struct Collected {
        rows: Vec<(usize, UtcHour, serde_json::Value)>,
        rejects: Vec<(usize, RejectReason, serde_json::Value)>,
    }

    impl StreamSink for Collected {
        fn row(&mut self, input: usize, hour: UtcHour, json: &[u8]) {
            self.rows
                .push((input, hour, serde_json::from_slice(json).unwrap()));
        }
        fn reject(&mut self, input: usize, reject: &Reject, json: &[u8]) {
            self.rejects
                .push((input, reject.reason, serde_json::from_slice(json).unwrap()));
        }
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn encode(records: &[Vec<u8>], batch_size: usize) -> (Collected, StreamStats) {
        let options = DecoderOptions {
            batch_size,
            ..Default::default()
        };
        let mut encoder = StreamEncoder::new(options);
        let mut sink = Collected::default();
        let sources: Vec<String> = (0..records.len()).map(|i| format!("rec-{i}")).collect();
        for (i, data) in records.iter().enumerate() {
            let record = StreamRecord {
                source: &sources[i],
                data,
            };
            encoder.push(i, record, &mut sink);
        }
        let stats = encoder.finish(&mut sink);
        (sink, stats)
    }

    #[test]
    fn rows_and_rejects_are_traced_to_their_record_whatever_the_batch_size() {
        let plain = format!("{LINE_10H}\nnot a log line\n{LINE_11H}").into_bytes();
        let cloudwatch = gzip(
            serde_json::json!({
                "messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "g", "logStream": "s",
                "logEvents": [{"id": "1", "timestamp": 0, "message": LINE_11H},
                              {"id": "2", "timestamp": 0, "message": "junk"}]
            })
            .to_string()
            .as_bytes(),
        );
        let control = gzip(br#"{"messageType":"CONTROL_MESSAGE","logEvents":[]}"#);
        let records = vec![
            plain.clone(),
            gzip(LINE_10H.as_bytes()),
            b"\x1f\x8b\x08 not really gzip".to_vec(),
            cloudwatch,
            control,
            Vec::new(),
            plain,
        ];
        for batch_size in [1, 2, 3, 8_192] {
            let (sink, stats) = encode(&records, batch_size);
            let inputs: Vec<usize> = sink.rows.iter().map(|r| r.0).collect();
            assert_eq!(inputs, [0, 0, 1, 3, 6, 6], "batch size {batch_size}");
            let rejects: Vec<(usize, RejectReason)> =
                sink.rejects.iter().map(|r| (r.0, r.1)).collect();
            assert_eq!(
                rejects,
                [
                    (0, RejectReason::NoTimestamp),
                    (2, RejectReason::BadGzip),
                    (3, RejectReason::NoTimestamp),
                    (6, RejectReason::NoTimestamp),
                ],
                "batch size {batch_size}"
            );
            for (input, _, row) in &sink.rows {
                assert_eq!(row[json_key("source")], format!("rec-{input}"));
            }
            // line numbers restart per record; a record-level reject is line 0
            let lines: Vec<i64> = sink
                .rows
                .iter()
                .map(|r| r.2[json_key("source_line")].as_i64().unwrap())
                .collect();
            assert_eq!(lines, [1, 3, 1, 1, 1, 3]);
            assert_eq!(sink.rejects[1].2["source_line"], 0);
            assert_eq!(sink.rejects[1].2["reason"], "bad_gzip");
            assert_eq!(sink.rejects[1].2["source"], "rec-2");
            assert_eq!(stats.records_in, 7);
            assert_eq!(stats.lines_in, 10);
            assert_eq!(stats.rows_out, 6);
            assert_eq!(stats.rejected, 4);
            assert_eq!(stats.control_messages, 1);
            assert_eq!(stats.rejects_by_reason["no_timestamp"], 3);
            assert_eq!(stats.rejects_by_reason["bad_gzip"], 1);
        }
    }

    #[test]
    fn shipped_lines_are_rows_of_their_file_and_line() {
        let mut shipped = loglake_parser::payload::ship_header("web-1:/var/log/access.log#ab", 7);
        shipped.extend_from_slice(format!("{LINE_10H}\njunk\n{LINE_11H}\n").as_bytes());
        let aggregate =
            loglake_parser::payload::kpl_aggregate("k", &[&shipped, LINE_10H.as_bytes()]);
        let (sink, stats) = encode(&[aggregate], 8_192);
        let rows: Vec<(String, i64)> = (sink.rows.iter())
            .map(|r| {
                let source = r.2[json_key("source")].as_str().unwrap().to_string();
                (source, r.2[json_key("source_line")].as_i64().unwrap())
            })
            .collect();
        let file = "web-1:/var/log/access.log#ab".to_string();
        assert_eq!(
            rows,
            [(file.clone(), 7), (file.clone(), 9), ("rec-0".into(), 1)]
        );
        assert_eq!(
            (
                sink.rejects[0].2["source"].as_str(),
                sink.rejects[0].2["source_line"].as_i64()
            ),
            (Some(file.as_str()), Some(8))
        );
        assert_eq!(stats.lines_in, 4);
    }

    #[test]
    fn hours_and_the_oldest_event_time_are_reported() {
        let (sink, stats) = encode(&[format!("{LINE_11H}\n{LINE_10H}\n").into_bytes()], 100);
        let hours: Vec<i32> = sink.rows.iter().map(|r| r.1.hour_of_day()).collect();
        assert_eq!(hours, [11, 10]);
        assert_eq!(
            &sink.rows[0].2[json_key("ts")].as_str().unwrap()[11..13],
            "11"
        );
        // 2020-10-10T10:59:59Z
        assert_eq!(stats.oldest_ts_micros, Some(1_602_327_599_000_000));
    }

    #[test]
    fn a_later_encoder_reuses_the_user_agents_classified_before() {
        let data = format!("{LINE_10H}\n{LINE_11H}\n{LINE_10H}\n").into_bytes();
        let record = StreamRecord {
            source: "rec-0",
            data: &data,
        };
        let mut user_agents = UserAgentColumns::default();
        let mut outputs = Vec::new();
        for _ in 0..2 {
            let mut encoder =
                StreamEncoder::with_user_agents(DecoderOptions::default(), user_agents);
            let mut sink = Collected::default();
            encoder.push(0, record, &mut sink);
            let (stats, classified) = encoder.finish_keeping_user_agents(&mut sink);
            assert_eq!(stats.rows_out, 3);
            // two distinct agents, classified by the first encoder only
            assert_eq!(classified.misses(), 2);
            user_agents = classified;
            outputs.push(sink.rows);
        }
        assert_eq!(outputs[0], outputs[1]);
    }

    #[test]
    fn a_line_never_spans_two_records() {
        // The first record ends without a newline: its last line must not absorb the second's.
        let first = LINE_10H.as_bytes()[..30].to_vec();
        let (sink, stats) = encode(&[first, format!("{LINE_11H}\n").into_bytes()], 100);
        assert_eq!(sink.rows.len(), 1);
        assert_eq!(sink.rows[0].0, 1);
        assert_eq!(sink.rejects.len(), 1);
        assert_eq!(sink.rejects[0].0, 0);
        assert_eq!(stats.lines_in, 2);
    }
}
