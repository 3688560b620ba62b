//! Rows as JSON objects, the form Firehose turns into Parquet (OpenX JSON SerDe + the Glue
//! table): keys are exactly the table's column names, in table order, including the partition
//! columns `dt` and `hour`; `ts` is `yyyy-MM-ddTHH:mm:ss.ffffffZ`, a layout the OpenX SerDe reads.

use std::cell::RefCell;
use std::io::Write;

use arrow::array::{
    Array, AsArray, BooleanArray, Float64Array, Int16Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{
    DataType, Float64Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
};
use loglake_parser::{format_rfc3339_micros, UtcHour};

use crate::schema::file_schema;

/// Writes rows of one batch (in the file schema) as JSON objects.
pub struct JsonRowWriter<'a> {
    ts: &'a TimestampMicrosecondArray,
    /// Each column once downcast, with its `"name":` key pre-rendered.
    columns: Vec<(String, TypedColumn<'a>)>,
    /// `,"dt":"…","hour":N}` of the last hour written: rows of a batch share a few hours.
    partition_suffix: RefCell<(Option<UtcHour>, String)>,
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
            partition_suffix: RefCell::new((None, String::new())),
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
        if suffix.0 != Some(hour) {
            *suffix = (
                Some(hour),
                format!(
                    ",\"dt\":\"{}\",\"hour\":{}}}",
                    hour.date_string(),
                    hour.hour_of_day()
                ),
            );
        }
        out.extend_from_slice(suffix.1.as_bytes());
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
                out.extend_from_slice(format_rfc3339_micros(a.value(row)).as_bytes());
                out.push(b'"');
            }
            TypedColumn::Int16(a) => write_integer(i64::from(a.value(row)), out),
            TypedColumn::Int32(a) => write_integer(i64::from(a.value(row)), out),
            TypedColumn::Int64(a) => write_integer(a.value(row), out),
            TypedColumn::Float64(a) => {
                let value = a.value(row);
                if value.is_finite() {
                    let _ = write!(out, "{value}");
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
    let _ = write!(out, "{value}");
}

/// A JSON string literal; the common case (nothing to escape) is a plain copy.
fn write_json_string(value: &str, out: &mut Vec<u8>) {
    let needs_escape = value.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
    if needs_escape {
        serde_json::to_writer(&mut *out, value).expect("writing to a Vec cannot fail");
    } else {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoder::{Decoder, DecoderOptions};
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
