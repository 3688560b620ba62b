//! A query result as both engines return it (DataFusion's Arrow batches, Athena's pages of
//! strings), and its three renderings.

use std::fmt::Write;

/// One value of a result.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

impl Cell {
    /// The value as the table and CSV renderings show it (null as nothing).
    pub fn text(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Int(v) => v.to_string(),
            Cell::Float(v) => v.to_string(),
            Cell::Bool(v) => v.to_string(),
            Cell::Text(v) => v.clone(),
        }
    }

    fn json(&self) -> String {
        match self {
            Cell::Null => "null".into(),
            Cell::Int(v) => v.to_string(),
            Cell::Float(v) if v.is_finite() => v.to_string(),
            Cell::Float(_) => "null".into(),
            Cell::Bool(v) => v.to_string(),
            Cell::Text(v) => serde_json::Value::from(v.as_str()).to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
    /// One JSON object a line (newline-delimited JSON), for `jq` and log tools.
    Ndjson,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "table" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" => Ok(OutputFormat::Json),
            "ndjson" => Ok(OutputFormat::Ndjson),
            other => Err(format!(
                "unknown format {other:?} (table, csv, json or ndjson)"
            )),
        }
    }
}

impl ResultTable {
    pub fn render(&self, format: OutputFormat) -> String {
        match format {
            OutputFormat::Table => self.to_table(),
            OutputFormat::Csv => self.to_csv(),
            OutputFormat::Json => format!("[{}]\n", self.json_objects().join(",")),
            OutputFormat::Ndjson => self
                .json_objects()
                .iter()
                .map(|o| format!("{o}\n"))
                .collect(),
        }
    }

    /// Aligned columns under a header; numbers right-aligned.
    pub fn to_table(&self) -> String {
        let texts: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| row.iter().map(Cell::text).collect())
            .collect();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                texts
                    .iter()
                    .map(|row| row[i].chars().count())
                    .chain([self.columns[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        let line = |cells: Vec<(String, bool)>, out: &mut String| {
            let parts: Vec<String> = cells
                .into_iter()
                .zip(&widths)
                .map(|((text, right), &width)| {
                    if right {
                        format!("{text:>width$}")
                    } else {
                        format!("{text:<width$}")
                    }
                })
                .collect();
            let _ = writeln!(out, "{}", parts.join("  ").trim_end());
        };
        line(
            self.columns.iter().map(|c| (c.clone(), false)).collect(),
            &mut out,
        );
        let rule: Vec<(String, bool)> = widths.iter().map(|w| ("-".repeat(*w), false)).collect();
        line(rule, &mut out);
        for (row, text) in self.rows.iter().zip(texts) {
            let cells = row
                .iter()
                .zip(text)
                .map(|(cell, text)| (text, matches!(cell, Cell::Int(_) | Cell::Float(_))))
                .collect();
            line(cells, &mut out);
        }
        let _ = writeln!(out, "({} rows)", self.rows.len());
        out
    }

    /// RFC 4180 CSV with a header row. A text cell that a spreadsheet would run as a formula
    /// (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return: paths, referrers and user
    /// agents are whatever a client sent) gets a leading `'`, as OWASP advises, so it opens as
    /// text; numbers are written as they are.
    pub fn to_csv(&self) -> String {
        fn field(text: &str) -> String {
            if text.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", text.replace('"', "\"\""))
            } else {
                text.to_string()
            }
        }
        fn cell(cell: &Cell) -> String {
            match cell {
                Cell::Text(text) if text.starts_with(['=', '+', '-', '@', '\t', '\r']) => {
                    field(&format!("'{text}"))
                }
                other => field(&other.text()),
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.columns.iter().map(|c| field(c)).collect();
        let _ = writeln!(out, "{}", header.join(","));
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(cell).collect();
            let _ = writeln!(out, "{}", cells.join(","));
        }
        out
    }

    /// One JSON array of objects keyed by column name, keys in column order.
    pub fn to_json(&self) -> String {
        self.render(OutputFormat::Json)
    }

    /// Each row as a JSON object keyed by column name, keys in column order.
    fn json_objects(&self) -> Vec<String> {
        let keys: Vec<String> = self
            .columns
            .iter()
            .map(|c| serde_json::Value::from(c.as_str()).to_string())
            .collect();
        self.rows
            .iter()
            .map(|row| {
                let fields: Vec<String> = keys
                    .iter()
                    .zip(row)
                    .map(|(key, cell)| format!("{key}:{}", cell.json()))
                    .collect();
                format!("{{{}}}", fields.join(","))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ResultTable {
        ResultTable {
            columns: vec!["path".into(), "requests".into(), "share".into()],
            rows: vec![
                vec![
                    Cell::Text("/a,\"b\"".into()),
                    Cell::Int(12),
                    Cell::Float(0.5),
                ],
                vec![Cell::Null, Cell::Int(3), Cell::Float(f64::NAN)],
            ],
        }
    }

    #[test]
    fn ndjson_is_the_same_objects_one_a_line() {
        let (json, ndjson) = (table().to_json(), table().render(OutputFormat::Ndjson));
        let array: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
        let lines: Vec<serde_json::Value> = (ndjson.lines())
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(array, lines);
        assert_eq!(ndjson.lines().count(), 2);
    }

    #[test]
    fn json_is_an_array_of_objects_in_column_order() {
        let json = table().to_json();
        assert!(json.starts_with(r#"[{"path":"/a,\"b\"","requests":12,"share":0.5}"#));
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed[1]["path"], serde_json::Value::Null);
        assert_eq!(parsed[1]["share"], serde_json::Value::Null);
        assert_eq!(ResultTable::default().to_json(), "[]\n");
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(
            table().to_csv(),
            "path,requests,share\n\"/a,\"\"b\"\"\",12,0.5\n,3,NaN\n"
        );
    }

    #[test]
    fn csv_cells_a_spreadsheet_would_run_are_text() {
        let table = ResultTable {
            columns: vec!["path".into(), "delta".into()],
            rows: [
                "=HYPERLINK(\"http://x\")",
                "+1",
                "-2",
                "@SUM(A1)",
                "\tx",
                "/ok",
            ]
            .iter()
            .map(|text| vec![Cell::Text(text.to_string()), Cell::Int(-1)])
            .collect(),
        };
        assert_eq!(
            table.to_csv(),
            "path,delta\n\"'=HYPERLINK(\"\"http://x\"\")\",-1\n'+1,-1\n'-2,-1\n'@SUM(A1),-1\n'\tx,-1\n/ok,-1\n"
        );
    }

    #[test]
    fn tables_align_numbers_right() {
        let text = table().to_table();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "path    requests  share");
        assert_eq!(lines[2], "/a,\"b\"        12    0.5");
        assert_eq!(lines.last(), Some(&"(2 rows)"));
    }
}
