//! `loglake ship`: follows log files ([`loglake_ship::Follower`]) and delivers their lines,
//! either into a Kinesis stream as records the ingest function reads
//! ([`loglake_ship::RecordPacker`], one `PutRecords` batch in flight at a time), or straight into
//! a lake (a directory or S3) as the ingest function writes it, compacting each hour once it has
//! closed. Each file's checkpoint is saved once what holds its lines is acknowledged or written.
//!
//! Records Kinesis refuses are put again, alone, after a pause that grows (with jitter) while it
//! keeps refusing; a lake write that fails is tried again the same way. Meanwhile nothing more is
//! read than a cap ([`STREAM_MEMORY_CAP_BYTES`], [`LAKE_MEMORY_CAP_BYTES`]), so nothing is
//! dropped. SIGTERM or SIGINT: what was read is delivered, the checkpoints saved, and the command
//! ends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use loglake_backfill::compact::{compact, CompactOptions};
use loglake_backfill::s3::S3;
use loglake_backfill::Location;
use loglake_decode::DecoderOptions;
use loglake_ingest::lake_output::{prepare_records, LakeObject, UserAgentRows};
use loglake_lake::TimeRange;
use loglake_parser::payload::ship_header;
use loglake_parser::timestamp::MICROS_PER_HOUR;
use loglake_parser::UtcHour;
use loglake_ship::records::{MAX_BATCH_BYTES, MAX_RECORD_BYTES};
use loglake_ship::{
    Batch, Checkpoints, Chunk, FollowOptions, Follower, Position, RecordFormat, RecordPacker,
};
use loglake_stream::StreamRecord;

/// Where the lines go.
pub enum Target {
    /// `kinesis://STREAM`.
    Stream { name: String, format: RecordFormat },
    /// A lake: a directory (`--out`) or `s3://bucket/prefix` (`--to`).
    Lake {
        location: Location,
        options: DecoderOptions,
        /// How long after it ended, and went unwritten, an hour is compacted ([`HOUR_GRACE`]).
        compact_after: Duration,
    },
}

/// What `loglake ship` was asked to do.
pub struct ShipArgs {
    pub patterns: Vec<String>,
    pub target: Target,
    pub state: PathBuf,
    pub from_end: bool,
    /// Lines wait at most this long before they are delivered.
    pub flush_interval: Duration,
    pub scan_interval: Duration,
    pub status_interval: Duration,
    pub metrics: Option<PathBuf>,
    pub max_line_bytes: usize,
    /// Ship what the files hold, then stop.
    pub once: bool,
}

/// Bytes of lines read and not yet delivered, at most, into a stream: the batch in flight and
/// the next being packed. Past it nothing more is read until the stream takes the batch.
pub const STREAM_MEMORY_CAP_BYTES: usize = 2 * MAX_BATCH_BYTES + MAX_RECORD_BYTES;
/// The same into a lake: one write's lines (its Arrow rows and Parquet take about as much again).
pub const LAKE_MEMORY_CAP_BYTES: usize = 64 << 20;
/// How long the follower waits, when there was nothing new, before looking again.
const IDLE_POLL: Duration = Duration::from_millis(200);
/// An hour of a lake is compacted by default once it ended this long ago and has not been
/// written to for as long (lines of it may still come in late; a log of past hours shipped now is
/// compacted once, when it is through, not again at each write).
pub const HOUR_GRACE: Duration = Duration::from_secs(10 * 60);
/// Pauses between tries grow from this …
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// … up to this.
const LONGEST_PAUSE: Duration = Duration::from_secs(10);
/// After SIGTERM, how long a delivery that keeps failing is still tried. Its lines are not
/// checkpointed, so the next start reads them again.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// Counters, for the status line and the metrics file.
#[derive(Default, Clone)]
struct Stats {
    lines: u64,
    bytes: u64,
    /// Kinesis records, or lake files, acknowledged.
    delivered: u64,
    deliveries: u64,
    /// Records (or writes) tried again after a refusal, and calls that failed whole.
    retried: u64,
    failed_calls: u64,
    throttled: u64,
    rows: u64,
    rejected: u64,
    compacted_hours: u64,
}

