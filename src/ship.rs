//! `loglake ship`: follows log files ([`loglake_ship::Follower`]) and puts their lines into a
//! Kinesis stream as records the ingest function reads ([`loglake_ship::RecordPacker`]), one
//! `PutRecords` batch in flight at a time; each file's checkpoint is saved once the records
//! holding its lines are acknowledged. Records Kinesis refuses are put again, alone, after a
//! pause that grows (with jitter) while it keeps refusing; while the stream is down nothing more
//! is read (memory holds at most the batch in flight and the next), so nothing is dropped.
//! SIGTERM or SIGINT: what was read is put, the checkpoints saved, and the command ends.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use loglake_ship::records::{MAX_BATCH_BYTES, MAX_RECORD_BYTES};
use loglake_ship::{Batch, Checkpoints, FollowOptions, Follower, RecordFormat, RecordPacker};
use tokio::signal::unix::{signal, SignalKind};

/// What `loglake ship` was asked to do.
pub struct ShipArgs {
    pub patterns: Vec<String>,
    /// `kinesis://STREAM`.
    pub to: String,
    pub state: PathBuf,
    pub format: RecordFormat,
    pub from_end: bool,
    /// Lines wait at most this long for more to fill their record.
    pub flush_interval: Duration,
    pub scan_interval: Duration,
    pub status_interval: Duration,
    pub metrics: Option<PathBuf>,
    pub max_line_bytes: usize,
    /// Ship what the files hold, then stop.
    pub once: bool,
}

/// Bytes of lines read and not yet acknowledged, at most: a batch in flight and the next being
/// packed. Past it, nothing more is read until the stream takes the batch.
pub const MEMORY_CAP_BYTES: usize = MAX_BATCH_BYTES + MAX_BATCH_BYTES + MAX_RECORD_BYTES;
/// How long the follower waits, when there was nothing new, before looking again.
const IDLE_POLL: Duration = Duration::from_millis(200);

/// Counters, for the status line and the metrics file.
#[derive(Default, Clone)]
struct Stats {
    lines: u64,
    bytes: u64,
    records: u64,
    batches: u64,
    /// Records put again after Kinesis refused them, and calls that failed whole.
    retried_records: u64,
    failed_calls: u64,
    throttled: u64,
}

pub fn run(args: ShipArgs) -> anyhow::Result<()> {
    let Some(stream) = args.to.strip_prefix("kinesis://").filter(|s| !s.is_empty()) else {
        bail!("--to {:?}: expected kinesis://STREAM_NAME", args.to);
    };
    let stream = stream.to_string();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(ship(args, stream))
}

async fn ship(args: ShipArgs, stream: String) -> anyhow::Result<()> {
    let aws = aws_config::load_from_env().await;
    let kinesis = aws_sdk_kinesis::Client::new(&aws);
    let mut checkpoints = Checkpoints::load(&args.state)?;
    let host = hostname();
    let mut follower = Follower::new(FollowOptions {
        patterns: args.patterns.clone(),
        host,
        max_line_bytes: args.max_line_bytes,
        from_end: args.from_end,
    });
    let mut packer = RecordPacker::new(args.format);
    let mut stop = Stop::new()?;
    let mut stats = Stats::default();
    let mut sender = Sender::new(kinesis, stream);
    let started = Instant::now();
    let (mut last_scan, mut last_flush, mut last_status) = (None::<Instant>, started, started);
    let mut reported = Stats::default();
    loop {
        let stopping = stop.requested();
        if last_scan.is_none_or(|at| at.elapsed() >= args.scan_interval) {
            follower.scan(&checkpoints).context("looking for files")?;
            last_scan = Some(Instant::now());
        }
        let mut read_any = false;
        if !stopping {
            let room = MEMORY_CAP_BYTES.saturating_sub(packer.pending_bytes());
            for chunk in follower.read(room).context("reading the files")? {
                read_any = true;
                stats.lines += chunk.line_count as u64;
                stats.bytes += chunk.lines.len() as u64;
                packer.push(chunk);
            }
        }
        let idle = !read_any && follower.lag_bytes() == 0;
        let flush = stopping || last_flush.elapsed() >= args.flush_interval || (args.once && idle);
        while let Some(batch) = packer.take_batch(flush) {
            sender.put(&batch, &mut stats).await?;
            for (fingerprint, position) in batch.positions() {
                checkpoints.advance(fingerprint, position.clone());
            }
            checkpoints.save(&args.state)?;
            stats.records += batch.records.len() as u64;
            stats.batches += 1;
        }
        if flush {
            last_flush = Instant::now();
        }
        if last_status.elapsed() >= args.status_interval {
            status(&stats, &reported, last_status.elapsed(), &follower);
            if let Some(path) = &args.metrics {
                write_metrics(path, &stats, &follower)?;
            }
            reported = stats.clone();
            last_status = Instant::now();
        }
        if stopping || (args.once && idle && packer.is_empty()) {
            break;
        }
        if !read_any {
            stop.sleep(IDLE_POLL).await;
        }
    }
    status(&stats, &Stats::default(), started.elapsed(), &follower);
    if let Some(path) = &args.metrics {
        write_metrics(path, &stats, &follower)?;
    }
    Ok(())
}

