//! The Kinesis event as the function receives it, read for the fields it uses.
//!
//! lambda_runtime deserializes a payload through `serde_path_to_error`, which allocates a
//! `String` for every key of every record (130,000 in a full batch of 10,000 records). So the
//! function takes the event whole, as one raw JSON value ([`KinesisEventText`]: checked to be
//! JSON, copied once), and [`KinesisEventText::read`] then walks that text for the records'
//! `eventID`, `eventSourceARN`, `kinesis.sequenceNumber` and `kinesis.data`, borrowing each
//! string from it. Most of an event's bytes are base64 strings, which the walk crosses with
//! `memchr` instead of a byte-by-byte JSON string scan.

use std::borrow::Cow;

use memchr::memchr2;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The event's JSON text (see the module documentation).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct KinesisEventText(Box<RawValue>);

/// The event is JSON but not a Kinesis event: the invocation fails (Lambda reports it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a Kinesis event: {0}")]
pub struct EventError(&'static str);

/// The records of a Kinesis event (the same JSON as `aws_lambda_events`' `KinesisEvent`; a test
/// checks both read the fixtures alike). `data` stays base64 text until its record is processed,
/// so a record that is not valid base64 is one reject instead of a failed invocation that
/// Kinesis would retry forever.
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
}

#[derive(Debug, Clone, Default)]
pub struct KinesisRecordData<'a> {
    pub sequence_number: Cow<'a, str>,
    /// Base64, as the event carries it.
    pub data: Cow<'a, str>,
}

impl KinesisEventText {
    /// Checks that `json` is one JSON value, as lambda_runtime does with a payload.
    pub fn new(json: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(json).map(Self)
    }

    /// The event's records. An event that is not a Kinesis event is an error; a record whose
    /// data is not base64 is not (it becomes a reject when the record is processed). Missing or
    /// `null` ids read as empty; a record without `kinesis.data` is an error.
    pub fn read(&self) -> Result<KinesisBatch<'_>, EventError> {
        let mut json = Walker::new(self.0.get());
        let mut records = Vec::new();
        json.object(|json, key| {
            if key != "Records" {
                return json.skip_value();
            }
            json.array(|json| {
                let mut record = KinesisBatchRecord::default();
                let mut has_data = false;
                json.object(|json, key| match &*key {
                    "eventID" => json.optional_string().map(|s| record.event_id = s),
                    "eventSourceARN" => json.optional_string().map(|s| record.event_source_arn = s),
                    "kinesis" => json.object(|json, key| match &*key {
                        "sequenceNumber" => json
                            .optional_string()
                            .map(|s| record.kinesis.sequence_number = s),
                        "data" => {
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
                records.push(record);
                Ok(())
            })
        })?;
        Ok(KinesisBatch { records })
    }
}

/// A cursor over JSON text that is known to be valid (the runtime parsed it): it only has to
/// find its way, and to check the event's shape.
struct Walker<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Walker<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, at: 0 }
    }

    /// The next byte after whitespace (not consumed).
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        while let Some(&b) = bytes.get(self.at) {
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
        mut on_member: impl FnMut(&mut Self, Cow<'a, str>) -> Result<(), EventError>,
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

    /// A string, borrowed from the text unless it has escapes to undo.
    fn string(&mut self) -> Result<Cow<'a, str>, EventError> {
        self.consume(b'"', "expected a string")?;
        let start = self.at;
        let (end, escaped) = self.string_end()?;
        self.at = end + 1;
        if !escaped {
            return Ok(Cow::Borrowed(&self.text[start..end]));
        }
        // Escapes are rare here (a JSON writer may escape `/` in base64): let serde_json undo them.
        serde_json::from_str::<String>(&self.text[start - 1..=end])
            .map(Cow::Owned)
            .map_err(|_| EventError("invalid string"))
    }

    /// A string, or `null` (read as empty).
    fn optional_string(&mut self) -> Result<Cow<'a, str>, EventError> {
        if self.peek() == Some(b'n') {
            self.skip_value()?;
            return Ok(Cow::Borrowed(""));
        }
        self.string()
    }

    /// Where the string starting at `self.at` (after its opening quote) ends, and whether it
    /// has escapes.
    fn string_end(&self) -> Result<(usize, bool), EventError> {
        let bytes = self.text.as_bytes();
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

    /// Skips one value of any kind.
    fn skip_value(&mut self) -> Result<(), EventError> {
        let bytes = self.text.as_bytes();
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
        let text = KinesisEventText::new(json.to_string()).expect("valid JSON");
        let batch = text.read()?;
        Ok(batch
            .records
            .iter()
            .map(|r| {
                [
                    r.event_id.to_string(),
                    r.event_source_arn.to_string(),
                    r.kinesis.sequence_number.to_string(),
                    r.kinesis.data.to_string(),
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
            KinesisEventText::new(escaped)
                .unwrap()
                .read()
                .unwrap()
                .records[0]
                .event_id,
            Cow::Owned(_)
        ));
        let text = KinesisEventText::new(compact).unwrap();
        assert!(matches!(
            text.read().unwrap().records[0].kinesis.data,
            Cow::Borrowed(_)
        ));
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
}
