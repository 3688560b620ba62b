//! Rows as JSON objects, the form Firehose turns into Parquet (OpenX JSON SerDe + the Glue
//! table): keys are the columns' short JSON keys (declared with the columns; the template's
//! `ColumnToJsonKeyMappings` maps them back), in table order; a null value is left out (the SerDe
//! reads a missing key as null, and Firehose bills every byte); `ts` is
//! `yyyy-MM-ddTHH:mm:ss.ffffffZ`, a layout the OpenX SerDe reads. The partition columns `dt` and
//! `hour` are not written: they are the first characters of `ts`, which is where the template's
//! partitioning query takes them from (the Parquet files do not store them either).
//!
//! The real-time path never needs Arrow columns, so [`JsonRowsBuilder`] writes each parsed line
//! straight to JSON. A test holds it to the schema: its rows must be byte-for-byte what a
//! schema-driven rendering of the decoder's Arrow batch gives for the same lines.

use std::borrow::Cow;

use loglake_decode::{LineText, LossyUtf8, RowBuilder};
use loglake_parser::enrich::is_static_path;
use loglake_parser::{
    write_rfc3339_micros, AccessLine, CachedUserAgent, ClientOrigin, Text, UserAgentInfo, UtcHour,
};
use loglake_schema::json_keys as key;

use crate::firehose::{MAX_RECORD_BYTES, MAX_ROWS_PER_RECORD};

/// JSON rows, each followed by a newline in `text` (NDJSON, as Firehose records carry them), as
/// a [`loglake_decode::Decoder`] made with [`JsonRowsBuilder`] flushes them.
#[derive(Debug, Default)]
pub struct JsonRows {
    text: Vec<u8>,
    /// Where each row ends in `text` (its newline).
    ends: Vec<usize>,
    hours: Vec<UtcHour>,
    /// The earliest `ts` among the rows (µs since the epoch).
    pub oldest_ts_micros: Option<i64>,
}

impl JsonRows {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Each row (a JSON object, no newline) with the UTC hour it belongs to, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], UtcHour)> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|end| end + 1));
        starts
            .zip(&self.ends)
            .zip(&self.hours)
            .map(|((start, &end), &hour)| (&self.text[start..end], hour))
    }

    /// The length of [`JsonRows::into_ndjson`].
    pub fn ndjson_len(&self) -> usize {
        self.text.len()
    }

    /// The rows as NDJSON text: each row followed by a newline.
    pub fn into_ndjson(self) -> Vec<u8> {
        self.text
    }
}

/// A user agent's columns rendered once, from `,"user_agent":` to `"bot_name":…`: what the
/// decoder's cache keeps for [`JsonRowsBuilder`], so a row copies them instead of writing eight
/// fields.
pub struct UserAgentJson {
    text: Box<[u8]>,
    /// Where `,"ua_name":` starts: a row without an agent writes the rest from here (its
    /// classification is the empty agent's).
    classification_start: usize,
    /// The agent was not UTF-8 and is decoded lossily.
    lossy: bool,
}

impl CachedUserAgent for UserAgentJson {
    fn new(agent: &[u8], ua: UserAgentInfo) -> Self {
        let mut out = Vec::with_capacity(2 * agent.len() + 160);
        out.extend_from_slice(key::user_agent);
        let text = String::from_utf8_lossy(agent);
        write_json_string(&text, &mut out);
        let classification_start = out.len();
        for (key, value) in [
            (key::ua_name, &ua.name),
            (key::ua_category, &ua.category),
            (key::ua_version, &ua.version),
            (key::ua_os, &ua.os),
            (key::ua_os_version, &ua.os_version),
            (key::ua_vendor, &ua.vendor),
        ] {
            out.extend_from_slice(key);
            write_json_string(value, &mut out);
        }
        out.extend_from_slice(key::is_bot);
        out.extend_from_slice(if ua.is_bot { b"true" } else { b"false" });
        if let Some(name) = &ua.bot_name {
            out.extend_from_slice(key::bot_name);
            write_json_string(name, &mut out);
        }
        Self {
            text: out.into_boxed_slice(),
            classification_start,
            lossy: matches!(text, Cow::Owned(_)),
        }
    }
}

