//! The one `access_logs` schema and everything that turns parsed lines into it: Arrow batch
//! building ([`Decoder`]), the partitioned Parquet lake ([`LakeWriter`]), the JSON rows sent to
//! Firehose ([`JsonRowsBuilder`]) and their packing into requests ([`firehose`]), and the rejects
//! output.

pub mod builder;
pub mod chunks;
pub mod decoder;
pub mod firehose;
pub mod json;
pub mod lake;
pub mod parquet_file;
pub mod pipeline;
pub mod rejects;
pub mod schema;
pub mod stream;

pub use decoder::{DecodedBatch, Decoder, DecoderOptions, Reject};
pub use json::{JsonRows, JsonRowsBuilder};
pub use lake::{ExistingFiles, LakeError, LakeOptions, LakeWriteSummary, LakeWriter, TimeRange};
pub use parquet_file::{FileOptions, ParquetEncoder};
pub use pipeline::{
    decompressing_reader, ingest_stream, PipelineError, Progress, ProgressReader, SourceFailure,
    SourceOptions, SourceTotals,
};
pub use rejects::{RejectRecord, RejectsWriter, REJECT_FIELDS};
pub use schema::{file_schema, Column, COLUMNS, TABLE_NAME};
pub use stream::{StreamEncoder, StreamRecord, StreamSink, StreamStats, UserAgentColumns};
