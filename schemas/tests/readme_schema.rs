//! README.md documents the table and the reject reasons for users; these tests fail when the
//! documentation drifts from the code.

use loglake_parser::RejectReason;
use loglake_schema::COLUMNS;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap()
}

/// The first cell of each table row whose first cell is a code span: `| `name` | … |`.
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn readme_schema_table_matches_the_arrow_schema() {
    let readme = readme();
    let section = readme
        .split("## The `access_logs` table")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has the table section");
    let rows = table_rows(section);
    let documented: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r[0].trim_matches('`').to_string(), r[1].clone()))
        .collect();
    let names: Vec<&str> = documented.iter().map(|(n, _)| n.as_str()).collect();
    let expected: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(names, expected);
    for (column, (_, doc_type)) in COLUMNS.iter().zip(&documented) {
        let nullable = doc_type.contains('?');
        assert_eq!(nullable, column.nullable, "{} nullability", column.name);
        let base = doc_type.split([' ', '?']).next().unwrap();
        assert_eq!(base, column.athena_type, "{} type", column.name);
        assert_eq!(
            doc_type.contains("partition"),
            column.partition,
            "{}",
            column.name
        );
    }
}

#[test]
fn readme_lists_every_reject_reason() {
    let readme = readme();
    let documented: Vec<String> = table_rows(&readme)
        .into_iter()
        .map(|r| r[0].trim_matches('`').to_string())
        .filter(|n| RejectReason::ALL.iter().any(|r| r.as_str() == n))
        .collect();
    let expected: Vec<&str> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(documented, expected);
}
