//! Backfill: replays historical logs (a local directory or an S3 prefix; plain, gzip or zstd) into
//! the same Parquet lake the real-time path fills, with the same parser and schema, in bigger
//! files. Used by `loglake backfill` and by the `backfill` Lambda (a Step Functions Distributed
//! Map worker).
//!
//! - Idempotent: output names derive from the source's name and version (S3 ETag), so a re-run
//!   rewrites the same objects, and a replay of a changed source replaces its earlier outputs
//!   (listed in its manifest) instead of adding to them.
//! - Resumable: a finished source leaves a manifest ([`manifest`]); a re-run skips sources whose
//!   manifest matches their version and time range, unless forced.
//! - Parallel: sources run on a rayon pool; within a source, reading and parsing, partitioning,
//!   and Parquet encoding run on separate threads (see [`loglake_lake::pipeline`]).
//! - To S3, a source's lake is written to a local staging directory and uploaded when done:
//!   memory stays bounded and readers never see half a file.

pub mod compact;
pub mod manifest;
mod overlap;
pub mod s3;
mod store;

pub use store::{Location, Source, SourceAt};

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use loglake_lake::lake::partition_hour;
use loglake_lake::{
    decompressing_reader, ingest_stream, ExistingFiles, LakeOptions, PipelineError, Progress,
    ProgressReader, SourceFailure, SourceOptions, SourceTotals, TimeRange,
};
use loglake_parser::{Enrichment, IpAnonymization, LogFormat, UtcHour};
use rayon::prelude::*;
use serde::Serialize;

