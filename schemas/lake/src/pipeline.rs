//! One source, start to end: a byte stream of log text into the local lake and its rejects.
//! `loglake ingest` and the backfill run every source through [`ingest_stream`].
//!
//! Threads per source, joined by small bounded channels: one reads (and decompresses) and cuts
//! the text into chunks of whole lines ([`loglake_decode::chunks`]), parsing threads (a third of the
//! cores) take chunks in turn, this one hands their batches on in input order to one that
//! filters and partitions them; the lake writer's pool sorts and encodes closed hours meanwhile.
//! A single large source thus uses every core, reading never waits for parsing, and memory stays
//! bounded by the channel depths plus the lake writer's buffer budget.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::TimestampMicrosecondType;
use flate2::bufread::MultiGzDecoder;
use loglake_parser::{Enrichment, IpAnonymization, LogFormat, UserAgentCache};
use serde::Serialize;

use loglake_decode::chunks::{decode_piece, Chunker, Piece};
use loglake_decode::{DecodedBatch, Decoder, DecoderOptions, PaddedUserAgent};

use crate::lake::{ExistingFiles, LakeError, LakeOptions, LakeWriter, TimeRange};
use crate::rejects::RejectsWriter;

/// Batches in flight between a source's parser and its writer.
const CHANNEL_DEPTH: usize = 2;
const READ_BUFFER_BYTES: usize = 256 * 1024;
/// A chunk is a batch of lines, or this many bytes of them if fewer.
const CHUNK_BYTES: usize = 4 << 20;
/// Chunks travel in pieces of about this size.
const PIECE_BYTES: usize = READ_BUFFER_BYTES;
/// Parsing threads per source, at most: several sources are usually read at once.
const MAX_PARSE_THREADS: usize = 4;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// The log text of a stored source: gzip (including concatenated members) and zstd are
/// recognised by their magic bytes, not their names; anything else is read as it is.
pub fn decompressing_reader<'a>(
    raw: impl Read + Send + 'a,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    let mut buffered = BufReader::with_capacity(READ_BUFFER_BYTES, raw);
    let head = buffered.fill_buf()?;
    Ok(if head.starts_with(GZIP_MAGIC) {
        Box::new(MultiGzDecoder::new(buffered))
    } else if head.starts_with(ZSTD_MAGIC) {
        Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?)
    } else {
        Box::new(buffered)
    })
}

/// Progress callbacks of a run: bytes read from storage, and lines parsed.
#[derive(Clone, Copy)]
pub struct Progress<'a> {
    pub bytes: &'a (dyn Fn(u64) + Sync),
    pub lines: &'a (dyn Fn(u64) + Sync),
}

impl Progress<'_> {
    pub fn none() -> Progress<'static> {
        Progress {
            bytes: &|_| {},
            lines: &|_| {},
        }
    }
}

/// Reports the bytes that pass through it: progress in bytes as stored (before decompression).
pub struct ProgressReader<'p, R> {
    pub inner: R,
    pub progress: &'p (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.progress)(n as u64);
        Ok(n)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("reading {source_name}: {error}")]
    Read {
        source_name: String,
        error: io::Error,
    },
    #[error("writing the lake for {source_name}: {error}")]
    Write {
        source_name: String,
        error: LakeError,
    },
}

/// How a source is ingested.
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    pub format: LogFormat,
    /// Fill `extra_fields` (see `DecoderOptions::keep_extra_fields`).
    pub keep_extra_fields: bool,
    /// See `DecoderOptions::anonymize_ip`.
    pub anonymize_ip: IpAnonymization,
    /// See `DecoderOptions::enrichment`.
    pub enrichment: &'static Enrichment,
    pub lake: LakeOptions,
    /// Rows outside it are counted as `out_of_range` and not written.
    pub range: TimeRange,
    /// A version of the source (S3 ETag, size and mtime) that output file names carry.
    pub version: Option<String>,
    /// Threads parsing the source; `None`: a third of the cores. The output is the same
    /// whatever the number.
    pub parse_threads: Option<usize>,
    /// The lake's files listed once for a run of many sources; `None`: the writer lists them.
    pub existing_files: Option<Arc<ExistingFiles>>,
}