pub fn run(args: ShipArgs) -> anyhow::Result<()> {
    let stop = stop_on_signals()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut outlet = match &args.target {
        Target::Stream { name, format } => {
            let aws = runtime.block_on(aws_config::load_from_env());
            // (without timeouts a call to an endpoint that stops answering waits for ever, and
            // with it the files' shipping)
            let timeouts = aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(60))
                .build();
            let config = aws_sdk_kinesis::config::Builder::from(&aws).timeout_config(timeouts);
            Outlet::Stream {
                packer: RecordPacker::new(*format),
                sender: Sender {
                    kinesis: aws_sdk_kinesis::Client::from_conf(config.build()),
                    stream: name.clone(),
                    pace: Duration::ZERO,
                },
                runtime,
            }
        }
        Target::Lake {
            location,
            options,
            compact_after,
        } => Outlet::Lake(LakeOutlet::new(location, *options, *compact_after)?),
    };
    let mut checkpoints = Checkpoints::load(&args.state)?;
    let mut follower = Follower::new(FollowOptions {
        patterns: args.patterns.clone(),
        host: hostname(),
        max_line_bytes: args.max_line_bytes,
        from_end: args.from_end,
    });
    let mut stats = Stats::default();
    let mut reporter = Reporter::new(args.status_interval, args.metrics.clone());
    let (mut last_scan, mut last_flush) = (None::<Instant>, Instant::now());
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        if last_scan.is_none_or(|at| at.elapsed() >= args.scan_interval) {
            follower.scan(&checkpoints).context("looking for files")?;
            last_scan = Some(Instant::now());
        }
        let (mut read_any, mut exhausted) = (false, false);
        let room = outlet.memory_cap().saturating_sub(outlet.pending_bytes());
        if !stopping && room > 0 {
            for chunk in follower.read(room).context("reading the files")? {
                read_any = true;
                stats.lines += chunk.line_count as u64;
                stats.bytes += chunk.lines.len() as u64;
                outlet.push(chunk);
            }
            // (a last line without its newline yet is not read, and does not hold `--once` up)
            exhausted = !read_any;
        }
        reporter.observe(&follower);
        let idle = exhausted;
        let full = outlet.pending_bytes() >= outlet.memory_cap();
        let flush =
            stopping || full || last_flush.elapsed() >= args.flush_interval || (args.once && idle);
        while let Some(positions) = outlet.deliver(flush, &mut stats, &stop, &mut reporter)? {
            for (fingerprint, position) in positions {
                checkpoints.advance(&fingerprint, position);
            }
            checkpoints.save(&args.state)?;
        }
        if flush {
            last_flush = Instant::now();
            outlet.compact_closed_hours(&mut stats, false);
        }
        reporter.tick(&stats)?;
        if stopping || (args.once && idle && outlet.is_empty()) {
            break;
        }
        if !read_any {
            sleep_unless(&stop, IDLE_POLL);
        }
    }
    // (the hours this run wrote that have ended: a next run would not know them)
    outlet.compact_closed_hours(&mut stats, true);
    reporter.observe(&follower);
    reporter.finish(&stats)
}

/// Where read lines wait and go.
enum Outlet {
    Stream {
        packer: RecordPacker,
        sender: Sender,
        runtime: tokio::runtime::Runtime,
    },
    Lake(LakeOutlet),
}

impl Outlet {
    fn memory_cap(&self) -> usize {
        match self {
            Outlet::Stream { .. } => STREAM_MEMORY_CAP_BYTES,
            Outlet::Lake(_) => LAKE_MEMORY_CAP_BYTES,
        }
    }

    fn pending_bytes(&self) -> usize {
        match self {
            Outlet::Stream { packer, .. } => packer.pending_bytes(),
            Outlet::Lake(lake) => lake.bytes,
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Outlet::Stream { packer, .. } => packer.is_empty(),
            Outlet::Lake(lake) => lake.chunks.is_empty(),
        }
    }