use crate::manifest::{manifest_path, reconcile_outputs, ManifestEntry};
use crate::s3::{S3Error, S3};
use crate::store::Lake;

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("{0:?} is neither a local path nor s3://bucket/prefix")]
    BadLocation(String),
    #[error("an S3 location needs an S3 client")]
    NoS3Client,
    #[error(transparent)]
    S3(#[from] S3Error),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("reading the manifest {path}: {source}")]
    Manifest {
        path: String,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Lake(#[from] loglake_lake::LakeError),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> BackfillError + '_ {
    move |source| BackfillError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Settings of a run.
#[derive(Debug, Clone, Default)]
pub struct BackfillOptions {
    pub format: LogFormat,
    /// Fill `extra_fields` with the format's other fields.
    pub keep_extra_fields: bool,
    /// How client addresses are written.
    pub anonymize_ip: IpAnonymization,
    /// The country database and crawler list.
    pub enrichment: &'static Enrichment,
    /// Only rows in this event-time range are written (and only these hours are replaced).
    pub range: TimeRange,
    /// Re-read sources whose manifest says they are done.
    pub force: bool,
    pub lake: LakeOptions,
}

impl BackfillOptions {
    /// The lake writer settings a backfill uses: a larger buffer than `ingest`, so a source's
    /// busy hour still becomes one file (Athena prefers fewer, bigger files). Hours close once
    /// no row came for a few batches: stored logs are in time order, so their hours end for good.
    pub fn backfill_lake_options() -> LakeOptions {
        LakeOptions {
            buffer_budget_bytes: 64 << 20,
            idle_batches: 4,
            ..LakeOptions::default()
        }
    }
}

/// What happened to one source.
#[derive(Debug, Serialize)]
pub struct SourceOutcome {
    pub source: String,
    /// Already done by an earlier run (its manifest matches); nothing was read.
    pub skipped: bool,
    #[serde(flatten)]
    pub totals: SourceTotals,
    pub error: Option<String>,
    /// The hours its rows are in, now or from an earlier run: the partitions whose merged
    /// files may hold its rows from before.
    #[serde(skip)]
    pub hours: BTreeSet<UtcHour>,
}

/// A source read: its totals, the error that cut it short, the hours of its rows.
type Replayed = (SourceTotals, Option<BackfillError>, BTreeSet<UtcHour>);

/// What a dry run would do with one source.
#[derive(Debug, Serialize)]
pub struct PlannedSource {
    pub source: String,
    pub size: u64,
    /// `read`, or `skip` when an earlier run finished this version and range.
    pub action: &'static str,
    /// Outputs of an earlier run that reading it would replace.
    pub replaces: Vec<String>,
}

/// The run's totals: `ingest`'s summary plus the source counts.
/// `lines_in == rows_out + rejected + out_of_range`.
#[derive(Debug, Default, Serialize)]
pub struct BackfillSummary {
    #[serde(flatten)]
    pub totals: SourceTotals,
    pub sources_read: u64,
    pub sources_skipped: u64,
    pub elapsed_ms: u64,
    pub errors: Vec<SourceFailure>,
}

/// A backfill into one destination.
pub struct Backfill {
    lake: Lake,
    /// For sources in S3.
    s3: Option<S3>,
    options: BackfillOptions,
}

impl Backfill {
    /// `s3` is needed when the destination or a source is in S3.
    pub fn new(
        dest: Location,
        s3: Option<S3>,
        options: BackfillOptions,
    ) -> Result<Self, BackfillError> {
        let lake = Lake::new(dest, s3.as_ref())?;
        Ok(Self { lake, s3, options })
    }

    /// Every source under `src`, largest first (they take longest, so they start first).
    pub fn list_sources(&self, src: &Location) -> Result<Vec<Source>, BackfillError> {
        let mut sources = store::list_sources(src, self.s3.as_ref())?;
        sources.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
        Ok(sources)
    }

    /// What a run would read and replace, without reading any log.
    pub fn plan(&self, sources: &[Source]) -> Result<Vec<PlannedSource>, BackfillError> {
        sources
            .iter()
            .map(|source| {
                let earlier = self.read_manifest(&source.name)?;
                let done = self.is_done(source, earlier.as_ref());
                Ok(PlannedSource {
                    source: source.name.clone(),
                    size: source.size,
                    action: if done { "skip" } else { "read" },
                    replaces: match (done, earlier) {
                        (false, Some(m)) => m.outputs,
                        _ => Vec::new(),
                    },
                })
            })
            .collect()
    }

    /// Whether an earlier run finished this version of the source over the same range (and the
    /// run is not forced).
    fn is_done(&self, source: &Source, earlier: Option<&ManifestEntry>) -> bool {
        !self.options.force
            && earlier.is_some_and(|m| m.covers(&source.version, self.options.range))
    }

    /// Replays every source, `jobs` at a time, and totals the outcomes.
    pub fn run(&self, sources: &[Source], jobs: usize, progress: &Progress) -> BackfillSummary {
        let started = Instant::now();
        let mut summary = summarize(&self.run_each(sources, jobs, progress));
        summary.elapsed_ms = started.elapsed().as_millis() as u64;
        summary
    }

    /// Replays every source, `jobs` at a time: each one's outcome, in the order given.
    pub fn run_each(
        &self,
        sources: &[Source],
        jobs: usize,
        progress: &Progress,
    ) -> Vec<SourceOutcome> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .thread_name(|i| format!("loglake-backfill-{i}"))
            .build()
            .expect("can start the backfill threads");
        // A local lake is listed once, not once per source, to find sources' earlier files; if
        // that fails, each source lists it itself and reports the error as its own.
        let existing = self.lake.existing_files();
        let mut outcomes: Vec<SourceOutcome> = pool.install(|| {
            sources
                .par_iter()
                .map(|s| self.process_in(s, progress, existing.clone()))
                .collect()
        });
        self.drop_from_merged_files(&mut outcomes);
        outcomes
    }

    /// Replays one source. Errors are reported in the outcome; they never stop other sources.
    pub fn process(&self, source: &Source, progress: &Progress) -> SourceOutcome {
        let mut outcome = self.process_in(source, progress, None);
        self.drop_from_merged_files(std::slice::from_mut(&mut outcome));
        outcome
    }

    /// Removes the replayed sources' rows from the files a compaction merged them into (see
    /// [`compact`]), once for all of them: their new files replace those rows. Only the
    /// partitions of the hours the sources' rows are in, or were in by their manifests, are
    /// looked at (an earlier run cut short wrote a part of the same rows, in the same hours), so
    /// the cost is the sources', not the lake's. A failure is each replayed source's error (a
    /// re-run does it again).
    fn drop_from_merged_files(&self, outcomes: &mut [SourceOutcome]) {
        let replayed = outcomes.iter().filter(|o| !o.skipped);
        let sources: BTreeSet<String> = replayed.clone().map(|o| o.source.clone()).collect();
        let hours: BTreeSet<UtcHour> = replayed.flat_map(|o| o.hours.iter().copied()).collect();
        if sources.is_empty() || hours.is_empty() {
            return;
        }
        if let Err(error) = compact::drop_sources_in_hours(&self.lake, &sources, &hours) {
            tracing::error!(%error, "removing replayed sources' rows from compacted files failed");
            for outcome in outcomes.iter_mut().filter(|o| !o.skipped) {
                outcome.error.get_or_insert_with(|| error.to_string());
            }
        }
    }

    fn process_in(
        &self,
        source: &Source,
        progress: &Progress,
        existing_files: Option<Arc<ExistingFiles>>,
    ) -> SourceOutcome {
        let mut outcome = SourceOutcome {
            source: source.name.clone(),
            skipped: false,
            totals: SourceTotals::default(),
            error: None,
            hours: BTreeSet::new(),
        };
        match self.replay(source, progress, existing_files) {
            Ok(None) => outcome.skipped = true,
            Ok(Some((totals, error, hours))) => {
                outcome.totals = totals;
                outcome.error = error.map(|e| e.to_string());
                outcome.hours = hours;
            }
            Err(error) => outcome.error = Some(error.to_string()),
        }
        if let Some(error) = &outcome.error {
            tracing::error!(source = %source.name, %error, "backfill of a source failed");
        }
        outcome
    }

    /// `None` when skipped; else the totals, the error that cut the source short (what was
    /// read before it is in the lake and counted) and the hours of its outputs, these and an
    /// earlier run's.
    fn replay(
        &self,
        source: &Source,
        progress: &Progress,
        existing_files: Option<Arc<ExistingFiles>>,
    ) -> Result<Option<Replayed>, BackfillError> {
        let earlier = self.read_manifest(&source.name)?;
        if self.is_done(source, earlier.as_ref()) {
            return Ok(None);
        }
        let raw = store::open_source(&source.at, self.s3.as_ref())?;
        let counted = ProgressReader {
            inner: raw,
            progress: progress.bytes,
        };
        let mut reader =
            decompressing_reader(counted).map_err(|source_error| PipelineError::Read {
                source_name: source.name.clone(),
                error: source_error,
            })?;
        let source_options = SourceOptions {
            format: self.options.format,
            keep_extra_fields: self.options.keep_extra_fields,
            anonymize_ip: self.options.anonymize_ip,
            enrichment: self.options.enrichment,
            lake: self.options.lake,
            range: self.options.range,
            version: Some(source.version.clone()),
            parse_threads: None,
            existing_files,
        };
        // `_staging` (an S3 lake's) is removed when this function returns.
        let (lake_root, _staging) = self.lake.write_root()?;
        let (totals, error) = ingest_stream(
            &mut reader,
            &source.name,
            &lake_root,
            &source_options,
            progress.lines,
        );
        if let Some(error @ PipelineError::Write { .. }) = error {
            return Err(error.into());
        }
        let written: Vec<String> = totals
            .outputs
            .iter()
            .map(|path| loglake_lake::lake::relative_key(&lake_root, path))
            .collect();
        self.lake.publish(&totals.outputs, &written)?;
        let earlier_outputs = earlier.map(|m| m.outputs).unwrap_or_default();
        let hours = (earlier_outputs.iter().chain(&written))
            .filter_map(|output| Path::new(output).parent().and_then(partition_hour))
            .collect();
        let (outputs, replaced) = reconcile_outputs(&earlier_outputs, &written, self.options.range);
        for relative in &replaced {
            self.lake.delete(relative)?;
        }
        // A source cut short is not done: the next run reads it again.
        if error.is_none() {
            let entry = ManifestEntry::new(
                &source.name,
                &source.version,
                source.size,
                self.options.range,
                &totals,
                outputs,
            );
            self.write_manifest(&entry)?;
        }
        Ok(Some((totals, error.map(BackfillError::from), hours)))
    }

    fn read_manifest(&self, source: &str) -> Result<Option<ManifestEntry>, BackfillError> {
        let relative = manifest_path(source);
        self.lake
            .read(&relative)?
            .map(|bytes| serde_json::from_slice(&bytes))
            .transpose()
            .map_err(|source| BackfillError::Manifest {
                path: relative,
                source,
            })
    }

    fn write_manifest(&self, entry: &ManifestEntry) -> Result<(), BackfillError> {
        let json = serde_json::to_vec_pretty(entry).expect("a manifest serialises");
        self.lake.write(&manifest_path(&entry.source), json)
    }
}

/// The run's totals from its sources' outcomes.
pub fn summarize(outcomes: &[SourceOutcome]) -> BackfillSummary {
    let mut summary = BackfillSummary::default();
    for outcome in outcomes {
        if outcome.skipped {
            summary.sources_skipped += 1;
        } else {
            summary.sources_read += 1;
        }
        summary.totals.add(&outcome.totals);
        if let Some(error) = &outcome.error {
            summary.errors.push(SourceFailure {
                source: outcome.source.clone(),
                error: error.clone(),
            });
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_locations() {
        assert_eq!(
            Location::parse("s3://logs/2024/").unwrap(),
            Location::S3 {
                bucket: "logs".into(),
                prefix: "2024/".into()
            }
        );
        assert_eq!(
            Location::parse("s3://logs").unwrap(),
            Location::S3 {
                bucket: "logs".into(),
                prefix: "".into()
            }
        );
        assert!(Location::parse("s3:///x").is_err());
        assert_eq!(
            Location::parse("lake").unwrap(),
            Location::Local("lake".into())
        );
    }
}
