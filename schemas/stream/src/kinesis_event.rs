//! The Kinesis event as the function receives it, read for the fields it uses.
//!
//! A full batch is 10,000 records in 15 MB of JSON, most of it base64. The function does not
//! let lambda_runtime deserialize it (see the `ingest` function's `raw_event`): it takes the event's bytes
//! ([`KinesisEventText`]), and [`KinesisEventText::read`] walks them for the records'
//! `eventID`, `eventSourceARN`, `kinesis.sequenceNumber` and `kinesis.data`, borrowing each
//! string. The walk crosses strings with `memchr` instead of a byte-by-byte JSON string scan,
//! and checks UTF-8 only in the strings it returns as text: the base64 data is checked by its
//! decoding.

use std::borrow::Cow;

use bytes::Bytes;
use memchr::memchr2;

/// The event's JSON text, as the Runtime API delivered it (see the module documentation).
#[derive(Debug, Clone)]
pub struct KinesisEventText(Bytes);

/// The event is not a Kinesis event: the invocation fails (Lambda reports it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Kinesis event: {0}")]
pub struct EventError(&'static str);

/// The records of a Kinesis event (the same JSON as `aws_lambda_events`' `KinesisEvent`; a test
/// checks both read the fixtures alike). `data` stays base64 until its record is processed, so
/// a record that is not valid base64 is one reject instead of a failed invocation that Kinesis
/// would retry forever.
#[derive(Debug, Clone, Default)]
pub struct KinesisBatch<'a> {
    pub records: Vec<KinesisBatchRecord<'a>>,
}

#[derive(Debug, Clone, Default)]
pub struct KinesisBatchRecord<'a> {
    /// `shardId-…:sequence`
    pub event_id: Cow<'a, str>,
    pub event_source_arn: Cow<'a, str>,
    pub kinesis: KinesisRecordData<'a>,
    /// The `source` of the record's rows, `kinesis:STREAM/SHARD/SEQUENCE`: with the line number
    /// it identifies every input line. Built as the record is read, while its bytes are in the
    /// cache.
    pub source: String,
}

#[derive(Debug, Clone, Default)]
pub struct KinesisRecordData<'a> {
    pub sequence_number: Cow<'a, str>,
    /// `approximateArrivalTimestamp`: when the record reached the stream, in seconds since the
    /// epoch. The same on every delivery of the record, unlike the invocation's clock.
    pub approximate_arrival_seconds: Option<f64>,
    /// Base64, as the event carries it.
    pub data: Cow<'a, [u8]>,
}

impl KinesisBatchRecord<'_> {
    /// [`KinesisBatchRecord::source`] from the record's ids.
    fn source_of_ids(&self) -> String {
        // `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`; stream names have no `/`.
        let arn = &self.event_source_arn;
        let stream = memchr::memrchr(b'/', arn.as_bytes())
            .filter(|&slash| arn[..slash].ends_with(":stream"))
            .map_or("unknown", |slash| &arn[slash + 1..]);
        let shard = memchr::memchr(b':', self.event_id.as_bytes())
            .map_or("unknown", |colon| &self.event_id[..colon]);
        // Built by hand: `format!` grows its string several times.
        let sequence = &self.kinesis.sequence_number;
        let mut source = String::with_capacity(10 + stream.len() + shard.len() + sequence.len());
        for part in ["kinesis:", stream, "/", shard, "/", sequence] {
            source.push_str(part);
        }
        source
    }
}

impl KinesisEventText {
    pub fn new(json: impl Into<Bytes>) -> Self {
        Self(json.into())
    }