    fn push(&mut self, chunk: Chunk) {
        match self {
            Outlet::Stream { packer, .. } => packer.push(chunk),
            Outlet::Lake(lake) => {
                lake.bytes += chunk.lines.len();
                lake.chunks.push(chunk);
            }
        }
    }

    /// Delivers what is ready (with `flush`, whatever is held), one batch or write; returns its
    /// files' checkpoints once it is acknowledged, `None` when there is nothing to deliver.
    fn deliver(
        &mut self,
        flush: bool,
        stats: &mut Stats,
        stop: &AtomicBool,
        reporter: &mut Reporter,
    ) -> anyhow::Result<Option<Vec<(String, Position)>>> {
        match self {
            Outlet::Stream {
                packer,
                sender,
                runtime,
            } => {
                let Some(batch) = packer.take_batch(flush) else {
                    return Ok(None);
                };
                runtime.block_on(sender.put(&batch, stats, stop, reporter))?;
                stats.delivered += batch.records.len() as u64;
                stats.deliveries += 1;
                Ok(Some(batch.positions().cloned().collect()))
            }
            Outlet::Lake(lake) => {
                if !flush || lake.chunks.is_empty() {
                    return Ok(None);
                }
                lake.write(stats, stop, reporter).map(Some)
            }
        }
    }

    fn compact_closed_hours(&mut self, stats: &mut Stats, all_past: bool) {
        if let Outlet::Lake(lake) = self {
            lake.compact_closed_hours(stats, all_past);
        }
    }
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

impl Sender {
    /// Puts every record of `batch`, trying the refused ones again (and only those) until all
    /// are in. Errors that trying again cannot mend (no such stream, no permission, a record
    /// refused as invalid) end the command, with the batch's lines not checkpointed.
    async fn put(
        &mut self,
        batch: &Batch,
        stats: &mut Stats,
        stop: &AtomicBool,
        reporter: &mut Reporter,
    ) -> anyhow::Result<()> {
        let mut pending: Vec<usize> = (0..batch.records.len()).collect();
        let mut tries = Tries::default();
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
                    if results.len() != pending.len() {
                        bail!(
                            "PutRecords answered {} results for {} records",
                            results.len(),
                            pending.len()
                        );
                    }
                    let refused: Vec<(usize, bool)> = (pending.iter().zip(results))
                        .filter_map(|(&i, result)| {
                            let code = result.error_code()?;
                            Some((i, code == "ProvisionedThroughputExceededException"))
                        })
                        .collect();
                    if refused.is_empty() {
                        self.pace /= 2;
                        return Ok(());
                    }
                    stats.retried += refused.len() as u64;
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
            // (the status goes on while the stream refuses: that is when it is read)
            reporter.tick(stats)?;
            tokio::time::sleep(tries.next_pause(stop)?).await;
        }
    }
}

/// Tries of one delivery: the pause before the next, and the end of trying after a stop.
#[derive(Default)]
struct Tries {
    count: u32,
    stopped_at: Option<Instant>,
}

impl Tries {
    /// The pause before the next try: exponential, capped, with full jitter (so that shippers
    /// refused together do not come back together); an error once a stop has waited
    /// [`STOP_GRACE`].
    fn next_pause(&mut self, stop: &AtomicBool) -> anyhow::Result<Duration> {
        if stop.load(Ordering::SeqCst) {
            let since = *self.stopped_at.get_or_insert_with(Instant::now);
            if since.elapsed() >= STOP_GRACE {
                bail!("stopped while the delivery kept failing: its lines are read again at the next start");
            }
        }
        self.count += 1;
        let ceiling = FIRST_PAUSE
            .saturating_mul(1 << self.count.min(10))
            .min(LONGEST_PAUSE);
        Ok(ceiling.mul_f64(fastrand::f64()))
    }
}

/// Lines written straight into a lake, as the ingest function writes them.
struct LakeOutlet {
    location: Location,
    /// The S3 client of an S3 lake, on a runtime of its own.
    s3: Option<(tokio::runtime::Runtime, S3)>,
    options: DecoderOptions,
    user_agents: UserAgentRows,
    chunks: Vec<Chunk>,
    bytes: usize,
    compact_after: Duration,
    /// Hours written to and not compacted yet, with when they were last written.
    hours: BTreeMap<UtcHour, Instant>,
}