/// Puts batches into the stream, slowing down while Kinesis throttles.
struct Sender {
    kinesis: aws_sdk_kinesis::Client,
    stream: String,
    /// A pause before each call, doubled while calls are throttled and halved when not.
    pace: Duration,
}

/// Errors of `PutRecords` that mean the settings are wrong (Kinesis API Reference,
/// PutRecords, Errors), not that the stream is busy or away.
const NOT_MENDED_BY_TRYING_AGAIN: [&str; 7] = [
    "ResourceNotFoundException",
    "AccessDeniedException",
    "ValidationException",
    "InvalidArgumentException",
    "KMSAccessDeniedException",
    "KMSDisabledException",
    "KMSNotFoundException",
];

/// Pauses between tries grow from this …
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// … up to this.
const LONGEST_PAUSE: Duration = Duration::from_secs(10);

impl Sender {
    fn new(kinesis: aws_sdk_kinesis::Client, stream: String) -> Self {
        Self {
            kinesis,
            stream,
            pace: Duration::ZERO,
        }
    }

    /// Puts every record of `batch`, trying the refused ones again (and only those) until all
    /// are in. Errors that trying again cannot mend (no such stream, no permission, a record
    /// refused as invalid) end the command, with the batch's lines not checkpointed.
    async fn put(&mut self, batch: &Batch, stats: &mut Stats) -> anyhow::Result<()> {
        let mut pending: Vec<usize> = (0..batch.records.len()).collect();
        let mut tries = 0u32;
        loop {
            if !self.pace.is_zero() {
                tokio::time::sleep(self.pace).await;
            }
            let entries = pending.iter().map(|&i| {
                let record = &batch.records[i];
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(record.data.clone()))
                    .partition_key(&record.partition_key)
                    .build()
                    .expect("data and partition key are set")
            });
            let call = self.kinesis.put_records().stream_name(&self.stream);
            let outcome = call.set_records(Some(entries.collect())).send().await;
            let throttled = match outcome {
                Ok(output) => {
                    let results = output.records();
                    let refused: Vec<(usize, bool)> = (pending.iter().zip(results))
                        .filter_map(|(&i, result)| {
                            let code = result.error_code()?;
                            Some((i, code == "ProvisionedThroughputExceededException"))
                        })
                        .collect();
                    if results.len() != pending.len() {
                        bail!(
                            "PutRecords answered {} results for {} records",
                            results.len(),
                            pending.len()
                        );
                    }
                    if refused.is_empty() {
                        self.pace /= 2;
                        return Ok(());
                    }
                    stats.retried_records += refused.len() as u64;
                    let throttled = refused.iter().any(|(_, throttled)| *throttled);
                    pending = refused.into_iter().map(|(i, _)| i).collect();
                    throttled
                }
                Err(error) => {
                    let service = error.as_service_error();
                    let code = service.and_then(ProvideErrorMetadata::code);
                    if let Some(code) = code.filter(|c| NOT_MENDED_BY_TRYING_AGAIN.contains(c)) {
                        let message = service.and_then(ProvideErrorMetadata::message);
                        bail!(
                            "PutRecords into {}: {code}: {}",
                            self.stream,
                            message.unwrap_or_default()
                        );
                    }
                    stats.failed_calls += 1;
                    eprintln!(
                        "loglake ship: PutRecords failed, trying again: {}",
                        code.unwrap_or("no answer")
                    );
                    code == Some("ProvisionedThroughputExceededException")
                }
            };
            if throttled {
                stats.throttled += 1;
                self.pace = (self.pace * 2).clamp(FIRST_PAUSE, LONGEST_PAUSE);
            }
            tries += 1;
            tokio::time::sleep(pause(tries)).await;
        }
    }
}

