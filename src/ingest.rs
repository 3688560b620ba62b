//! `loglake ingest`: log files → the local Parquet lake.
//!
//! Files run in parallel on rayon's pool. Within a file, this thread reads and parses while a
//! second thread partitions and sorts, joined by a small bounded channel, and hands closed hours
//! to the lake writer's pool, which encodes Parquet files in parallel. A single large file thus
//! still uses every core, and memory stays bounded by the channel depth plus the lake writer's
//! buffer budget, per file being read.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use anyhow::Context;
use loglake_parser::LogFormat;
use loglake_schemas::{
    DecodedBatch, Decoder, DecoderOptions, LakeOptions, LakeWriter, RejectsWriter,
};
use rayon::prelude::*;
use serde::Serialize;

use crate::input::InputSource;

/// Batches in flight between a file's parser and its writer.
const CHANNEL_DEPTH: usize = 2;
const READ_BUFFER_BYTES: usize = 256 * 1024;

pub struct IngestOptions {
    pub format: LogFormat,
    pub out: PathBuf,
}

/// The run's totals: the `--json` output. `lines_in == rows_out + rejected`.
#[derive(Debug, Default, Serialize)]
pub struct IngestSummary {
    pub lines_in: u64,
    pub rows_out: u64,
    pub rejected: u64,
    pub rejects_by_reason: BTreeMap<&'static str, u64>,
    pub bytes_in: u64,
    pub files_written: u64,
    pub elapsed_ms: u64,
    pub lossy_utf8_rows: u64,
    pub errors: Vec<SourceError>,
}

/// An input that could not be read to its end, or whose output could not be written.
#[derive(Debug, Serialize)]
pub struct SourceError {
    pub source: String,
    pub error: String,
}

#[derive(Debug, Default)]
struct SourceTotals {
    lines_in: u64,
    rows_out: u64,
    rejects_by_reason: BTreeMap<&'static str, u64>,
    bytes_in: u64,
    files_written: u64,
    lossy_utf8_rows: u64,
}

impl SourceTotals {
    fn add_batch(&mut self, batch: &DecodedBatch) {
        self.lines_in += batch.lines_in;
        self.lossy_utf8_rows += batch.lossy_utf8_rows;
        for reject in &batch.rejects {
            *self
                .rejects_by_reason
                .entry(reject.reason.as_str())
                .or_default() += 1;
        }
    }
}

/// Ingests every input into the lake under `options.out`. `progress` receives bytes read.
pub fn run(
    inputs: &[InputSource],
    options: &IngestOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> IngestSummary {
    let started = Instant::now();
    let results: Vec<(String, SourceTotals, Option<anyhow::Error>)> = inputs
        .par_iter()
        .map(|input| {
            let (totals, error) = ingest_source(input, options, progress);
            (input.name(), totals, error)
        })
        .collect();
    let mut summary = IngestSummary::default();
    for (source, totals, error) in results {
        if let Some(error) = error {
            summary.errors.push(SourceError {
                source,
                error: format!("{error:#}"),
            });
        }
        summary.lines_in += totals.lines_in;
        summary.rows_out += totals.rows_out;
        summary.bytes_in += totals.bytes_in;
        summary.files_written += totals.files_written;
        summary.lossy_utf8_rows += totals.lossy_utf8_rows;
        for (reason, count) in totals.rejects_by_reason {
            summary.rejected += count;
            *summary.rejects_by_reason.entry(reason).or_default() += count;
        }
    }
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    summary
}

/// One input, start to end: what was written, and the error that stopped it early, if any. A read
/// error part-way (a truncated gzip) still writes every line read before it and rejects the cut
/// line, so the totals reconcile whatever happened.
fn ingest_source(
    input: &InputSource,
    options: &IngestOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> (SourceTotals, Option<anyhow::Error>) {
    let name = input.name();
    let mut reader = match input
        .open(progress)
        .with_context(|| format!("opening {name}"))
    {
        Ok(reader) => reader,
        Err(error) => return (SourceTotals::default(), Some(error)),
    };
    let mut decoder = Decoder::new(
        name.as_str(),
        DecoderOptions {
            format: options.format,
            ..Default::default()
        },
    );
    let mut bytes_read = 0;
    let (to_writer, from_reader) = sync_channel::<DecodedBatch>(CHANNEL_DEPTH);

    std::thread::scope(|scope| {
        let writer = scope.spawn(|| write_source(&options.out, &name, from_reader));
        let read_result = read_and_decode(&mut reader, &mut decoder, &mut bytes_read, |b| {
            // The writer only hangs up after an error, which `join` reports below.
            to_writer.send(b).is_ok()
        });
        let truncated = read_result.is_err();
        decoder.finish(truncated);
        if let Some(batch) = decoder.flush() {
            let _ = to_writer.send(batch);
        }
        drop(to_writer);
        let (mut totals, write_error) = writer.join().expect("writer thread does not panic");
        totals.bytes_in = bytes_read;
        let error = match (write_error, read_result) {
            (Some(e), _) => Some(e.context(format!("writing the lake for {name}"))),
            (None, Err(e)) => Some(anyhow::Error::new(e).context(format!("reading {name}"))),
            (None, Ok(())) => None,
        };
        (totals, error)
    })
}

fn read_and_decode(
    reader: &mut dyn Read,
    decoder: &mut Decoder,
    bytes_read: &mut u64,
    mut send: impl FnMut(DecodedBatch) -> bool,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; READ_BUFFER_BYTES];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        *bytes_read += n as u64;
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            rest = &rest[decoder.decode(rest)..];
            if decoder.is_full() {
                let batch = decoder.flush().expect("a full decoder has a batch");
                if !send(batch) {
                    return Ok(());
                }
            }
        }
    }
}

/// The writer half of a source: partitions, sorts and writes Parquet and rejects. On an error it
/// stops (dropping the receiver, which stops the reader) and reports only what it finished, so
/// the totals never claim rows that are not on disk.
fn write_source(
    out: &Path,
    source: &str,
    batches: std::sync::mpsc::Receiver<DecodedBatch>,
) -> (SourceTotals, Option<anyhow::Error>) {
    let mut lake = LakeWriter::new(out, source, LakeOptions::default());
    let mut rejects = RejectsWriter::new(out, source);
    let mut totals = SourceTotals::default();
    let result = (|| -> anyhow::Result<()> {
        for batch in batches {
            lake.write(&batch.rows)?;
            rejects.write(&batch.rejects)?;
            totals.add_batch(&batch);
        }
        let written = lake.finish()?;
        rejects.finish()?;
        totals.rows_out = written.rows;
        totals.files_written = written.files.len() as u64;
        Ok(())
    })();
    match result {
        Ok(()) => (totals, None),
        Err(error) => (SourceTotals::default(), Some(error)),
    }
}
