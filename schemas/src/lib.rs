//! The `access_logs` table, the contract every other part of loglake is built on: its columns,
//! declared once ([`with_access_log_columns`]), with their Arrow, Athena and Parquet forms, and
//! the fields of the rejects output. The other crates in this folder build on it: `decode`
//! (lines → rows), `lake` (rows → the Parquet lake), `stream` (rows → Firehose).

pub mod schema;

pub use schema::{
    arrow_type, file_schema, json_key, json_keys, Column, Storage, COLUMNS, REJECT_FIELDS,
    TABLE_NAME,
};
