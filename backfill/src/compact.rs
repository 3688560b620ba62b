//! Compaction: an hour's small Parquet files (one per Firehose buffer, one per small backfill
//! source) merged into files of about [`CompactOptions::target_bytes`], sorted by `ts`, in a
//! local lake or an S3 one. Athena opens one file instead of dozens and reads bigger row groups.
//!
//! - Idempotent: only files smaller than the target are merged, in groups that fit it, so a
//!   compacted hour has nothing left to merge; a re-run does nothing until new files arrive.
//! - Crash-safe: each partition has a record at `_loglake/compaction/dt=…/hour=….json`. Before
//!   the merged files are published it names the inputs and outputs (`pending`); a run that finds
//!   a pending compaction finishes it (all outputs are there: delete the inputs) or undoes it.
//! - Safe for concurrent readers: outputs appear whole (a local rename, an S3 PUT) before any
//!   input is deleted, so a reader never misses rows; for that moment it may see rows twice,
//!   which the `access_logs_unique` view (and `loglake query --unique`) removes.
//! - Deletes only what it read: each input is deleted only if it is still the version the merge
//!   read (S3's conditional delete, `If-Match` with the ETag read). An input rewritten meanwhile
//!   (the ingest function names a batch's file after its first record, so a retried or bisected
//!   batch rewrites it, possibly with other rows) stays, and the next run merges it again.
//! - No line twice once it has run: files that share origins (a batch delivered again after its
//!   first delivery was merged, an input kept as above) are merged together and keep one copy of
//!   each `(source, source_line)` ([`crate::overlap`]), whatever their sizes.
//! - Rejects too: the ingest function's rejects objects (`rejects/dt=…/`, one per batch with a
//!   rejected line) are merged by day with the same guarantees ([`rejects`]).
//! - Replays stay exact: the record lists the sources in each merged file, and a backfill that
//!   replays a source rewrites the merged files of its hours without that source's rows
//!   ([`drop_sources`]), as it deletes the source's own earlier files.

mod rejects;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::error::ArrowError;
use loglake_lake::lake::{fnv1a, partition_dir, partition_hour};
use loglake_lake::{merge_files, read_origins, LakeOptions, TimeRange};
use loglake_parser::timestamp::MICROS_PER_HOUR;
use loglake_parser::UtcHour;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::overlap::{overlaps, FirstCopies, Origins, Overlaps, ShardRanges};
use crate::s3::S3;
use crate::store::Lake;
use crate::{BackfillError, Location};

/// Where the partitions' compaction records live, relative to the lake root (outside every
/// table's directory).
pub const RECORD_DIR: &str = "_loglake/compaction";

/// The name merged files start with. It has no second `-` before the hash ends, so no source's
/// earlier-file cleanup ever takes it for one of its own files.
const MERGED_PREFIX: &str = "compacted-";

/// Requests in flight at once when a compaction copies or deletes an S3 lake's small files.
const S3_CONCURRENCY: usize = 16;

/// Merges run at once (a lake's partitions side by side, and a busy partition's groups). A merge of [`MAX_MERGE_INPUTS`] files
/// holds about a million rows (about 450 MB measured), so two fit the backfill function's
/// 3,008 MB (two vCPUs) and a laptop.
const MERGES_AT_ONCE: usize = 2;

/// The most files one merge reads. The ingest function's lake wiring leaves thousands of small
/// files an hour (one per invocation per shard), and a merge holds a batch of each: in groups of
/// this many, memory stays bounded, and the next run merges the groups' outputs in turn.
const MAX_MERGE_INPUTS: usize = 256;

#[derive(Debug, Clone, Copy)]
pub struct CompactOptions {
    /// The size merged files aim at; files this size or larger are left alone.
    pub target_bytes: u64,
    /// Only partitions of hours in this range are compacted.
    pub range: TimeRange,
    pub lake: LakeOptions,
}

impl Default for CompactOptions {
    fn default() -> Self {
        Self {
            target_bytes: 128 << 20,
            range: TimeRange::default(),
            lake: LakeOptions::default(),
        }
    }
}

/// What a run did. Every row read is written, or dropped as a second copy of a line.
#[derive(Debug, Default, Serialize)]
pub struct CompactSummary {
    pub partitions_seen: u64,
    pub partitions_compacted: u64,
    pub files_in: u64,
    pub files_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Rows written.
    pub rows: u64,
    /// Rows not written because the merge had already written their line (a redelivery's).
    pub duplicates_dropped: u64,
    /// Inputs left in place because they were rewritten after the merge read them.
    pub inputs_changed: u64,
    /// Pending compactions of an interrupted run, finished or undone.
    pub recovered: u64,
    /// Rejects objects (`rejects/dt=…/`) merged, and written.
    pub rejects_files_in: u64,
    pub rejects_files_out: u64,
    /// Rejected lines written, and those not written because a merge had written their line.
    pub rejects_lines: u64,
    pub rejects_duplicates_dropped: u64,
    pub errors: Vec<PartitionFailure>,
}

#[derive(Debug, Serialize)]
pub struct PartitionFailure {
    pub partition: String,
    pub error: String,
}

