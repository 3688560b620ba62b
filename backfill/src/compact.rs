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
//! - Replays stay exact: the record lists the sources in each merged file, and a backfill that
//!   replays a source rewrites the merged files of its hours without that source's rows
//!   ([`drop_sources`]), as it deletes the source's own earlier files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::error::ArrowError;
use loglake_lake::lake::{fnv1a, partition_dir, partition_hour};
use loglake_lake::{merge_files, LakeOptions, TimeRange};
use loglake_parser::timestamp::MICROS_PER_HOUR;
use loglake_parser::UtcHour;
use serde::{Deserialize, Serialize};

use crate::s3::S3;
use crate::store::Lake;
use crate::{BackfillError, Location};

/// Where the partitions' compaction records live, relative to the lake root (outside every
/// table's directory).
pub const RECORD_DIR: &str = "_loglake/compaction";

/// The name merged files start with. It has no second `-` before the hash ends, so no source's
/// earlier-file cleanup ever takes it for one of its own files.
const MERGED_PREFIX: &str = "compacted-";

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

/// What a run did. `rows_in == rows_out` for every merge, or the merge is an error.
#[derive(Debug, Default, Serialize)]
pub struct CompactSummary {
    pub partitions_seen: u64,
    pub partitions_compacted: u64,
    pub files_in: u64,
    pub files_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub rows: u64,
    /// Pending compactions of an interrupted run, finished or undone.
    pub recovered: u64,
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
    pending: Option<Pending>,
}

/// A compaction between publishing its outputs and deleting its inputs.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    inputs: Vec<String>,
    outputs: BTreeMap<String, BTreeSet<String>>,
}

/// Compacts every partition of `lake` (a local directory or `s3://bucket/prefix`) in range.
/// A partition that fails is reported and the others go on.
pub fn compact(
    lake: &Location,
    s3: Option<&S3>,
    options: &CompactOptions,
) -> Result<CompactSummary, BackfillError> {
    let lake = Lake::new(lake.clone(), s3)?;
    let mut summary = CompactSummary::default();
    for (hour, files) in partitions(&lake, options.range)? {
        summary.partitions_seen += 1;
        if let Err(error) = compact_partition(&lake, hour, files, options, &mut summary) {
            summary.errors.push(PartitionFailure {
                partition: partition_key(hour),
                error: error.to_string(),
            });
        }
    }
    Ok(summary)
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

fn read_record(lake: &Lake, hour: UtcHour) -> Result<PartitionRecord, BackfillError> {
    let key = record_key(hour);
    match lake.read(&key)? {
        None => Ok(PartitionRecord::default()),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|source| BackfillError::Manifest { path: key, source }),
    }
}

fn write_record(lake: &Lake, hour: UtcHour, record: &PartitionRecord) -> Result<(), BackfillError> {
    let json = serde_json::to_vec_pretty(record).expect("a record serialises");
    lake.write(&record_key(hour), json)
}

fn file_name(relative: &str) -> &str {
    relative.rsplit('/').next().unwrap_or(relative)
}

/// Ends a pending compaction: with every output in place the inputs are deleted, else the
/// outputs that made it are (the inputs are all still there). Returns the files left.
fn recover(
    lake: &Lake,
    hour: UtcHour,
    record: &mut PartitionRecord,
    mut files: Vec<(String, u64)>,
) -> Result<Vec<(String, u64)>, BackfillError> {
    let Some(pending) = record.pending.take() else {
        return Ok(files);
    };
    let dir = partition_key(hour);
    let present: BTreeSet<&str> = files.iter().map(|(f, _)| file_name(f)).collect();
    let complete = pending.outputs.keys().all(|o| present.contains(o.as_str()));
    let doomed: BTreeSet<String> = if complete {
        for input in &pending.inputs {
            record.merged.remove(input);
        }
        record.merged.extend(pending.outputs);
        pending.inputs.into_iter().collect()
    } else {
        pending.outputs.into_keys().collect()
    };
    for name in &doomed {
        lake.delete(&format!("{dir}/{name}"))?;
    }
    write_record(lake, hour, record)?;
    files.retain(|(f, _)| !doomed.contains(file_name(f)));
    Ok(files)
}

