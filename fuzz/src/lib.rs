//! What the fuzz targets share: decoder settings taken from an input byte, and the checks that
//! every decoded batch must pass whatever the bytes were.

use arrow::array::{Array, AsArray};
use loglake_decode::{DecodedBatch, Decoder, DecoderOptions, Reject};
use loglake_parser::enrich::{AsnDatabase, CrawlerList};
use loglake_parser::{Enrichment, IpAnonymization, LogFormat, UtcHour};
use loglake_stream::{StreamEncoder, StreamRecord, StreamSink, StreamStats};

/// Decoder settings from one byte: the format (any registered one), whether the format's other
/// fields are kept, and how addresses are anonymised. Batches are small and the line limit
/// short, so that inputs of a few hundred bytes reach both.
pub fn decoder_options(byte: u8) -> DecoderOptions {
    let anonymize = ["none", "truncate", "hash"][usize::from(byte >> 6) % 3];
    DecoderOptions {
        format: formats()[usize::from(byte & 0x1f) % formats().len()],
        keep_extra_fields: byte & 0x20 != 0,
        anonymize_ip: IpAnonymization::from_setting(Some(anonymize), Some("a sixteen-byte key"))
            .expect("a valid setting"),
        batch_size: 7,
        max_line_bytes: 512,
        enrichment: crawlers(),
    }
}

/// Every registered format, and CloudFront real-time logs with every field and with a few.
fn formats() -> &'static [LogFormat] {
    static FORMATS: std::sync::OnceLock<Vec<LogFormat>> = std::sync::OnceLock::new();
    FORMATS.get_or_init(|| {
        let realtime = [
            "cloudfront_realtime",
            "cloudfront_realtime:timestamp c-ip sc-status cs-uri-stem",
        ];
        let realtime = realtime.map(|spec| spec.parse().expect("a valid real-time setting"));
        LogFormat::ALL.iter().copied().chain(realtime).collect()
    })
}

/// A crawler list of a few patterns of the shapes the real one has, and an IP-to-network table
/// of a few ranges (IPv4 and IPv6, a quoted name), so that classifying with a list and looking
/// networks up are fuzzed too (the real data is a download, not part of the repository).
fn crawlers() -> &'static Enrichment {
    static ENRICHMENT: std::sync::OnceLock<Enrichment> = std::sync::OnceLock::new();
    ENRICHMENT.get_or_init(|| Enrichment {
        countries: None,
        networks: Some(
            AsnDatabase::from_csv(
                b"16777216,16777471,13335,\"Cloudflare, Inc.\"\n3221225984,3221226239,64496,TEST-NET\n",
                b"42540528726795050063891204319802818560,42540528806023212578155541913346768895,2500,WIDE\n",
            )
            .expect("the tables read"),
        ),
        crawlers: Some(
            CrawlerList::from_json(
            br#"[{"pattern": "Googlebot\\/"}, {"pattern": "[wW]get"}, {"pattern": "^Mozilla\\/5\\.0 \\(compatible; [a-z]+"}]"#,
            )
            .expect("the patterns compile"),
        ),
    })
}

/// Lines, rows and rejects over the batches seen so far.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub lines: u64,
    pub rows: u64,
    pub rejects: u64,
}

impl Totals {
    /// Counts `batch` after checking it: every line is a row or a reject, every array is valid
    /// Arrow data, and every `extra_fields` value is a JSON object.
    pub fn add(&mut self, batch: &DecodedBatch) {
        let rows = batch.rows.num_rows() as u64;
        assert_eq!(batch.lines_in, rows + batch.rejects.len() as u64);
        for column in batch.rows.columns() {
            column.to_data().validate_full().expect("valid Arrow data");
        }
        let extra_fields = batch
            .rows
            .column_by_name("extra_fields")
            .expect("the column");
        for json in extra_fields.as_string::<i32>().iter().flatten() {
            assert_json_object(json.as_bytes());
        }
        self.lines += batch.lines_in;
        self.rows += rows;
        self.rejects += batch.rejects.len() as u64;
    }

    /// Counts every batch `decoder` has, after [`Decoder::finish`].
    pub fn finish(&mut self, decoder: &mut Decoder, truncated: bool) {
        decoder.finish(truncated);
        if let Some(batch) = decoder.flush() {
            self.add(&batch);
        }
        assert_eq!(decoder.totals(), (self.rows, self.rejects));
    }
}

/// The lines in `text`: one per `\n`, and an unterminated last one.
pub fn lines_in(text: &[u8]) -> u64 {
    let newlines = text.iter().filter(|&&b| b == b'\n').count() as u64;
    newlines + u64::from(!text.is_empty() && !text.ends_with(b"\n"))
}

/// Checks what a stream encoder hands out: every row and every reject is one JSON object.
#[derive(Debug, Default)]
pub struct CheckingSink {
    pub rows: u64,
    pub rejects: u64,
}

impl StreamSink for CheckingSink {
    fn row(&mut self, _input: usize, _hour: UtcHour, json: &[u8]) {
        assert_json_object(json);
        self.rows += 1;
    }

    fn reject(&mut self, _input: usize, _reject: &Reject, json: &[u8]) {
        assert_json_object(json);
        self.rejects += 1;
    }
}

pub fn assert_json_object(json: &[u8]) {
    let text = String::from_utf8_lossy(json);
    match serde_json::from_slice::<serde_json::Value>(json) {
        Ok(value) => assert!(value.is_object(), "not an object: {text}"),
        Err(error) => panic!("not JSON ({error}): {text}"),
    }
}

/// One Kinesis record's data through the stream encoder, with the settings of `settings`: every
/// line is a row or a reject, and the sink got exactly those.
pub fn stream_record(settings: u8, data: &[u8]) {
    let mut encoder = StreamEncoder::new(decoder_options(settings));
    let mut sink = CheckingSink::default();
    let record = StreamRecord {
        source: "kinesis:fuzz/shardId-000000000000/1",
        data,
    };
    encoder.push(0, record, &mut sink);
    check_stream_stats(&encoder.finish(&mut sink), &sink, 1);
}

/// The totals of a stream encoder against what its sink received.
pub fn check_stream_stats(stats: &StreamStats, sink: &CheckingSink, records: u64) {
    assert_eq!(stats.records_in, records);
    assert_eq!(stats.lines_in, stats.rows_out + stats.rejected);
    assert_eq!((stats.rows_out, stats.rejected), (sink.rows, sink.rejects));
    assert_eq!(
        stats.rejects_by_reason.values().sum::<u64>(),
        stats.rejected
    );
}