/// A partition's compaction record.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PartitionRecord {
    /// Merged files of the partition (names) and the sources whose rows each holds.
    merged: BTreeMap<String, BTreeSet<String>>,
    /// The stream records in each merged file, as ranges of each shard's sequence numbers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    shards: BTreeMap<String, ShardRanges>,
    pending: Option<Pending>,
}

impl PartitionRecord {
    /// A merged file's origins, as the record holds them.
    fn origins(&self, name: &str) -> Option<Origins> {
        Some(Origins {
            files: self.merged.get(name)?.clone(),
            shards: self.shards.get(name).cloned().unwrap_or_default(),
        })
    }
}

/// A compaction between publishing its outputs and deleting its inputs.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Pending {
    inputs: Vec<String>,
    /// The version of each input the merge read (ETag, or a local file's size and time): only
    /// that version is deleted. (Absent in records of earlier releases.)
    #[serde(default)]
    versions: BTreeMap<String, String>,
    outputs: BTreeMap<String, BTreeSet<String>>,
    #[serde(default)]
    output_shards: BTreeMap<String, ShardRanges>,
}

/// Compacts every partition of `lake` (a local directory or `s3://bucket/prefix`) in range.
/// A partition that fails is reported and the others go on.
pub fn compact(
    lake: &Location,
    s3: Option<&S3>,
    options: &CompactOptions,
) -> Result<CompactSummary, BackfillError> {
    let lake = Lake::new(lake.clone(), s3)?;
    let partitions: Vec<_> = partitions(&lake, options.range)?.into_iter().collect();
    // Partitions, and a busy partition's merges, share one pool of MERGES_AT_ONCE threads: as
    // many merges at once as memory allows, whichever partitions they belong to.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let merges = rayon::ThreadPoolBuilder::new()
        .num_threads(cores.min(MERGES_AT_ONCE))
        .build()
        .expect("can start the compaction's threads");
    let rejects_days: Vec<_> = rejects::days(&lake, options.range)?.into_iter().collect();
    let summaries: Vec<CompactSummary> = merges.install(|| {
        let rows = (partitions.into_par_iter()).map(|(hour, files)| {
            let mut summary = CompactSummary {
                partitions_seen: 1,
                ..CompactSummary::default()
            };
            if let Err(error) = compact_partition(&lake, hour, files, options, &mut summary) {
                summary.errors.push(PartitionFailure {
                    partition: partition_key(hour),
                    error: error.to_string(),
                });
            }
            summary
        });
        let rejects = (rejects_days.into_par_iter()).map(|(date, files)| {
            let mut summary = CompactSummary::default();
            if let Err(error) = rejects::compact_day(&lake, &date, files, options, &mut summary) {
                summary.errors.push(PartitionFailure {
                    partition: format!("{}/dt={date}", loglake_lake::REJECTS_DIR),
                    error: error.to_string(),
                });
            }
            summary
        });
        rows.chain(rejects).collect()
    });
    let mut summary = CompactSummary::default();
    summaries.into_iter().for_each(|each| summary.add(each));
    Ok(summary)
}

impl CompactSummary {
    fn add(&mut self, other: CompactSummary) {
        self.partitions_seen += other.partitions_seen;
        self.partitions_compacted += other.partitions_compacted;
        self.files_in += other.files_in;
        self.files_out += other.files_out;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.rows += other.rows;
        self.duplicates_dropped += other.duplicates_dropped;
        self.inputs_changed += other.inputs_changed;
        self.recovered += other.recovered;
        self.rejects_files_in += other.rejects_files_in;
        self.rejects_files_out += other.rejects_files_out;
        self.rejects_lines += other.rejects_lines;
        self.rejects_duplicates_dropped += other.rejects_duplicates_dropped;
        self.errors.extend(other.errors);
    }
}

/// The lake's files by partition, for the hours in `range`: a bounded range of a few days is
/// listed hour by hour, anything else in one listing of the table.
fn partitions(
    lake: &Lake,
    range: TimeRange,
) -> Result<BTreeMap<UtcHour, Vec<(String, u64)>>, BackfillError> {
    let hours = match (range.since, range.until) {
        (Some(since), Some(until)) => {
            let (first, last) = (UtcHour::of_micros(since), UtcHour::of_micros(until - 1));
            let count = last.hours_since_epoch - first.hours_since_epoch + 1;
            (count <= 24 * 7).then(|| {
                (first.hours_since_epoch..=last.hours_since_epoch)
                    .map(|h| UtcHour::of_micros(h * MICROS_PER_HOUR))
                    .collect::<Vec<_>>()
            })
        }
        _ => None,
    };
    let listed = match hours {
        Some(hours) => {
            let mut files = Vec::new();
            for hour in hours {
                files.extend(lake.list(&partition_key(hour))?);
            }
            files
        }
        None => lake.list(loglake_schema::TABLE_NAME)?,
    };
    let mut by_hour: BTreeMap<UtcHour, Vec<(String, u64)>> = BTreeMap::new();
    for (relative, size) in listed {
        // Names starting with `_` are not data to Athena (job markers and the like).
        if file_name(&relative).starts_with('_') {
            continue;
        }
        let hour = Path::new(&relative).parent().and_then(partition_hour);
        if let Some(hour) = hour.filter(|h| range.overlaps(*h)) {
            by_hour.entry(hour).or_default().push((relative, size));
        }
    }
    Ok(by_hour)
}

