//! The `access_logs` table: the one definition every other place (Parquet files, Glue columns,
//! Athena DDL, the JSON sent to Firehose) is generated from or checked against.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The table name users query.
pub const TABLE_NAME: &str = "access_logs";

/// The keys of a reject's JSON form (the rejects output, the rejects stream), in the order they
/// are written: the `rejects` table's columns.
pub const REJECT_FIELDS: [&str; 6] = [
    "source",
    "source_line",
    "reason",
    "raw",
    "raw_encoding",
    "raw_len",
];

/// One column of the table, with its Arrow type and the Athena (Hive DDL) type it maps to.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    /// Its key in the JSON rows sent to Firehose.
    pub json_key: &'static str,
    pub athena_type: &'static str,
    pub nullable: bool,
    /// Partition columns live in the object path (`dt=…/hour=…`), not inside the Parquet files.
    pub partition: bool,
    /// How the lake's Parquet files store it.
    pub storage: Storage,
}

/// How a column is stored in the lake's Parquet files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Storage {
    /// Long or varied values: the only ones worth compressing (zstd, when a file holds enough of
    /// them). The others are dictionary keys, booleans or delta-encoded counters that their
    /// encoding already packs to a few bits per row.
    pub compressed: bool,
    /// Increasing, nearly unique integers: delta encoding stores them in a few bits per row,
    /// where a dictionary would only be built to be thrown away. (Other numbers, byte counts and
    /// request times, repeat enough for a dictionary.)
    pub delta: bool,
    /// Min/max statistics, off for long, nearly unique strings: over them statistics never prune
    /// anything (every hour's file spans almost the whole range) and only make the footer bigger.
    pub statistics: bool,
}

/// The one declaration of the data columns, in table order: each column's name, its Athena
/// type, whether it may be null, how it is stored, and its key in the JSON rows sent to Firehose
/// (short: Firehose bills every byte it receives, and the template's OpenX SerDe maps each key
/// back to its column). It calls `$callback!` with the list, so
/// every place that needs the columns is generated from it: [`COLUMNS`] (and from it the Arrow
/// schema, the Glue and DDL checks), the batch builder's columns and their order, and the JSON
/// row keys ([`json_keys`]). The partition columns `dt` and `hour` follow them (in the JSON rows
/// they are not written: they are the start of `ts`).
///
/// Storage words: `zstd` (compressed), `delta` (delta-encoded, no dictionary), `no_statistics`.
#[macro_export]
macro_rules! with_access_log_columns {
    ($callback:ident) => {
        $callback! {
            ts: timestamp, required, [delta], t;
            client_ip: string, required, [zstd no_statistics], c;
            country: string, nullable, [], cc;
            asn: bigint, nullable, [], asn;
            as_org: string, nullable, [], aso;
            remote_user: string, nullable, [], u;
            method: string, nullable, [], m;
            path: string, nullable, [zstd no_statistics], p;
            query: string, nullable, [zstd no_statistics], q;
            is_static: boolean, nullable, [], st;
            protocol: string, nullable, [], v;
            status: smallint, required, [], s;
            bytes_sent: bigint, nullable, [zstd], b;
            referrer: string, nullable, [zstd no_statistics], r;
            user_agent: string, nullable, [zstd no_statistics], a;
            ua_name: string, required, [], an;
            ua_category: string, required, [], ac;
            ua_version: string, required, [no_statistics], av;
            ua_os: string, required, [], ao;
            ua_os_version: string, required, [no_statistics], aov;
            ua_vendor: string, required, [], ad;
            is_bot: boolean, required, [], bot;
            bot_name: string, nullable, [], bn;
            request_time_ms: double, nullable, [zstd], rt;
            vhost: string, nullable, [], h;
            extra_fields: string, nullable, [zstd no_statistics], x;
            source: string, required, [], src;
            source_line: bigint, required, [delta], ln;
        }
    };
}

/// `required`/`nullable` as a bool.
macro_rules! nullable {
    (required) => {
        false
    };
    (nullable) => {
        true
    };
}

