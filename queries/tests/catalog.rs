//! The reports and DDL on disk agree with the code: every file is listed, and the DDL's
//! columns are the Arrow schema's.

use std::path::Path;

use loglake_queries::{DDL, REPORTS};
use loglake_schema::COLUMNS;

#[test]
fn every_report_file_is_listed_and_every_listed_report_exists() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = REPORTS.iter().map(|r| r.name.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
    for name in [
        "traffic_by_hour",
        "status_by_hour",
        "top_paths",
        "browsers",
        "bots",
    ] {
        assert!(listed.iter().any(|l| l == name), "{name} is required");
    }
}

/// `(name, type)` of each column in a DDL column list.
type Columns = Vec<(String, String)>;

/// The column list of a `CREATE EXTERNAL TABLE`, then that of its `PARTITIONED BY`.
fn ddl_columns(ddl: &str) -> (Columns, Columns) {
    let parse = |list: &str| -> Columns {
        list.split(',')
            .map(|c| {
                let mut parts = c.split_whitespace();
                let name = parts.next().unwrap().trim_matches('`').to_string();
                (name, parts.next().unwrap().to_string())
            })
            .collect()
    };
    let create = ddl.find("CREATE EXTERNAL TABLE").unwrap();
    let open = create + ddl[create..].find('(').unwrap();
    let close = ddl.find("\n)").unwrap();
    let partitions_start = ddl.find("PARTITIONED BY (").unwrap() + "PARTITIONED BY (".len();
    let partitions_end = partitions_start + ddl[partitions_start..].find(')').unwrap();
    (
        parse(&ddl[open + 1..close]),
        parse(&ddl[partitions_start..partitions_end]),
    )
}

#[test]
fn the_access_logs_ddl_is_the_arrow_schema() {
    let ddl = DDL
        .iter()
        .find(|(name, _)| *name == "access_logs")
        .unwrap()
        .1;
    let (columns, partitions) = ddl_columns(ddl);
    let expected: Vec<(String, String)> = COLUMNS
        .iter()
        .filter(|c| !c.partition)
        .map(|c| (c.name.to_string(), c.athena_type.to_string()))
        .collect();
    assert_eq!(columns, expected);
    let expected_partitions: Vec<(String, String)> = COLUMNS
        .iter()
        .filter(|c| c.partition)
        .map(|c| (c.name.to_string(), c.athena_type.to_string()))
        .collect();
    assert_eq!(partitions, expected_partitions);
    // partition projection: no MSCK REPAIR, ever
    for property in [
        "'projection.enabled' = 'true'",
        "'projection.dt.type' = 'date'",
        "'projection.dt.format' = 'yyyy-MM-dd'",
        "'projection.hour.type' = 'integer'",
        "'projection.hour.range' = '0,23'",
        "'projection.hour.digits' = '2'",
        "'storage.location.template' = 's3://LAKE_BUCKET/access_logs/dt=${dt}/hour=${hour}/'",
    ] {
        assert!(ddl.contains(property), "missing {property}");
    }
    assert!(ddl.contains(",NOW'"), "the dt range runs to NOW");
}

#[test]
fn the_rejects_ddl_is_the_rejects_output() {
    let ddl = DDL.iter().find(|(name, _)| *name == "rejects").unwrap().1;
    let (columns, partitions) = ddl_columns(ddl);
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, loglake_schema::REJECT_FIELDS);
    assert_eq!(partitions, [("dt".to_string(), "string".to_string())]);
}

/// The view without redelivered copies selects every column of the table, in table order.
#[test]
fn the_unique_view_has_every_column() {
    let ddl = DDL
        .iter()
        .find(|(name, _)| *name == "access_logs_unique")
        .unwrap()
        .1;
    let select = ddl.find("SELECT\n").unwrap() + "SELECT\n".len();
    let end = ddl.find("\nFROM (").unwrap();
    let columns: Vec<&str> = ddl[select..end].split(',').map(str::trim).collect();
    let expected: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(columns, expected);
    assert!(ddl.contains("PARTITION BY dt, source, source_line"));
}