    /// The event's records. An event that is not a Kinesis event is an error; a record whose
    /// data is not base64 is not (it becomes a reject when the record is processed). Missing or
    /// `null` ids read as empty; a record without `kinesis.data` is an error.
    pub fn read(&self) -> Result<KinesisBatch<'_>, EventError> {
        self.read_each(|_, _| ())
    }

    /// [`KinesisEventText::read`], handing each record to `on_record` (with its index) as soon
    /// as it is read, while its bytes are still in the cache: after a walk over the whole 15 MB,
    /// every record's data would be fetched from memory again.
    pub fn read_each<'a>(
        &'a self,
        mut on_record: impl FnMut(usize, &KinesisBatchRecord<'a>),
    ) -> Result<KinesisBatch<'a>, EventError> {
        let mut json = Walker::new(&self.0);
        let mut records = Vec::new();
        json.object(|json, key| {
            if *key != *b"Records" {
                return json.skip_value();
            }
            json.array(|json| {
                let mut record = KinesisBatchRecord::default();
                let mut has_data = false;
                json.object(|json, key| match &*key {
                    b"eventID" => json.optional_text().map(|s| record.event_id = s),
                    b"eventSourceARN" => json.optional_text().map(|s| record.event_source_arn = s),
                    b"kinesis" => json.object(|json, key| match &*key {
                        b"sequenceNumber" => json
                            .optional_text()
                            .map(|s| record.kinesis.sequence_number = s),
                        b"approximateArrivalTimestamp" => json
                            .number()
                            .map(|n| record.kinesis.approximate_arrival_seconds = n),
                        b"data" => {
                            has_data = true;
                            json.string().map(|s| record.kinesis.data = s)
                        }
                        _ => json.skip_value(),
                    }),
                    _ => json.skip_value(),
                })?;
                if !has_data {
                    return Err(EventError("a record has no kinesis.data"));
                }
                record.source = record.source_of_ids();
                on_record(records.len(), &record);
                records.push(record);
                Ok(())
            })
        })?;
        if json.peek().is_some() {
            return Err(EventError("more text after the event"));
        }
        Ok(KinesisBatch { records })
    }
}