fn compact_partition(
    lake: &Lake,
    hour: UtcHour,
    files: Vec<(String, u64)>,
    options: &CompactOptions,
    summary: &mut CompactSummary,
) -> Result<(), BackfillError> {
    let mut record = read_record(lake, hour)?;
    if record.pending.is_some() {
        summary.recovered += 1;
    }
    let files = recover(lake, hour, &mut record, files)?;
    let groups = plan_groups(&files, options.target_bytes);
    if groups.is_empty() {
        return Ok(());
    }
    let dir = partition_key(hour);
    // Outputs are made outside the partition and published only once the record names them.
    let staging = lake.staging_dir()?;
    let root = staging.path();
    let mut pending = Pending {
        inputs: Vec::new(),
        outputs: BTreeMap::new(),
    };
    let mut written = Vec::new();
    for group in &groups {
        let names: Vec<&str> = group.iter().map(|(f, _)| file_name(f)).collect();
        let output = format!(
            "{MERGED_PREFIX}{:016x}.parquet",
            fnv1a(names.join("\n").as_bytes())
        );
        let mut local_inputs = Vec::new();
        for (relative, _) in group {
            local_inputs.push(lake.fetch(relative, root)?);
        }
        let output_path = root.join(&dir).join(&output);
        std::fs::create_dir_all(root.join(&dir)).map_err(crate::io_error(&root.join(&dir)))?;
        let merged = merge_files(&local_inputs, &output_path, &options.lake, &Ok)?;
        summary.files_in += group.len() as u64;
        summary.bytes_in += group.iter().map(|(_, size)| size).sum::<u64>();
        summary.bytes_out += std::fs::metadata(&output_path).map_or(0, |m| m.len());
        summary.rows += merged.rows_out;
        summary.files_out += 1;
        pending.inputs.extend(names.iter().map(|n| n.to_string()));
        pending.outputs.insert(output.clone(), merged.sources);
        written.push((output_path, format!("{dir}/{output}")));
    }
    // Named before they are published: a run cut short after this point is finished or undone
    // by the next one.
    record.pending = Some(pending);
    write_record(lake, hour, &record)?;
    let (paths, keys): (Vec<_>, Vec<_>) = written.into_iter().unzip();
    lake.publish(&paths, &keys)?;
    let files_now = lake.list(&dir)?;
    recover(lake, hour, &mut record, files_now)?;
    summary.partitions_compacted += 1;
    Ok(())
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

pub(crate) fn drop_sources(
    lake: &Lake,
    sources: &BTreeSet<String>,
    range: TimeRange,
) -> Result<u64, BackfillError> {
    let mut rewritten = 0;
    for (relative, _) in lake.list(RECORD_DIR)? {
        let Some(hour) = relative
            .strip_suffix(".json")
            .and_then(|r| r.strip_prefix(&format!("{RECORD_DIR}/")))
            .map(|r| Path::new(loglake_schema::TABLE_NAME).join(r))
            .and_then(|p| partition_hour(&p))
        else {
            continue;
        };
        if !range.overlaps(hour) {
            continue;
        }
        let mut record = read_record(lake, hour)?;
        let dir = partition_key(hour);
        let staging = lake.staging_dir()?;
        let mut changed = false;
        let mut emptied = Vec::new();
        for (name, held) in record.merged.iter_mut() {
            if held.is_disjoint(sources) {
                continue;
            }
            let relative = format!("{dir}/{name}");
            // A local lake's file is rewritten in place (renamed over); an S3 one is copied,
            // rewritten and put back.
            let local = lake.fetch(&relative, staging.path())?;
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
            changed = true;
            rewritten += 1;
        }
        for name in emptied {
            record.merged.remove(&name);
        }
        if changed {
            write_record(lake, hour, &record)?;
        }
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
    use std::path::PathBuf;

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

    fn compact_lake(lake: &Path) -> CompactSummary {
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
        let mut record = read_record(&Lake::Local(lake_copy.clone()), hour).unwrap();
        let dir = partition_key(hour);
        let inputs: Vec<String> = before
            .iter()
            .filter(|f| f.starts_with(&dir))
            .map(|f| file_name(f).to_string())
            .collect();
        let outputs = std::mem::take(&mut record.merged);
        let files = outputs
            .keys()
            .map(|name| {
                (
                    format!("{dir}/{name}"),
                    fs::read(lake_copy.join(&dir).join(name)).unwrap(),
                )
            })
            .collect();
        record.pending = Some(Pending { inputs, outputs });
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
        write_record(&local, hour, &record).unwrap();
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
        write_record(&Lake::Local(root2.clone()), hour, &record).unwrap();
        let summary = compact_lake(&root2);
        assert_eq!((summary.recovered, summary.partitions_compacted), (1, 2));
        assert_eq!(lake(&root2).1.len(), 120);
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
