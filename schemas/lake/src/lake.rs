//! The lake layout and its Parquet files:
//! `ROOT/access_logs/dt=YYYY-MM-DD/hour=HH/<source-id>-<part>.parquet`.
//!
//! A [`LakeWriter`] takes the batches of one source, splits them by UTC hour, buffers each hour
//! and writes it as one file sorted by `ts` once the hour goes quiet (logs arrive roughly in time
//! order) or when the buffers reach their memory budget; closed hours are encoded in parallel on
//! the encoding threads while the writer takes more batches.
//! File names derive from the source and a per-hour part counter, so re-ingesting a source
//! rewrites the same files; files of that source the new run did not write are removed, so a
//! re-run never duplicates rows.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, OnceLock};

use arrow::array::{AsArray, RecordBatch, UInt32Array};
use arrow::compute::{interleave_record_batch, take_record_batch};
use arrow::datatypes::TimestampMicrosecondType;
use loglake_parser::timestamp::MICROS_PER_HOUR;
use loglake_parser::{parse_utc_instant, UtcHour};

use crate::parquet_file::{FileOptions, FileShape, SortedFileWriter};
use loglake_schema::TABLE_NAME;

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("encoding Parquet for {path}: {source}")]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("reordering rows: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LakeError + '_ {
    move |source| LakeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The directory of one partition, relative to the lake root.
pub fn partition_dir(hour: UtcHour) -> PathBuf {
    PathBuf::from(TABLE_NAME)
        .join(format!("dt={}", hour.date_string()))
        .join(format!("hour={:02}", hour.hour_of_day()))
}

/// A stable, file-name-safe identity for a source: its file stem (for people) and a hash of the
/// full source name (for uniqueness). FNV-1a, because std's hasher may change between releases
/// and names must not.
pub fn source_id(source: &str) -> String {
    let hash = fnv1a(source.as_bytes());
    let stem: String = Path::new(source)
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let stem = if stem.is_empty() {
        "input".into()
    } else {
        stem
    };
    format!("{stem}-{hash:016x}")
}

/// Whether `source` names one record of a stream (`kinesis:STREAM/SHARD/SEQUENCE`,
/// `firehose:STREAM/RECORD`), as the real-time path names its rows' sources, rather than a file:
/// a stream record is never replayed on its own (Kinesis redelivers batches), and an hour of
/// traffic holds millions of them, so compaction does not list them.
pub fn is_stream_record(source: &str) -> bool {
    source.starts_with("kinesis:") || source.starts_with("firehose:")
}

/// `path`, a file under the lake's `root`, as the `/`-separated key it has in the lake (its S3
/// key under the lake's prefix).
pub fn relative_key(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// FNV-1a: the lake's hash for names, stable across releases and platforms.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A span of event time, `since` included and `until` excluded (UTC microseconds); an open end
/// is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TimeRange {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl TimeRange {
    pub fn is_all(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    pub fn contains(&self, ts_micros: i64) -> bool {
        self.since.is_none_or(|since| ts_micros >= since)
            && self.until.is_none_or(|until| ts_micros < until)
    }

    /// Whether any instant of `hour` is in the range.
    pub fn overlaps(&self, hour: UtcHour) -> bool {
        let start = hour.hours_since_epoch * MICROS_PER_HOUR;
        self.since
            .is_none_or(|since| start + MICROS_PER_HOUR > since)
            && self.until.is_none_or(|until| start < until)
    }
}

/// The hour of a partition directory's path relative to the lake root
/// (`access_logs/dt=YYYY-MM-DD/hour=HH`, as [`partition_dir`] writes it).
pub fn partition_hour(relative: &Path) -> Option<UtcHour> {
    let mut parts = relative
        .components()
        .rev()
        .filter_map(|c| c.as_os_str().to_str());
    let hour: i64 = parts.next()?.strip_prefix("hour=")?.parse().ok()?;
    let day = parse_utc_instant(parts.next()?.strip_prefix("dt=")?)?;
    (0..24)
        .contains(&hour)
        .then(|| UtcHour::of_micros(day + hour * MICROS_PER_HOUR))
}

/// Writer settings: Athena-friendly defaults, with the memory budget as the one knob.
#[derive(Debug, Clone, Copy)]
pub struct LakeOptions {
    /// Rows of open hours, in Arrow bytes, before the largest hours are closed; the closed hours
    /// being encoded hold at most as much again (and one hour) before `write` waits for them.
    pub buffer_budget_bytes: usize,
    /// An hour with no new rows for this many batches is written out.
    pub idle_batches: u64,
    /// How each Parquet file is written.
    pub file: FileOptions,
}

impl Default for LakeOptions {
    fn default() -> Self {
        Self {
            buffer_budget_bytes: 16 << 20,
            idle_batches: 4,
            file: FileOptions::default(),
        }
    }
}

/// Closed hours of one writer being encoded at once, at most: enough to keep every core busy.
const MAX_PARTS_IN_FLIGHT: usize = 32;

/// A closed hour written to its file by the encoding threads. `seq` is its place in the order
/// hours were closed, which the list of files written keeps.
struct EncodedPart {
    seq: usize,
    path: PathBuf,
    rows: u64,
    bytes: usize,
}

#[derive(Default)]
struct HourBuffer {
    batches: Vec<RecordBatch>,
    bytes: usize,
    last_batch_seen: u64,
}

/// Writes one source's rows into the lake.
pub struct LakeWriter {
    root: PathBuf,
    source_id: String,
    /// Between the source id and the part number in file names: a hash of the source's version.
    version_tag: Option<String>,
    /// Earlier files of the source are removed only in these hours.
    cleanup_range: TimeRange,
    /// The lake's files when the run started, if the caller listed them once for all sources.
    existing: Option<Arc<ExistingFiles>>,
    options: LakeOptions,
    hours: BTreeMap<UtcHour, HourBuffer>,
    /// Bytes of the rows in open hours, and in closed hours not yet written.
    open_bytes: usize,
    encoding_bytes: usize,
    next_part: BTreeMap<UtcHour, u32>,
    batches_seen: u64,
    /// Closed hours sent to the encoding threads, and those of them not written yet.
    parts_sent: usize,
    in_flight: usize,
    encoded_tx: Sender<Result<EncodedPart, LakeError>>,
    encoded_rx: Receiver<Result<EncodedPart, LakeError>>,
    written: Vec<(usize, PathBuf)>,
    rows_written: u64,
}

impl LakeWriter {
    pub fn new(root: impl Into<PathBuf>, source: &str, options: LakeOptions) -> Self {
        let (encoded_tx, encoded_rx) = channel();
        Self {
            root: root.into(),
            source_id: source_id(source),
            version_tag: None,
            cleanup_range: TimeRange::default(),
            existing: None,
            options,
            hours: BTreeMap::new(),
            open_bytes: 0,
            encoding_bytes: 0,
            next_part: BTreeMap::new(),
            batches_seen: 0,
            parts_sent: 0,
            in_flight: 0,
            encoded_tx,
            encoded_rx,
            written: Vec::new(),
            rows_written: 0,
        }
    }

    /// Names the files after a version of the source as well (an S3 ETag, a content hash), so
    /// the output of a changed source never shares a name with the output it replaces. Earlier
    /// files of the source are still removed by [`LakeWriter::finish`], whatever their version.
    pub fn with_version(mut self, version: &str) -> Self {
        self.version_tag = Some(format!("{:08x}", fnv1a(version.as_bytes()) as u32));
        self
    }

    /// Removes earlier files of the source only in the hours of `range`: a run that rewrites
    /// part of a source's time leaves its other hours alone.
    pub fn with_cleanup_range(mut self, range: TimeRange) -> Self {
        self.cleanup_range = range;
        self
    }

    /// Finds the source's earlier files in `existing` instead of walking the lake: a run of many
    /// sources lists the lake once rather than once per source.
    pub fn with_existing_files(mut self, existing: Arc<ExistingFiles>) -> Self {
        self.existing = Some(existing);
        self
    }

    /// Adds a batch of rows (any order, any hours).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), LakeError> {
        self.batches_seen += 1;
        // A slice shares its parent's buffers: count its share of them, by rows.
        let bytes_per_row = batch.get_array_memory_size() / batch.num_rows().max(1);
        for (hour, rows) in split_by_hour(batch)? {
            let bytes = rows.num_rows() * bytes_per_row;
            let buffer = self.hours.entry(hour).or_default();
            buffer.batches.push(rows);
            buffer.bytes += bytes;
            buffer.last_batch_seen = self.batches_seen;
            self.open_bytes += bytes;
        }
        let idle_before = self.batches_seen.saturating_sub(self.options.idle_batches);
        let idle: Vec<UtcHour> = self
            .hours
            .iter()
            .filter(|(_, b)| b.last_batch_seen <= idle_before)
            .map(|(h, _)| *h)
            .collect();
        for hour in idle {
            self.close_hour(hour);
        }
        while self.open_bytes > self.options.buffer_budget_bytes {
            let largest = self
                .hours
                .iter()
                .max_by_key(|(_, b)| b.bytes)
                .map(|(h, _)| *h)
                .expect("over budget means an hour is buffered");
            self.close_hour(largest);
        }
        // This thread takes more batches while closed hours are encoded, unless they already
        // hold a budget's worth of rows.
        self.collect_encoded(|writer| {
            writer.encoding_bytes > writer.options.buffer_budget_bytes
                || writer.in_flight > MAX_PARTS_IN_FLIGHT
        })
    }

    /// Writes what is buffered and removes this source's files from earlier runs that this run
    /// did not rewrite. Returns the files written.
    pub fn finish(mut self) -> Result<LakeWriteSummary, LakeError> {
        let hours: Vec<UtcHour> = self.hours.keys().copied().collect();
        for hour in hours {
            self.close_hour(hour);
        }
        self.collect_encoded(|writer| writer.in_flight > 0)?;
        self.written.sort_unstable_by_key(|(seq, _)| *seq);
        self.remove_stale_files()?;
        Ok(LakeWriteSummary {
            files: std::mem::take(&mut self.written)
                .into_iter()
                .map(|(_, path)| path)
                .collect(),
            rows: self.rows_written,
        })
    }

    /// Sends an hour's rows to the encoding threads to be written to the hour's next file,
    /// which report on `encoded_tx`.
    fn close_hour(&mut self, hour: UtcHour) {
        let Some(buffer) = self.hours.remove(&hour) else {
            return;
        };
        let part = self.next_part.entry(hour).or_insert(0);
        let name = match &self.version_tag {
            Some(tag) => format!("{}-{tag}-{part:04}.parquet", self.source_id),
            None => format!("{}-{part:04}.parquet", self.source_id),
        };
        *part += 1;
        let path = self.root.join(partition_dir(hour)).join(name);
        let (seq, options, report) = (self.parts_sent, self.options, self.encoded_tx.clone());
        self.open_bytes -= buffer.bytes;
        self.encoding_bytes += buffer.bytes;
        self.parts_sent += 1;
        self.in_flight += 1;
        encode_pool().spawn(move || {
            let dir = path.parent().expect("parts are inside a partition");
            let written = fs::create_dir_all(dir)
                .map_err(io_error(dir))
                .and_then(|()| write_sorted_parquet(&path, &buffer.batches, &options));
            // The writer waits for every part it sent, so it is still listening.
            let _ = report.send(written.map(|rows| EncodedPart {
                seq,
                path,
                rows,
                bytes: buffer.bytes,
            }));
        });
    }

    /// Takes the reports of encoded parts: those already in, then more while `wait` says so.
    /// Returns the first failure.
    fn collect_encoded(&mut self, wait: impl Fn(&Self) -> bool) -> Result<(), LakeError> {
        while self.in_flight > 0 {
            let report = if wait(self) {
                self.encoded_rx.recv().expect("the writer holds a sender")
            } else {
                match self.encoded_rx.try_recv() {
                    Ok(report) => report,
                    Err(_) => break,
                }
            };
            self.in_flight -= 1;
            let part = report?;
            self.rows_written += part.rows;
            self.encoding_bytes -= part.bytes;
            self.written.push((part.seq, part.path));
        }
        Ok(())
    }

    fn remove_stale_files(&self) -> Result<(), LakeError> {
        let walked;
        let existing = match &self.existing {
            Some(existing) => existing,
            None => {
                walked = ExistingFiles::list(&self.root)?;
                &walked
            }
        };
        let written: BTreeSet<&Path> = self
            .written
            .iter()
            .map(|(_, path)| path.as_path())
            .collect();
        for path in existing.of_source(&self.source_id) {
            let in_range = path
                .parent()
                .and_then(|partition| partition.strip_prefix(&self.root).ok())
                .and_then(partition_hour)
                .is_some_and(|hour| self.cleanup_range.overlaps(hour));
            if in_range && !written.contains(path.as_path()) {
                match fs::remove_file(path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(io_error(path)(e))
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

impl Drop for LakeWriter {
    /// Waits for the parts still being encoded (after an error, or a writer dropped unfinished),
    /// so no file of this writer is written after it is gone.
    fn drop(&mut self) {
        while self.in_flight > 0 && self.encoded_rx.recv().is_ok() {
            self.in_flight -= 1;
        }
    }
}

/// The Parquet files of a lake's partitions, by the source id their names start with: what a
/// writer needs to find a source's files from earlier runs.
#[derive(Debug, Default)]
pub struct ExistingFiles {
    by_source: HashMap<String, Vec<PathBuf>>,
}

impl ExistingFiles {
    /// Walks `root`'s partitions (none yet is fine).
    pub fn list(root: &Path) -> Result<Self, LakeError> {
        let mut by_source: HashMap<String, Vec<PathBuf>> = HashMap::new();
        for partition in list_dirs(&root.join(TABLE_NAME))?
            .iter()
            .flat_map(|d| list_dirs(d).ok())
            .flatten()
        {
            for entry in fs::read_dir(&partition).map_err(io_error(&partition))? {
                let path = entry.map_err(io_error(&partition))?.path();
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default();
                if let Some(id) = name.strip_suffix(".parquet").and_then(source_id_of_file) {
                    by_source.entry(id.to_string()).or_default().push(path);
                }
            }
        }
        Ok(Self { by_source })
    }

    fn of_source(&self, source_id: &str) -> &[PathBuf] {
        self.by_source.get(source_id).map_or(&[], Vec::as_slice)
    }
}

/// The source id a file name starts with: `STEM-HASH`, where the stem has no `-` (see
/// [`source_id`]).
fn source_id_of_file(name: &str) -> Option<&str> {
    let stem_end = name.find('-')?;
    let hash_end = stem_end + 1 + name[stem_end + 1..].find('-')?;
    Some(&name[..hash_end])
}

/// The threads that encode Parquet files. Not rayon's global pool: callers run one source per
/// global-pool thread and block it while this writer catches up (a bounded channel), so encoding
/// jobs queued there could wait for threads that are waiting for them.
fn encode_pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("loglake-encode-{i}"))
            .build()
            .expect("can start the Parquet encoding threads")
    })
}

fn list_dirs(dir: &Path) -> Result<Vec<PathBuf>, LakeError> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_error(dir)(e)),
    }
}

