//! Kinesis record payloads → log text. A record's data is, depending on the shipper:
//!
//! - plain text: one or more `\n`-separated log lines (Kinesis Agent, Fluent Bit, Vector);
//! - gzip of that;
//! - a CloudWatch Logs subscription envelope: gzip of JSON whose `logEvents[].message` are the
//!   lines (`CONTROL_MESSAGE`s carry none);
//! - a KPL aggregate: magic `F3 89 9A C2`, a protobuf `AggregatedRecord`, and the MD5 of the
//!   protobuf; each user record inside is again any of the above;
//! - `loglake ship`'s lines: a header line naming the file they come from and the number of the
//!   first ([`ship_header`]), then the lines, so that a line sent again after a crash has the
//!   same `source` and `source_line` as the first time.
//!
//! Decoding is bounded: inflated data is capped, and nested aggregates are not followed.

use std::borrow::Cow;
use std::io::Read;

use flate2::read::MultiGzDecoder;
use serde::Deserialize;

use crate::RejectReason;

/// The first bytes of a KPL-aggregated record.
pub const KPL_MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];
const MD5_LEN: usize = 16;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Kinesis records are at most 1 MiB; CloudWatch payloads inflate about tenfold. A record whose
/// gzip inflates beyond this in all (the sum over a KPL aggregate's user records: each one can
/// be a small bomb) is rejected rather than allowed to exhaust memory.
pub const MAX_INFLATED_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("gzip data is corrupt or truncated: {0}")]
    BadGzip(String),
    #[error("gzip data inflates beyond {MAX_INFLATED_BYTES} bytes")]
    GzipTooLarge,
    #[error("CloudWatch Logs envelope is not valid JSON: {0}")]
    BadCloudWatchEnvelope(String),
    #[error("KPL aggregate is malformed: {0}")]
    BadKplProtobuf(&'static str),
    #[error("KPL aggregate fails its MD5 check")]
    KplChecksumMismatch,
    #[error("loglake ship header is malformed: {0}")]
    BadShipHeader(&'static str),
}

impl PayloadError {
    /// The reason the record is rejected for (its name is what rejects and metrics show).
    pub fn reject_reason(&self) -> RejectReason {
        match self {
            PayloadError::BadGzip(_) => RejectReason::BadGzip,
            PayloadError::GzipTooLarge => RejectReason::GzipTooLarge,
            PayloadError::BadCloudWatchEnvelope(_) => RejectReason::BadCloudWatchEnvelope,
            PayloadError::BadKplProtobuf(_) => RejectReason::BadKplAggregate,
            PayloadError::KplChecksumMismatch => RejectReason::KplChecksumMismatch,
            PayloadError::BadShipHeader(_) => RejectReason::BadShipHeader,
        }
    }
}

/// Log text found in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogText<'a> {
    /// `\n`-separated lines.
    Lines(Cow<'a, [u8]>),
    /// One line per message (CloudWatch log events; a message may itself contain newlines).
    Messages(Vec<String>),
    /// `\n`-separated lines that `loglake ship` read from `source`, the first of them line
    /// number `first_line` there.
    Shipped {
        source: String,
        first_line: i64,
        lines: Cow<'a, [u8]>,
    },
}

/// What starts a record (or a KPL user record) of `loglake ship`: ASCII's record separator, which
/// no text log line starts with, then the format's name and version.
pub const SHIP_MARK: &[u8] = b"\x1eloglake-ship 1 ";

/// The header line `loglake ship` puts before lines read from `source`, the first of them line
/// `first_line` there: [`SHIP_MARK`], the line number, a space, the source, a newline.
pub fn ship_header(source: &str, first_line: i64) -> Vec<u8> {
    let mut header = SHIP_MARK.to_vec();
    header.extend_from_slice(format!("{first_line} {}\n", source.replace('\n', " ")).as_bytes());
    header
}

/// The sections of a record framed by [`ship_header`]: each header's source and first line
/// number with the lines up to the next header; `None` when `data` does not start with
/// [`SHIP_MARK`].
fn shipped(data: &[u8]) -> Option<Result<Vec<LogText<'_>>, PayloadError>> {
    let mut rest = data.strip_prefix(SHIP_MARK)?;
    let mut sections = Vec::new();
    loop {
        let Some(end) = memchr::memchr(b'\n', rest) else {
            return Some(Err(PayloadError::BadShipHeader("no end of line")));
        };
        let header = std::str::from_utf8(&rest[..end]).ok();
        let parsed = header
            .and_then(|h| h.split_once(' '))
            .and_then(|(line, source)| {
                let line = line.parse::<i64>().ok().filter(|line| *line >= 1)?;
                (!source.is_empty()).then(|| (line, source.to_string()))
            });
        let Some((first_line, source)) = parsed else {
            return Some(Err(PayloadError::BadShipHeader(
                "not a line number and a source",
            )));
        };
        let body = &rest[end + 1..];
        // (a header only ever starts a line, so the next one follows a newline)
        let next = memchr::memmem::find(body, &[b"\n", SHIP_MARK].concat());
        let lines = &body[..next.map_or(body.len(), |at| at + 1)];
        sections.push(LogText::Shipped {
            source,
            first_line,
            lines: Cow::Borrowed(lines),
        });
        match next {
            Some(at) => rest = &body[at + 1 + SHIP_MARK.len()..],
            None => return Some(Ok(sections)),
        }
    }
}

