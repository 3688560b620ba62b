//! `loglake ship`'s library: the first mile from log files to the stream or the lake.
//!
//! - [`follow`]: files matching globs followed as `tail -F` does (rotation by rename or by copy
//!   and truncate, new files, files that go and come back), read as whole lines;
//! - [`checkpoint`]: where each file's shipped lines end, saved atomically once the records
//!   holding them are acknowledged, so that a restart after a crash resumes there;
//! - [`records`]: lines packed into Kinesis records the ingest function reads (each framed with
//!   its file and first line number, newline-packed or KPL-aggregated) and records into
//!   `PutRecords` batches within Kinesis's limits.
//!
//! Nothing here talks to AWS or sleeps: the command (`src/ship.rs`) drives it.

pub mod checkpoint;
pub mod follow;
pub mod records;

pub use checkpoint::{Checkpoints, Position};
pub use follow::{Chunk, FollowOptions, Follower};
pub use records::{Batch, PackedRecord, RecordFormat, RecordPacker};