/// A source that could not be read to its end, or whose output could not be written.
#[derive(Debug, Clone, Serialize)]
pub struct SourceFailure {
    pub source: String,
    pub error: String,
}

/// What became of one source's lines: `lines_in == rows_out + rejected + out_of_range`.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SourceTotals {
    pub lines_in: u64,
    pub rows_out: u64,
    pub rejected: u64,
    /// Rows outside the requested time range, left out on purpose.
    pub out_of_range: u64,
    pub rejects_by_reason: BTreeMap<&'static str, u64>,
    /// Bytes of log text read (after decompression).
    pub bytes_in: u64,
    pub files_written: u64,
    pub lossy_utf8_rows: u64,
    /// The Parquet files written, and the rejects file when there were rejects.
    #[serde(skip)]
    pub outputs: Vec<PathBuf>,
}

impl SourceTotals {
    /// Adds another source's totals (outputs are per source and are not merged).
    pub fn add(&mut self, other: &SourceTotals) {
        self.lines_in += other.lines_in;
        self.rows_out += other.rows_out;
        self.rejected += other.rejected;
        self.out_of_range += other.out_of_range;
        self.bytes_in += other.bytes_in;
        self.files_written += other.files_written;
        self.lossy_utf8_rows += other.lossy_utf8_rows;
        for (reason, count) in &other.rejects_by_reason {
            *self.rejects_by_reason.entry(reason).or_default() += count;
        }
    }

    fn add_batch(&mut self, batch: &DecodedBatch) {
        self.lines_in += batch.lines_in;
        self.lossy_utf8_rows += batch.lossy_utf8_rows;
        self.rejected += batch.rejects.len() as u64;
        for reject in &batch.rejects {
            *self
                .rejects_by_reason
                .entry(reject.reason.as_str())
                .or_default() += 1;
        }
    }
}

/// User-agent caches of the parsers of finished sources, for the parsers of the next ones: a
/// backfill of many small objects would otherwise classify the same agents once per object.
/// There are never more caches than parsers that ran at once.
static SPARE_USER_AGENTS: UserAgentPool = UserAgentPool::new();

/// Caches handed from decoders that are done to new ones.
struct UserAgentPool(Mutex<Vec<UserAgentCache<PaddedUserAgent>>>);

impl UserAgentPool {
    const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    /// A cache given back earlier, or a new one.
    fn take(&self) -> UserAgentCache<PaddedUserAgent> {
        let mut spare = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        spare.pop().unwrap_or_default()
    }

    fn give_back(&self, cache: UserAgentCache<PaddedUserAgent>) {
        let mut spare = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        spare.push(cache);
    }
}

/// Threads to parse one source with: a third of the cores (encoding Parquet costs about twice
/// what parsing does, and has the rest), at least one.
fn default_parse_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 3).clamp(1, MAX_PARSE_THREADS)
}