fn partition_key(hour: UtcHour) -> String {
    partition_dir(hour).to_string_lossy().replace('\\', "/")
}

fn record_key(hour: UtcHour) -> String {
    format!(
        "{RECORD_DIR}/dt={}/hour={:02}.json",
        hour.date_string(),
        hour.hour_of_day()
    )
}

fn read_record(lake: &Lake, key: &str) -> Result<PartitionRecord, BackfillError> {
    match lake.read(key)? {
        None => Ok(PartitionRecord::default()),
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|source| BackfillError::Manifest {
            path: key.to_string(),
            source,
        }),
    }
}

fn write_record(lake: &Lake, key: &str, record: &PartitionRecord) -> Result<(), BackfillError> {
    let json = serde_json::to_vec_pretty(record).expect("a record serialises");
    lake.write(key, json)
}

fn file_name(relative: &str) -> &str {
    relative.rsplit('/').next().unwrap_or(relative)
}

/// Ends a pending compaction: with every output in place the inputs are deleted (each only if
/// still the version the merge read), else the outputs that made it are (the inputs are all
/// still there). Returns the files left.
fn recover(
    lake: &Lake,
    dir: &str,
    key: &str,
    record: &mut PartitionRecord,
    mut files: Vec<(String, u64)>,
    summary: &mut CompactSummary,
) -> Result<Vec<(String, u64)>, BackfillError> {
    let Some(pending) = record.pending.take() else {
        return Ok(files);
    };
    let present: BTreeSet<&str> = files.iter().map(|(f, _)| file_name(f)).collect();
    let complete = pending.outputs.keys().all(|o| present.contains(o.as_str()));
    let mut gone = BTreeSet::new();
    if complete {
        let delete = |input: &String| {
            let relative = format!("{dir}/{input}");
            match pending.versions.get(input) {
                Some(version) => lake.delete_if_unchanged(&relative, version),
                None => lake.delete(&relative).map(|()| true),
            }
        };
        let deleted = match lake {
            Lake::S3 { .. } => concurrently(&pending.inputs, S3_CONCURRENCY, delete),
            Lake::Local(_) => pending.inputs.iter().map(delete).collect(),
        };
        for (input, deleted) in pending.inputs.into_iter().zip(deleted) {
            record.merged.remove(&input);
            record.shards.remove(&input);
            if deleted? {
                gone.insert(input);
            } else {
                summary.inputs_changed += 1;
            }
        }
        record.merged.extend(pending.outputs);
        record.shards.extend(pending.output_shards);
    } else {
        for output in pending.outputs.into_keys() {
            lake.delete(&format!("{dir}/{output}"))?;
            gone.insert(output);
        }
    }
    write_record(lake, key, record)?;
    files.retain(|(f, _)| !gone.contains(file_name(f)));
    Ok(files)
}

/// `work` on each item, `workers` at a time; the results in the items' order. (An hour of the
/// default wiring is thousands of small objects: one request after another, tens of milliseconds
/// each in S3, would take most of the function's 15 minutes at ten times the default traffic.)
fn concurrently<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    work: impl Fn(&T) -> R + Sync + Send,
) -> Vec<R> {
    if workers <= 1 || items.len() <= 1 {
        // No thread for one at a time: the caller's keeps its allocator's warm memory.
        return items.iter().map(work).collect();
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(workers.min(items.len()))
        .build()
        .expect("can start the compaction's threads")
        .install(|| items.par_iter().map(work).collect())
}

/// The partition's files a compaction has copied or opened, with the version read.
struct Fetched<'a> {
    lake: &'a Lake,
    staging: &'a Path,
    files: BTreeMap<String, (PathBuf, String)>,
}

impl Fetched<'_> {
    /// Copies the files of `relatives` not fetched yet from an S3 lake, [`S3_CONCURRENCY`] at a
    /// time. (A local lake's files are not copied.)
    fn prefetch<'r>(
        &mut self,
        relatives: impl IntoIterator<Item = &'r str>,
    ) -> Result<(), BackfillError> {
        if !matches!(self.lake, Lake::S3 { .. }) {
            return Ok(());
        }
        let wanted: Vec<&str> = (relatives.into_iter())
            .filter(|relative| !self.files.contains_key(*relative))
            .collect();
        let (lake, staging) = (self.lake, self.staging);
        let fetched = concurrently(&wanted, S3_CONCURRENCY, |relative| {
            lake.fetch(relative, staging)
        });
        for (relative, result) in wanted.into_iter().zip(fetched) {
            self.files.insert(relative.to_string(), result?);
        }
        Ok(())
    }

    fn get(&mut self, relative: &str) -> Result<&(PathBuf, String), BackfillError> {
        if !self.files.contains_key(relative) {
            let fetched = self.lake.fetch(relative, self.staging)?;
            self.files.insert(relative.to_string(), fetched);
        }
        Ok(&self.files[relative])
    }
}