/// A batch of JSON rows ends once its text reaches this size (or it has
/// [`MAX_ROWS_PER_RECORD`] rows), so a whole batch makes one Firehose record ([`crate::firehose::RecordPacker::push_record`]: no copy) as long as its last
/// row is under 64 KiB, and stays in a core's cache while it is written and packed.
pub const BATCH_TEXT_BYTES: usize = MAX_RECORD_BYTES - 64 * 1024;

/// Writes parsed lines as JSON rows (see the module documentation).
#[derive(Default)]
pub struct JsonRowsBuilder {
    rows: JsonRows,
    /// Rows given back by [`RowBuilder::recycle`]: a batch's text is megabytes, and fresh memory
    /// costs a page fault per 4 KiB.
    spare: Option<JsonRows>,
    /// The text of the last hour written: a batch's rows share a few hours.
    hour_text: Option<HourText>,
    /// The last row's `source` and its JSON string: a Kinesis record's rows share one.
    source: String,
    source_json: Vec<u8>,
}

/// What the JSON of rows in one UTC hour shares.
struct HourText {
    hour: UtcHour,
    /// `{"ts":"YYYY-MM-DDTHH:`
    row_start: Vec<u8>,
}

impl HourText {
    fn new(hour: UtcHour) -> Self {
        let mut row_start = key::FIRST.to_vec();
        row_start.push(b'"');
        write_rfc3339_micros(hour.hours_since_epoch * MICROS_PER_HOUR, &mut row_start);
        // keep `…THH:`, drop `00:00.000000Z`
        row_start.truncate(row_start.len() - "00:00.000000Z".len());
        Self { hour, row_start }
    }
}

const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// `MM:SS.ffffffZ"` of a time `micros_in_hour` into its hour, as `write_rfc3339_micros` ends it.
fn write_minutes_to_micros(micros_in_hour: u64, out: &mut Vec<u8>) {
    let mut text = *b"00:00.000000Z\"";
    let digit = |value: u64| b'0' + (value % 10) as u8;
    let (minute, second) = (micros_in_hour / 60_000_000, micros_in_hour / 1_000_000 % 60);
    text[0] = digit(minute / 10);
    text[1] = digit(minute);
    text[3] = digit(second / 10);
    text[4] = digit(second);
    let mut micros = micros_in_hour % 1_000_000;
    for place in text[6..12].iter_mut().rev() {
        *place = digit(micros);
        micros /= 10;
    }
    out.extend_from_slice(&text);
}

impl RowBuilder for JsonRowsBuilder {
    type UserAgent = UserAgentJson;
    type Rows = JsonRows;

    fn with_capacity(rows: usize) -> Self {
        let mut builder = Self::default();
        // Room for the batch and the row that crosses the limit, so the text never regrows
        // (and is copied) in the usual case.
        builder.rows.text.reserve(MAX_RECORD_BYTES);
        builder.rows.ends.reserve(rows);
        builder.rows.hours.reserve(rows);
        builder
    }