/// Ingests one source's log text (already decompressed) into the lake under `out`, named
/// `source_name` in the `source` column and in output file names; `on_lines` is told how many
/// lines each parsed batch held. Returns the totals and the
/// error that stopped it early, if any. A read error part-way (a truncated gzip) still writes
/// every line read before it and rejects the cut line, so the totals reconcile whatever happened;
/// after a write error only what reached the disk is counted.
pub fn ingest_stream(
    reader: &mut (dyn Read + Send),
    source_name: &str,
    out: &Path,
    options: &SourceOptions,
    on_lines: &(dyn Fn(u64) + Sync),
) -> (SourceTotals, Option<PipelineError>) {
    let decoder_options = DecoderOptions {
        format: options.format,
        keep_extra_fields: options.keep_extra_fields,
        anonymize_ip: options.anonymize_ip,
        enrichment: options.enrichment,
        ..Default::default()
    };
    let parse_threads = options
        .parse_threads
        .unwrap_or_else(default_parse_threads)
        .max(1);
    let (to_writer, writer_input) = sync_channel::<DecodedBatch>(CHANNEL_DEPTH);

    std::thread::scope(|scope| {
        let writer = scope.spawn(|| write_source(out, source_name, options, writer_input));
        let (mut to_parsers, mut from_parsers) = (Vec::new(), Vec::new());
        let (spare_texts, parsed_texts) = channel::<Vec<u8>>();
        for _ in 0..parse_threads {
            let (to_parser, pieces) = sync_channel::<Piece>(1);
            let (parsed, from_parser) = sync_channel::<Vec<DecodedBatch>>(0);
            let mut decoder = Decoder::new(source_name, decoder_options)
                .with_user_agents(SPARE_USER_AGENTS.take());
            let spare_texts = spare_texts.clone();
            scope.spawn(move || {
                let mut batches = Vec::new();
                for piece in pieces {
                    decode_piece(&mut decoder, &piece, &mut batches);
                    let _ = spare_texts.send(piece.text);
                    if piece.ends_chunk && parsed.send(std::mem::take(&mut batches)).is_err() {
                        break;
                    }
                }
                SPARE_USER_AGENTS.give_back(decoder.into_user_agents());
            });
            to_parsers.push(to_parser);
            from_parsers.push(from_parser);
        }
        drop(spare_texts);
        let reading =
            scope.spawn(|| read_chunks(reader, &decoder_options, to_parsers, parsed_texts));
        // Chunk `i` went to parser `i % parse_threads`: taking their results in turn keeps the
        // input order. The first parser with nothing more comes after the last chunk.
        'in_order: for from_parser in from_parsers.iter().cycle() {
            let Ok(batches) = from_parser.recv() else {
                break;
            };
            for batch in batches {
                on_lines(batch.lines_in);
                // The writer only hangs up after an error, which `join` reports below.
                if to_writer.send(batch).is_err() {
                    break 'in_order;
                }
            }
        }
        // Hanging up stops the parsers, and so the reader, after an error.
        drop(from_parsers);
        drop(to_writer);
        let (bytes_read, read_result) = reading.join().expect("reader thread does not panic");
        let (mut totals, write_error) = writer.join().expect("writer thread does not panic");
        totals.bytes_in = bytes_read;
        let source_name = source_name.to_string();
        let error = match (write_error, read_result) {
            (Some(error), _) => Some(PipelineError::Write { source_name, error }),
            (None, Err(error)) => Some(PipelineError::Read { source_name, error }),
            (None, Ok(())) => None,
        };
        (totals, error)
    })
}

