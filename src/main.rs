//! `loglake`: web access logs → a partitioned Parquet lake, on a laptop with no AWS account.

mod ingest;
mod input;
mod query;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use loglake_parser::LogFormat;
use loglake_queries::athena::AthenaTarget;
use loglake_queries::{DateRange, OutputFormat};

use crate::ingest::{IngestOptions, IngestSummary};
use crate::input::InputSource;

#[derive(Parser)]
#[command(name = "loglake", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse access logs into the Parquet lake: OUT/access_logs/dt=YYYY-MM-DD/hour=HH/*.parquet,
    /// with every unparseable line in OUT/rejects/*.ndjson.
    Ingest {
        /// Line format: auto (recognise each line), combined, common or vhost_combined.
        #[arg(long, default_value = "auto", value_parser = parse_format)]
        format: LogFormat,
        /// The lake's root directory.
        #[arg(long, default_value = "lake")]
        out: PathBuf,
        /// Print exactly one JSON object with the run's totals on stdout.
        #[arg(long)]
        json: bool,
        /// Log files (plain or gzip), or `-` for standard input.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Run a shipped report (Athena SQL from queries/reports/) on the local lake with DataFusion,
    /// or on Athena with --athena.
    Query {
        /// The report to run (`--list` shows them all).
        #[arg(required_unless_present = "list")]
        name: Option<String>,
        /// List the reports with a one-line description each.
        #[arg(long)]
        list: bool,
        /// First day (UTC, YYYY-MM-DD) of the range; default: the beginning of the lake.
        #[arg(long, default_value = "1970-01-01")]
        from: String,
        /// Last day (UTC, YYYY-MM-DD, included) of the range; default: the end of the lake.
        #[arg(long, default_value = "9999-12-31")]
        to: String,
        /// table, csv, or json (one array of objects keyed by column name).
        #[arg(long, default_value = "table", value_parser = parse_output_format)]
        format: OutputFormat,
        /// The local lake's root directory.
        #[arg(long, default_value = "lake", conflicts_with = "athena")]
        lake: PathBuf,
        /// Run on Athena instead (credentials and region from the usual AWS settings).
        #[arg(long, requires_all = ["workgroup", "database"])]
        athena: bool,
        /// The Athena workgroup.
        #[arg(long, requires = "athena")]
        workgroup: Option<String>,
        /// The Glue/Athena database holding `access_logs`.
        #[arg(long, requires = "athena")]
        database: Option<String>,
        /// Where Athena writes results (s3://…), if the workgroup does not set it.
        #[arg(long, requires = "athena")]
        output: Option<String>,
    },
}

fn parse_output_format(name: &str) -> Result<OutputFormat, String> {
    name.parse()
}

fn parse_format(name: &str) -> Result<LogFormat, String> {
    name.parse()
}

// Batches allocate and free large column buffers continuously; glibc hands those back to the
// kernel and faults them in again each time, mimalloc keeps reusing them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Ingest {
            format,
            out,
            json,
            paths,
        } => {
            // A path named twice would be written by two workers at once: ingest it once.
            let mut seen = std::collections::HashSet::new();
            let inputs: Vec<InputSource> = paths
                .iter()
                .filter(|p| seen.insert(p.as_str()))
                .map(|p| InputSource::from_arg(p))
                .collect();
            let options = IngestOptions { format, out };
            let summary =
                with_progress(&inputs, |progress| ingest::run(&inputs, &options, progress));
            report(&summary, &options, json)
        }
        Command::Query {
            name,
            list,
            from,
            to,
            format,
            lake,
            athena,
            workgroup,
            database,
            output,
        } => {
            if list {
                print!("{}", query::list());
                return ExitCode::SUCCESS;
            }
            let engine = match (athena, workgroup, database) {
                (true, Some(workgroup), Some(database)) => query::Engine::Athena(AthenaTarget {
                    workgroup,
                    database,
                    output,
                }),
                _ => query::Engine::Local { lake },
            };
            let outcome = query::find(name.as_deref().unwrap_or_default())
                .map_err(anyhow::Error::from)
                .and_then(|report| Ok((report, DateRange::new(&from, &to)?)))
                .and_then(|(report, range)| query::run(report, &range, &engine));
            match outcome {
                Ok(outcome) => {
                    print!("{}", outcome.table.render(format));
                    eprintln!("loglake: {}", outcome.note);
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("loglake: error: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Runs `work` with a progress bar on stderr when stderr is a terminal.
fn with_progress<T>(inputs: &[InputSource], work: impl FnOnce(&(dyn Fn(u64) + Sync)) -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return work(&|_| {});
    }
    let total: Option<u64> = inputs.iter().map(InputSource::size_hint).sum();
    let bar = match total {
        Some(bytes) => ProgressBar::new(bytes).with_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("valid template"),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}")
                .expect("valid template"),
        ),
    };
    let result = work(&|n| bar.inc(n));
    bar.finish_and_clear();
    result
}

fn report(summary: &IngestSummary, options: &IngestOptions, json: bool) -> ExitCode {
    for error in &summary.errors {
        eprintln!("loglake: error: {}", error.error);
    }
    if json {
        println!(
            "{}",
            serde_json::to_string(summary).expect("the summary serialises")
        );
    }
    let seconds = summary.elapsed_ms.max(1) as f64 / 1000.0;
    let reasons: Vec<String> = summary
        .rejects_by_reason
        .iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect();
    eprintln!(
        "loglake: {} lines → {} rows, {} rejected{} → {} Parquet files in {} ({:.0} lines/s)",
        summary.lines_in,
        summary.rows_out,
        summary.rejected,
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", reasons.join(", "))
        },
        summary.files_written,
        options.out.display(),
        summary.lines_in as f64 / seconds,
    );
    if summary.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