/// What a record held: its log text, in order, and whether it was only a CloudWatch control
/// message (acknowledged, nothing to ingest).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DecodedPayload<'a> {
    pub texts: Vec<LogText<'a>>,
    pub control_messages: usize,
}

/// A user record inside a KPL aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub partition_key: String,
    pub explicit_hash_key: Option<String>,
    pub data: Vec<u8>,
}

/// The CloudWatch Logs subscription message (after base64 and gzip).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchMessage {
    pub message_type: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub log_group: String,
    #[serde(default)]
    pub log_stream: String,
    #[serde(default)]
    pub log_events: Vec<CloudWatchLogEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CloudWatchLogEvent {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub timestamp: i64,
    pub message: String,
}

/// Decodes one record's data (already base64-decoded).
pub fn decode_payload(data: &[u8]) -> Result<DecodedPayload<'_>, PayloadError> {
    let mut decoded = DecodedPayload::default();
    let mut inflate_budget = MAX_INFLATED_BYTES;
    match deaggregate(data)? {
        Some(records) => {
            for record in &records {
                let inner = decode_unaggregated(&record.data, &mut inflate_budget)?;
                decoded.control_messages += inner.control_messages;
                for text in inner.texts {
                    decoded.texts.push(into_owned(text));
                }
            }
        }
        None => decoded = decode_unaggregated(data, &mut inflate_budget)?,
    }
    Ok(decoded)
}

fn into_owned(text: LogText<'_>) -> LogText<'static> {
    match text {
        LogText::Lines(lines) => LogText::Lines(Cow::Owned(lines.into_owned())),
        LogText::Messages(messages) => LogText::Messages(messages),
        LogText::Shipped {
            source,
            first_line,
            lines,
        } => LogText::Shipped {
            source,
            first_line,
            lines: Cow::Owned(lines.into_owned()),
        },
    }
}

/// One payload that is not an aggregate; its inflated bytes are taken from `inflate_budget`.
fn decode_unaggregated<'a>(
    data: &'a [u8],
    inflate_budget: &mut u64,
) -> Result<DecodedPayload<'a>, PayloadError> {
    let mut decoded = DecodedPayload::default();
    if let Some(sections) = shipped(data) {
        decoded.texts.extend(sections?);
        return Ok(decoded);
    }
    if !data.starts_with(&GZIP_MAGIC) {
        decoded.texts.push(LogText::Lines(Cow::Borrowed(data)));
        return Ok(decoded);
    }
    let inflated = inflate(data, *inflate_budget)?;
    *inflate_budget -= inflated.len() as u64;
    if inflated.first() == Some(&b'{') && looks_like_cloudwatch(&inflated) {
        let message: CloudWatchMessage = serde_json::from_slice(&inflated)
            .map_err(|e| PayloadError::BadCloudWatchEnvelope(e.to_string()))?;
        if message.message_type == "CONTROL_MESSAGE" {
            decoded.control_messages += 1;
        } else {
            decoded.texts.push(LogText::Messages(
                message.log_events.into_iter().map(|e| e.message).collect(),
            ));
        }
    } else {
        decoded.texts.push(LogText::Lines(Cow::Owned(inflated)));
    }
    Ok(decoded)
}

/// CloudWatch Logs puts `messageType` first, but JSON key order is not guaranteed: look for it
/// anywhere (gzip JSON without it is treated as log lines).
fn looks_like_cloudwatch(json: &[u8]) -> bool {
    memchr::memmem::find(json, b"\"messageType\"").is_some()
}