/// What a [`LakeWriter`] wrote.
#[derive(Debug, Default)]
pub struct LakeWriteSummary {
    pub files: Vec<PathBuf>,
    pub rows: u64,
}

fn ts_values(batch: &RecordBatch) -> &[i64] {
    batch
        .column(0)
        .as_primitive::<TimestampMicrosecondType>()
        .values()
}

/// Splits a batch by UTC hour. Logs are written roughly in time order, so each hour's rows
/// usually form one contiguous run: those runs become zero-copy slices (an hour may get several).
/// Only when the hours are so interleaved that slices would be tiny are rows gathered by copy.
pub fn split_by_hour(batch: &RecordBatch) -> Result<Vec<(UtcHour, RecordBatch)>, LakeError> {
    let ts = ts_values(batch);
    let mut runs: Vec<(UtcHour, usize, usize)> = Vec::new();
    for (row, &t) in ts.iter().enumerate() {
        let hour = UtcHour::of_micros(t);
        match runs.last_mut() {
            Some((run_hour, _, len)) if *run_hour == hour => *len += 1,
            _ => runs.push((hour, row, 1)),
        }
    }
    // Slices are cheap, but each becomes a batch the writer handles: fall back to a copy when
    // runs are short (rows shuffled across hours).
    if runs.len() <= 8 || runs.len() * 64 <= ts.len() {
        return Ok(runs
            .into_iter()
            .map(|(hour, start, len)| (hour, batch.slice(start, len)))
            .collect());
    }
    let mut rows_by_hour: BTreeMap<UtcHour, Vec<u32>> = BTreeMap::new();
    for (row, &t) in ts.iter().enumerate() {
        rows_by_hour
            .entry(UtcHour::of_micros(t))
            .or_default()
            .push(row as u32);
    }
    rows_by_hour
        .into_iter()
        .map(|(hour, rows)| Ok((hour, take_record_batch(batch, &UInt32Array::from(rows))?)))
        .collect()
}

