//! Rows → the partitioned Parquet lake: `ROOT/access_logs/dt=YYYY-MM-DD/hour=HH/*.parquet`
//! ([`LakeWriter`], one sorted file per hour and source, written by [`parquet_file`]), the
//! rejects output beside it ([`RejectsWriter`]), and the pipeline that reads a source (plain,
//! gzip or zstd) through decoders on several threads into both ([`ingest_stream`]).

pub mod lake;
pub mod merge;
pub mod parquet_file;
pub mod pipeline;
pub mod rejects;

pub use lake::{ExistingFiles, LakeError, LakeOptions, LakeWriteSummary, LakeWriter, TimeRange};
pub use merge::{merge_files, read_origins, MergeSummary, RowOrigins, StreamHulls};
pub use parquet_file::{FileOptions, ParquetEncoder};
pub use pipeline::{
    decompressing_reader, ingest_stream, PipelineError, Progress, ProgressReader, SourceFailure,
    SourceOptions, SourceTotals,
};
pub use rejects::{RejectsWriter, REJECTS_DIR};