    fn append(
        &mut self,
        raw_line: &[u8],
        line: &AccessLine<'_>,
        extra_fields: Option<&[u8]>,
        origin: ClientOrigin,
        ua: &UserAgentJson,
        source: &str,
        source_line: i64,
    ) -> Result<(), LossyUtf8> {
        let text = LineText::new(raw_line);
        let out = &mut self.rows.text;
        // Escaping at most doubles a field, but for control bytes (six-fold): a first guess.
        let extra_len = extra_fields.map_or(0, <[u8]>::len);
        out.reserve(2 * (raw_line.len() + extra_len) + ua.text.len() + source.len() + 256);
        let mut valid = true;
        let hour = UtcHour::of_micros(line.ts_micros);
        let hour_text = match &mut self.hour_text {
            Some(text) if text.hour == hour => text,
            slot => slot.insert(HourText::new(hour)),
        };
        out.extend_from_slice(&hour_text.row_start);
        write_minutes_to_micros(
            (line.ts_micros - hour.hours_since_epoch * MICROS_PER_HOUR) as u64,
            out,
        );
        valid &= write_field(&text, key::client_ip, Some(line.client), out);
        if let Some(country) = origin.country {
            out.extend_from_slice(key::country);
            write_json_string(country.as_str(), out);
        }
        if let Some(network) = origin.network {
            out.extend_from_slice(key::asn);
            write_integer(i64::from(network.asn), out);
            out.extend_from_slice(key::as_org);
            write_json_string(network.organisation, out);
        }
        valid &= write_field(&text, key::remote_user, line.remote_user, out);
        valid &= write_field(&text, key::method, line.method, out);
        valid &= write_unescaped(&text, key::path, line.path, out);
        valid &= write_unescaped(&text, key::query, line.query, out);
        if let Some(path) = line.path {
            out.extend_from_slice(key::is_static);
            out.extend_from_slice(if is_static_path(path.bytes) {
                b"true"
            } else {
                b"false"
            });
        }
        valid &= write_field(&text, key::protocol, line.protocol, out);
        out.extend_from_slice(key::status);
        write_integer(i64::from(line.status), out);
        if let Some(bytes_sent) = line.bytes_sent {
            out.extend_from_slice(key::bytes_sent);
            write_integer(bytes_sent, out);
        }
        valid &= write_unescaped(&text, key::referrer, line.referrer, out);
        match line.user_agent {
            Some(_) => {
                out.extend_from_slice(&ua.text);
                valid &= !ua.lossy;
            }
            None => out.extend_from_slice(&ua.text[ua.classification_start..]),
        }
        if let Some(ms) = line.request_time_ms.filter(|ms| ms.is_finite()) {
            out.extend_from_slice(key::request_time_ms);
            write_float(ms, out);
        }
        valid &= write_field(&text, key::vhost, line.vhost, out);
        valid &= write_field(&text, key::extra_fields, extra_fields, out);
        out.extend_from_slice(key::source);
        if self.source != source {
            source.clone_into(&mut self.source);
            self.source_json.clear();
            write_json_string(source, &mut self.source_json);
        }
        out.extend_from_slice(&self.source_json);
        out.extend_from_slice(key::source_line);
        write_integer(source_line, out);
        out.push(b'}');
        self.rows.ends.push(out.len());
        out.push(b'\n');
        self.rows.hours.push(hour);
        let oldest = &mut self.rows.oldest_ts_micros;
        *oldest = Some(oldest.map_or(line.ts_micros, |t| t.min(line.ts_micros)));
        if valid {
            Ok(())
        } else {
            Err(LossyUtf8)
        }
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn is_full(&self) -> bool {
        self.rows.text.len() >= BATCH_TEXT_BYTES || self.rows.len() >= MAX_ROWS_PER_RECORD
    }

    fn finish(&mut self) -> JsonRows {
        let rows = self.rows.len();
        let mut next = self.spare.take().unwrap_or_default();
        if next.text.capacity() < MAX_RECORD_BYTES {
            // A new block: growing the spare would copy its old bytes (`realloc` does not know
            // they are stale).
            next.text = Vec::with_capacity(MAX_RECORD_BYTES);
        }
        next.ends.reserve(rows);
        next.hours.reserve(rows);
        std::mem::replace(&mut self.rows, next)
    }

    fn recycle(&mut self, mut rows: JsonRows) {
        rows.text.clear();
        rows.ends.clear();
        rows.hours.clear();
        rows.oldest_ts_micros = None;
        self.spare = Some(rows);
    }
}

/// A field of the line as `,"key":"value"`, left out when absent (the OpenX JSON SerDe reads a
/// missing key as null, and Firehose bills every byte); false when it had to be decoded lossily.
fn write_field(line: &LineText<'_>, key: &[u8], field: Option<&[u8]>, out: &mut Vec<u8>) -> bool {
    let Some(field) = field else {
        return true;
    };
    out.extend_from_slice(key);
    let (text, valid) = line.text(field);
    write_json_string(&text, out);
    valid
}

fn write_unescaped(
    line: &LineText<'_>,
    key: &[u8],
    field: Option<Text<'_>>,
    out: &mut Vec<u8>,
) -> bool {
    match field {
        None => true,
        // Borrowed (the usual case) still points into the line, so its text is not checked again.
        Some(text) => write_field(line, key, Some(&text.unescaped()), out),
    }
}

/// A finite number as JSON (the caller leaves out the others: JSON has no NaN or infinity).
fn write_float(value: f64, out: &mut Vec<u8>) {
    out.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
}

fn write_integer(value: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// A JSON string literal.
fn write_json_string(value: &str, out: &mut Vec<u8>) {
    loglake_parser::json::write_string(value.as_bytes(), out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use loglake_decode::{Decoder, DecoderOptions};

    use arrow::array::{Array, AsArray, RecordBatch};
    use arrow::datatypes::{DataType, Int16Type, Int64Type, TimestampMicrosecondType};

    use loglake_schema::COLUMNS;

    /// The oracle: row `row` of a decoder's Arrow batch rendered column by column under the
    /// columns' JSON keys, then the partition columns: what every Firehose row must be.
    fn arrow_row_json(batch: &RecordBatch, row: usize) -> Vec<u8> {
        let mut out = vec![b'{'];
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let not_finite = (column.data_type() == &DataType::Float64)
                .then(|| column.as_primitive::<arrow::datatypes::Float64Type>())
                .is_some_and(|floats| !floats.value(row).is_finite());
            if column.is_null(row) || not_finite {
                continue;
            }
            if out.len() > 1 {
                out.push(b',');
            }
            write_json_string(loglake_schema::json_key(field.name()), &mut out);
            out.push(b':');
            match column.data_type() {
                DataType::Utf8 => write_json_string(column.as_string::<i32>().value(row), &mut out),
                DataType::Timestamp(_, _) => {
                    let ts = column.as_primitive::<TimestampMicrosecondType>().value(row);
                    out.push(b'"');
                    write_rfc3339_micros(ts, &mut out);
                    out.push(b'"');
                }
                DataType::Int16 => {
                    let value = column.as_primitive::<Int16Type>().value(row);
                    write_integer(value.into(), &mut out)
                }
                DataType::Int64 => {
                    write_integer(column.as_primitive::<Int64Type>().value(row), &mut out)
                }
                DataType::Float64 => write_float(
                    column
                        .as_primitive::<arrow::datatypes::Float64Type>()
                        .value(row),
                    &mut out,
                ),
                DataType::Boolean => out.extend_from_slice(match column.as_boolean().value(row) {
                    true => b"true",
                    false => b"false",
                }),
                other => panic!("the file schema has no {other} column"),
            }
        }
        out.push(b'}');
        out
    }

    /// `input` through the JSON decoder, and through the Arrow decoder and the oracle.
    fn both_ways(input: &[u8], options: DecoderOptions) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let mut json = Decoder::<JsonRowsBuilder>::with_row_builder("in.log", options);
        let mut arrow = Decoder::new("in.log", options);
        let (mut direct, mut via_arrow) = (Vec::new(), Vec::new());
        let mut rest = input;
        while !rest.is_empty() {
            // The JSON decoder may end a batch early, by its text's size (`BATCH_TEXT_BYTES`).
            let used = json.decode(rest);
            assert_eq!(arrow.decode(&rest[..used]), used);
            rest = &rest[used..];
            json.finish(false);
            arrow.finish(false);
            if let (Some(j), Some(a)) = (json.flush(), arrow.flush()) {
                assert_eq!(j.lossy_utf8_rows, a.lossy_utf8_rows);
                assert_eq!(j.rejects, a.rejects);
                assert_eq!(j.lines_in, a.lines_in);
                assert_eq!(
                    j.rows.oldest_ts_micros,
                    ts_min(&a.rows),
                    "the oldest event time"
                );
                let ndjson: Vec<u8> = j
                    .rows
                    .iter()
                    .flat_map(|(row, _)| [row, b"\n"].concat())
                    .collect();
                assert!(ndjson.len() <= MAX_RECORD_BYTES);
                assert!(j.rows.len() <= MAX_ROWS_PER_RECORD);
                assert_eq!(j.rows.ndjson_len(), ndjson.len());
                let hours: Vec<UtcHour> = j.rows.iter().map(|(_, hour)| hour).collect();
                direct.extend(j.rows.iter().map(|(row, _)| row.to_vec()));
                assert_eq!(j.rows.into_ndjson(), ndjson, "rows, each with its newline");
                via_arrow.extend((0..a.rows.num_rows()).map(|row| arrow_row_json(&a.rows, row)));
                let expected_hours: Vec<UtcHour> = a
                    .rows
                    .column(0)
                    .as_primitive::<TimestampMicrosecondType>()
                    .values()
                    .iter()
                    .map(|&t| UtcHour::of_micros(t))
                    .collect();
                assert_eq!(hours, expected_hours);
            }
        }
        (direct, via_arrow)
    }

    fn ts_min(batch: &RecordBatch) -> Option<i64> {
        let ts = batch.column(0).as_primitive::<TimestampMicrosecondType>();
        ts.values().iter().copied().min()
    }

    #[test]
    fn an_hours_start_and_the_time_into_it_make_the_rfc3339_timestamp() {
        let mut ts: i64 = -2_000_000_000_000_000; // 1906
        while ts < 4_102_444_800_000_000 {
            let hour = UtcHour::of_micros(ts);
            let mut ours = HourText::new(hour).row_start;
            write_minutes_to_micros(
                (ts - hour.hours_since_epoch * MICROS_PER_HOUR) as u64,
                &mut ours,
            );
            let mut expected = format!("{{\"{}\":\"", loglake_schema::json_key("ts")).into_bytes();
            write_rfc3339_micros(ts, &mut expected);
            expected.push(b'"');
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(expected).unwrap()
            );
            ts += 987_654_321_013; // about 11 days and a few odd microseconds
        }
    }

