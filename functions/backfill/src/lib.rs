//! The `backfill` Lambda, a Step Functions Distributed Map worker: its event (a batch of objects
//! from an S3 ItemReader listing) turned into a plan for the backfill library, and its result
//! (per-object counts). The replay itself is `loglake-backfill`'s, shared with `loglake backfill`.

use loglake_lake::TimeRange;
use loglake_parser::{parse_utc_instant, LogFormat};
use serde::{Deserialize, Serialize};

use loglake_backfill::{BackfillOptions, BackfillSummary, Location, Source, SourceOutcome};

/// Every environment variable the `backfill` function reads besides the AWS SDK's and `RUST_LOG`:
/// none, its settings come with each batch (`BatchInput`).
pub const ENV_VARS: [&str; 0] = [];

/// What an ItemBatcher sends: `{"Items": [...], "BatchInput": {...}}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MapBatch {
    pub items: Vec<MapItem>,
    pub batch_input: BatchInput,
}

/// One object of the ItemReader's `ListObjectsV2` listing (other fields are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MapItem {
    pub key: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub etag: String,
}

/// The run's settings, the same for every batch.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct BatchInput {
    /// The bucket the items are in.
    pub bucket: String,
    /// The lake: `s3://bucket/prefix`.
    pub dest: String,
    /// `auto` when absent.
    #[serde(default)]
    pub format: Option<String>,
    /// UTC `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`; rows before it are left out.
    #[serde(default)]
    pub since: Option<String>,
    /// Rows at or after it are left out.
    #[serde(default)]
    pub until: Option<String>,
    /// Re-read objects whose manifest says they are done.
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("BatchInput.{field}: {message}")]
    BadInput {
        field: &'static str,
        message: String,
    },
}

fn bad(field: &'static str, message: impl Into<String>) -> WorkerError {
    WorkerError::BadInput {
        field,
        message: message.into(),
    }
}

/// What the worker does with a batch: its destination, sources and settings.
pub struct WorkerPlan {
    pub dest: Location,
    pub sources: Vec<Source>,
    pub options: BackfillOptions,
}

impl MapBatch {
    pub fn plan(&self) -> Result<WorkerPlan, WorkerError> {
        let input = &self.batch_input;
        let dest = Location::parse(&input.dest).map_err(|e| bad("dest", e.to_string()))?;
        if !dest.is_s3() {
            return Err(bad("dest", "must be s3://bucket/prefix"));
        }
        let format =
            LogFormat::from_setting(input.format.as_deref()).map_err(|e| bad("format", e))?;
        let instant = |field, text: &Option<String>| {
            text.as_deref()
                .map(|t| {
                    parse_utc_instant(t)
                        .ok_or_else(|| bad(field, format!("{t:?} is not a UTC date or time")))
                })
                .transpose()
        };
        let range = TimeRange {
            since: instant("since", &input.since)?,
            until: instant("until", &input.until)?,
        };
        Ok(WorkerPlan {
            dest,
            sources: self
                .items
                .iter()
                .map(|item| Source::s3_object(&input.bucket, &item.key, item.size, &item.etag))
                .collect(),
            options: BackfillOptions {
                format,
                range,
                force: input.force,
                lake: BackfillOptions::backfill_lake_options(),
            },
        })
    }
}

/// The worker's answer: the batch's totals and each object's outcome.
#[derive(Debug, Serialize)]
pub struct WorkerResult {
    #[serde(flatten)]
    pub summary: BackfillSummary,
    pub sources: Vec<SourceOutcome>,
}

impl WorkerResult {
    /// Every object failed: likely a cause outside the data (permissions, throttling), which a
    /// Step Functions retry may fix. A failure of some objects only is reported, not raised, so
    /// the other objects' work stands.
    pub fn all_failed(&self) -> bool {
        !self.sources.is_empty() && self.summary.errors.len() == self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_item_batcher_event() {
        let event = r#"{
            "Items": [
                {"Etag": "\"0f343b0931126a20f133d67c2b018a3b\"", "Key": "logs/a.log.gz",
                 "LastModified": 1540471470, "Size": 1024, "StorageClass": "STANDARD"}
            ],
            "BatchInput": {"bucket": "old-logs", "dest": "s3://lake/", "since": "2024-01-01"}
        }"#;
        let batch: MapBatch = serde_json::from_str(event).unwrap();
        let plan = batch.plan().unwrap();
        assert_eq!(plan.sources[0].name, "s3://old-logs/logs/a.log.gz");
        assert_eq!(plan.sources[0].version, "0f343b0931126a20f133d67c2b018a3b");
        assert_eq!(plan.options.range.since, parse_utc_instant("2024-01-01"));
        assert_eq!(plan.options.range.until, None);

        for (field, value) in [
            ("dest", "lake/"),
            ("since", "yesterday"),
            ("format", "json"),
        ] {
            let mut json: serde_json::Value = serde_json::from_str(event).unwrap();
            json["BatchInput"][field] = value.into();
            let batch: MapBatch = serde_json::from_value(json).unwrap();
            let error = batch.plan().err().unwrap().to_string();
            assert!(error.starts_with(&format!("BatchInput.{field}")), "{error}");
        }
    }
}
