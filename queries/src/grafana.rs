//! The reports as a Grafana dashboard over Athena (the `grafana-athena-datasource` plugin): one
//! panel per report, its SQL the report's own with Grafana's time range in place of the two
//! `?` parameters. `queries/grafana/loglake-athena.json` is this function's output, checked by
//! a test (`UPDATE_GRAFANA_DASHBOARD=1` rewrites it).

use serde_json::{json, Value};

use crate::{Report, REPORTS};

/// Grafana's dashboard time range as the reports' `dt` strings (inclusive days).
const FROM: &str = "'${__from:date:YYYY-MM-DD}'";
const TO: &str = "'${__to:date:YYYY-MM-DD}'";

/// The plugin's query formats.
const FORMAT_TIME_SERIES: u8 = 0;
const FORMAT_TABLE: u8 = 1;

/// How a report's rows are drawn, from its first columns (the reports' house style: `dt`, then
/// `hour` for the hourly ones, each on its own line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Hourly,
    Daily,
    Ranking,
}

fn shape(report: &Report) -> Shape {
    if report.sql.contains("\nSELECT\n  dt,\n  hour,\n") {
        Shape::Hourly
    } else if report.sql.contains("\nSELECT\n  dt,\n") {
        Shape::Daily
    } else {
        Shape::Ranking
    }
}

/// The report's SQL for Grafana: the range from the dashboard, and for reports over time a
/// `time` column Grafana plots against.
pub fn panel_sql(report: &Report) -> String {
    let sql = crate::bind_parameters(report.sql.trim_end(), &[FROM.into(), TO.into()])
        .expect("a shipped report has its two parameters");
    let time = match shape(report) {
        Shape::Hourly => "date_add('hour', hour, date_parse(dt, '%Y-%m-%d'))",
        Shape::Daily => "date_parse(dt, '%Y-%m-%d')",
        Shape::Ranking => return sql,
    };
    format!("SELECT {time} AS time, report.*\nFROM (\n{sql}\n) AS report\nORDER BY time")
}

/// The dashboard: a data-source variable for the Athena data source, the last 7 days, and a
/// panel per report in the order of [`REPORTS`], two to a row.
pub fn dashboard() -> Value {
    let datasource = json!({ "type": "grafana-athena-datasource", "uid": "${datasource}" });
    let panels: Vec<Value> = REPORTS
        .iter()
        .enumerate()
        .map(|(index, report)| {
            let (kind, format) = match shape(report) {
                Shape::Hourly | Shape::Daily => ("timeseries", FORMAT_TIME_SERIES),
                Shape::Ranking => ("barchart", FORMAT_TABLE),
            };
            let mut panel = json!({
                "id": index + 1,
                "type": kind,
                "title": report.name,
                "description": report.description(),
                "datasource": datasource,
                "gridPos": { "h": 9, "w": 12, "x": (index % 2) * 12, "y": (index / 2) * 9 },
                "targets": [{
                    "refId": "A",
                    "datasource": datasource,
                    "format": format,
                    "rawSQL": panel_sql(report),
                    "connectionArgs": {
                        "region": "__default",
                        "catalog": "__default",
                        "database": "__default",
                    },
                }],
            });
            if kind == "barchart" {
                panel["options"] = json!({ "orientation": "horizontal", "showValue": "auto" });
            }
            panel
        })
        .collect();
    json!({
        "title": "loglake: web access logs",
        "uid": "loglake-athena",
        "tags": ["loglake", "athena"],
        "schemaVersion": 39,
        "time": { "from": "now-7d", "to": "now" },
        "templating": { "list": [{
            "name": "datasource",
            "label": "Athena",
            "type": "datasource",
            "query": "grafana-athena-datasource",
        }] },
        "panels": panels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_report_is_a_panel_with_its_range_from_the_dashboard() {
        let dashboard = dashboard();
        let panels = dashboard["panels"].as_array().unwrap();
        assert_eq!(panels.len(), REPORTS.len());
        for (panel, report) in panels.iter().zip(REPORTS) {
            let sql = panel["targets"][0]["rawSQL"].as_str().unwrap();
            let none_left = crate::bind_parameters(sql, &[String::new(), String::new()]);
            assert_eq!(
                none_left,
                Err(crate::QueryError::Parameters { found: 0 }),
                "{}",
                report.name
            );
            assert!(
                sql.contains(&format!("dt BETWEEN {FROM} AND {TO}")),
                "{sql}"
            );
            let over_time = report.name.ends_with("_by_hour") || report.name.ends_with("_by_day");
            assert_eq!(panel["type"] == "timeseries", over_time, "{}", report.name);
            assert_eq!(
                sql.starts_with("SELECT date_"),
                over_time,
                "{}",
                report.name
            );
        }
    }

    #[test]
    fn the_shipped_dashboard_is_this_output() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/grafana/loglake-athena.json");
        let generated = serde_json::to_string_pretty(&dashboard()).unwrap() + "\n";
        if std::env::var_os("UPDATE_GRAFANA_DASHBOARD").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let shipped = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            shipped == generated,
            "{path} is out of date: rerun with UPDATE_GRAFANA_DASHBOARD=1"
        );
    }
}