/// A cursor over JSON text. It checks the event's shape and finds its way through the rest,
/// but it is not a validator: Lambda delivers JSON, and what is not is an error or, where the
/// walk does not look (inside skipped values, say), ignored. It never panics.
struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Walker<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    /// The next byte after whitespace (not consumed).
    fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes.get(self.at) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    fn consume(&mut self, byte: u8, what: &'static str) -> Result<(), EventError> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(EventError(what))
        }
    }

    /// An object, calling `on_member` with each key; it must consume the member's value.
    fn object(
        &mut self,
        mut on_member: impl FnMut(&mut Self, Cow<'a, [u8]>) -> Result<(), EventError>,
    ) -> Result<(), EventError> {
        self.items(b'{', b'}', "expected an object", |json| {
            let key = json.string()?;
            json.consume(b':', "expected `:`")?;
            on_member(json, key)
        })
    }

    /// An array, calling `on_item` for each item; it must consume the item.
    fn array(
        &mut self,
        on_item: impl FnMut(&mut Self) -> Result<(), EventError>,
    ) -> Result<(), EventError> {
        self.items(b'[', b']', "`Records` is not an array", on_item)
    }

    /// The comma-separated items between `open` and `close`, each consumed by `on_item`.
    fn items(
        &mut self,
        open: u8,
        close: u8,
        not_open: &'static str,
        mut on_item: impl FnMut(&mut Self) -> Result<(), EventError>,
    ) -> Result<(), EventError> {
        self.consume(open, not_open)?;
        if self.peek() == Some(close) {
            self.at += 1;
            return Ok(());
        }
        loop {
            on_item(self)?;
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b) if b == close => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(EventError("unterminated object or array")),
            }
        }
    }

    /// A string's bytes, borrowed unless it has escapes to undo; not checked to be UTF-8.
    fn string(&mut self) -> Result<Cow<'a, [u8]>, EventError> {
        self.consume(b'"', "expected a string")?;
        let start = self.at;
        let (end, escaped) = self.string_end()?;
        self.at = end + 1;
        if !escaped {
            return Ok(Cow::Borrowed(&self.bytes[start..end]));
        }
        // Escapes are rare here (a JSON writer may escape `/` in base64): let serde_json undo them.
        serde_json::from_slice::<String>(&self.bytes[start - 1..=end])
            .map(|text| Cow::Owned(text.into_bytes()))
            .map_err(|_| EventError("invalid string"))
    }

    /// A string as text, or `null` (read as empty).
    fn optional_text(&mut self) -> Result<Cow<'a, str>, EventError> {
        if self.peek() == Some(b'n') {
            self.skip_value()?;
            return Ok(Cow::Borrowed(""));
        }
        const NOT_UTF8: EventError = EventError("a string is not UTF-8");
        match self.string()? {
            // ids of a few dozen bytes: `std`'s check beats a SIMD one's setup
            Cow::Borrowed(bytes) => std::str::from_utf8(bytes)
                .map(Cow::Borrowed)
                .map_err(|_| NOT_UTF8),
            Cow::Owned(bytes) => String::from_utf8(bytes)
                .map(Cow::Owned)
                .map_err(|_| NOT_UTF8),
        }
    }

    /// Where the string starting at `self.at` (after its opening quote) ends, and whether it
    /// has escapes.
    fn string_end(&self) -> Result<(usize, bool), EventError> {
        let bytes = self.bytes;
        let mut at = self.at;
        let mut escaped = false;
        loop {
            let found = bytes
                .get(at..)
                .and_then(|rest| memchr2(b'"', b'\\', rest))
                .ok_or(EventError("unterminated string"))?;
            at += found;
            if bytes[at] == b'"' {
                return Ok((at, escaped));
            }
            escaped = true;
            at += 2; // the backslash and the byte it escapes (`\uXXXX` has no quote or backslash)
        }
    }

    /// A number; any other value (`null`, a string) reads as none.
    fn number(&mut self) -> Result<Option<f64>, EventError> {
        self.peek();
        let start = self.at;
        self.skip_value()?;
        let text = std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or_default();
        Ok(text.parse().ok().filter(|n: &f64| n.is_finite()))
    }

    /// Skips one value of any kind.
    fn skip_value(&mut self) -> Result<(), EventError> {
        let bytes = self.bytes;
        match self.peek() {
            Some(b'"') => {
                self.at += 1;
                self.at = self.string_end()?.0 + 1;
            }
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                while let Some(&b) = bytes.get(self.at) {
                    self.at += 1;
                    match b {
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return Ok(());
                            }
                        }
                        b'"' => self.at = self.string_end()?.0 + 1,
                        _ => {}
                    }
                }
                return Err(EventError("unterminated value"));
            }
            Some(_) => {
                // a number, `true`, `false` or `null`
                while bytes.get(self.at).is_some_and(|b| {
                    !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                }) {
                    self.at += 1;
                }
            }
            None => return Err(EventError("expected a value")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn read(json: &str) -> Result<Vec<[String; 4]>, EventError> {
        let text = KinesisEventText::new(json.to_string());
        let batch = text.read()?;
        Ok(batch
            .records
            .iter()
            .map(|r| {
                [
                    r.event_id.to_string(),
                    r.event_source_arn.to_string(),
                    r.kinesis.sequence_number.to_string(),
                    String::from_utf8(r.kinesis.data.to_vec()).unwrap(),
                ]
            })
            .collect())
    }

    /// What serde_json makes of the same fields.
    fn expected(event: &Value) -> Vec<[String; 4]> {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                [
                    text(&r["eventID"]),
                    text(&r["eventSourceARN"]),
                    text(&r["kinesis"]["sequenceNumber"]),
                    text(&r["kinesis"]["data"]),
                ]
            })
            .collect()
    }

    fn event() -> Value {
        json!({
            "Records": [
                {
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "partitionKey": "k \"quoted\" {not an object} [nor an array]",
                        "sequenceNumber": "4959",
                        "data": "bGluZQo=",
                        "approximateArrivalTimestamp": 1.7e9,
                        "nested": {"a": [1, {"b": null}, "x\\\\"], "c": true}
                    },
                    "eventSource": "aws:kinesis",
                    "eventID": "shardId-000000000001:4959",
                    "eventSourceARN": "arn:aws:kinesis:us-east-1:1:stream/web"
                },
                {
                    "eventSourceARN": "arn:aws:kinesis:us-east-1:1:stream/web",
                    "kinesis": {"data": "a/b+c\u{e9}\n", "sequenceNumber": null},
                    "eventID": null,
                    "extra": []
                },
                {"kinesis": {"data": ""}}
            ],
            "more": {"Records": "not these"}
        })
    }

    #[test]
    fn reads_what_serde_json_reads_however_the_json_is_laid_out() {
        let event = event();
        let compact = serde_json::to_string(&event).unwrap();
        let pretty = serde_json::to_string_pretty(&event).unwrap();
        // escaped slashes and unicode escapes, as some JSON writers produce
        let escaped = compact
            .replace('/', "\\/")
            .replace("shardId", "\\u0073hardId");
        for json in [&compact, &pretty, &escaped] {
            assert_eq!(read(json).unwrap(), expected(&event), "{json}");
        }
        assert!(matches!(
            KinesisEventText::new(escaped).read().unwrap().records[0].event_id,
            Cow::Owned(_)
        ));
        let text = KinesisEventText::new(compact);
        assert!(matches!(
            text.read().unwrap().records[0].kinesis.data,
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn the_arrival_time_is_read_when_it_is_a_number() {
        let mut event = event();
        let text = KinesisEventText::new(event.to_string());
        let arrivals: Vec<_> = (text.read().unwrap().records.iter())
            .map(|r| r.kinesis.approximate_arrival_seconds)
            .collect();
        assert_eq!(arrivals, [Some(1.7e9), None, None]);
        event["Records"][0]["kinesis"]["approximateArrivalTimestamp"] = "soon".into();
        let text = KinesisEventText::new(event.to_string());
        assert_eq!(
            text.read().unwrap().records[0]
                .kinesis
                .approximate_arrival_seconds,
            None
        );
    }

    #[test]
    fn an_event_of_another_shape_is_an_error() {
        assert_eq!(
            read(r#"{"Records": []}"#).unwrap(),
            Vec::<[String; 4]>::new()
        );
        assert_eq!(read(r#"{}"#).unwrap(), Vec::<[String; 4]>::new());
        for json in [
            r#"[]"#,
            r#""text""#,
            r#"{"Records": {}}"#,
            r#"{"Records": [1]}"#,
            r#"{"Records": [{"kinesis": {"sequenceNumber": "1"}}]}"#,
            r#"{"Records": [{"kinesis": {"data": 12}}]}"#,
            r#"{"Records": [{"eventID": 12, "kinesis": {"data": ""}}]}"#,
        ] {
            assert!(read(json).is_err(), "{json}");
        }
    }

    #[test]
    fn bytes_that_are_not_a_whole_event_are_an_error_and_never_a_panic() {
        let compact = serde_json::to_string(&event()).unwrap();
        assert_eq!(
            read(&format!("{compact} {{}}")).unwrap_err(),
            EventError("more text after the event")
        );
        assert_eq!(read(&format!(" {compact}\n")).unwrap(), expected(&event()));
        // Invalid UTF-8 in a string the function uses is an error; elsewhere it is not looked at.
        let spoil = |within: &str| {
            let at = compact.find(within).unwrap() + 1;
            let json = [
                &compact.as_bytes()[..at],
                &[0xff, 0xfe],
                &compact.as_bytes()[at..],
            ]
            .concat();
            KinesisEventText::new(json)
                .read()
                .map(|batch| batch.records.len())
        };
        assert_eq!(
            spoil("shardId").unwrap_err(),
            EventError("a string is not UTF-8")
        );
        assert_eq!(
            spoil("arn:").unwrap_err(),
            EventError("a string is not UTF-8")
        );
        assert_eq!(
            spoil("4959").unwrap_err(),
            EventError("a string is not UTF-8")
        );
        assert_eq!(spoil("k \\\"quoted"), Ok(3));
        // Every cut of the event is an error.
        for end in 0..compact.len() {
            let cut = compact.as_bytes()[..end].to_vec();
            assert!(KinesisEventText::new(cut).read().is_err(), "cut at {end}");
        }
        // Any byte replaced by JSON punctuation: the walk ends, one way or the other.
        for at in 0..compact.len() {
            for byte in [b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b' '] {
                let mut json = compact.clone().into_bytes();
                json[at] = byte;
                let _ = KinesisEventText::new(json).read();
            }
        }
    }

    #[test]
    fn a_record_source_names_stream_shard_and_sequence() {
        let arn = "arn:aws:kinesis:us-east-1:123456789012:stream/web-logs";
        for (arn, event_id, source) in [
            (
                arn,
                "shardId-000000000002:4959",
                "kinesis:web-logs/shardId-000000000002/4959",
            ),
            (arn, "", "kinesis:web-logs/unknown/4959"),
            ("", "shardId-1:4959", "kinesis:unknown/shardId-1/4959"),
            ("arn:aws:s3:::bucket/key", "s:1", "kinesis:unknown/s/4959"),
        ] {
            let record = KinesisBatchRecord {
                event_id: Cow::Borrowed(event_id),
                event_source_arn: Cow::Borrowed(arn),
                kinesis: KinesisRecordData {
                    sequence_number: Cow::Borrowed("4959"),
                    data: Cow::Borrowed(b""),
                    ..Default::default()
                },
                source: String::new(),
            };
            assert_eq!(record.source_of_ids(), source);
        }
    }
}