/// `data` inflated, if it takes at most `max_bytes`.
fn inflate(data: &[u8], max_bytes: u64) -> Result<Vec<u8>, PayloadError> {
    let mut out = Vec::with_capacity(data.len() * 4);
    MultiGzDecoder::new(data)
        .take(max_bytes + 1)
        .read_to_end(&mut out)
        .map_err(|e| PayloadError::BadGzip(e.to_string()))?;
    if out.len() as u64 > max_bytes {
        return Err(PayloadError::GzipTooLarge);
    }
    Ok(out)
}

/// The user records of a KPL aggregate, or `None` when `data` is not one (no magic).
pub fn deaggregate(data: &[u8]) -> Result<Option<Vec<UserRecord>>, PayloadError> {
    let Some(body) = data.strip_prefix(&KPL_MAGIC) else {
        return Ok(None);
    };
    if body.len() < MD5_LEN {
        return Err(PayloadError::BadKplProtobuf("shorter than its checksum"));
    }
    let (protobuf, checksum) = body.split_at(body.len() - MD5_LEN);
    if md5::compute(protobuf).0 != checksum {
        return Err(PayloadError::KplChecksumMismatch);
    }
    let mut partition_keys = Vec::new();
    let mut hash_keys = Vec::new();
    let mut records = Vec::new();
    let mut fields = ProtoReader::new(protobuf);
    while let Some((field, value)) = fields.next_field()? {
        match (field, value) {
            (1, ProtoValue::Bytes(key)) => partition_keys.push(utf8(key)?),
            (2, ProtoValue::Bytes(key)) => hash_keys.push(utf8(key)?),
            (3, ProtoValue::Bytes(record)) => records.push(parse_user_record(record)?),
            (1..=3, _) => return Err(PayloadError::BadKplProtobuf("field of the wrong type")),
            _ => {} // unknown fields are skipped, as protobuf requires
        }
    }
    records
        .into_iter()
        .map(|(pk_index, ehk_index, data)| {
            let partition_key = usize::try_from(pk_index)
                .ok()
                .and_then(|i| partition_keys.get(i))
                .ok_or(PayloadError::BadKplProtobuf(
                    "partition key index out of range",
                ))?
                .clone();
            let explicit_hash_key = match ehk_index {
                None => None,
                Some(i) => Some(
                    usize::try_from(i)
                        .ok()
                        .and_then(|i| hash_keys.get(i))
                        .ok_or(PayloadError::BadKplProtobuf("hash key index out of range"))?
                        .clone(),
                ),
            };
            Ok(UserRecord {
                partition_key,
                explicit_hash_key,
                data,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// A KPL aggregate (as the Kinesis Producer Library writes it: [`KPL_MAGIC`], the protobuf
/// `AggregatedRecord`, its MD5) of `user_records`, all under `partition_key`.
pub fn kpl_aggregate(partition_key: &str, user_records: &[&[u8]]) -> Vec<u8> {
    let mut protobuf = Vec::with_capacity(user_records.iter().map(|r| r.len() + 8).sum());
    bytes_field(1, partition_key.as_bytes(), &mut protobuf);
    let mut record = Vec::new();
    for data in user_records {
        record.clear();
        varint(1 << 3, &mut record); // partition_key_index: the one key, 0
        varint(0, &mut record);
        bytes_field(3, data, &mut record);
        bytes_field(3, &record, &mut protobuf);
    }
    let mut out = KPL_MAGIC.to_vec();
    out.extend_from_slice(&protobuf);
    out.extend_from_slice(&md5::compute(&protobuf).0);
    out
}

/// Protobuf's base-128 varint of `value`, appended to `out`.
fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A length-delimited protobuf field (wire type 2), appended to `out`.
fn bytes_field(field: u64, bytes: &[u8], out: &mut Vec<u8>) {
    varint((field << 3) | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// At most the bytes [`kpl_aggregate`] adds to `count` user records of under 2 MiB each: what a
/// packer leaves room for under a record limit. (Magic, the key's field, the MD5; each record's
/// field tag and length, its index field, its data's tag and length.)
pub fn kpl_overhead(partition_key: &str, count: usize) -> usize {
    KPL_MAGIC.len() + 3 + partition_key.len() + MD5_LEN + count * 12
}

fn utf8(bytes: &[u8]) -> Result<String, PayloadError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| PayloadError::BadKplProtobuf("key is not UTF-8"))
}

/// `Record { 1: partition_key_index, 2: explicit_hash_key_index, 3: data, 4: tags }`.
fn parse_user_record(bytes: &[u8]) -> Result<(u64, Option<u64>, Vec<u8>), PayloadError> {
    let (mut pk_index, mut ehk_index, mut data) = (None, None, None);
    let mut fields = ProtoReader::new(bytes);
    while let Some((field, value)) = fields.next_field()? {
        match (field, value) {
            (1, ProtoValue::Varint(i)) => pk_index = Some(i),
            (2, ProtoValue::Varint(i)) => ehk_index = Some(i),
            (3, ProtoValue::Bytes(d)) => data = Some(d.to_vec()),
            (1..=3, _) => return Err(PayloadError::BadKplProtobuf("field of the wrong type")),
            _ => {}
        }
    }
    let pk_index = pk_index.ok_or(PayloadError::BadKplProtobuf("record without partition key"))?;
    let data = data.ok_or(PayloadError::BadKplProtobuf("record without data"))?;
    Ok((pk_index, ehk_index, data))
}

enum ProtoValue<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// Just enough of the protobuf wire format for the KPL messages.
struct ProtoReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ProtoReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, PayloadError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.pos)
                .ok_or(PayloadError::BadKplProtobuf("truncated varint"))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(PayloadError::BadKplProtobuf("varint longer than 10 bytes"))
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], PayloadError> {
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| self.pos.checked_add(len))
            .filter(|&end| end <= self.bytes.len())
            .ok_or(PayloadError::BadKplProtobuf("field runs past the end"))?;
        let bytes = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn next_field(&mut self) -> Result<Option<(u64, ProtoValue<'a>)>, PayloadError> {
        if self.pos == self.bytes.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => ProtoValue::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                ProtoValue::Fixed
            }
            2 => {
                let len = self.varint()?;
                ProtoValue::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                ProtoValue::Fixed
            }
            _ => return Err(PayloadError::BadKplProtobuf("unsupported wire type")),
        };
        Ok(Some((key >> 3, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// A KPL aggregate built by hand: partition keys, then records of (key index, data).
    fn aggregate(keys: &[&str], records: &[(u64, &[u8])]) -> Vec<u8> {
        let mut protobuf = Vec::new();
        for key in keys {
            bytes_field(1, key.as_bytes(), &mut protobuf);
        }
        for (index, data) in records {
            let mut record = Vec::new();
            varint(1 << 3, &mut record);
            varint(*index, &mut record);
            bytes_field(3, data, &mut record);
            bytes_field(3, &record, &mut protobuf);
        }
        let mut out = KPL_MAGIC.to_vec();
        out.extend_from_slice(&protobuf);
        out.extend_from_slice(&md5::compute(&protobuf).0);
        out
    }

    #[test]
    fn plain_and_gzip_text() {
        let text = b"line one\nline two\n";
        assert_eq!(
            decode_payload(text).unwrap().texts,
            [LogText::Lines(Cow::Borrowed(&text[..]))]
        );
        let gz = gzip(text);
        assert_eq!(
            decode_payload(&gz).unwrap().texts,
            [LogText::Lines(Cow::Owned(text.to_vec()))]
        );
    }

    #[test]
    fn cloudwatch_data_and_control_messages() {
        let data = br#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1,"message":"a\tb"},{"id":"2","timestamp":2,"message":"c"}]}"#;
        let gz = gzip(data);
        let decoded = decode_payload(&gz).unwrap();
        assert_eq!(
            decoded.texts,
            [LogText::Messages(vec!["a\tb".into(), "c".into()])]
        );
        let control = br#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}"#;
        let gz = gzip(control);
        let decoded = decode_payload(&gz).unwrap();
        assert!(decoded.texts.is_empty());
        assert_eq!(decoded.control_messages, 1);
        // keys in another order (a long event before `messageType`)
        let long = "x".repeat(1_000);
        let reordered = format!(
            r#"{{"logEvents":[{{"id":"1","timestamp":1,"message":"{long}"}}],"messageType":"DATA_MESSAGE"}}"#
        );
        let gz = gzip(reordered.as_bytes());
        let decoded = decode_payload(&gz).unwrap();
        assert_eq!(decoded.texts, [LogText::Messages(vec![long])]);
        let broken = br#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"#;
        assert!(matches!(
            decode_payload(&gzip(broken)),
            Err(PayloadError::BadCloudWatchEnvelope(_))
        ));
    }

    #[test]
    fn shipped_lines_carry_their_source_and_first_line() {
        let mut data = ship_header("web-1:/var/log/nginx/access.log#1a2b", 41);
        data.extend_from_slice(b"one\ntwo\n");
        let expected = LogText::Shipped {
            source: "web-1:/var/log/nginx/access.log#1a2b".into(),
            first_line: 41,
            lines: Cow::Borrowed(b"one\ntwo\n"),
        };
        assert_eq!(
            decode_payload(&data).unwrap().texts,
            std::slice::from_ref(&expected)
        );
        // a second section in the same record
        let mut two = data.clone();
        two.extend_from_slice(&ship_header("other#9", 3));
        two.extend_from_slice(b"three\n");
        let texts = decode_payload(&two).unwrap().texts;
        assert_eq!(texts[0], expected);
        let three = LogText::Shipped {
            source: "other#9".into(),
            first_line: 3,
            lines: Cow::Borrowed(b"three\n"),
        };
        assert_eq!(texts[1], three);
        // inside a KPL aggregate too, each user record with its own header
        let aggregate = kpl_aggregate("k", &[&data, b"plain\n"]);
        assert!(aggregate.len() <= data.len() + 6 + kpl_overhead("k", 2));
        assert_eq!(
            decode_payload(&aggregate).unwrap().texts,
            [expected, LogText::Lines(Cow::Owned(b"plain\n".to_vec()))]
        );
        for bad in [
            &b"\x1eloglake-ship 1 12 x"[..],
            b"\x1eloglake-ship 1 0 x\n",
            b"\x1eloglake-ship 1 7\n",
            b"\x1eloglake-ship 1 a b\n",
        ] {
            assert!(
                matches!(decode_payload(bad), Err(PayloadError::BadShipHeader(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn kpl_aggregates_nest_any_payload() {
        let gz = gzip(b"zipped line\n");
        let data = aggregate(&["a", "b"], &[(0, b"one\ntwo\n"), (1, &gz)]);
        let records = deaggregate(&data).unwrap().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].partition_key, "b");
        let decoded = decode_payload(&data).unwrap();
        assert_eq!(
            decoded.texts,
            [
                LogText::Lines(Cow::Owned(b"one\ntwo\n".to_vec())),
                LogText::Lines(Cow::Owned(b"zipped line\n".to_vec())),
            ]
        );
    }

    #[test]
    fn damaged_payloads_are_errors_never_panics() {
        let good = aggregate(&["k"], &[(0, b"x\n")]);
        let mut bad_md5 = good.clone();
        *bad_md5.last_mut().unwrap() ^= 1;
        assert_eq!(
            decode_payload(&bad_md5),
            Err(PayloadError::KplChecksumMismatch)
        );
        assert!(matches!(
            decode_payload(&aggregate(&["k"], &[(5, b"x")])),
            Err(PayloadError::BadKplProtobuf(_))
        ));
        // every truncation and every single-byte corruption: an error or a result, no panic
        for end in 0..good.len() {
            let _ = decode_payload(&good[..end]);
        }
        for i in 4..good.len() {
            let mut corrupt = good.clone();
            corrupt[i] = corrupt[i].wrapping_add(0x41);
            let _ = decode_payload(&corrupt);
        }
        let gz = gzip(b"some text that will be cut short\n");
        assert!(matches!(
            decode_payload(&gz[..gz.len() - 6]),
            Err(PayloadError::BadGzip(_))
        ));
    }

    #[test]
    fn gzip_bombs_are_refused() {
        let bomb = gzip(&vec![b'\n'; MAX_INFLATED_BYTES as usize + 1]);
        assert_eq!(decode_payload(&bomb), Err(PayloadError::GzipTooLarge));
        // Each of an aggregate's records within the limit, together beyond it: the limit is
        // the record's, not each gzip's.
        let quarter = gzip(&vec![b'\n'; MAX_INFLATED_BYTES as usize / 4]);
        let records = [(0, &quarter[..]); 4];
        assert_eq!(
            decode_payload(&aggregate(&["k"], &records)).map(|p| p.texts.len()),
            Ok(4)
        );
        let records = [(0, &quarter[..]); 5];
        assert_eq!(
            decode_payload(&aggregate(&["k"], &records)),
            Err(PayloadError::GzipTooLarge)
        );
    }
}