fn compact_partition(
    lake: &Lake,
    hour: UtcHour,
    files: Vec<(String, u64)>,
    options: &CompactOptions,
    summary: &mut CompactSummary,
) -> Result<(), BackfillError> {
    let (dir, key) = (partition_key(hour), record_key(hour));
    let Some((record, files)) = open_recorded(lake, &dir, &key, files, summary)? else {
        return Ok(());
    };
    // Outputs are made outside the partition and published only once the record names them.
    let staging = lake.staging_dir()?;
    let mut fetched = Fetched {
        lake,
        staging: staging.path(),
        files: BTreeMap::new(),
    };
    // Where each file's rows came from: merged files' from the record, other small files' from
    // their `source` column. Only an hour compacted before can hold a line twice (a retried
    // batch rewrites its files under the same names, so two files of one batch need a merge
    // between the deliveries); files at the target size compaction did not write stay as they are.
    let compacted_before = !record.merged.is_empty();
    if compacted_before {
        let small = files.iter().filter(|(relative, size)| {
            *size < options.target_bytes && !record.merged.contains_key(file_name(relative))
        });
        fetched.prefetch(small.map(|(relative, _)| relative.as_str()))?;
    }
    let mut origins = Vec::with_capacity(files.len());
    for (relative, size) in &files {
        origins.push(match record.origins(file_name(relative)) {
            Some(origins) => origins,
            None if compacted_before && *size < options.target_bytes => {
                read_origins(&fetched.get(relative)?.0)?.into()
            }
            None => Origins::default(),
        });
    }
    let found = overlaps(&origins.iter().collect::<Vec<_>>());
    let groups = plan_merges(&files, &found, options.target_bytes);
    if groups.is_empty() {
        return Ok(());
    }

    let inputs = groups.iter().flat_map(|(group, _)| group);
    fetched.prefetch(inputs.map(|&i| files[i].0.as_str()))?;
    // Each merge's inputs (copied or opened, and the version read) and output.
    let mut pending = Pending::default();
    let mut merges = Vec::with_capacity(groups.len());
    for (group, overlapping) in &groups {
        let names: Vec<&str> = group.iter().map(|&i| file_name(&files[i].0)).collect();
        let output = format!(
            "{MERGED_PREFIX}{:016x}.parquet",
            fnv1a(names.join("\n").as_bytes())
        );
        let mut local_inputs = Vec::new();
        for (&i, name) in group.iter().zip(&names) {
            let (path, version) = fetched.get(&files[i].0)?;
            local_inputs.push(path.clone());
            pending.versions.insert(name.to_string(), version.clone());
        }
        let output_path = staging.path().join(&dir).join(&output);
        std::fs::create_dir_all(output_path.parent().expect("a partition directory"))
            .map_err(crate::io_error(&output_path))?;
        merges.push((local_inputs, output, output_path, *overlapping));
    }
    // A busy hour's merges side by side, on the pool `compact` runs partitions on.
    let merged_all: Vec<_> = (merges.par_iter())
        .map(|(inputs, _, output_path, overlapping)| {
            let first_copies = FirstCopies::new(&found.shared);
            let keep = |batch| first_copies.keep(batch);
            let keep: &dyn Fn(_) -> _ = if *overlapping { &keep } else { &Ok };
            merge_files(inputs, output_path, &options.lake, keep)
        })
        .collect();
    let mut written = Vec::new();
    let plans = groups.iter().zip(merges).zip(merged_all);
    for (((group, _), (_, output, output_path, _)), merged) in plans {
        let merged = merged?;
        summary.files_in += group.len() as u64;
        summary.bytes_in += group.iter().map(|&i| files[i].1).sum::<u64>();
        summary.bytes_out += std::fs::metadata(&output_path).map_or(0, |m| m.len());
        summary.rows += merged.rows_out;
        summary.duplicates_dropped += merged.rows_in - merged.rows_out;
        summary.files_out += 1;
        // The output holds each input's batches: a merged input's as the record has them, a
        // batch file's as the merge read it.
        let mut output_origins = Origins::default();
        for (&i, read) in group.iter().zip(merged.inputs) {
            match record.merged.contains_key(file_name(&files[i].0)) {
                true => output_origins.extend(&origins[i]),
                false => output_origins.extend(&read.into()),
            }
        }
        let names = group.iter().map(|&i| file_name(&files[i].0).to_string());
        pending.inputs.extend(names);
        pending.outputs.insert(output.clone(), merged.sources);
        pending
            .output_shards
            .insert(output.clone(), output_origins.shards);
        written.push((output_path, format!("{dir}/{output}")));
    }
    commit(lake, &dir, &key, record, pending, written, summary)?;
    summary.partitions_compacted += 1;
    Ok(())
}

/// A directory's files (relative to the lake) and their sizes.
type Listed = Vec<(String, u64)>;

/// The record of the directory `dir` (at `key`), with a pending compaction of an interrupted run
/// finished or undone, and the files left; `None` when fewer than two are left to merge.
fn open_recorded(
    lake: &Lake,
    dir: &str,
    key: &str,
    files: Listed,
    summary: &mut CompactSummary,
) -> Result<Option<(PartitionRecord, Listed)>, BackfillError> {
    let mut record = read_record(lake, key)?;
    if record.pending.is_some() {
        summary.recovered += 1;
    }
    let files = recover(lake, dir, key, &mut record, files, summary)?;
    Ok((files.len() >= 2).then_some((record, files)))
}

