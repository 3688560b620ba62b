//! Rows as JSON objects, the form Firehose turns into Parquet (OpenX JSON SerDe + the Glue
//! table): keys are exactly the table's column names, in table order, including the partition
//! columns `dt` and `hour`; `ts` is `yyyy-MM-ddTHH:mm:ss.ffffffZ`, a layout the OpenX SerDe reads.

use std::io::Write;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Float64Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType,
};
use loglake_parser::{format_rfc3339_micros, UtcHour};

use crate::schema::file_schema;

/// Writes rows of one batch (in the file schema) as JSON objects.
pub struct JsonRowWriter<'a> {
    batch: &'a RecordBatch,
    /// `"name":` for each file-schema column, pre-rendered.
    keys: Vec<String>,
}

impl<'a> JsonRowWriter<'a> {
    pub fn new(batch: &'a RecordBatch) -> Self {
        debug_assert_eq!(batch.schema(), file_schema());
        let keys = batch
            .schema()
            .fields()
            .iter()
            .map(|f| format!("\"{}\":", f.name()))
            .collect();
        Self { batch, keys }
    }

    pub fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Appends row `row` as one JSON object (no newline).
    pub fn write_row(&self, row: usize, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, column) in self.batch.columns().iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(self.keys[i].as_bytes());
            write_value(column.as_ref(), row, out);
        }
        let ts = self
            .batch
            .column(0)
            .as_primitive::<TimestampMicrosecondType>();
        let hour = UtcHour::of_micros(ts.value(row));
        // The partition columns close the object, in table order.
        let _ = write!(
            out,
            ",\"dt\":\"{}\",\"hour\":{}}}",
            hour.date_string(),
            hour.hour_of_day()
        );
    }
}

fn write_value(column: &dyn Array, row: usize, out: &mut Vec<u8>) {
    if column.is_null(row) {
        out.extend_from_slice(b"null");
        return;
    }
    match column.data_type() {
        DataType::Utf8 => write_json_string(column.as_string::<i32>().value(row), out),
        DataType::Timestamp(_, _) => {
            let micros = column.as_primitive::<TimestampMicrosecondType>().value(row);
            out.push(b'"');
            out.extend_from_slice(format_rfc3339_micros(micros).as_bytes());
            out.push(b'"');
        }
        DataType::Int16 => {
            let _ = write!(out, "{}", column.as_primitive::<Int16Type>().value(row));
        }
        DataType::Int32 => {
            let _ = write!(out, "{}", column.as_primitive::<Int32Type>().value(row));
        }
        DataType::Int64 => {
            let _ = write!(out, "{}", column.as_primitive::<Int64Type>().value(row));
        }
        DataType::Float64 => {
            let value = column.as_primitive::<Float64Type>().value(row);
            if value.is_finite() {
                let _ = write!(out, "{value}");
            } else {
                out.extend_from_slice(b"null");
            }
        }
        DataType::Boolean => {
            let value = column.as_boolean().value(row);
            out.extend_from_slice(if value { b"true" } else { b"false" });
        }
        other => unreachable!("the file schema has no {other} column"),
    }
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
