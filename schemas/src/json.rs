//! Rows as JSON objects, the form Firehose turns into Parquet (OpenX JSON SerDe + the Glue
//! table): keys are exactly the table's column names, in table order, including the partition
//! columns `dt` and `hour`; `ts` is `yyyy-MM-ddTHH:mm:ss.ffffffZ`, a layout the OpenX SerDe reads.

use std::cell::RefCell;

use arrow::array::{
    Array, AsArray, BooleanArray, Float64Array, Int16Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{
    DataType, Float64Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
};
use loglake_parser::{write_rfc3339_micros, UtcHour};

use crate::schema::file_schema;

/// Writes rows of one batch (in the file schema) as JSON objects.
pub struct JsonRowWriter<'a> {
    ts: &'a TimestampMicrosecondArray,
    /// Each column once downcast, with its `"name":` key pre-rendered.
    columns: Vec<(String, TypedColumn<'a>)>,
    partition_suffix: RefCell<PartitionSuffix>,
}

/// `,"dt":"…","hour":N}` of the last hour written: rows of a batch share a few hours.
#[derive(Default)]
struct PartitionSuffix {
    hour: Option<UtcHour>,
    text: Vec<u8>,
}

/// A column downcast once per batch rather than once per value.
enum TypedColumn<'a> {
    Utf8(&'a StringArray),
    Timestamp(&'a TimestampMicrosecondArray),
    Int16(&'a Int16Array),
    Int32(&'a Int32Array),
    Int64(&'a Int64Array),
    Float64(&'a Float64Array),
    Boolean(&'a BooleanArray),
}

impl<'a> JsonRowWriter<'a> {
    pub fn new(batch: &'a RecordBatch) -> Self {
        debug_assert_eq!(batch.schema(), file_schema());
        let columns = batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(field, column)| {
                let typed = match column.data_type() {
                    DataType::Utf8 => TypedColumn::Utf8(column.as_string::<i32>()),
                    DataType::Timestamp(_, _) => {
                        TypedColumn::Timestamp(column.as_primitive::<TimestampMicrosecondType>())
                    }
                    DataType::Int16 => TypedColumn::Int16(column.as_primitive::<Int16Type>()),
                    DataType::Int32 => TypedColumn::Int32(column.as_primitive::<Int32Type>()),
                    DataType::Int64 => TypedColumn::Int64(column.as_primitive::<Int64Type>()),
                    DataType::Float64 => TypedColumn::Float64(column.as_primitive::<Float64Type>()),
                    DataType::Boolean => TypedColumn::Boolean(column.as_boolean()),
                    other => unreachable!("the file schema has no {other} column"),
                };
                (format!("\"{}\":", field.name()), typed)
            })
            .collect();
        Self {
            ts: batch.column(0).as_primitive::<TimestampMicrosecondType>(),
            columns,
            partition_suffix: RefCell::default(),
        }
    }

    pub fn num_rows(&self) -> usize {
        self.ts.len()
    }

    /// Appends row `row` as one JSON object (no newline); returns the hour it belongs to.
    pub fn write_row(&self, row: usize, out: &mut Vec<u8>) -> UtcHour {
        out.push(b'{');
        for (i, (key, column)) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key.as_bytes());
            column.write_value(row, out);
        }
        // The partition columns close the object, in table order.
        let hour = UtcHour::of_micros(self.ts.value(row));
        let mut suffix = self.partition_suffix.borrow_mut();
        if suffix.hour != Some(hour) {
            suffix.hour = Some(hour);
            suffix.text = format!(
                ",\"dt\":\"{}\",\"hour\":{}}}",
                hour.date_string(),
                hour.hour_of_day()
            )
            .into_bytes();
        }
        out.extend_from_slice(&suffix.text);
        hour
    }
}

impl TypedColumn<'_> {
    fn write_value(&self, row: usize, out: &mut Vec<u8>) {
        let is_null = match self {
            TypedColumn::Utf8(a) => a.is_null(row),
            TypedColumn::Timestamp(a) => a.is_null(row),
            TypedColumn::Int16(a) => a.is_null(row),
            TypedColumn::Int32(a) => a.is_null(row),
            TypedColumn::Int64(a) => a.is_null(row),
            TypedColumn::Float64(a) => a.is_null(row),
            TypedColumn::Boolean(a) => a.is_null(row),
        };
        if is_null {
            out.extend_from_slice(b"null");
            return;
        }
        match self {
            TypedColumn::Utf8(a) => write_json_string(a.value(row), out),
            TypedColumn::Timestamp(a) => {
                out.push(b'"');
                write_rfc3339_micros(a.value(row), out);
                out.push(b'"');
            }
            TypedColumn::Int16(a) => write_integer(i64::from(a.value(row)), out),
            TypedColumn::Int32(a) => write_integer(i64::from(a.value(row)), out),
            TypedColumn::Int64(a) => write_integer(a.value(row), out),
            TypedColumn::Float64(a) => {
                let value = a.value(row);
                if value.is_finite() {
                    out.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
                } else {
                    out.extend_from_slice(b"null");
                }
            }
            TypedColumn::Boolean(a) => {
                out.extend_from_slice(if a.value(row) { b"true" } else { b"false" })
            }
        }
    }
}

fn write_integer(value: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// A JSON string literal; the common case (nothing to escape) is a plain copy.
fn write_json_string(value: &str, out: &mut Vec<u8>) {
    if needs_json_escape(value.as_bytes()) {
        serde_json::to_writer(&mut *out, value).expect("writing to a Vec cannot fail");
    } else {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    }
}

/// Whether `bytes` holds a `"`, a `\\` or a control character, eight bytes at a time: rows are
/// mostly long strings (paths, referrers, user agents) with nothing to escape.
fn needs_json_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Exact for "is any byte below n" when n <= 0x80 (no false positives in the OR of lanes).
    let any_below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGH != 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let v = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        if any_below(v, 0x20) || any_below(v ^ (ONES * 0x22), 1) || any_below(v ^ (ONES * 0x5c), 1)
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b == b'"' || b == b'\\' || b < 0x20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoder::{Decoder, DecoderOptions};

    #[test]
    fn the_escape_check_agrees_with_a_byte_by_byte_one() {
        let slow = |b: &[u8]| b.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20);
        let alphabet: Vec<u8> = (0u8..=255).collect();
        for len in 0..24 {
            for (i, &special) in alphabet.iter().enumerate() {
                let mut bytes = vec![b'a'; len];
                if len > 0 {
                    bytes[i % len] = special;
                }
                assert_eq!(needs_json_escape(&bytes), slow(&bytes), "{bytes:?}");
            }
        }
        // bytes near the thresholds, in every lane
        for special in [
            0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff,
        ] {
            for lane in 0..16 {
                let mut bytes = vec![0xe9; 16];
                bytes[lane] = special;
                assert_eq!(needs_json_escape(&bytes), slow(&bytes), "{bytes:?}");
            }
        }
    }
    use crate::schema::COLUMNS;

    /// The JSON keys of a row, in order: every column of the table.
    fn json_keys() -> Vec<&'static str> {
        COLUMNS.iter().map(|c| c.name).collect()
    }

    #[test]
    fn rows_are_json_objects_keyed_by_the_table_columns() {
        let input = concat!(
            "10.0.0.1 - bob [10/Oct/2020:13:55:36 -0700] \"GET /a\\\"b?q=1 HTTP/1.1\" 200 512 \"-\" \"Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/118.0\" 0.125\n",
            "::1 - - [10/Oct/2020:23:59:59 +0000] \"-\" 408 - \"-\" \"-\"\n",
        );
        let mut decoder = Decoder::new("in.log", DecoderOptions::default());
        decoder.decode(input.as_bytes());
        let batch = decoder.flush().unwrap().rows;
        let writer = JsonRowWriter::new(&batch);
        let mut rows: Vec<serde_json::Map<String, serde_json::Value>> = Vec::new();
        for row in 0..writer.num_rows() {
            let mut out = Vec::new();
            writer.write_row(row, &mut out);
            let parsed: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&out).unwrap();
            // exactly the table's columns, written in table order
            let text = String::from_utf8(out).unwrap();
            let positions: Vec<usize> = json_keys()
                .iter()
                .map(|k| text.find(&format!("\"{k}\":")).unwrap())
                .collect();
            assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
            assert_eq!(parsed.len(), json_keys().len());
            rows.push(parsed);
        }
        let first = &rows[0];
        assert_eq!(first["ts"], "2020-10-10T20:55:36.000000Z");
        assert_eq!(first["dt"], "2020-10-10");
        assert_eq!(first["hour"], 20);
        assert_eq!(first["remote_user"], "bob");
        assert_eq!(first["path"], "/a\"b");
        assert_eq!(first["query"], "q=1");
        assert_eq!(first["status"], 200);
        assert_eq!(first["bytes_sent"], 512);
        assert_eq!(first["referrer"], serde_json::Value::Null);
        assert_eq!(first["ua_name"], "Firefox");
        assert_eq!(first["is_bot"], false);
        assert_eq!(first["request_time_ms"], 125.0);
        assert_eq!(first["source_line"], 1);
        let second = &rows[1];
        assert_eq!(second["method"], serde_json::Value::Null);
        assert_eq!(second["bytes_sent"], serde_json::Value::Null);
        assert_eq!(second["hour"], 23);
    }
}