/// Ends a merge of `dir`: its outputs (`written`: staged path and key) are named in the record
/// before they are published, so a run cut short after that is finished or undone by the next
/// one; then the inputs the merge read are deleted.
fn commit(
    lake: &Lake,
    dir: &str,
    key: &str,
    mut record: PartitionRecord,
    pending: Pending,
    written: Vec<(PathBuf, String)>,
    summary: &mut CompactSummary,
) -> Result<(), BackfillError> {
    record.pending = Some(pending);
    write_record(lake, key, &record)?;
    let (paths, keys): (Vec<_>, Vec<_>) = written.into_iter().unzip();
    lake.publish(&paths, &keys)?;
    let files_now = lake.list(dir)?;
    recover(lake, dir, key, &mut record, files_now, summary)?;
    Ok(())
}

/// A partition's merges: each set of files that share origins (merged whatever their sizes,
/// keeping one copy of each line: `true`), then the other small files in groups that fit
/// `target` ([`plan_groups`]). Indexes into `files`.
fn plan_merges(files: &[(String, u64)], found: &Overlaps, target: u64) -> Vec<(Vec<usize>, bool)> {
    let in_overlap: BTreeSet<usize> = found.groups.iter().flatten().copied().collect();
    let position: BTreeMap<&str, usize> = files
        .iter()
        .enumerate()
        .map(|(i, (relative, _))| (relative.as_str(), i))
        .collect();
    let rest: Vec<(String, u64)> = (0..files.len())
        .filter(|i| !in_overlap.contains(i))
        .map(|i| files[i].clone())
        .collect();
    let mut groups: Vec<(Vec<usize>, bool)> =
        found.groups.iter().map(|g| (g.clone(), true)).collect();
    groups.extend(plan_groups(&rest, target).into_iter().map(|group| {
        let indexes = group.iter().map(|(f, _)| position[f.as_str()]).collect();
        (indexes, false)
    }));
    groups
}