/// Writes `batches` (all of one partition) to `path` sorted by `ts`, through a hidden temporary
/// file renamed into place so readers never see half a file. Returns the rows written.
pub fn write_sorted_parquet(
    path: &Path,
    batches: &[RecordBatch],
    options: &LakeOptions,
) -> Result<u64, LakeError> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    // A dot-file: Athena and DataFusion skip it, so a crash mid-write leaves nothing they read.
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{file_name}.tmp"));
    let parquet_error = |source| LakeError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::create(&tmp).map_err(io_error(&tmp))?;
    let mut writer = SortedFileWriter::new(file, &options.file, &FileShape::of(batches))
        .map_err(parquet_error)?;
    if is_sorted_by_ts(batches) {
        for batch in batches {
            writer.write(batch).map_err(parquet_error)?;
        }
    } else {
        // Stable sort of (ts, batch, row) keys, then gather rows in slices so the reordered copy
        // never holds more than one slice.
        let mut order: Vec<(i64, usize, usize)> = Vec::with_capacity(rows);
        for (b, batch) in batches.iter().enumerate() {
            order.extend(ts_values(batch).iter().enumerate().map(|(r, &t)| (t, b, r)));
        }
        order.sort_by_key(|&(t, _, _)| t);
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        for slice in order.chunks(65_536) {
            let indices: Vec<(usize, usize)> = slice.iter().map(|&(_, b, r)| (b, r)).collect();
            let sorted = interleave_record_batch(&refs, &indices)?;
            writer.write(&sorted).map_err(parquet_error)?;
        }
    }
    writer.close().map_err(parquet_error)?;
    fs::rename(&tmp, path).map_err(io_error(path))?;
    Ok(rows as u64)
}

