//! Compaction of the rejects objects: the ingest function writes one NDJSON object under
//! `rejects/dt=DAY/` for every batch with a rejected line, so a day of junk traffic leaves as many
//! small objects as the rows do. A day's small objects are concatenated into
//! `compacted-….ndjson` with the rows' guarantees: the same kind of record (at
//! `_loglake/compaction/rejects/dt=DAY.json`) makes it crash-safe, inputs are deleted only if
//! still the version read, and objects that may hold the same line (a batch delivered again
//! after its day was merged) are merged together keeping the first copy of each
//! `(source, source_line)`.
//!
//! Rejects are few beside rows (a reject is one line kept as it came), so each small object is
//! read for its origins: no column to skip to, and no record to trust for an object the function
//! wrote.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use loglake_lake::lake::fnv1a;
use loglake_lake::{RowOrigins, TimeRange, REJECTS_DIR};
use loglake_parser::timestamp::{parse_utc_instant, MICROS_PER_HOUR};
use serde::Deserialize;

use super::{
    commit, file_name, open_recorded, plan_merges, CompactOptions, CompactSummary, Fetched,
    Pending, MERGED_PREFIX, RECORD_DIR,
};
use crate::overlap::{overlaps, Origins};
use crate::store::Lake;
use crate::{io_error, BackfillError};

const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// What identifies a reject's line.
#[derive(Deserialize)]
struct RejectLine<'a> {
    #[serde(borrow)]
    source: std::borrow::Cow<'a, str>,
    source_line: i64,
}

fn parse_line(line: &[u8]) -> Option<RejectLine<'_>> {
    serde_json::from_slice(line).ok()
}

