//! Lines → rows: the streaming [`Decoder`] (feed bytes, flush a batch), the row builders it
//! appends to (Arrow columns in the `access_logs` file schema by default), the chunking of one
//! source for parallel decoding ([`chunks`]), and a reject's JSON form ([`RejectRecord`]).

pub mod builder;
pub mod chunks;
pub mod decoder;
pub mod reject_record;

pub use builder::{AccessLogBatchBuilder, LineText, LossyUtf8, PaddedUserAgent, RowBuilder};
pub use decoder::{DecodedBatch, Decoder, DecoderOptions, Reject};
pub use reject_record::RejectRecord;