    #[test]
    fn json_rows_are_the_arrow_rows_rendered_by_the_schema() {
        let sample = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../sample/access.log"
        ))
        .expect("the bundled sample log");
        let odd = [
            &b"10.0.0.1 - bob [10/Oct/2020:13:55:36 -0700] \"GET /a\\\"b?q=1\\\\ HTTP/1.1\" 200 512 \"-\" \"Mozilla/5.0 \\\"quoted\\\"\" 0.125\r\n"[..],
            b"::1 - - [10/Oct/2020:23:59:59 +0000] \"-\" 408 - \"-\" \"-\"\n",
            b"www.example.com:443 10.0.0.2 - - [11/Oct/2020:00:00:00 +0000] \"POST /\xff\xfe\x01 HTTP/1.0\" 500 0 \"http://r\xe9f\" \"bot\xc3\"\n",
            b"unix: - - [11/Oct/2020:00:00:01 +0000] \"\x16\x03\x01\x00\" 400 157 \"-\" \"\"\n",
            b"10.0.0.3 - - [11/Oct/2020:00:00:02 +0000] \"GET /t\tab HTTP/1.1\" 200 1 \"-\" \"curl/8.0\" 12345\n",
            b"not a log line at all\n",
            b"10.0.0.4 - - [30/Feb/2020:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n",
            // other formats' fields in `extra_fields`: escapes, a tab, bytes that are not UTF-8
            b"h2 2020-10-11T00:00:03.5Z app/lb/1 10.0.0.5:1 10.0.0.6:80 0.001 0.002 0.000 200 200 1 2 \"GET https://h:443/ HTTP/2.0\" \"ua\" AES\t\xff TLSv1.3 arn \"Root=\\\"1\\\"\" \"h.example\" \"-\" 0 new\n",
            b"#Fields: date time cs-method cs-uri-stem sc-status c-ip s-port x-\"odd\"\n",
            b"2020-10-11 00:00:04 GET /w 200 10.0.0.7 443 \xe9\n",
        ]
        .concat();
        for (input, batch_size) in [(&sample, 8_192), (&sample, 7), (&odd, 3)] {
            let options = DecoderOptions {
                batch_size,
                keep_extra_fields: true,
                ..Default::default()
            };
            let (direct, via_arrow) = both_ways(input, options);
            assert!(!direct.is_empty());
            assert_eq!(direct.len(), via_arrow.len());
            if input == &odd {
                let text = String::from_utf8_lossy(&direct.concat()).into_owned();
                assert!(text.contains(r#""x":"{\"type\":\"h2\""#), "{text}");
                assert!(text.contains(r#""x":"{\"s-port\":\"443\""#), "{text}");
            }
            for (d, a) in direct.iter().zip(&via_arrow) {
                assert_eq!(
                    String::from_utf8_lossy(d),
                    String::from_utf8_lossy(a),
                    "batch size {batch_size}"
                );
            }
        }
    }

    #[test]
    fn rows_are_json_objects_keyed_by_the_columns_json_keys_without_nulls() {
        let input = concat!(
            "10.0.0.1 - bob [10/Oct/2020:13:55:36 -0700] \"GET /a\\\"b?q=1 HTTP/1.1\" 200 512 \"-\" \"Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/118.0\" 0.125\n",
            "::1 - - [10/Oct/2020:23:59:59 +0000] \"-\" 408 - \"-\" \"-\"\n",
        );
        let mut decoder =
            Decoder::<JsonRowsBuilder>::with_row_builder("in.log", DecoderOptions::default());
        decoder.decode(input.as_bytes());
        let batch = decoder.flush().unwrap().rows;
        let mut rows: Vec<serde_json::Map<String, serde_json::Value>> = Vec::new();
        for (row, _) in batch.iter() {
            let parsed: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(row).unwrap();
            // the table's columns, in table order: every required one, a nullable one when it
            // has a value (a missing key reads as null)
            let text = std::str::from_utf8(row).unwrap();
            let positions: Vec<usize> = (COLUMNS.iter())
                .filter_map(|c| text.find(&format!("\"{}\":", c.json_key)))
                .collect();
            assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
            assert_eq!(positions.len(), parsed.len());
            for column in COLUMNS {
                let value = parsed.get(column.json_key);
                if column.partition {
                    assert_eq!(value, None, "the partitions are not written: {text}");
                    continue;
                }
                assert!(
                    value.is_some() || column.nullable,
                    "{} missing: {text}",
                    column.name
                );
                assert_ne!(value, Some(&serde_json::Value::Null), "{text}");
            }
            rows.push(parsed);
        }
        let column = |row: &serde_json::Map<String, serde_json::Value>, name| {
            row.get(loglake_schema::json_key(name)).cloned()
        };
        let first = &rows[0];
        assert_eq!(column(first, "ts").unwrap(), "2020-10-10T20:55:36.000000Z");
        assert_eq!(column(first, "remote_user").unwrap(), "bob");
        assert_eq!(column(first, "path").unwrap(), "/a\"b");
        assert_eq!(column(first, "query").unwrap(), "q=1");
        assert_eq!(column(first, "status").unwrap(), 200);
        assert_eq!(column(first, "bytes_sent").unwrap(), 512);
        assert_eq!(column(first, "referrer"), None);
        assert_eq!(column(first, "ua_name").unwrap(), "Firefox");
        assert_eq!(column(first, "is_bot").unwrap(), false);
        assert_eq!(column(first, "request_time_ms").unwrap(), 125.0);
        assert_eq!(column(first, "source_line").unwrap(), 1);
        let second = &rows[1];
        assert_eq!(column(second, "method"), None);
        assert_eq!(column(second, "bytes_sent"), None);
        assert_eq!(column(second, "ts").unwrap(), "2020-10-10T23:59:59.000000Z");
    }
}