fn is_sorted_by_ts(batches: &[RecordBatch]) -> bool {
    let mut previous = i64::MIN;
    batches.iter().all(|batch| {
        ts_values(batch).iter().all(|&t| {
            let in_order = t >= previous;
            previous = t;
            in_order
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::Int16Type;
    use loglake_decode::{Decoder, DecoderOptions};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::{Compression, ZstdLevel};

    fn lines(hours: &[(u32, u32)]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(hour, second) in hours {
            out.extend_from_slice(
                format!(
                    "1.2.3.4 - - [10/Oct/2020:{hour:02}:00:{second:02} +0000] \"GET /h{hour} HTTP/1.1\" {} 10 \"-\" \"curl/8\"\n",
                    200 + second % 2
                )
                .as_bytes(),
            );
        }
        out
    }

    fn decode(input: &[u8], batch_size: usize) -> Vec<RecordBatch> {
        let mut decoder = Decoder::new(
            "/var/log/access.log",
            DecoderOptions {
                batch_size,
                ..Default::default()
            },
        );
        let mut out = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            rest = &rest[decoder.decode(rest)..];
            out.extend(decoder.flush().map(|b| b.rows));
        }
        out
    }

    fn read_back(path: &Path) -> Vec<RecordBatch> {
        let file = fs::File::open(path).unwrap();
        ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn parquet_files(root: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = list_dirs(&root.join(TABLE_NAME))
            .unwrap()
            .iter()
            .flat_map(|d| list_dirs(d).unwrap())
            .flat_map(|d| fs::read_dir(d).unwrap().map(|e| e.unwrap().path()))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn writes_hive_partitions_sorted_and_rewrites_the_same_names() {
        let dir = tempfile::tempdir().unwrap();
        // out of order inside hour 10, and spanning hours 10, 11 and 23
        let input = lines(&[(10, 30), (10, 5), (11, 1), (10, 7), (23, 59), (11, 0)]);
        let write = |budget| {
            let mut writer = LakeWriter::new(
                dir.path(),
                "/var/log/access.log",
                LakeOptions {
                    buffer_budget_bytes: budget,
                    ..Default::default()
                },
            );
            for batch in decode(&input, 2) {
                writer.write(&batch).unwrap();
            }
            writer.finish().unwrap()
        };
        let summary = write(usize::MAX);
        assert_eq!(summary.rows, 6);
        let files = parquet_files(dir.path());
        assert_eq!(files.len(), 3);
        let relative: Vec<String> = files
            .iter()
            .map(|f| f.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        let id = source_id("/var/log/access.log");
        assert_eq!(
            relative,
            [
                format!("access_logs/dt=2020-10-10/hour=10/{id}-0000.parquet"),
                format!("access_logs/dt=2020-10-10/hour=11/{id}-0000.parquet"),
                format!("access_logs/dt=2020-10-10/hour=23/{id}-0000.parquet"),
            ]
        );
        let hour10 = read_back(&files[0]);
        let ts: Vec<i64> = hour10.iter().flat_map(|b| ts_values(b).to_vec()).collect();
        assert_eq!(ts.len(), 3);
        assert!(ts.windows(2).all(|w| w[0] <= w[1]), "sorted: {ts:?}");
        let statuses: Vec<i16> = hour10
            .iter()
            .flat_map(|b| b["status"].as_primitive::<Int16Type>().values().to_vec())
            .collect();
        assert_eq!(statuses, [201, 201, 200]);

        // A tiny budget splits hours into more parts; a re-run with the normal budget must
        // leave exactly the files it wrote.
        let small = write(1);
        assert!(small.files.len() > 3);
        assert_eq!(parquet_files(dir.path()).len(), small.files.len());
        write(usize::MAX);
        assert_eq!(parquet_files(dir.path()), files);
    }

    #[test]
    fn a_file_that_cannot_be_written_is_an_error_of_the_writer_and_nothing_hangs() {
        let dir = tempfile::tempdir().unwrap();
        // The lake root is a file, so no partition directory can be made under it.
        let root = dir.path().join("not-a-directory");
        fs::write(&root, b"").unwrap();
        let input = lines(&[(10, 30), (11, 1), (12, 5), (13, 7)]);
        for budget in [1, usize::MAX] {
            let mut writer = LakeWriter::new(
                &root,
                "/var/log/access.log",
                LakeOptions {
                    buffer_budget_bytes: budget,
                    ..Default::default()
                },
            );
            let result = decode(&input, 1)
                .iter()
                .try_for_each(|batch| writer.write(batch))
                .and_then(|()| writer.finish());
            assert!(
                matches!(result, Err(LakeError::Io { ref path, .. }) if path.starts_with(&root)),
                "budget {budget}: {result:?}"
            );
        }
    }

    #[test]
    fn a_listing_made_once_finds_each_sources_earlier_files() {
        let dir = tempfile::tempdir().unwrap();
        let input = lines(&[(10, 30), (10, 5), (11, 1), (10, 7), (23, 59), (11, 0)]);
        let write = |source: &str, budget, existing: Option<Arc<ExistingFiles>>| {
            let mut writer = LakeWriter::new(
                dir.path(),
                source,
                LakeOptions {
                    buffer_budget_bytes: budget,
                    ..Default::default()
                },
            );
            if let Some(existing) = existing {
                writer = writer.with_existing_files(existing);
            }
            for batch in decode(&input, 2) {
                writer.write(&batch).unwrap();
            }
            writer.finish().unwrap().files
        };
        // Two sources, each split into many small files by a tiny budget.
        let a_small = write("/logs/a-1.log", 1, None);
        let b_small = write("/logs/b.log", 1, None);
        assert!(a_small.len() > 3 && b_small.len() > 3);
        assert_eq!(
            source_id_of_file("a_1.log-0123456789abcdef-0000"),
            Some("a_1.log-0123456789abcdef")
        );
        // One listing for a run over both: each source's re-run removes its own extra files only.
        let existing = Arc::new(ExistingFiles::list(dir.path()).unwrap());
        let a = write("/logs/a-1.log", usize::MAX, Some(existing.clone()));
        assert_eq!(a.len(), 3);
        let mut expected: Vec<PathBuf> = a.iter().chain(&b_small).cloned().collect();
        expected.sort();
        assert_eq!(parquet_files(dir.path()), expected);
        let b = write("/logs/b.log", usize::MAX, Some(existing));
        let mut expected: Vec<PathBuf> = a.iter().chain(&b).cloned().collect();
        expected.sort();
        assert_eq!(parquet_files(dir.path()), expected);
        assert!(ExistingFiles::list(&dir.path().join("none"))
            .unwrap()
            .by_source
            .is_empty());
    }

    #[test]
    fn splits_runs_by_slicing_and_shuffled_hours_by_copying() {
        let in_order: Vec<(u32, u32)> = (0..200).map(|i| (i / 50, i % 60)).collect();
        let shuffled: Vec<(u32, u32)> = (0..200).map(|i| (i % 3, i % 60)).collect();
        for (input, expect_slices) in [(in_order, true), (shuffled, false)] {
            let batch = &decode(&lines(&input), 1000)[0];
            let parts = split_by_hour(batch).unwrap();
            let rows: usize = parts.iter().map(|(_, b)| b.num_rows()).sum();
            assert_eq!(rows, 200);
            for (hour, part) in &parts {
                assert!(ts_values(part)
                    .iter()
                    .all(|&t| UtcHour::of_micros(t) == *hour));
            }
            // a slice reports its parent's (shared) buffers as its size
            let shares_buffers = parts
                .iter()
                .all(|(_, p)| p.get_array_memory_size() == batch.get_array_memory_size());
            assert_eq!(shares_buffers, expect_slices);
        }
    }

    #[test]
    fn zstd_only_on_columns_with_enough_bytes_in_the_file() {
        let codecs = |batches: &[RecordBatch]| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("f.parquet");
            write_sorted_parquet(&path, batches, &LakeOptions::default()).unwrap();
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&path).unwrap()).unwrap();
            let row_group = reader.metadata().row_group(0).clone();
            let codec = |name: &str| {
                let column = row_group
                    .columns()
                    .iter()
                    .find(|c| c.column_path().string() == name)
                    .unwrap();
                column.compression()
            };
            (codec("path"), codec("client_ip"), codec("status"))
        };
        // ~40 bytes of path per row: 5 rows stay plain, 500 rows (20 KB) are compressed; 500
        // client IPs of 7 bytes (3.5 KB) are not.
        let mut long_paths = Vec::new();
        for i in 0..500 {
            long_paths.extend_from_slice(
                format!(
                    "1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] \"GET /a/long/path/{i:06}/index.html HTTP/1.1\" 200 1 \"-\" \"curl/8\"\n"
                )
                .as_bytes(),
            );
        }
        let few = decode(&long_paths[..long_paths.len() / 100], 1000);
        let many = decode(&long_paths, 1000);
        let zstd = Compression::ZSTD(ZstdLevel::default());
        assert_eq!(
            codecs(&few),
            (
                Compression::UNCOMPRESSED,
                Compression::UNCOMPRESSED,
                Compression::UNCOMPRESSED
            )
        );
        assert_eq!(
            codecs(&many),
            (zstd, Compression::UNCOMPRESSED, Compression::UNCOMPRESSED)
        );
    }

    #[test]
    fn source_ids_are_stable_and_safe() {
        assert_eq!(source_id("a.log"), source_id("a.log"));
        assert_ne!(source_id("/x/a.log"), source_id("/y/a.log"));
        assert!(source_id("/x/we ird;name.log").starts_with("we_ird_name.log-"));
        assert!(source_id("-").starts_with("_-"));
    }
}