impl LakeOutlet {
    fn new(
        location: &Location,
        options: DecoderOptions,
        compact_after: Duration,
    ) -> anyhow::Result<Self> {
        let (runtime, s3) = crate::backfill::s3_client(location.is_s3())?;
        Ok(Self {
            location: location.clone(),
            compact_after,
            s3: s3.map(|s3| (runtime, s3)),
            options,
            user_agents: UserAgentRows::default(),
            chunks: Vec::new(),
            bytes: 0,
            hours: BTreeMap::new(),
        })
    }

    /// Writes the held lines' Parquet files and rejects into the lake, trying again while it
    /// fails; returns the files' checkpoints.
    fn write(
        &mut self,
        stats: &mut Stats,
        stop: &AtomicBool,
        reporter: &mut Reporter,
    ) -> anyhow::Result<Vec<(String, Position)>> {
        // Named after the first lines: a write after a crash, from the same checkpoint, writes
        // the same files again instead of adding to them.
        let first = &self.chunks[0];
        let name = format!("ship:{}:{}", first.source, first.first_line);
        let framed: Vec<Vec<u8>> = (self.chunks.iter())
            .map(|chunk| {
                [
                    ship_header(&chunk.source, chunk.first_line),
                    chunk.lines.clone(),
                ]
                .concat()
            })
            .collect();
        let mut tries = Tries::default();
        loop {
            match self.try_write(&name, &framed) {
                Ok((files, rows, rejected)) => {
                    stats.delivered += files;
                    stats.deliveries += 1;
                    (stats.rows, stats.rejected) = (stats.rows + rows, stats.rejected + rejected);
                    break;
                }
                Err(error) => {
                    stats.failed_calls += 1;
                    eprintln!("loglake ship: writing the lake failed, trying again: {error:#}");
                    reporter.tick(stats)?;
                    std::thread::sleep(tries.next_pause(stop)?);
                }
            }
        }
        let positions = self
            .chunks
            .drain(..)
            .map(|c| (c.fingerprint, c.end))
            .collect();
        self.bytes = 0;
        Ok(positions)
    }

    /// One write: `(files, rows, rejects)`.
    fn try_write(&mut self, name: &str, framed: &[Vec<u8>]) -> anyhow::Result<(u64, u64, u64)> {
        let staging_root = match &self.location {
            Location::Local(root) => root.clone(),
            Location::S3 { .. } => std::env::temp_dir(),
        };
        std::fs::create_dir_all(&staging_root)
            .with_context(|| format!("creating {}", staging_root.display()))?;
        let staging = tempfile::Builder::new()
            .prefix(".loglake-ship-")
            .tempdir_in(&staging_root)
            .context("a staging folder")?;
        let records = (self.chunks.iter().zip(framed)).map(|(chunk, data)| StreamRecord {
            source: &chunk.source,
            data,
        });
        let now = UtcHour::of_micros(now_micros());
        let prepared = prepare_records(
            records,
            name,
            self.options,
            &mut self.user_agents,
            staging.path(),
            now,
        )?;
        let files = prepared.objects.len() as u64;
        for object in prepared.objects {
            if let Some(hour) = hour_of(&object.relative_key) {
                self.hours.insert(hour, Instant::now());
            }
            self.put(staging.path(), object)?;
        }
        Ok((files, prepared.stats.rows_out, prepared.stats.rejected))
    }