/// Groups of a partition's small files (smaller than `target`), in name order, each as large as
/// fits in `target` and at most [`MAX_MERGE_INPUTS`] files; groups of one file are left out
/// (there is nothing to merge).
fn plan_groups(files: &[(String, u64)], target: u64) -> Vec<Vec<(String, u64)>> {
    let mut groups: Vec<Vec<(String, u64)>> = Vec::new();
    let mut current: Vec<(String, u64)> = Vec::new();
    let mut bytes = 0;
    for (name, size) in files.iter().filter(|(_, size)| *size < target) {
        if !current.is_empty() && (bytes + size > target || current.len() == MAX_MERGE_INPUTS) {
            groups.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push((name.clone(), *size));
        bytes += size;
    }
    groups.push(current);
    groups.retain(|g| g.len() > 1);
    groups
}

/// Removes the rows of `sources` from the merged files of `lake` in the hours of `range`: what a
/// re-ingest of those sources does besides replacing their own files, so rows a compaction took
/// from their earlier files are not kept twice. Returns the merged files rewritten.
pub fn drop_sources_from(
    lake: &Location,
    s3: Option<&S3>,
    sources: &BTreeSet<String>,
    range: TimeRange,
) -> Result<u64, BackfillError> {
    drop_sources(&Lake::new(lake.clone(), s3)?, sources, range)
}

/// [`drop_sources_in_hours`] over every partition of `range` that has a compaction record.
pub(crate) fn drop_sources(
    lake: &Lake,
    sources: &BTreeSet<String>,
    range: TimeRange,
) -> Result<u64, BackfillError> {
    let hours: BTreeSet<UtcHour> = (lake.list(RECORD_DIR)?.iter())
        .filter_map(|(relative, _)| {
            relative
                .strip_suffix(".json")
                .and_then(|r| r.strip_prefix(&format!("{RECORD_DIR}/")))
                .map(|r| Path::new(loglake_schema::TABLE_NAME).join(r))
                .and_then(|p| partition_hour(&p))
        })
        .filter(|hour| range.overlaps(*hour))
        .collect();
    drop_sources_in_hours(lake, sources, &hours)
}

/// Removes the rows of `sources` from the merged files of the partitions of `hours` (one read
/// of each partition's record; an hour never compacted costs that read only). Returns the
/// merged files rewritten.
pub(crate) fn drop_sources_in_hours(
    lake: &Lake,
    sources: &BTreeSet<String>,
    hours: &BTreeSet<UtcHour>,
) -> Result<u64, BackfillError> {
    let mut rewritten = 0;
    for &hour in hours {
        let mut record = read_record(lake, &record_key(hour))?;
        if record.merged.values().all(|held| held.is_disjoint(sources)) {
            continue;
        }
        let dir = partition_key(hour);
        let staging = lake.staging_dir()?;
        let mut emptied = Vec::new();
        for (name, held) in record.merged.iter_mut() {
            if held.is_disjoint(sources) {
                continue;
            }
            let relative = format!("{dir}/{name}");
            // A local lake's file is rewritten in place (renamed over); an S3 one is copied,
            // rewritten and put back.
            let (local, _) = lake.fetch(&relative, staging.path())?;
            let keep = |batch: RecordBatch| without_sources(batch, sources);
            let merged = merge_files(
                std::slice::from_ref(&local),
                &local,
                &LakeOptions::default(),
                &keep,
            )?;
            if merged.rows_out == 0 {
                lake.delete(&relative)?;
                emptied.push(name.clone());
            } else {
                lake.publish(&[local], &[relative])?;
            }
            *held = merged.sources;
            rewritten += 1;
        }
        for name in emptied {
            record.merged.remove(&name);
            record.shards.remove(&name);
        }
        write_record(lake, &record_key(hour), &record)?;
    }
    Ok(rewritten)
}

fn without_sources(
    batch: RecordBatch,
    sources: &BTreeSet<String>,
) -> Result<RecordBatch, ArrowError> {
    let source = batch["source"].as_string::<i32>();
    let keep: BooleanArray = source
        .iter()
        .map(|s| Some(s.is_none_or(|s| !sources.contains(s))))
        .collect();
    filter_record_batch(&batch, &keep)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::{Backfill, BackfillOptions};
    use arrow::datatypes::Int64Type;
    use loglake_lake::Progress;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    /// Six small logs, each with lines in the same two hours: a lake of many small files.
    fn small_sources(dir: &Path) -> PathBuf {
        let src = dir.join("src");
        fs::create_dir_all(&src).unwrap();
        for s in 0..6 {
            let lines: String = (0..20)
                .map(|i| {
                    format!(
                        "10.0.0.{s} - - [10/Oct/2020:{:02}:{i:02}:{s:02} +0000] \"GET /p{i} HTTP/1.1\" 200 5 \"-\" \"curl/8\"\n",
                        10 + i % 2
                    )
                })
                .collect();
            fs::write(src.join(format!("s{s}.log")), lines).unwrap();
        }
        src
    }

    fn backfill(src: &Path, lake: &Path, force: bool) {
        let options = BackfillOptions {
            force,
            ..Default::default()
        };
        let backfill = Backfill::new(Location::Local(lake.into()), None, options).unwrap();
        let sources = backfill.list_sources(&Location::Local(src.into())).unwrap();
        let summary = backfill.run(&sources, 2, &Progress::none());
        assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    }

    pub(super) fn compact_lake(lake: &Path) -> CompactSummary {
        let summary = compact(
            &Location::Local(lake.into()),
            None,
            &CompactOptions::default(),
        )
        .unwrap();
        assert!(summary.errors.is_empty(), "{:?}", summary.errors);
        summary
    }

    /// The Parquet files of the lake, and `(source, source_line)` of their rows, checking that
    /// no line is there twice.
    fn lake(lake: &Path) -> (Vec<String>, BTreeSet<(String, i64)>) {
        let files: Vec<String> = Lake::Local(lake.into())
            .list("access_logs")
            .unwrap()
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        let mut lines = BTreeSet::new();
        for file in &files {
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(fs::File::open(lake.join(file)).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                let sources = batch["source"].as_string::<i32>();
                let numbers = batch["source_line"].as_primitive::<Int64Type>();
                for row in 0..batch.num_rows() {
                    let line = (sources.value(row).to_string(), numbers.value(row));
                    assert!(lines.insert(line.clone()), "{line:?} twice");
                }
            }
        }
        (files, lines)
    }

    #[test]
    fn merges_each_hour_once_and_replays_stay_exact() {
        let dir = tempfile::tempdir().unwrap();
        let src = small_sources(dir.path());
        let root = dir.path().join("lake");
        backfill(&src, &root, false);
        let (before, lines) = lake(&root);
        assert_eq!((before.len(), lines.len()), (12, 120));

        let summary = compact_lake(&root);
        assert_eq!(
            (
                summary.partitions_compacted,
                summary.files_in,
                summary.files_out
            ),
            (2, 12, 2)
        );
        assert_eq!(summary.rows, 120);
        let (after, after_lines) = lake(&root);
        assert_eq!(after_lines, lines);
        assert_eq!(after.len(), 2);
        assert!(after
            .iter()
            .all(|f| file_name(f).starts_with(MERGED_PREFIX)));
        // Nothing left to do, even with a marker file another tool left; nothing left behind.
        let marker = root.join(&after[0]).with_file_name("_SUCCESS");
        fs::write(&marker, b"").unwrap();
        assert_eq!(compact_lake(&root).partitions_compacted, 0);
        fs::remove_file(marker).unwrap();
        assert_eq!(lake(&root).0, after);
        let hidden: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "{hidden:?}");

        // A replay of every source replaces their rows in the merged files too.
        backfill(&src, &root, true);
        let (replayed, replayed_lines) = lake(&root);
        assert_eq!(replayed_lines, lines);
        assert_eq!(replayed.len(), 12, "the merged files emptied and went");
        // A changed source: only its rows move out of the merged file.
        compact_lake(&root);
        let changed = src.join("s0.log");
        let text = fs::read_to_string(&changed).unwrap();
        let half: String = text.lines().take(10).map(|l| format!("{l}\n")).collect();
        fs::write(&changed, half).unwrap();
        backfill(&src, &root, false);
        let (_, changed_lines) = lake(&root);
        let s0 = changed.display().to_string();
        assert_eq!(changed_lines.iter().filter(|(s, _)| *s == s0).count(), 10);
        assert_eq!(changed_lines.len(), 110);
    }

    #[test]
    fn an_hour_of_several_groups_is_merged_on_every_core_and_keeps_its_lines() {
        let dir = tempfile::tempdir().unwrap();
        let src = small_sources(dir.path());
        let root = dir.path().join("lake");
        backfill(&src, &root, false);
        let (before, lines) = lake(&root);
        let largest = before
            .iter()
            .map(|f| fs::metadata(root.join(f)).unwrap().len())
            .max()
            .unwrap();
        // A target of two and a half files: groups of two, three merges an hour.
        let options = CompactOptions {
            target_bytes: largest * 5 / 2,
            ..CompactOptions::default()
        };
        let summary = compact(&Location::Local(root.clone()), None, &options).unwrap();
        assert!(summary.errors.is_empty(), "{:?}", summary.errors);
        assert_eq!((summary.files_in, summary.files_out), (12, 6));
        let (after, after_lines) = lake(&root);
        assert_eq!(after_lines, lines);
        assert_eq!(after.len(), 6);
        let record = read_record(&Lake::Local(root.clone()), &record_key(hour_10())).unwrap();
        assert_eq!(record.merged.len(), 3);
        assert!(record.pending.is_none());
    }

    #[test]
    fn a_replay_reads_the_records_of_its_own_hours_only() {
        let dir = tempfile::tempdir().unwrap();
        let src = small_sources(dir.path());
        let root = dir.path().join("lake");
        backfill(&src, &root, false);
        compact_lake(&root);
        // Another hour's record, unreadable: a replay of these sources never opens it, so what
        // a replay costs does not grow with the lake.
        let other = root.join(RECORD_DIR).join("dt=2019-01-01/hour=00.json");
        fs::create_dir_all(other.parent().unwrap()).unwrap();
        fs::write(&other, b"not a record").unwrap();
        backfill(&src, &root, true);
        let (files, lines) = lake(&root);
        assert_eq!((files.len(), lines.len()), (12, 120));
    }

    /// Runs a compaction of `root` on a copy, and returns the copy's record of `hour` (pending
    /// again, as if the run had stopped before deleting its inputs) and its merged files.
    fn interrupted(root: &Path, hour: UtcHour) -> (PartitionRecord, Vec<(String, Vec<u8>)>) {
        let copy = tempfile::tempdir().unwrap();
        let lake_copy = copy.path().join("lake");
        let status = std::process::Command::new("cp")
            .args([
                "-r",
                &root.display().to_string(),
                &lake_copy.display().to_string(),
            ])
            .status()
            .unwrap();
        assert!(status.success());
        let (before, _) = lake(&lake_copy);
        compact_lake(&lake_copy);
        let mut record = read_record(&Lake::Local(lake_copy.clone()), &record_key(hour)).unwrap();
        let dir = partition_key(hour);
        let inputs: Vec<String> = before
            .iter()
            .filter(|f| f.starts_with(&dir))
            .map(|f| file_name(f).to_string())
            .collect();
        let outputs = std::mem::take(&mut record.merged);
        let output_shards = std::mem::take(&mut record.shards);
        let files = outputs
            .keys()
            .map(|name| {
                (
                    format!("{dir}/{name}"),
                    fs::read(lake_copy.join(&dir).join(name)).unwrap(),
                )
            })
            .collect();
        record.pending = Some(Pending {
            inputs,
            outputs,
            output_shards,
            ..Pending::default()
        });
        (record, files)
    }

    #[test]
    fn an_interrupted_compaction_is_finished_or_undone() {
        let dir = tempfile::tempdir().unwrap();
        let src = small_sources(dir.path());
        let root = dir.path().join("lake");
        backfill(&src, &root, false);
        let (_, lines) = lake(&root);
        let hour =
            UtcHour::of_micros(loglake_parser::parse_utc_instant("2020-10-10T10:00:00Z").unwrap());
        let local = Lake::Local(root.clone());

        // Stopped after publishing: the outputs are there (rows twice), the inputs are deleted.
        let (record, outputs) = interrupted(&root, hour);
        for (relative, bytes) in &outputs {
            fs::write(root.join(relative), bytes).unwrap();
        }
        write_record(&local, &record_key(hour), &record).unwrap();
        let summary = compact_lake(&root);
        assert_eq!(summary.recovered, 1);
        let (files, recovered_lines) = lake(&root);
        assert_eq!(recovered_lines, lines);
        assert_eq!(
            files
                .iter()
                .filter(|f| f.starts_with(&partition_key(hour)))
                .count(),
            1
        );

        // Stopped before publishing: no output, so nothing is deleted but the record.
        let root2 = dir.path().join("lake2");
        backfill(&src, &root2, false);
        let (record, _) = interrupted(&root2, hour);
        write_record(&Lake::Local(root2.clone()), &record_key(hour), &record).unwrap();
        let summary = compact_lake(&root2);
        assert_eq!((summary.recovered, summary.partitions_compacted), (1, 2));
        assert_eq!(lake(&root2).1.len(), 120);
    }

    /// A Kinesis record's source, as the ingest function names it (shard 0).
    pub(super) fn record_source(sequence: u64) -> String {
        format!("kinesis:web/shardId-000000000000/4959{sequence:052}")
    }

    /// Writes a file as the ingest function writes a batch's rows of one hour (a PUT under the
    /// name of the batch's first record): records `first..first + count`, two lines each, in
    /// hour 10 of 2020-10-10. Returns its path in the lake.
    fn put_batch(root: &Path, first: u64, count: u64) -> String {
        let staging = tempfile::tempdir().unwrap();
        let mut writer = loglake_lake::LakeWriter::new(
            staging.path(),
            &record_source(first),
            LakeOptions::default(),
        );
        for sequence in first..first + count {
            let source = record_source(sequence);
            let mut decoder = loglake_decode::Decoder::new(source.as_str(), Default::default());
            let text: String = (0..2)
                .map(|i| format!("10.0.0.{i} - - [10/Oct/2020:10:{:02}:0{i} +0000] \"GET /r{sequence} HTTP/1.1\" 200 5 \"-\" \"curl/8\"\n", sequence % 60))
                .collect();
            let mut rest = text.as_bytes();
            while !rest.is_empty() {
                rest = &rest[decoder.decode(rest)..];
                while let Some(batch) = decoder.flush() {
                    writer.write(&batch.rows).unwrap();
                }
            }
        }
        let files = writer.finish().unwrap().files;
        assert_eq!(files.len(), 1);
        let relative = loglake_lake::lake::relative_key(staging.path(), &files[0]);
        let dest = root.join(&relative);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(&files[0], &dest).unwrap();
        relative
    }

    fn hour_10() -> UtcHour {
        UtcHour::of_micros(loglake_parser::parse_utc_instant("2020-10-10T10:00:00Z").unwrap())
    }

    #[test]
    fn an_input_rewritten_while_it_was_merged_stays_and_no_line_is_lost_or_twice() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("lake");
        // A batch's first delivery that wrote only its first two records (bisected after an
        // error), under the batch's name; two other batches.
        put_batch(&root, 1, 2);
        put_batch(&root, 10, 3);
        put_batch(&root, 20, 3);
        let local = Lake::Local(root.clone());
        let read: BTreeMap<String, String> = local
            .list(&partition_key(hour_10()))
            .unwrap()
            .into_iter()
            .map(|(f, _)| {
                (
                    file_name(&f).to_string(),
                    local.fetch(&f, dir.path()).unwrap().1,
                )
            })
            .collect();
        // A compaction merged these versions and published its output...
        let (mut record, outputs) = interrupted(&root, hour_10());
        record.pending.as_mut().unwrap().versions = read;
        for (relative, bytes) in &outputs {
            fs::write(root.join(relative), bytes).unwrap();
        }
        write_record(&local, &record_key(hour_10()), &record).unwrap();
        // ...when the whole batch was delivered again, under the same name, before the
        // compaction deleted its inputs.
        put_batch(&root, 1, 4);

        let summary = compact_lake(&root);
        assert_eq!((summary.recovered, summary.inputs_changed), (1, 1));
        assert_eq!(
            summary.duplicates_dropped, 4,
            "records 1 and 2, merged twice"
        );
        let (files, lines) = lake(&root);
        assert_eq!(lines.len(), (4 + 3 + 3) * 2, "records 3 and 4 kept");
        assert_eq!(files.len(), 1);
    }

    #[test]
    fn a_batch_delivered_again_after_its_hour_was_merged_leaves_no_line_twice() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("lake");
        put_batch(&root, 1, 3);
        put_batch(&root, 10, 3);
        let first = compact_lake(&root);
        assert_eq!((first.files_out, first.duplicates_dropped), (1, 0));
        // The first batch again (its function timed out after writing), and a later batch.
        put_batch(&root, 1, 3);
        put_batch(&root, 30, 2);

        let again = compact_lake(&root);
        assert_eq!((again.files_in, again.files_out), (2, 1));
        assert_eq!(again.duplicates_dropped, 6);
        let (files, lines) = lake(&root);
        assert_eq!(lines.len(), (3 + 3 + 2) * 2);
        assert_eq!(
            files.len(),
            2,
            "the later batch is merged as usual, next run"
        );
        let next = compact_lake(&root);
        assert_eq!((next.files_in, next.duplicates_dropped), (2, 0));
        assert_eq!(lake(&root).1, lines);
    }

    #[test]
    fn groups_fit_the_target_and_leave_big_files_alone() {
        let files: Vec<(String, u64)> = [
            ("a", 40),
            ("b", 50),
            ("c", 20),
            ("big", 100),
            ("d", 30),
            ("e", 99),
        ]
        .iter()
        .map(|(n, s)| (n.to_string(), *s))
        .collect();
        let names = |groups: Vec<Vec<(String, u64)>>| -> Vec<Vec<String>> {
            groups
                .into_iter()
                .map(|g| g.into_iter().map(|(n, _)| n).collect())
                .collect()
        };
        assert_eq!(
            names(plan_groups(&files, 100)),
            [vec!["a", "b"], vec!["c", "d"]]
        );
        assert!(plan_groups(&files[..1], 100).is_empty());
        // Thousands of tiny files: groups of at most MAX_MERGE_INPUTS, whatever their bytes.
        let tiny: Vec<(String, u64)> = (0..600).map(|i| (format!("f{i:03}"), 1)).collect();
        let sizes: Vec<usize> = plan_groups(&tiny, 100_000).iter().map(Vec::len).collect();
        assert_eq!(
            sizes,
            [
                MAX_MERGE_INPUTS,
                MAX_MERGE_INPUTS,
                600 - 2 * MAX_MERGE_INPUTS
            ]
        );
    }
}
