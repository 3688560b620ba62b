//! `loglake ingest`: log files → the local Parquet lake, one source per rayon worker, each
//! through the shared pipeline ([`loglake_lake::ingest_stream`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use loglake_backfill::compact::drop_sources_from;
use loglake_backfill::Location;
use loglake_lake::{
    ingest_stream, ExistingFiles, LakeOptions, Progress, SourceFailure, SourceOptions,
    SourceTotals, TimeRange,
};
use loglake_parser::{Enrichment, IpAnonymization, LogFormat};
use rayon::prelude::*;
use serde::Serialize;

use crate::input::InputSource;

pub struct IngestOptions {
    pub format: LogFormat,
    pub keep_extra_fields: bool,
    pub anonymize_ip: IpAnonymization,
    pub enrichment: &'static Enrichment,
    pub out: PathBuf,
    pub lake: LakeOptions,
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
    pub errors: Vec<SourceFailure>,
}

/// Ingests every input into the lake under `options.out`.
pub fn run(inputs: &[InputSource], options: &IngestOptions, progress: &Progress) -> IngestSummary {
    let started = Instant::now();
    let source_options = SourceOptions {
        format: options.format,
        keep_extra_fields: options.keep_extra_fields,
        anonymize_ip: options.anonymize_ip,
        enrichment: options.enrichment,
        lake: options.lake,
        // Listed once for all inputs; if that fails, each input's writer lists the lake itself
        // and reports the error as that input's.
        existing_files: ExistingFiles::list(&options.out).ok().map(Arc::new),
        ..Default::default()
    };
    let results: Vec<(String, SourceTotals, Option<String>)> = inputs
        .par_iter()
        .map(|input| {
            let name = input.name();
            let (totals, error) = match input.open(progress.bytes) {
                Ok(mut reader) => {
                    let (totals, error) = ingest_stream(
                        &mut reader,
                        &name,
                        &options.out,
                        &source_options,
                        progress.lines,
                    );
                    (totals, error.map(|e| e.to_string()))
                }
                Err(error) => (
                    SourceTotals::default(),
                    Some(format!("opening {name}: {error}")),
                ),
            };
            (name, totals, error)
        })
        .collect();
    // Re-ingested sources replace their rows in files a compaction merged them into as well.
    let ingested: BTreeSet<String> = results.iter().map(|(name, _, _)| name.clone()).collect();
    let lake = Location::Local(options.out.clone());
    let mut errors = Vec::new();
    if let Err(error) = drop_sources_from(&lake, None, &ingested, TimeRange::default()) {
        errors.push(SourceFailure {
            source: options.out.display().to_string(),
            error: format!("removing re-ingested rows from compacted files: {error}"),
        });
    }
    let mut total = SourceTotals::default();
    for (source, totals, error) in results {
        errors.extend(error.map(|error| SourceFailure { source, error }));
        total.add(&totals);
    }
    IngestSummary {
        lines_in: total.lines_in,
        rows_out: total.rows_out,
        rejected: total.rejected,
        rejects_by_reason: total.rejects_by_reason,
        bytes_in: total.bytes_in,
        files_written: total.files_written,
        elapsed_ms: started.elapsed().as_millis() as u64,
        lossy_utf8_rows: total.lossy_utf8_rows,
        errors,
    }
}