    /// Moves (a local lake) or uploads (an S3 lake) one object into place.
    fn put(&self, staging: &Path, object: LakeObject) -> anyhow::Result<()> {
        match (&self.location, &self.s3) {
            (Location::S3 { bucket, prefix }, Some((_, s3))) => {
                let prefix = prefix.trim_matches('/');
                let key = match prefix {
                    "" => object.relative_key.clone(),
                    prefix => format!("{prefix}/{}", object.relative_key),
                };
                s3.put_bytes(bucket, &key, object.body.to_vec())
                    .with_context(|| format!("uploading s3://{bucket}/{key}"))
            }
            (Location::Local(root), _) => {
                let path = root.join(&object.relative_key);
                std::fs::create_dir_all(path.parent().expect("inside the lake"))?;
                // (written whole beside it first, and renamed: a query never reads half a file)
                let staged = staging.join(format!(".{}.tmp", fastrand::u64(..)));
                std::fs::write(&staged, &object.body)?;
                std::fs::rename(&staged, &path)
                    .with_context(|| format!("writing {}", path.display()))
            }
            (Location::S3 { .. }, None) => unreachable!("an S3 lake has a client"),
        }
    }

    /// Merges the files of each hour that ended and went quiet `compact_after` ago (with
    /// `all_past`, of each that has ended): `loglake compact` on that hour. A failure is said and
    /// tried again at the next flush.
    fn compact_closed_hours(&mut self, stats: &mut Stats, all_past: bool) {
        let now = now_micros();
        let grace = if all_past {
            Duration::ZERO
        } else {
            self.compact_after
        };
        let closed: Vec<UtcHour> = (self.hours.iter())
            .filter(|(hour, written)| {
                let end = (hour.hours_since_epoch + 1) * MICROS_PER_HOUR;
                end + grace.as_micros() as i64 <= now && written.elapsed() >= grace
            })
            .map(|(hour, _)| *hour)
            .collect();
        for hour in closed {
            let options = CompactOptions {
                range: TimeRange {
                    since: Some(hour.hours_since_epoch * MICROS_PER_HOUR),
                    until: Some(hour.hours_since_epoch * MICROS_PER_HOUR + MICROS_PER_HOUR),
                },
                ..Default::default()
            };
            let s3 = self.s3.as_ref().map(|(_, s3)| s3);
            match compact(&self.location, s3, &options) {
                Ok(summary) if summary.errors.is_empty() => {
                    stats.compacted_hours += 1;
                    self.hours.remove(&hour);
                }
                Ok(summary) => eprintln!(
                    "loglake ship: compacting {} {:02}h: {:?}",
                    hour.date_string(),
                    hour.hour_of_day(),
                    summary.errors
                ),
                Err(error) => eprintln!(
                    "loglake ship: compacting {} {:02}h: {error}",
                    hour.date_string(),
                    hour.hour_of_day()
                ),
            }
        }
    }
}

/// The hour of a lake object's key (`access_logs/dt=…/hour=…/…`), if it is a table's file.
fn hour_of(relative_key: &str) -> Option<UtcHour> {
    let mut parts = relative_key.split('/');
    let (_, dt, hour) = (parts.next()?, parts.next()?, parts.next()?);
    let date = dt.strip_prefix("dt=")?;
    let hour = hour.strip_prefix("hour=")?;
    let micros = loglake_parser::parse_utc_instant(&format!("{date}T{hour}:00:00Z"))?;
    Some(UtcHour::of_micros(micros))
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// A flag raised by SIGTERM or SIGINT, from a thread that waits for them.
fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let raised = Arc::clone(&flag);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let waited = runtime.map(|runtime| {
            runtime.block_on(async {
                use tokio::signal::unix::{signal, SignalKind};
                let (term, int) = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                );
                let (Ok(mut term), Ok(mut int)) = (term, int) else {
                    let _ = ready_tx.send(false);
                    return;
                };
                let _ = ready_tx.send(true);
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                raised.store(true, Ordering::SeqCst);
            })
        });
        if waited.is_err() {
            let _ = ready_tx.send(false);
        }
    });
    match ready_rx.recv() {
        Ok(true) => Ok(flag),
        _ => bail!("could not listen for SIGTERM and SIGINT"),
    }
}

/// Sleeps `duration`, waking early when `stop` is raised.
fn sleep_unless(stop: &AtomicBool, duration: Duration) {
    let until = Instant::now() + duration;
    while !stop.load(Ordering::SeqCst) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
    }
}

