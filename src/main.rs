//! `loglake`: web access logs → a partitioned Parquet lake, on a laptop with no AWS account.

mod alerts;
mod backfill;
mod compact;
mod ingest;
mod input;
mod json_udf;
mod query;
mod regex_udf;
mod replay;
mod s3_store;
mod ship;
mod sql;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use loglake_backfill::{BackfillOptions, Location};
use loglake_lake::{LakeOptions, ParquetEncoder, Progress, SourceFailure, TimeRange};
use loglake_parser::{Enrichment, IpAnonymization, LogFormat};
use loglake_queries::athena::AthenaTarget;
use loglake_queries::{DateRange, OutputFormat, SqlSettings};

use crate::ingest::{IngestOptions, IngestSummary};
use crate::input::InputSource;

/// DataFusion's hash tables and string kernels allocate and free many small buffers a batch;
/// glibc's allocator spent a quarter of the report page's time on them (perf), mimalloc far less.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        #[command(flatten)]
        parse: ParseArgs,
        /// The lake's root directory.
        #[arg(long, default_value = "lake")]
        out: PathBuf,
        /// Which code writes the Parquet dictionaries: loglake (ours, faster) or arrow
        /// (parquet-rs's stock writer); the files hold the same rows and statistics.
        #[arg(long, default_value = "loglake")]
        parquet_encoder: ParquetEncoder,
        /// Print exactly one JSON object with the run's totals on stdout.
        #[arg(long)]
        json: bool,
        /// Log files (plain or gzip), or `-` for standard input.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Replay stored logs (a directory or s3://bucket/prefix; plain, gzip or zstd) into a lake
    /// (a directory or s3://bucket/prefix), in parallel. Re-runs skip finished sources and
    /// rewrite the same files; a changed source replaces its earlier output.
    Backfill {
        /// Where the logs are: a file, a directory (read recursively) or s3://bucket/prefix.
        src: String,
        /// The lake's root: a directory or s3://bucket/prefix.
        #[arg(long)]
        dest: String,
        #[command(flatten)]
        parse: ParseArgs,
        /// Keep only rows at or after this UTC time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ); only
        /// the hours in the range are replaced.
        #[arg(long, value_parser = parse_instant)]
        since: Option<i64>,
        /// Keep only rows before this UTC time (excluded).
        #[arg(long, value_parser = parse_instant)]
        until: Option<i64>,
        /// List what would be read and replaced, with sizes, and stop.
        #[arg(long)]
        dry_run: bool,
        /// Read sources again even when the manifest says they are done.
        #[arg(long)]
        force: bool,
        /// Which code writes the Parquet dictionaries: loglake (ours, faster) or arrow
        /// (parquet-rs's stock writer); the files hold the same rows and statistics.
        #[arg(long, default_value = "loglake")]
        parquet_encoder: ParquetEncoder,
        /// Sources processed at once (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Print exactly one JSON object with the run's totals on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Merge each hour's small Parquet files (Firehose buffers, small backfill sources) into
    /// files of about --target-mb, sorted by time, in a local lake or s3://bucket/prefix.
    /// Idempotent, crash-safe and safe while the lake is queried (README.md, Compaction).
    Compact {
        /// The lake's root: a directory or s3://bucket/prefix.
        #[arg(long, default_value = "lake")]
        lake: String,
        /// Only hours at or after this UTC time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ).
        #[arg(long, value_parser = parse_instant)]
        since: Option<i64>,
        /// Only hours before this UTC time (excluded).
        #[arg(long, value_parser = parse_instant)]
        until: Option<i64>,
        /// The size merged files aim at, in MiB; files this large already are left alone.
        #[arg(long, default_value = "128")]
        target_mb: u64,
        /// Print exactly one JSON object with the run's totals on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Read the Kinesis batches the ingest function gave up on back from the stream and write
    /// them into the lake as the function does. MESSAGES is the failure queue's URL (each message
    /// deleted once its batch is in the lake), or a file of its messages (invocation records one
    /// per line, or `aws sqs receive-message` output; `-` reads stdin).
    /// The function's other settings (LOG_FORMAT, ANONYMIZE_IP, …) come from the environment.
    ReplayFailures {
        /// The failure queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME), or a file of
        /// its messages, or `-`.
        messages: String,
        /// The lake the function writes (its LAKE_DEST): s3://bucket/prefix.
        #[arg(long)]
        lake: String,
        /// Print exactly one JSON object with the run's totals on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Follow log files as `tail -F` does (rotation by rename or copy-truncate, new files
    /// matching the globs) and deliver their lines: into a Kinesis stream as records the
    /// ingest function reads, or straight into a lake (a directory or S3). Each file's position
    /// is saved once its lines are delivered, so a restart after a crash resumes there
    /// (README.md, Shipping).
    Ship {
        /// Files or globs (quoted: '/var/log/nginx/access.log*'); compressed files are skipped.
        #[arg(required = true)]
        paths: Vec<String>,
        /// Where the lines go: kinesis://STREAM_NAME, or s3://bucket/prefix (a lake); the usual
        /// AWS settings, AWS_ENDPOINT_URL included.
        #[arg(long, required_unless_present = "out", conflicts_with = "out")]
        to: Option<String>,
        /// Or a local lake's root directory.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The positions file; default: $STATE_DIRECTORY/ship.json (systemd's StateDirectory=),
        /// else $XDG_STATE_HOME/loglake/ship.json, else ~/.local/state/loglake/ship.json.
        #[arg(long)]
        state: Option<PathBuf>,
        /// Into a stream: lines (sections of newline-separated lines) or kpl (a KPL aggregate of
        /// them).
        #[arg(long, default_value = "lines", value_parser = parse_record_format)]
        record_format: loglake_ship::RecordFormat,
        /// Files no position knows at start are read from their end, not their start.
        #[arg(long)]
        from_end: bool,
        /// Milliseconds lines wait at most before they are delivered; default: 1000 into a
        /// stream, 60000 into a lake (each delivery into a lake writes a file an hour).
        #[arg(long)]
        flush_ms: Option<u64>,
        /// Seconds between status lines on stderr.
        #[arg(long, default_value = "10")]
        status_secs: u64,
        /// Write the counters to this file in Prometheus's text format (for node_exporter's
        /// textfile collector) with each status line.
        #[arg(long)]
        metrics: Option<PathBuf>,
        /// Ship what the files hold now, then stop.
        #[arg(long)]
        once: bool,
        /// (Parsing happens here only into a lake; into a stream, the ingest function parses.)
        #[command(flatten)]
        parse: ParseArgs,
        /// Into a lake: an hour's files are compacted once the hour ended and went unwritten
        /// this many seconds.
        #[arg(long, default_value_t = ship::HOUR_GRACE.as_secs())]
        compact_after_secs: u64,
    },
    /// Any SQL over the local lake's tables, named as on Athena: access_logs,
    /// access_logs_unique (without redelivered copies) and rejects. With no statement, a shell:
    /// line editing, history, `;`-ended statements, `.tables`, `.schema`; Ctrl-C cancels the
    /// running query.
    Sql {
        /// The statement to run; none: the shell (statements from the terminal, or read from
        /// standard input as a script).
        statement: Option<String>,
        /// The lake's root: a directory or s3://bucket/prefix (read with the usual AWS
        /// settings, AWS_ENDPOINT_URL included).
        #[arg(long, default_value = "lake")]
        lake: PathBuf,
        /// table, csv, json (one array of objects) or ndjson (one object a line).
        #[arg(long, default_value = "table", value_parser = parse_output_format)]
        format: OutputFormat,
        /// Write the statement's rows to this Parquet file instead of printing them.
        #[arg(long, requires = "statement", conflicts_with = "format")]
        output: Option<PathBuf>,
        /// Show `ts` in this time zone (an IANA name: Europe/Paris), where `date_trunc` and
        /// `date_part` then count too; `dt` and `hour` stay the lake's UTC partitions.
        #[arg(long)]
        tz: Option<String>,
    },
    /// Every shipped report over the local lake as one self-contained HTML page: charts as
    /// inline SVG, nothing fetched, so it opens offline.
    Report {
        /// The lake's root: a directory or s3://bucket/prefix (read with the usual AWS
        /// settings, AWS_ENDPOINT_URL included).
        #[arg(long, default_value = "lake", conflicts_with = "athena")]
        lake: PathBuf,
        #[command(flatten)]
        athena: AthenaArgs,
        /// First day (YYYY-MM-DD, UTC or --tz) of the range; default: the beginning of the lake.
        #[arg(long, default_value = "1970-01-01")]
        from: String,
        /// Last day (YYYY-MM-DD, included) of the range; default: the end of the lake.
        #[arg(long, default_value = "9999-12-31")]
        to: String,
        /// The HTML file to write.
        #[arg(long, required_unless_present = "alerts")]
        html: Option<PathBuf>,
        #[command(flatten)]
        settings: ReportSettings,
        #[command(flatten)]
        alerts: alerts::AlertArgs,
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
        /// First day (YYYY-MM-DD, UTC or --tz) of the range; default: the beginning of the lake.
        #[arg(long, default_value = "1970-01-01")]
        from: String,
        /// Last day (YYYY-MM-DD, included) of the range; default: the end of the lake.
        #[arg(long, default_value = "9999-12-31")]
        to: String,
        /// table, csv, json (one array of objects keyed by column name) or ndjson (one object
        /// a line).
        #[arg(long, default_value = "table", value_parser = parse_output_format)]
        format: OutputFormat,
        /// The lake's root: a directory or s3://bucket/prefix (read with the usual AWS
        /// settings, AWS_ENDPOINT_URL included).
        #[arg(long, default_value = "lake", conflicts_with = "athena")]
        lake: PathBuf,
        #[command(flatten)]
        athena: AthenaArgs,
        #[command(flatten)]
        settings: ReportSettings,
    },
}

/// How lines are parsed and written: the same flags for `ingest`, `backfill` and `ship`.
#[derive(clap::Args)]
struct ParseArgs {
    /// Line format (see README.md's Formats).
    #[arg(long, visible_alias = "log-format", default_value = "auto", value_parser = FormatParser)]
    format: LogFormat,
    /// Keep the format's fields that fill no column in `extra_fields`, a JSON object (see
    /// README.md); without it the column is null. It costs time and lake space.
    #[arg(long)]
    extra_fields: bool,
    /// How client addresses are written: none, truncate (IPv4 /24, IPv6 /48), truncate16
    /// (IPv4 /16) or hash (a keyed hash; the key from ANONYMIZE_IP_KEY). Rows, rejects and
    /// extra fields alike (README.md, Privacy).
    #[arg(long, default_value = "none", value_parser = parse_anonymize_ip)]
    anonymize_ip: IpAnonymization,
    /// The folder with the enrichment data (country.mmdb, crawler-user-agents.json; fetched
    /// by scripts/fetch-enrichment-data); default: LOGLAKE_ENRICHMENT_DIR. Without it the
    /// country column is null and bots are found by the built-in rules only.
    #[arg(long)]
    enrichment_dir: Option<PathBuf>,
}

impl ParseArgs {
    fn decoder_options(&self) -> loglake_decode::DecoderOptions {
        loglake_decode::DecoderOptions {
            format: self.format,
            keep_extra_fields: self.extra_fields,
            anonymize_ip: self.anonymize_ip,
            enrichment: enrichment(self.enrichment_dir.clone()),
            ..Default::default()
        }
    }
}

/// What the reports are run with, beyond their dates.
#[derive(clap::Args)]
struct ReportSettings {
    /// Count each input line once: read the `access_logs_unique` view, which drops the copies
    /// an at-least-once delivery can leave (rows with the same `source` and `source_line`).
    /// On Athena the view must have been created (the template's named query).
    #[arg(long)]
    unique: bool,
    /// The inactivity, in minutes, after which a visitor's next request starts a new visit
    /// (`visits_by_day`, `entry_exit_pages`).
    #[arg(long, default_value = "30", value_parser = clap::value_parser!(u32).range(1..))]
    visit_gap_minutes: u32,
    /// Count days and hours in this time zone (an IANA name: Europe/Paris): `--from`/`--to`,
    /// `dt`, `hour` and `ts` are the zone's; the lake's UTC folders are still pruned (a day
    /// more each side is read). Not with --athena; --alerts windows stay UTC hours.
    #[arg(long, conflicts_with = "athena")]
    tz: Option<String>,
}

impl ReportSettings {
    fn sql(&self) -> SqlSettings {
        SqlSettings {
            unique: self.unique,
            visit_gap_minutes: self.visit_gap_minutes,
        }
    }
}

/// Where a report runs when not on the local lake.
#[derive(clap::Args)]
struct AthenaArgs {
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
}

impl AthenaArgs {
    /// Athena when asked, else the local lake.
    fn engine(self, lake: PathBuf, zone: Option<String>) -> query::Engine {
        match self {
            AthenaArgs {
                athena: true,
                workgroup: Some(workgroup),
                database: Some(database),
                output,
            } => query::Engine::Athena(AthenaTarget {
                workgroup,
                database,
                output,
            }),
            _ => query::Engine::Local { lake, zone },
        }
    }
}

/// `--anonymize-ip`'s mode, with the key of `hash` from `ANONYMIZE_IP_KEY` (kept out of the
/// command line, and so out of shell histories and process lists).
fn parse_anonymize_ip(mode: &str) -> Result<IpAnonymization, String> {
    IpAnonymization::from_setting(
        Some(mode),
        std::env::var("ANONYMIZE_IP_KEY").ok().as_deref(),
    )
}

fn parse_record_format(name: &str) -> Result<loglake_ship::RecordFormat, String> {
    match name {
        "lines" => Ok(loglake_ship::RecordFormat::Lines),
        "kpl" => Ok(loglake_ship::RecordFormat::Kpl),
        _ => Err(format!("{name:?}: expected lines or kpl")),
    }
}

fn parse_output_format(name: &str) -> Result<OutputFormat, String> {
    name.parse()
}

/// `--format`'s values: the registry's formats, each with its summary in `--help`, or a custom
/// format string (`nginx:…`, `apache:…`), compiled when the arguments are read.
#[derive(Clone)]
struct FormatParser;

impl clap::builder::TypedValueParser for FormatParser {
    type Value = LogFormat;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<LogFormat, clap::Error> {
        let invalid = |message: String| {
            clap::Error::raw(clap::error::ErrorKind::InvalidValue, message + "\n").with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| invalid("the format is not UTF-8".into()))?;
        text.parse().map_err(invalid)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        use clap::builder::PossibleValue;
        let registered = LogFormat::ALL
            .iter()
            .map(|f| PossibleValue::new(f.name()).help(f.summary()));
        let custom = [
            PossibleValue::new("nginx:…").help("the server's log_format string"),
            PossibleValue::new("apache:…").help("the server's LogFormat string"),
        ];
        Some(Box::new(registered.chain(custom)))
    }
}

fn parse_instant(text: &str) -> Result<i64, String> {
    loglake_parser::parse_utc_instant(text)
        .ok_or_else(|| format!("{text:?} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)"))
}

/// The enrichment data in `dir`, or in the folder LOGLAKE_ENRICHMENT_DIR names; what is missing
/// is a warning on stderr.
fn enrichment(dir: Option<PathBuf>) -> &'static Enrichment {
    let warn = |warning: &str| eprintln!("loglake: warning: {warning}");
    match dir {
        Some(dir) => Enrichment::leaked(Some(&dir), warn),
        None => Enrichment::from_env(warn),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    keep_freed_memory();
    match cli.command {
        Command::Ingest {
            parse,
            out,
            parquet_encoder,
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
            let mut lake = LakeOptions::default();
            lake.file.encoder = parquet_encoder;
            let options = IngestOptions {
                format: parse.format,
                keep_extra_fields: parse.extra_fields,
                anonymize_ip: parse.anonymize_ip,
                enrichment: enrichment(parse.enrichment_dir),
                out,
                lake,
            };
            let total = inputs.iter().map(InputSource::size_hint).sum();
            let summary = with_progress(total, |progress| ingest::run(&inputs, &options, progress));
            report(&summary, &options, json)
        }
        Command::Backfill {
            src,
            dest,
            parse,
            since,
            until,
            dry_run,
            force,
            parquet_encoder,
            jobs,
            json,
        } => {
            let mut lake = BackfillOptions::backfill_lake_options();
            lake.file.encoder = parquet_encoder;
            let options = backfill::BackfillArgs {
                src,
                dest,
                options: BackfillOptions {
                    format: parse.format,
                    keep_extra_fields: parse.extra_fields,
                    anonymize_ip: parse.anonymize_ip,
                    enrichment: enrichment(parse.enrichment_dir),
                    range: TimeRange { since, until },
                    force,
                    lake,
                },
                dry_run,
                jobs: jobs.unwrap_or_else(rayon::current_num_threads),
                json,
            };
            match backfill::run(options) {
                Ok(code) => code,
                Err(error) => {
                    eprintln!("loglake: error: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Compact {
            lake,
            since,
            until,
            target_mb,
            json,
        } => {
            let options = loglake_backfill::compact::CompactOptions {
                target_bytes: target_mb.max(1) << 20,
                range: TimeRange { since, until },
                ..Default::default()
            };
            compact::run(&lake, &options, json).unwrap_or_else(|error| {
                eprintln!("loglake: error: {error:#}");
                ExitCode::FAILURE
            })
        }
        Command::Ship {
            paths,
            to,
            out,
            state,
            record_format,
            from_end,
            flush_ms,
            status_secs,
            metrics,
            once,
            parse,
            compact_after_secs,
        } => {
            let compact_after = std::time::Duration::from_secs(compact_after_secs);
            let lake_options = || parse.decoder_options();
            let target = match (to, out) {
                (_, Some(dir)) => Ok(ship::Target::Lake {
                    location: Location::Local(dir),
                    options: lake_options(),
                    compact_after,
                }),
                (Some(to), None) => match to.strip_prefix("kinesis://") {
                    Some(name) if !name.is_empty() => Ok(ship::Target::Stream {
                        name: name.to_string(),
                        format: record_format,
                    }),
                    _ => match Location::parse(&to) {
                        Ok(location) if location.is_s3() => Ok(ship::Target::Lake {
                            location,
                            options: lake_options(),
                            compact_after,
                        }),
                        _ => Err(format!(
                            "--to {to:?}: expected kinesis://STREAM_NAME or s3://bucket/prefix"
                        )),
                    },
                },
                (None, None) => unreachable!("clap requires --to or --out"),
            };
            let target = match target {
                Ok(target) => target,
                Err(message) => {
                    eprintln!("loglake: error: {message}");
                    return ExitCode::FAILURE;
                }
            };
            let default_flush = match target {
                ship::Target::Stream { .. } => 1_000,
                ship::Target::Lake { .. } => 60_000,
            };
            let args = ship::ShipArgs {
                patterns: paths,
                target,
                state: state.unwrap_or_else(ship::default_state_path),
                from_end,
                flush_interval: std::time::Duration::from_millis(flush_ms.unwrap_or(default_flush)),
                scan_interval: std::time::Duration::from_secs(1),
                status_interval: std::time::Duration::from_secs(status_secs.max(1)),
                metrics,
                // one byte over the decoder's limit, so that it rejects the line as too long
                max_line_bytes: loglake_decode::DecoderOptions::default().max_line_bytes + 1,
                once,
            };
            ship::run(args).map_or_else(
                |error| {
                    eprintln!("loglake: error: {error:#}");
                    ExitCode::FAILURE
                },
                |()| ExitCode::SUCCESS,
            )
        }
        Command::ReplayFailures {
            messages,
            lake,
            json,
        } => replay::run(&messages, &lake, json).unwrap_or_else(|error| {
            eprintln!("loglake: error: {error:#}");
            ExitCode::FAILURE
        }),
        Command::Sql {
            statement,
            lake,
            format,
            output,
            tz,
        } => {
            let outcome = match statement {
                Some(statement) => {
                    let destination = match output {
                        Some(path) => sql::Destination::Parquet(path),
                        None => sql::Destination::Print(format),
                    };
                    query::block_on(async {
                        let context = sql::session(&lake, tz.as_deref()).await?;
                        sql::run(&context, &statement, &destination).await
                    })
                    .map(|note| eprintln!("loglake: {note}"))
                }
                None => sql::shell(&lake, tz.as_deref(), format),
            };
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("loglake: error: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Report {
            lake,
            athena,
            from,
            to,
            html,
            settings,
            alerts,
        } => {
            let engine = athena.engine(lake, settings.tz.clone());
            let written = match (alerts.alerts, html) {
                (true, _) => alerts::run(&alerts, &engine).map(|out| {
                    print!("{out}");
                    "alerts checked".to_string()
                }),
                (false, Some(html)) => DateRange::new(&from, &to)
                    .map_err(anyhow::Error::from)
                    .and_then(|range| {
                        query::write_dashboard(&engine, &range, &settings.sql(), &html)
                    }),
                (false, None) => unreachable!("clap requires --html without --alerts"),
            };
            match written {
                Ok(note) => {
                    eprintln!("loglake: {note}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("loglake: error: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Query {
            name,
            list,
            from,
            to,
            format,
            lake,
            athena,
            settings,
        } => {
            if list {
                print!("{}", query::list());
                return ExitCode::SUCCESS;
            }
            let engine = athena.engine(lake, settings.tz.clone());
            let outcome = query::find(name.as_deref().unwrap_or_default())
                .map_err(anyhow::Error::from)
                .and_then(|report| Ok((report, DateRange::new(&from, &to)?)))
                .and_then(|(report, range)| query::run(report, &range, &engine, &settings.sql()));
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

/// Runs `work` with a progress bar on stderr when stderr is a terminal: bytes of `total_bytes`
/// (as stored) with their rate and the ETA, and lines parsed per second.
fn with_progress<T>(total_bytes: Option<u64>, work: impl FnOnce(&Progress) -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return work(&Progress::none());
    }
    let bar = match total_bytes {
        Some(bytes) => ProgressBar::new(bytes).with_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg} eta {eta}",
            )
            .expect("valid template"),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec} {msg}")
                .expect("valid template"),
        ),
    };
    let started = std::time::Instant::now();
    let lines = std::sync::atomic::AtomicU64::new(0);
    let count_lines = |n| {
        let total = lines.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
        let seconds = started.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!("{:.0} lines/s", total as f64 / seconds));
    };
    let result = work(&Progress {
        bytes: &|n| bar.inc(n),
        lines: &count_lines,
    });
    bar.finish_and_clear();
    result
}

fn report(summary: &IngestSummary, options: &IngestOptions, json: bool) -> ExitCode {
    let seconds = summary.elapsed_ms.max(1) as f64 / 1000.0;
    let reasons: Vec<String> = summary
        .rejects_by_reason
        .iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect();
    let line = format!(
        "{} lines → {} rows, {} rejected{} → {} Parquet files in {} ({:.0} lines/s)",
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
    finish_run(error_messages(&summary.errors), summary, json, &line)
}

/// Ends a run: each failed source on stderr, the summary as exactly one JSON object on stdout
/// with `--json`, then the one-line summary on stderr; failure when any source failed.
fn error_messages(errors: &[SourceFailure]) -> impl ExactSizeIterator<Item = &str> {
    errors.iter().map(|e| e.error.as_str())
}

fn finish_run<'a>(
    errors: impl ExactSizeIterator<Item = &'a str>,
    summary: &impl serde::Serialize,
    json: bool,
    line: &str,
) -> ExitCode {
    let failed = errors.len() > 0;
    for error in errors {
        eprintln!("loglake: error: {error}");
    }
    if json {
        println!(
            "{}",
            serde_json::to_string(summary).expect("the summary serialises")
        );
    }
    eprintln!("loglake: {line}");
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Lets the allocators keep freed memory for reuse: a run allocates and frees batch-sized
/// buffers continuously (column buffers, JSON rows, Firehose records, zstd contexts), and by
/// default glibc's (the C code's: zstd) hands blocks over 128 KiB back to the kernel on free and
/// mimalloc (Rust's, [`GLOBAL`]) what has been free for 10 ms, so each costs page faults and
/// freshly zeroed pages again: 11% of the report page's time on a month's lake (perf:
/// `clear_page_erms` under mimalloc's page allocation; 6.96 s against 6.16 s, four runs each in
/// turn). Memory stays bounded by the pipeline's budgets. glibc's part is a no-op elsewhere.
fn keep_freed_memory() {
    extern "C" {
        /// mimalloc.h's `mi_option_set`, in the library the `mimalloc` crate links.
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    /// `mi_option_purge_delay` (mimalloc.h, the same in v2 and v3): milliseconds before freed
    /// memory goes back to the kernel; -1: never.
    const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
    // SAFETY: mi_option_set only changes a tuning option, which mimalloc reads on each purge.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning parameters; any values are valid.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}