/// The reading thread: reads to the end of the input (or its first error) and hands the chunks
/// to the parsers in turn, a chunk's pieces to one parser, refilling the texts they give back;
/// stops early when they hang up. Returns the bytes read and the error.
fn read_chunks(
    reader: &mut (dyn Read + Send),
    options: &DecoderOptions,
    parsers: Vec<SyncSender<Piece>>,
    parsed_texts: Receiver<Vec<u8>>,
) -> (u64, io::Result<()>) {
    let mut chunker = Chunker::new(
        options.batch_size,
        CHUNK_BYTES,
        PIECE_BYTES,
        options.max_line_bytes,
    );
    let mut chunks = 0;
    let mut send = |piece: Piece| {
        let parser = &parsers[chunks % parsers.len()];
        chunks += usize::from(piece.ends_chunk);
        parser.send(piece).is_ok()
    };
    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    let mut bytes_read = 0;
    let result = loop {
        match reader.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                bytes_read += n as u64;
                for text in parsed_texts.try_iter() {
                    chunker.recycle(text);
                }
                if !chunker.push(&buf[..n], &mut send) {
                    return (bytes_read, Ok(()));
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    send(chunker.finish(result.is_err()));
    (bytes_read, result)
}

/// The writer half of a source: filters by time, partitions, sorts and writes Parquet and
/// rejects. On an error it stops (dropping the receiver, which stops the reader) and reports
/// nothing as written, so the totals never claim rows that are not on disk.
fn write_source(
    out: &Path,
    source_name: &str,
    options: &SourceOptions,
    batches: Receiver<DecodedBatch>,
) -> (SourceTotals, Option<LakeError>) {
    let mut lake =
        LakeWriter::new(out, source_name, options.lake).with_cleanup_range(options.range);
    if let Some(version) = &options.version {
        lake = lake.with_version(version);
    }
    if let Some(existing) = &options.existing_files {
        lake = lake.with_existing_files(existing.clone());
    }
    let mut rejects = RejectsWriter::new(out, source_name);
    let mut totals = SourceTotals::default();
    let result = (|| -> Result<(), LakeError> {
        for batch in batches {
            let (rows, out_of_range) = keep_in_range(&batch.rows, options.range)?;
            lake.write(&rows)?;
            rejects.write(&batch.rejects)?;
            totals.add_batch(&batch);
            totals.out_of_range += out_of_range;
        }
        let written = lake.finish()?;
        totals.rows_out = written.rows;
        totals.files_written = written.files.len() as u64;
        totals.outputs = written.files;
        totals.outputs.extend(rejects.finish()?);
        Ok(())
    })();
    match result {
        Ok(()) => (totals, None),
        Err(error) => (SourceTotals::default(), Some(error)),
    }
}

/// The rows inside `range`, and how many were left out.
fn keep_in_range(rows: &RecordBatch, range: TimeRange) -> Result<(RecordBatch, u64), LakeError> {
    if range.is_all() {
        return Ok((rows.clone(), 0));
    }
    let ts = rows
        .column(0)
        .as_primitive::<TimestampMicrosecondType>()
        .values();
    let keep: BooleanArray = ts.iter().map(|&t| Some(range.contains(t))).collect();
    let kept = filter_record_batch(rows, &keep)?;
    let left_out = (rows.num_rows() - kept.num_rows()) as u64;
    Ok((kept, left_out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use loglake_parser::UserAgentInfo;
    use std::fs;
    use std::io::Write;

    const LINES: &str = "\
1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] \"GET /a HTTP/1.1\" 200 1 \"-\" \"curl/8\"
not a log line
1.2.3.4 - - [10/Oct/2020:11:00:00 +0000] \"GET /b HTTP/1.1\" 200 1 \"-\" \"curl/8\"
1.2.3.4 - - [10/Oct/2020:12:00:00 +0000] \"GET /c HTTP/1.1\" 200 1 \"-\" \"curl/8\"
";

    fn run(input: &[u8], options: &SourceOptions, out: &Path) -> SourceTotals {
        let mut reader = decompressing_reader(input).unwrap();
        let (totals, error) = ingest_stream(&mut reader, "logs/a.log", out, options, &|_| {});
        assert!(error.is_none(), "{error:?}");
        assert_eq!(
            totals.lines_in,
            totals.rows_out + totals.rejected + totals.out_of_range
        );
        totals
    }

    #[test]
    fn a_user_agent_cache_given_back_is_taken_again_with_what_it_learned() {
        let pool = UserAgentPool::new();
        let mut cache = pool.take();
        let agent = Some(loglake_parser::Text::plain(
            b"Mozilla/5.0 (compatible; Googlebot/2.1)",
        ));
        let info: UserAgentInfo = cache.lookup(agent).info().clone();
        assert_eq!(cache.misses(), 1);
        pool.give_back(cache);

        let mut cache = pool.take();
        assert_eq!(cache.lookup(agent).info(), &info);
        assert_eq!(cache.misses(), 1, "the agent was classified once");
        // The pool was emptied by that take: the next decoder starts with a new cache.
        assert_eq!(pool.take().misses(), 0);
    }

    #[test]
    fn reads_plain_gzip_and_zstd_alike() {
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(LINES.as_bytes()).unwrap();
        let gzip = gzip.finish().unwrap();
        let zstd = zstd::encode_all(LINES.as_bytes(), 1).unwrap();
        for input in [LINES.as_bytes(), &gzip, &zstd] {
            let dir = tempfile::tempdir().unwrap();
            let totals = run(input, &SourceOptions::default(), dir.path());
            assert_eq!(
                (totals.lines_in, totals.rows_out, totals.rejected),
                (4, 3, 1)
            );
            assert_eq!(totals.bytes_in, LINES.len() as u64);
            assert_eq!(totals.rejects_by_reason["no_timestamp"], 1);
            // three hourly files and the rejects file
            assert_eq!(totals.outputs.len(), 4);
            assert!(totals.outputs.iter().all(|p| p.exists()));
        }
    }

    #[test]
    fn a_time_range_counts_what_it_leaves_out_and_keeps_other_hours_files() {
        let dir = tempfile::tempdir().unwrap();
        let full = run(LINES.as_bytes(), &SourceOptions::default(), dir.path());
        let range = TimeRange {
            since: loglake_parser::parse_utc_instant("2020-10-10T11:00:00Z"),
            until: loglake_parser::parse_utc_instant("2020-10-10T12:00:00Z"),
        };
        let options = SourceOptions {
            range,
            version: Some("v2".into()),
            ..Default::default()
        };
        let partial = run(LINES.as_bytes(), &options, dir.path());
        assert_eq!((partial.rows_out, partial.out_of_range), (1, 2));
        // Hour 11 was rewritten under the new version's name; hours 10 and 12 kept their files.
        let parquet: Vec<&PathBuf> = full
            .outputs
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        assert!(parquet[0].exists() && !parquet[1].exists() && parquet[2].exists());
        assert!(partial.outputs[0].exists());
        assert_ne!(partial.outputs[0], *parquet[1]);
    }

    #[test]
    fn parsing_threads_change_nothing_in_the_output() {
        let mut input = String::new();
        for i in 0..30_000u32 {
            let (hour, minute, second) = (i / 12_000, i / 200 % 60, i % 60);
            match i % 997 {
                5 => input.push_str("not a log line\n"),
                9 => input.push_str(&format!("{}\n", "x".repeat(70_000))),
                _ => input.push_str(&format!(
                    "10.0.{}.{} - - [10/Oct/2020:1{hour}:{minute:02}:{second:02} +0000] \"GET /p/{i} HTTP/1.1\" 200 {i} \"-\" \"curl/8\"\n",
                    i % 7,
                    i % 250
                )),
            }
        }
        let outputs = |threads| {
            let dir = tempfile::tempdir().unwrap();
            let options = SourceOptions {
                parse_threads: Some(threads),
                ..Default::default()
            };
            let totals = run(input.as_bytes(), &options, dir.path());
            let files: Vec<(PathBuf, Vec<u8>)> = totals
                .outputs
                .iter()
                .map(|p| {
                    (
                        p.strip_prefix(dir.path()).unwrap().to_path_buf(),
                        fs::read(p).unwrap(),
                    )
                })
                .collect();
            (
                totals.lines_in,
                totals.rows_out,
                totals.rejects_by_reason,
                files,
            )
        };
        let one = outputs(1);
        assert_eq!(one.0, 30_000);
        assert_eq!(one.2["line_too_long"], 31);
        assert_eq!(outputs(3), one);
    }

    #[test]
    fn a_cut_stream_keeps_what_came_before() {
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(LINES.as_bytes()).unwrap();
        let gzip = gzip.finish().unwrap();
        let cut = &gzip[..gzip.len() - 12];
        let dir = tempfile::tempdir().unwrap();
        let mut reader = decompressing_reader(cut).unwrap();
        let (totals, error) = ingest_stream(
            &mut reader,
            "cut.gz",
            dir.path(),
            &Default::default(),
            &|_| {},
        );
        assert!(
            matches!(error, Some(PipelineError::Read { .. })),
            "{error:?}"
        );
        assert_eq!(totals.lines_in, totals.rows_out + totals.rejected);
    }
}