/// The status line on stderr and the metrics file, every `interval`: also while a delivery
/// keeps failing, when they matter most.
struct Reporter {
    interval: Duration,
    metrics: Option<PathBuf>,
    started: Instant,
    last: Instant,
    before: Stats,
    /// The follower's files and bytes behind, as last seen.
    files: usize,
    lag_bytes: u64,
}

impl Reporter {
    fn new(interval: Duration, metrics: Option<PathBuf>) -> Self {
        let now = Instant::now();
        Self {
            interval,
            metrics,
            started: now,
            last: now,
            before: Stats::default(),
            files: 0,
            lag_bytes: 0,
        }
    }

    fn observe(&mut self, follower: &Follower) {
        (self.files, self.lag_bytes) = (follower.files(), follower.lag_bytes());
    }

    /// Reports if `interval` has passed since the last report.
    fn tick(&mut self, stats: &Stats) -> anyhow::Result<()> {
        if self.last.elapsed() < self.interval {
            return Ok(());
        }
        self.report(stats, &self.before.clone(), self.last.elapsed())?;
        (self.before, self.last) = (stats.clone(), Instant::now());
        Ok(())
    }

    /// The last report: the rates over the whole run.
    fn finish(&mut self, stats: &Stats) -> anyhow::Result<()> {
        self.report(stats, &Stats::default(), self.started.elapsed())
    }

    /// One line on stderr: rates since `before`, files, bytes behind, retries; and the metrics.
    fn report(&self, stats: &Stats, before: &Stats, over: Duration) -> anyhow::Result<()> {
        let seconds = over.as_secs_f64().max(1e-3);
        eprintln!(
            "loglake ship: {:.0} lines/s, {:.2} MB/s, {} lines in {} records or files ({} deliveries), {} files followed, {} bytes behind, {} put again, {} calls failed, {} throttled",
            (stats.lines - before.lines) as f64 / seconds,
            (stats.bytes - before.bytes) as f64 / seconds / 1e6,
            stats.lines,
            stats.delivered,
            stats.deliveries,
            self.files,
            self.lag_bytes,
            stats.retried,
            stats.failed_calls,
            stats.throttled,
        );
        match &self.metrics {
            Some(path) => self.write_metrics(path, stats),
            None => Ok(()),
        }
    }

    /// The counters in Prometheus's text format (node_exporter's textfile collector reads it),
    /// written atomically.
    fn write_metrics(&self, path: &Path, stats: &Stats) -> anyhow::Result<()> {
        let counters = [
            ("lines_total", "Lines read from the files.", stats.lines),
            ("bytes_total", "Bytes of lines read.", stats.bytes),
            (
                "delivered_total",
                "Kinesis records or lake files acknowledged.",
                stats.delivered,
            ),
            (
                "deliveries_total",
                "PutRecords batches or lake writes acknowledged.",
                stats.deliveries,
            ),
            (
                "retried_total",
                "Records or writes tried again after a refusal.",
                stats.retried,
            ),
            (
                "failed_calls_total",
                "Calls that failed whole.",
                stats.failed_calls,
            ),
            (
                "throttled_total",
                "Tries Kinesis throttled.",
                stats.throttled,
            ),
            ("rows_total", "Rows written to a lake.", stats.rows),
            (
                "rejected_total",
                "Lines written to a lake's rejects.",
                stats.rejected,
            ),
            (
                "compacted_hours_total",
                "Hours of a lake compacted.",
                stats.compacted_hours,
            ),
        ];
        let gauges = [
            ("files", "Files followed.", self.files as u64),
            (
                "lag_bytes",
                "Bytes written to the files and not read yet.",
                self.lag_bytes,
            ),
        ];
        let mut text = String::new();
        let kinds =
            (counters.iter().map(|c| (c, "counter"))).chain(gauges.iter().map(|g| (g, "gauge")));
        for ((name, help, value), kind) in kinds {
            text.push_str(&format!(
                "# HELP loglake_ship_{name} {help}\n# TYPE loglake_ship_{name} {kind}\nloglake_ship_{name} {value}\n"
            ));
        }
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, path))
            .with_context(|| format!("writing {}", path.display()))
    }
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
