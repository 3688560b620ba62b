//! The `access_logs` table: the one definition every other place (Parquet files, Glue columns,
//! Athena DDL, the JSON sent to Firehose) is generated from or checked against.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The table name users query.
pub const TABLE_NAME: &str = "access_logs";

/// One column of the table, with its Arrow type and the Athena (Hive DDL) type it maps to.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub athena_type: &'static str,
    pub nullable: bool,
    /// Partition columns live in the object path (`dt=…/hour=…`), not inside the Parquet files.
    pub partition: bool,
}

const fn column(name: &'static str, athena_type: &'static str, nullable: bool) -> Column {
    Column {
        name,
        athena_type,
        nullable,
        partition: false,
    }
}

/// Every column in table order: the data columns, then the partition columns `dt` and `hour`.
pub const COLUMNS: &[Column] = &[
    column("ts", "timestamp", false),
    column("client_ip", "string", false),
    column("remote_user", "string", true),
    column("method", "string", true),
    column("path", "string", true),
    column("query", "string", true),
    column("protocol", "string", true),
    column("status", "smallint", false),
    column("bytes_sent", "bigint", true),
    column("referrer", "string", true),
    column("user_agent", "string", true),
    column("ua_name", "string", false),
    column("ua_category", "string", false),
    column("ua_version", "string", false),
    column("ua_os", "string", false),
    column("ua_os_version", "string", false),
    column("ua_vendor", "string", false),
    column("is_bot", "boolean", false),
    column("request_time_ms", "double", true),
    column("vhost", "string", true),
    column("source", "string", false),
    column("source_line", "bigint", false),
    Column {
        name: "dt",
        athena_type: "string",
        nullable: false,
        partition: true,
    },
    Column {
        name: "hour",
        athena_type: "int",
        nullable: false,
        partition: true,
    },
];

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
}
