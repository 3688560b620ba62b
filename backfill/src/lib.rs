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

pub mod manifest;
pub mod s3;

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, UNIX_EPOCH};

use loglake_lake::{
    decompressing_reader, ingest_stream, ExistingFiles, LakeOptions, PipelineError, Progress,
    ProgressReader, SourceFailure, SourceOptions, SourceTotals, TimeRange,
};
use loglake_parser::LogFormat;
use rayon::prelude::*;
use serde::Serialize;

use crate::manifest::{manifest_path, reconcile_outputs, ManifestEntry};
use crate::s3::{S3Error, S3};

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
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> BackfillError + '_ {
    move |source| BackfillError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where sources are read from or the lake is written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    /// `prefix` as given: a source prefix may name a single object.
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl Location {
    pub fn parse(text: &str) -> Result<Self, BackfillError> {
        match text.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(BackfillError::BadLocation(text.into()));
                }
                Ok(Location::S3 {
                    bucket: bucket.into(),
                    prefix: prefix.into(),
                })
            }
            None if text.is_empty() => Err(BackfillError::BadLocation(text.into())),
            None => Ok(Location::Local(PathBuf::from(text))),
        }
    }

    pub fn is_s3(&self) -> bool {
        matches!(self, Location::S3 { .. })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(path) => write!(f, "{}", path.display()),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// The key of `relative` (a `/`-separated lake path) under a destination prefix.
fn dest_key(prefix: &str, relative: &str) -> String {
    match prefix.trim_end_matches('/') {
        "" => relative.to_string(),
        prefix => format!("{prefix}/{relative}"),
    }
}

/// One stored log to replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The `source` column's value and the basis of output names: the path, or `s3://bucket/key`.
    pub name: String,
    #[serde(skip)]
    pub at: SourceAt,
    /// Bytes as stored (compressed or not).
    pub size: u64,
    /// S3 ETag, or a local file's size and modification time.
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceAt {
    Local(PathBuf),
    S3 { bucket: String, key: String },
}

impl Source {
    pub fn s3_object(bucket: &str, key: &str, size: u64, etag: &str) -> Self {
        Source {
            name: format!("s3://{bucket}/{key}"),
            at: SourceAt::S3 {
                bucket: bucket.into(),
                key: key.into(),
            },
            size,
            version: s3::bare_etag(etag),
        }
    }
}

/// Settings of a run.
#[derive(Debug, Clone, Default)]
pub struct BackfillOptions {
    pub format: LogFormat,
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
}

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
    dest: Location,
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
        if dest.is_s3() && s3.is_none() {
            return Err(BackfillError::NoS3Client);
        }
        Ok(Self { dest, s3, options })
    }

    fn s3(&self) -> Result<&S3, BackfillError> {
        self.s3.as_ref().ok_or(BackfillError::NoS3Client)
    }

    /// Every source under `src`, largest first (they take longest, so they start first).
    pub fn list_sources(&self, src: &Location) -> Result<Vec<Source>, BackfillError> {
        let mut sources = match src {
            Location::Local(path) => list_local(path)?,
            Location::S3 { bucket, prefix } => self
                .s3()?
                .list(bucket, prefix)?
                .into_iter()
                .map(|o| Source::s3_object(bucket, &o.key, o.size, &o.etag))
                .collect(),
        };
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
        let existing = match &self.dest {
            Location::Local(root) => ExistingFiles::list(root).ok().map(Arc::new),
            Location::S3 { .. } => None,
        };
        pool.install(|| {
            sources
                .par_iter()
                .map(|s| self.process_in(s, progress, existing.clone()))
                .collect()
        })
    }

    /// Replays one source. Errors are reported in the outcome; they never stop other sources.
    pub fn process(&self, source: &Source, progress: &Progress) -> SourceOutcome {
        self.process_in(source, progress, None)
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
        };
        match self.replay(source, progress, existing_files) {
            Ok(None) => outcome.skipped = true,
            Ok(Some((totals, error))) => {
                outcome.totals = totals;
                outcome.error = error.map(|e| e.to_string());
            }
            Err(error) => outcome.error = Some(error.to_string()),
        }
        if let Some(error) = &outcome.error {
            tracing::error!(source = %source.name, %error, "backfill of a source failed");
        }
        outcome
    }

    /// `None` when skipped; else the totals and the error that cut the source short (what was
    /// read before it is in the lake and counted).
    fn replay(
        &self,
        source: &Source,
        progress: &Progress,
        existing_files: Option<Arc<ExistingFiles>>,
    ) -> Result<Option<(SourceTotals, Option<BackfillError>)>, BackfillError> {
        let earlier = self.read_manifest(&source.name)?;
        if self.is_done(source, earlier.as_ref()) {
            return Ok(None);
        }
        let raw: Box<dyn Read + Send> = match &source.at {
            SourceAt::Local(path) => Box::new(fs::File::open(path).map_err(io_error(path))?),
            SourceAt::S3 { bucket, key } => Box::new(self.s3()?.open(bucket, key)?),
        };
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
            lake: self.options.lake,
            range: self.options.range,
            version: Some(source.version.clone()),
            parse_threads: None,
            existing_files,
        };
        // To S3, the lake is staged locally and uploaded when complete; `_staging` is removed
        // when this function returns.
        let (lake_root, _staging) = match &self.dest {
            Location::Local(root) => (root.clone(), None),
            Location::S3 { .. } => {
                let dir = tempfile::Builder::new()
                    .prefix("loglake-backfill-")
                    .tempdir()
                    .map_err(io_error(&std::env::temp_dir()))?;
                (dir.path().to_path_buf(), Some(dir))
            }
        };
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
            .map(|path| relative_key(&lake_root, path))
            .collect();
        if let Location::S3 { bucket, prefix } = &self.dest {
            for (path, relative) in totals.outputs.iter().zip(&written) {
                self.s3()?
                    .put_file(bucket, &dest_key(prefix, relative), path)?;
            }
        }
        let earlier_outputs = earlier.map(|m| m.outputs).unwrap_or_default();
        let (outputs, replaced) = reconcile_outputs(&earlier_outputs, &written, self.options.range);
        for relative in &replaced {
            self.delete(relative)?;
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
        Ok(Some((totals, error.map(BackfillError::from))))
    }

    fn read_manifest(&self, source: &str) -> Result<Option<ManifestEntry>, BackfillError> {
        let relative = manifest_path(source);
        let bytes = match &self.dest {
            Location::Local(root) => {
                let path = root.join(&relative);
                match fs::read(&path) {
                    Ok(bytes) => Some(bytes),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                    Err(e) => return Err(io_error(&path)(e)),
                }
            }
            Location::S3 { bucket, prefix } => {
                self.s3()?.get_small(bucket, &dest_key(prefix, &relative))?
            }
        };
        bytes
            .map(|b| serde_json::from_slice(&b))
            .transpose()
            .map_err(|source| BackfillError::Manifest {
                path: relative,
                source,
            })
    }

    fn write_manifest(&self, entry: &ManifestEntry) -> Result<(), BackfillError> {
        let relative = manifest_path(&entry.source);
        let json = serde_json::to_vec_pretty(entry).expect("a manifest serialises");
        match &self.dest {
            Location::Local(root) => {
                let path = root.join(&relative);
                let dir = path.parent().expect("manifests are in a directory");
                fs::create_dir_all(dir).map_err(io_error(dir))?;
                fs::write(&path, json).map_err(io_error(&path))
            }
            Location::S3 { bucket, prefix } => {
                Ok(self
                    .s3()?
                    .put_bytes(bucket, &dest_key(prefix, &relative), json)?)
            }
        }
    }

    fn delete(&self, relative: &str) -> Result<(), BackfillError> {
        match &self.dest {
            Location::Local(root) => {
                let path = root.join(relative);
                match fs::remove_file(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(&path)(e)),
                    _ => Ok(()),
                }
            }
            Location::S3 { bucket, prefix } => {
                Ok(self.s3()?.delete(bucket, &dest_key(prefix, relative))?)
            }
        }
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

/// `path` under `root` as a `/`-separated lake key.
fn relative_key(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Files under `path` (or `path` itself), skipping hidden ones.
fn list_local(path: &Path) -> Result<Vec<Source>, BackfillError> {
    let metadata = fs::metadata(path).map_err(io_error(path))?;
    if metadata.is_file() {
        return Ok(vec![local_source(path, &metadata)]);
    }
    let mut sources = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let entry = entry.map_err(io_error(&dir))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            let metadata = entry.metadata().map_err(io_error(&path))?;
            if metadata.is_dir() {
                dirs.push(path);
            } else if metadata.is_file() {
                sources.push(local_source(&path, &metadata));
            }
        }
    }
    Ok(sources)
}

fn local_source(path: &Path, metadata: &fs::Metadata) -> Source {
    let modified = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Source {
        name: path.display().to_string(),
        at: SourceAt::Local(path.to_path_buf()),
        size: metadata.len(),
        version: format!("{}-{modified}", metadata.len()),
    }
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
        assert_eq!(dest_key("lake/", "a/b"), "lake/a/b");
        assert_eq!(dest_key("", "a/b"), "a/b");
    }
}