/// A column's storage words as [`Storage`].
macro_rules! storage {
    ($($word:ident)*) => {{
        #[allow(unused_mut)]
        let mut storage = Storage {
            compressed: false,
            delta: false,
            statistics: true,
        };
        $(storage!(@ storage $word);)*
        storage
    }};
    (@ $storage:ident zstd) => {
        $storage.compressed = true
    };
    (@ $storage:ident delta) => {
        $storage.delta = true
    };
    (@ $storage:ident no_statistics) => {
        $storage.statistics = false
    };
}

macro_rules! declare_columns {
    ($($name:ident: $athena:ident, $null:ident, [$($storage:ident)*], $json:ident;)*) => {
        /// Every column in table order: the data columns, then the partition columns `dt` and
        /// `hour`.
        pub const COLUMNS: &[Column] = &[
            $(Column {
                name: stringify!($name),
                json_key: stringify!($json),
                athena_type: stringify!($athena),
                nullable: nullable!($null),
                partition: false,
                storage: storage!($($storage)*),
            },)*
            partition_column("dt", "string"),
            partition_column("hour", "int"),
        ];

        /// Each column's key in a JSON row, with the comma before it: `,"key":`. A row
        /// starts with `ts`'s, without the comma ([`json_keys::FIRST`]).
        #[allow(non_upper_case_globals)]
        pub mod json_keys {
            $(pub const $name: &[u8] = concat!(",\"", stringify!($json), "\":").as_bytes();)*
            /// The first column's key, opening the row's object.
            pub const FIRST: &[u8] = b"{\"t\":";
        }
    };
}

with_access_log_columns!(declare_columns);

const fn partition_column(name: &'static str, athena_type: &'static str) -> Column {
    Column {
        name,
        json_key: name,
        athena_type,
        nullable: false,
        partition: true,
        storage: Storage {
            compressed: false,
            delta: false,
            statistics: true,
        },
    }
}

/// The key of column `name` in the JSON rows sent to Firehose.
pub fn json_key(name: &str) -> &'static str {
    let column = COLUMNS.iter().find(|c| c.name == name);
    column
        .unwrap_or_else(|| panic!("no column {name}"))
        .json_key
}

/// The Arrow type of a column, derived from its Athena type so the two cannot disagree.
pub fn arrow_type(column: &Column) -> DataType {
    match column.athena_type {
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        "string" => DataType::Utf8,
        "smallint" => DataType::Int16,
        "int" => DataType::Int32,
        "bigint" => DataType::Int64,
        "double" => DataType::Float64,
        "boolean" => DataType::Boolean,
        other => unreachable!("column {} has unmapped Athena type {other}", column.name),
    }
}

/// The schema of the Parquet files: every column but the partition columns.
pub fn file_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(
                COLUMNS
                    .iter()
                    .filter(|c| !c.partition)
                    .map(|c| Field::new(c.name, arrow_type(c), c.nullable))
                    .collect::<Vec<_>>(),
            ))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_schema_is_the_contract_minus_partitions() {
        let names: Vec<_> = file_schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names.first().map(String::as_str), Some("ts"));
        assert_eq!(names.last().map(String::as_str), Some("source_line"));
        assert_eq!(names.len(), COLUMNS.len() - 2);
        let partitions: Vec<_> = COLUMNS
            .iter()
            .filter(|c| c.partition)
            .map(|c| c.name)
            .collect();
        assert_eq!(partitions, ["dt", "hour"]);
    }

    #[test]
    fn json_keys_are_the_declared_ones_and_distinct() {
        assert_eq!(json_keys::client_ip, b",\"c\":");
        assert_eq!(
            json_keys::FIRST,
            format!("{{\"{}\":", json_key("ts")).as_bytes()
        );
        assert_eq!(json_keys::source_line, b",\"ln\":");
        let mut keys: Vec<_> = COLUMNS.iter().map(|c| c.json_key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), COLUMNS.len(), "two columns share a JSON key");
        let storage = |name| COLUMNS.iter().find(|c| c.name == name).unwrap().storage;
        assert!(storage("ts").delta && !storage("ts").compressed);
        assert!(storage("path").compressed && !storage("path").statistics);
        assert!(storage("status").statistics && !storage("status").delta);
    }
}
