//! The record of finished sources, one small JSON object per source at
//! `DEST/_loglake/backfill/<source-id>.json`: what a re-run skips, and which outputs a replay
//! replaces. One object per source (not one shared file) so parallel workers never write the
//! same object.

use loglake_lake::lake::{partition_hour, source_id};
use loglake_lake::{SourceTotals, TimeRange};
use serde::{Deserialize, Serialize};

/// Where manifests live, relative to the destination root. Outside `access_logs/` and
/// `rejects/`, so no table reads them.
pub const MANIFEST_DIR: &str = "_loglake/backfill";

/// The manifest's path of a source, relative to the destination root.
pub fn manifest_path(source: &str) -> String {
    format!("{MANIFEST_DIR}/{}.json", source_id(source))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub source: String,
    /// The source version that was read (S3 ETag, or a local file's size and mtime).
    pub version: String,
    pub size: u64,
    /// The event-time range the run was limited to.
    pub range: TimeRange,
    pub loglake_version: String,
    pub lines_in: u64,
    pub rows_out: u64,
    pub rejected: u64,
    pub out_of_range: u64,
    /// The source's outputs in the lake, relative to the destination root, `/`-separated.
    pub outputs: Vec<String>,
}

impl ManifestEntry {
    pub fn new(
        source: &str,
        version: &str,
        size: u64,
        range: TimeRange,
        totals: &SourceTotals,
        outputs: Vec<String>,
    ) -> Self {
        Self {
            source: source.into(),
            version: version.into(),
            size,
            range,
            loglake_version: env!("CARGO_PKG_VERSION").into(),
            lines_in: totals.lines_in,
            rows_out: totals.rows_out,
            rejected: totals.rejected,
            out_of_range: totals.out_of_range,
            outputs,
        }
    }

    /// Whether this entry already covers a run of `version` over `range`.
    pub fn covers(&self, version: &str, range: TimeRange) -> bool {
        self.version == version && self.range == range
    }
}

/// How a new run's outputs meet an earlier run's: earlier outputs this run replaced (they are in
/// its range, or are the rejects file it rewrites) and were not rewritten under the same name
/// are deleted; earlier outputs outside the range are kept and stay in the manifest.
pub fn reconcile_outputs(
    earlier: &[String],
    written: &[String],
    range: TimeRange,
) -> (Vec<String>, Vec<String>) {
    let mut keep: Vec<String> = written.to_vec();
    let mut delete = Vec::new();
    for output in earlier {
        if written.contains(output) {
            continue;
        }
        let hour = std::path::Path::new(output)
            .parent()
            .and_then(partition_hour);
        match hour {
            Some(hour) if !range.overlaps(hour) => keep.push(output.clone()),
            _ => delete.push(output.clone()),
        }
    }
    keep.sort();
    (keep, delete)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaced_outputs_are_deleted_and_others_kept() {
        let earlier = [
            "access_logs/dt=2020-10-10/hour=10/a-1111-0000.parquet".to_string(),
            "access_logs/dt=2020-10-10/hour=11/a-1111-0000.parquet".to_string(),
            "rejects/a.ndjson".to_string(),
        ];
        let written = ["access_logs/dt=2020-10-10/hour=11/a-2222-0000.parquet".to_string()];
        let range = TimeRange {
            since: loglake_parser::parse_utc_instant("2020-10-10T11:00:00Z"),
            until: None,
        };
        let (keep, delete) = reconcile_outputs(&earlier, &written, range);
        assert_eq!(keep, [earlier[0].clone(), written[0].clone()]);
        assert_eq!(delete, [earlier[1].clone(), earlier[2].clone()]);

        let (keep, delete) = reconcile_outputs(&earlier, &earlier, TimeRange::default());
        assert_eq!((keep.len(), delete.len()), (3, 0));
    }
}