/// The pause before try `tries + 1`: exponential, capped, with full jitter (so that shippers
/// refused together do not come back together).
fn pause(tries: u32) -> Duration {
    let ceiling = FIRST_PAUSE
        .saturating_mul(1 << tries.min(10))
        .min(LONGEST_PAUSE);
    ceiling.mul_f64(fastrand::f64())
}

/// SIGTERM and SIGINT, heard between steps.
struct Stop {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    requested: bool,
}

impl Stop {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
            requested: false,
        })
    }

    /// Whether a signal came (without waiting).
    fn requested(&mut self) -> bool {
        use std::task::{Context as TaskContext, Poll};
        let waker = std::task::Waker::noop();
        let mut context = TaskContext::from_waker(waker);
        for signal in [&mut self.term, &mut self.int] {
            if let Poll::Ready(Some(())) = signal.poll_recv(&mut context) {
                self.requested = true;
            }
        }
        self.requested
    }

    /// Sleeps `duration`, or less if a signal comes.
    async fn sleep(&mut self, duration: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(duration) => {}
            _ = self.term.recv() => self.requested = true,
            _ = self.int.recv() => self.requested = true,
        }
    }
}

/// One line on stderr: rates since the last, files, bytes behind, retries.
fn status(stats: &Stats, before: &Stats, over: Duration, follower: &Follower) {
    let seconds = over.as_secs_f64().max(1e-3);
    eprintln!(
        "loglake ship: {:.0} lines/s, {:.2} MB/s, {} lines in {} records ({} batches), {} files, {} bytes behind, {} records put again, {} calls failed, {} throttled",
        (stats.lines - before.lines) as f64 / seconds,
        (stats.bytes - before.bytes) as f64 / seconds / 1e6,
        stats.lines,
        stats.records,
        stats.batches,
        follower.files(),
        follower.lag_bytes(),
        stats.retried_records,
        stats.failed_calls,
        stats.throttled,
    );
}

/// The counters in Prometheus's text format (node_exporter's textfile collector reads it),
/// written atomically.
fn write_metrics(path: &Path, stats: &Stats, follower: &Follower) -> anyhow::Result<()> {
    let counters = [
        ("lines_total", "Lines read from the files.", stats.lines),
        ("bytes_total", "Bytes of lines read.", stats.bytes),
        (
            "records_total",
            "Kinesis records acknowledged.",
            stats.records,
        ),
        (
            "batches_total",
            "PutRecords batches acknowledged.",
            stats.batches,
        ),
        (
            "retried_records_total",
            "Records put again after Kinesis refused them.",
            stats.retried_records,
        ),
        (
            "failed_calls_total",
            "PutRecords calls that failed whole.",
            stats.failed_calls,
        ),
        (
            "throttled_total",
            "Tries Kinesis throttled.",
            stats.throttled,
        ),
    ];
    let mut text = String::new();
    for (name, help, value) in counters {
        text.push_str(&format!("# HELP loglake_ship_{name} {help}\n# TYPE loglake_ship_{name} counter\nloglake_ship_{name} {value}\n"));
    }
    let gauges = [
        ("files", "Files followed.", follower.files() as u64),
        (
            "lag_bytes",
            "Bytes written to the files and not read yet.",
            follower.lag_bytes(),
        ),
    ];
    for (name, help, value) in gauges {
        text.push_str(&format!("# HELP loglake_ship_{name} {help}\n# TYPE loglake_ship_{name} gauge\nloglake_ship_{name} {value}\n"));
    }
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .with_context(|| format!("writing {}", path.display()))
}

/// Where the positions are kept without `--state`: systemd's `StateDirectory=`, else the XDG
/// state folder.
pub fn default_state_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY") {
        // (systemd may list several folders, `:`-separated: the first)
        let first = dir
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        return PathBuf::from(first).join("ship.json");
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    state.join("loglake").join("ship.json")
}

/// This machine's name, for the files' `source`: `HOSTNAME`, else /etc/hostname, else
/// `localhost`.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