/// The lake's rejects objects by day (`YYYY-MM-DD`), for the days that overlap `range`. Only the
/// dated layout the ingest function writes; `loglake ingest`'s one file a source is left alone.
pub(super) fn days(
    lake: &Lake,
    range: TimeRange,
) -> Result<BTreeMap<String, Vec<(String, u64)>>, BackfillError> {
    let start_of = |micros: i64| micros.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY;
    let listed = match (range.since, range.until) {
        (Some(since), Some(until)) if until - since <= 7 * MICROS_PER_DAY => {
            let mut files = Vec::new();
            let mut day = start_of(since);
            while day < until {
                let date = loglake_parser::UtcHour::of_micros(day).date_string();
                files.extend(lake.list(&format!("{REJECTS_DIR}/dt={date}"))?);
                day += MICROS_PER_DAY;
            }
            files
        }
        _ => lake.list(REJECTS_DIR)?,
    };
    let mut by_day: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for (relative, size) in listed {
        let mut parts = relative.split('/');
        let (Some(REJECTS_DIR), Some(dir), Some(name), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Some(date) = dir.strip_prefix("dt=") else {
            continue;
        };
        let Some(start) = parse_utc_instant(date) else {
            continue;
        };
        let in_range = range
            .since
            .is_none_or(|since| since < start + MICROS_PER_DAY)
            && range.until.is_none_or(|until| until > start);
        if in_range && !name.starts_with('_') {
            by_day
                .entry(date.to_string())
                .or_default()
                .push((relative, size));
        }
    }
    Ok(by_day)
}

/// Compacts one day's rejects objects.
pub(super) fn compact_day(
    lake: &Lake,
    date: &str,
    files: Vec<(String, u64)>,
    options: &CompactOptions,
    summary: &mut CompactSummary,
) -> Result<(), BackfillError> {
    let dir = format!("{REJECTS_DIR}/dt={date}");
    let key = format!("{RECORD_DIR}/{REJECTS_DIR}/dt={date}.json");
    let Some((record, files)) = open_recorded(lake, &dir, &key, files, summary)? else {
        return Ok(());
    };
    let staging = lake.staging_dir()?;
    let mut fetched = Fetched {
        lake,
        staging: staging.path(),
        files: BTreeMap::new(),
    };
    let unmerged = files
        .iter()
        .filter(|(relative, _)| !record.merged.contains_key(file_name(relative)));
    fetched.prefetch(unmerged.map(|(relative, _)| relative.as_str()))?;
    let mut origins = Vec::with_capacity(files.len());
    for (relative, _) in &files {
        origins.push(match record.origins(file_name(relative)) {
            Some(origins) => origins,
            None => origins_of(&fetched.get(relative)?.0)?,
        });
    }
    let found = overlaps(&origins.iter().collect::<Vec<_>>());
    let groups = plan_merges(&files, &found, options.target_bytes);
    if groups.is_empty() {
        return Ok(());
    }

    let mut pending = Pending::default();
    let mut written = Vec::new();
    for (group, overlapping) in &groups {
        let names: Vec<&str> = group.iter().map(|&i| file_name(&files[i].0)).collect();
        let output = format!(
            "{MERGED_PREFIX}{:016x}.ndjson",
            fnv1a(names.join("\n").as_bytes())
        );
        let mut inputs = Vec::with_capacity(group.len());
        let mut output_origins = Origins::default();
        for (&i, name) in group.iter().zip(&names) {
            let (path, version) = fetched.get(&files[i].0)?;
            inputs.push(path.clone());
            pending.versions.insert(name.to_string(), version.clone());
            output_origins.extend(&origins[i]);
        }
        let output_path = staging.path().join(&dir).join(&output);
        let shared = overlapping.then_some(&found.shared);
        let (kept, dropped) = concatenate(&inputs, &output_path, shared)?;
        summary.rejects_files_in += group.len() as u64;
        summary.rejects_files_out += 1;
        summary.rejects_lines += kept;
        summary.rejects_duplicates_dropped += dropped;
        pending
            .inputs
            .extend(names.iter().map(|name| name.to_string()));
        pending.outputs.insert(output.clone(), output_origins.files);
        pending
            .output_shards
            .insert(output.clone(), output_origins.shards);
        written.push((output_path, format!("{dir}/{output}")));
    }
    commit(lake, &dir, &key, record, pending, written, summary)
}

/// Where an object's rejects came from. A line that is not a reject record (an object some other
/// tool wrote) has no origin: it is kept, never taken for a copy.
fn origins_of(path: &Path) -> Result<Origins, BackfillError> {
    let mut origins = RowOrigins::default();
    for line in lines(path)? {
        if let Some(reject) = parse_line(&line?) {
            origins.add(&reject.source);
        }
    }
    Ok(origins.into())
}

fn lines(
    path: &Path,
) -> Result<impl Iterator<Item = Result<Vec<u8>, BackfillError>>, BackfillError> {
    let file = fs::File::open(path).map_err(io_error(path))?;
    let path = path.to_path_buf();
    Ok(BufReader::new(file)
        .split(b'\n')
        .map(move |line| line.map_err(io_error(&path)))
        .filter(|line| !matches!(line, Ok(bytes) if bytes.is_empty())))
}

/// Writes the lines of `inputs` in order into `output`; with `shared`, a line of those origins
/// already written is left out. Returns the lines written and left out.
fn concatenate(
    inputs: &[PathBuf],
    output: &Path,
    shared: Option<&Origins>,
) -> Result<(u64, u64), BackfillError> {
    if let Some(dir) = output.parent() {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
    }
    let file = fs::File::create(output).map_err(io_error(output))?;
    let mut out = BufWriter::new(file);
    let mut seen: HashSet<(String, i64)> = HashSet::new();
    let (mut kept, mut dropped) = (0, 0);
    for input in inputs {
        for line in lines(input)? {
            let line = line?;
            let copy = shared.is_some_and(|shared| {
                parse_line(&line).is_some_and(|reject| {
                    shared.contains(&reject.source)
                        && !seen.insert((reject.source.into_owned(), reject.source_line))
                })
            });
            if copy {
                dropped += 1;
                continue;
            }
            out.write_all(&line).map_err(io_error(output))?;
            out.write_all(b"\n").map_err(io_error(output))?;
            kept += 1;
        }
    }
    out.flush().map_err(io_error(output))?;
    Ok((kept, dropped))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use loglake_decode::{Reject, RejectRecord};
    use loglake_lake::lake::source_id;
    use loglake_parser::RejectReason;

    use super::super::tests::{compact_lake, record_source};
    use super::*;

    /// Writes a rejects object as the ingest function writes a batch's: under the day, named
    /// after the batch's first record; records `first..first + count`, one junk line each.
    fn put_rejects(root: &Path, date: &str, first: u64, count: u64) {
        let mut body = Vec::new();
        for sequence in first..first + count {
            let raw = format!("\u{1}junk from record {sequence}").into_bytes();
            let reject = Reject {
                source: record_source(sequence).into(),
                source_line: 1,
                reason: RejectReason::NoTimestamp,
                raw_len: raw.len() as u64,
                raw,
            };
            serde_json::to_writer(&mut body, &RejectRecord::from(&reject)).unwrap();
            body.push(b'\n');
        }
        let dir = root.join(REJECTS_DIR).join(format!("dt={date}"));
        fs::create_dir_all(&dir).unwrap();
        let name = format!("{}.ndjson", source_id(&record_source(first)));
        fs::write(dir.join(name), body).unwrap();
    }

    /// Every rejects line of the day, checking none is there twice; and the day's objects.
    fn day(root: &Path, date: &str) -> (Vec<String>, BTreeSet<String>) {
        let dir = root.join(REJECTS_DIR).join(format!("dt={date}"));
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let mut lines = BTreeSet::new();
        for name in &names {
            for line in fs::read_to_string(dir.join(name)).unwrap().lines() {
                assert!(lines.insert(line.to_string()), "{line} twice");
            }
        }
        (names, lines)
    }

    #[test]
    fn a_days_rejects_become_one_object_and_a_batch_delivered_again_is_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("lake");
        put_rejects(&root, "2020-10-10", 1, 3);
        put_rejects(&root, "2020-10-10", 10, 2);
        put_rejects(&root, "2020-10-10", 20, 4);
        // A line some other tool left is kept as it is; one object alone on its day, and
        // `loglake ingest`'s file a source, are left alone.
        let other = root.join(REJECTS_DIR).join("dt=2020-10-10/other.ndjson");
        fs::write(&other, "not a reject record\n").unwrap();
        put_rejects(&root, "2020-10-11", 30, 2);
        fs::write(root.join(REJECTS_DIR).join("access.log.ndjson"), "{}\n").unwrap();
        let (_, before) = day(&root, "2020-10-10");
        assert_eq!(before.len(), 3 + 2 + 4 + 1);

        let first = compact_lake(&root);
        assert_eq!((first.rejects_files_in, first.rejects_files_out), (4, 1));
        assert_eq!(
            (first.rejects_lines, first.rejects_duplicates_dropped),
            (10, 0)
        );
        let (names, lines) = day(&root, "2020-10-10");
        assert_eq!(lines, before);
        assert_eq!(names.len(), 1);
        assert!(names[0].starts_with(MERGED_PREFIX) && names[0].ends_with(".ndjson"));
        assert_eq!(day(&root, "2020-10-11").0.len(), 1);
        assert!(root.join(REJECTS_DIR).join("access.log.ndjson").exists());
        let record = root.join(RECORD_DIR).join("rejects/dt=2020-10-10.json");
        assert!(record.exists());

        // The second batch again (its function timed out after writing), and a later one.
        put_rejects(&root, "2020-10-10", 10, 2);
        put_rejects(&root, "2020-10-10", 40, 1);
        let again = compact_lake(&root);
        assert_eq!(again.rejects_duplicates_dropped, 2);
        assert_eq!(again.rejects_files_out, 1);
        let (names, lines) = day(&root, "2020-10-10");
        assert_eq!(lines.len(), 10 + 1);
        assert!(names.len() <= 2, "{names:?}");
        let next = compact_lake(&root);
        assert_eq!(next.rejects_duplicates_dropped, 0);
        let (names, after) = day(&root, "2020-10-10");
        assert_eq!((names.len(), after), (1, lines));
        assert_eq!(
            compact_lake(&root).rejects_files_in,
            0,
            "nothing left to do"
        );
    }
}
