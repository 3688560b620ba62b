//! `loglake backfill SRC --dest DST`: the command-line face of [`loglake_backfill`].

use std::process::ExitCode;

use anyhow::Context;
use loglake_backfill::s3::S3;
use loglake_backfill::{Backfill, BackfillOptions, Location, PlannedSource};
use serde::Serialize;

use crate::{error_messages, finish_run, with_progress};

pub struct BackfillArgs {
    pub src: String,
    pub dest: String,
    pub options: BackfillOptions,
    pub dry_run: bool,
    pub jobs: usize,
    pub json: bool,
}

/// An S3 client when one is needed, and the runtime it runs on (kept alive as long as it is
/// used): the SDK runs on its own threads; sources are parsed on rayon's, which wait on it.
pub fn s3_client(needed: bool) -> anyhow::Result<(tokio::runtime::Runtime, Option<S3>)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let s3 = needed.then(|| {
        S3::new(
            runtime.block_on(S3::client_from_env()),
            runtime.handle().clone(),
        )
    });
    Ok((runtime, s3))
}

/// What `--dry-run --json` prints.
#[derive(Serialize)]
struct DryRun<'a> {
    sources: &'a [PlannedSource],
    bytes_to_read: u64,
}

pub fn run(args: BackfillArgs) -> anyhow::Result<ExitCode> {
    let src = Location::parse(&args.src)?;
    let dest = Location::parse(&args.dest)?;
    let (_runtime, s3) = s3_client(src.is_s3() || dest.is_s3())?;
    let backfill = Backfill::new(dest.clone(), s3, args.options)?;
    let sources = backfill
        .list_sources(&src)
        .with_context(|| format!("listing {src}"))?;

    if args.dry_run {
        let plan = backfill.plan(&sources)?;
        let bytes_to_read = plan
            .iter()
            .filter(|p| p.action == "read")
            .map(|p| p.size)
            .sum();
        if args.json {
            let dry_run = DryRun {
                sources: &plan,
                bytes_to_read,
            };
            println!("{}", serde_json::to_string(&dry_run)?);
        } else {
            for planned in &plan {
                println!(
                    "{:4} {:>12} {} (replaces {} outputs)",
                    planned.action,
                    planned.size,
                    planned.source,
                    planned.replaces.len()
                );
            }
            println!(
                "would read {} of {} sources, {bytes_to_read} bytes, into {dest}",
                plan.iter().filter(|p| p.action == "read").count(),
                plan.len()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }

    let total_bytes = sources.iter().map(|s| s.size).sum();
    let summary = with_progress(Some(total_bytes), |progress| {
        backfill.run(&sources, args.jobs, progress)
    });
    let totals = &summary.totals;
    let seconds = summary.elapsed_ms.max(1) as f64 / 1000.0;
    let line = format!(
        "{} sources read, {} already done; {} lines → {} rows, {} rejected, {} out of range → {} Parquet files in {dest} ({:.0} lines/s)",
        summary.sources_read,
        summary.sources_skipped,
        totals.lines_in,
        totals.rows_out,
        totals.rejected,
        totals.out_of_range,
        totals.files_written,
        totals.lines_in as f64 / seconds,
    );
    Ok(finish_run(
        error_messages(&summary.errors),
        &summary,
        args.json,
        &line,
    ))
}
