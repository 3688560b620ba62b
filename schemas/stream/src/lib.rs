//! Rows for the real-time path: the Kinesis event read for its records ([`kinesis_event`]),
//! stream records (Kinesis payloads: plain, gzip, CloudWatch Logs, KPL) decoded straight into
//! JSON rows ([`StreamEncoder`], [`json`]) or Arrow batches for the lake writer, and JSON rows
//! packed into Firehose records and requests within its limits ([`firehose`]).

pub mod firehose;
pub mod json;
pub mod kinesis_event;
pub mod stream;

pub use json::{JsonRows, JsonRowsBuilder};
pub use kinesis_event::{EventError, KinesisBatch, KinesisBatchRecord, KinesisEventText};
/// A column's key in the JSON rows (for readers of the rows: tests, tools).
pub use loglake_schema::json_key;
pub use stream::{
    EncodedRows, RowsSink, StreamEncoder, StreamRecord, StreamSink, StreamStats, UserAgentColumns,
};
