//! README.md's table of formats is the registry's: every format, in registry order, with its
//! summary and its example line (which the format parses).

use loglake_parser::{parse_line, LogFormat};

#[test]
fn readme_lists_every_registered_format_with_its_example() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("\n## Formats\n")
        .nth(1)
        .and_then(|s| s.split("\n##").next()) // to the next heading, whatever its level
        .expect("README has a Formats section");
    let rows: Vec<(String, String, String)> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 3, "{l}");
            let unquote = |cell: &str| cell.trim_matches('`').to_string();
            (unquote(cells[0]), cells[1].to_string(), unquote(cells[2]))
        })
        .collect();
    let expected: Vec<(String, String, String)> = LogFormat::ALL
        .iter()
        .map(|f| {
            (
                f.name().to_string(),
                f.summary().to_string(),
                f.example().to_string(),
            )
        })
        .collect();
    assert_eq!(rows, expected);
    for &format in LogFormat::ALL {
        assert!(parse_line(format.example().as_bytes(), format).is_ok());
    }
}
