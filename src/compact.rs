//! `loglake compact --lake LAKE`: the command-line face of [`loglake_backfill::compact`].

use std::process::ExitCode;

use loglake_backfill::compact::{compact, CompactOptions};
use loglake_backfill::Location;

use crate::backfill::s3_client;
use crate::finish_run;

pub fn run(lake: &str, options: &CompactOptions, json: bool) -> anyhow::Result<ExitCode> {
    let lake = Location::parse(lake)?;
    let (_runtime, s3) = s3_client(lake.is_s3())?;
    let summary = compact(&lake, s3.as_ref(), options)?;
    let line = format!(
        "{} of {} partitions compacted: {} files ({} bytes) → {} files ({} bytes), {} rows; rejects: {} files → {}, {} lines; {} interrupted compactions finished",
        summary.partitions_compacted,
        summary.partitions_seen,
        summary.files_in,
        summary.bytes_in,
        summary.files_out,
        summary.bytes_out,
        summary.rows,
        summary.rejects_files_in,
        summary.rejects_files_out,
        summary.rejects_lines,
        summary.recovered,
    );
    let errors = summary
        .errors
        .iter()
        .map(|e| format!("{}: {}", e.partition, e.error))
        .collect::<Vec<_>>();
    Ok(finish_run(
        errors.iter().map(String::as_str),
        &summary,
        json,
        &line,
    ))
}
