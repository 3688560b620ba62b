//! One CloudWatch Embedded Metric Format (EMF) line per invocation: CloudWatch turns the JSON log
//! line into metrics, with no API call on the hot path.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use loglake_stream::StreamStats;
use serde_json::{json, Map, Value};

use crate::Config;

/// What one invocation did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvocationMetrics {
    pub records_in: u64,
    pub lines_in: u64,
    pub rows_out: u64,
    pub rejected: u64,
    /// Per reject reason (snake_case names), only reasons that occurred.
    pub rejected_by_reason: Vec<(&'static str, u64)>,
    pub firehose_records: u64,
    pub firehose_bytes: u64,
    /// Objects (Parquet files, rejects files) written to the lake, and their bytes (the lake
    /// wiring).
    pub lake_objects: u64,
    pub lake_bytes: u64,
    pub retries: u64,
    /// Kinesis records handed back for redelivery (from the first failed one to the end).
    pub records_redelivered: u64,
    pub handler_ms: f64,
    /// Now minus the oldest event time among the rows, in milliseconds.
    pub max_event_lag_ms: Option<f64>,
}

impl InvocationMetrics {
    /// What the encoder counted, the time since `started`, and the event-time lag; the delivery's
    /// figures are the caller's to add.
    pub fn of_stats(stats: StreamStats, started: Instant) -> Self {
        let now_micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        Self {
            records_in: stats.records_in,
            lines_in: stats.lines_in,
            rows_out: stats.rows_out,
            rejected: stats.rejected,
            rejected_by_reason: stats.rejects_by_reason.into_iter().collect(),
            handler_ms: started.elapsed().as_secs_f64() * 1e3,
            max_event_lag_ms: stats
                .oldest_ts_micros
                .map(|oldest| (now_micros - oldest) as f64 / 1e3),
            ..Default::default()
        }
    }

    /// Prints the metrics as one EMF line on stdout.
    pub fn emit(&self, config: &Config) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let emf = self.to_emf(&config.metrics_namespace, &config.function_name, now_ms);
        println!("{emf}");
    }

    /// The EMF document: `_aws` metadata naming the metrics, and their values at the top level.
    pub fn to_emf(&self, namespace: &str, function_name: &str, timestamp_ms: u64) -> Value {
        let mut values: Vec<(String, f64, &str)> = vec![
            ("RecordsIn".into(), self.records_in as f64, "Count"),
            ("LinesIn".into(), self.lines_in as f64, "Count"),
            ("RowsOut".into(), self.rows_out as f64, "Count"),
            ("Rejected".into(), self.rejected as f64, "Count"),
            (
                "FirehoseRecords".into(),
                self.firehose_records as f64,
                "Count",
            ),
            ("FirehoseBytes".into(), self.firehose_bytes as f64, "Bytes"),
            ("LakeObjects".into(), self.lake_objects as f64, "Count"),
            ("LakeBytes".into(), self.lake_bytes as f64, "Bytes"),
            ("Retries".into(), self.retries as f64, "Count"),
            (
                "RecordsRedelivered".into(),
                self.records_redelivered as f64,
                "Count",
            ),
            ("HandlerMs".into(), self.handler_ms, "Milliseconds"),
        ];
        for (reason, count) in &self.rejected_by_reason {
            values.push((format!("Rejected_{reason}"), *count as f64, "Count"));
        }
        if let Some(lag) = self.max_event_lag_ms {
            values.push(("MaxEventLagMs".into(), lag, "Milliseconds"));
        }
        let definitions: Vec<Value> = values
            .iter()
            .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
            .collect();
        let mut document = Map::new();
        document.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": definitions,
                }],
            }),
        );
        document.insert("FunctionName".into(), function_name.into());
        for (name, value, _) in values {
            document.insert(name, value.into());
        }
        Value::Object(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_metric_has_a_value_and_the_dimension_is_present() {
        let metrics = InvocationMetrics {
            records_in: 3,
            lines_in: 10,
            rows_out: 8,
            rejected: 2,
            rejected_by_reason: vec![("no_timestamp", 2)],
            firehose_records: 1,
            firehose_bytes: 5_000,
            handler_ms: 1.5,
            max_event_lag_ms: Some(2_000.0),
            ..Default::default()
        };
        let emf = metrics.to_emf("loglake", "fn", 1_700_000_000_000);
        let directive = &emf["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "loglake");
        assert_eq!(directive["Dimensions"][0][0], "FunctionName");
        assert_eq!(emf["FunctionName"], "fn");
        assert_eq!(emf["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for name in &names {
            assert!(emf[*name].is_number(), "{name} has no value");
        }
        assert_eq!(emf["Rejected_no_timestamp"], 2.0);
        assert_eq!(emf["MaxEventLagMs"], 2_000.0);
        assert_eq!(emf["LinesIn"], 10.0);
        assert!(names.contains(&"HandlerMs"));
    }
}
