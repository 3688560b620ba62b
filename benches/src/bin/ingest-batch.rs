//! One `ingest` invocation's CPU work on a full Kinesis batch, as the Lambda does it: event JSON
//! → Kinesis records → parsed rows → packed `PutRecordBatch` bodies (no network).
//!
//! `ingest-batch FILE [RECORDS] [LOG_BYTES] [RUNS]` builds the event from FILE's lines (default
//! 10,000 records holding 6 MB of lines), then prints one JSON object: the best and median
//! milliseconds per invocation, what the batch held and produced, and the peak RSS from the
//! event's bytes on. The runs share their user-agent cache, as a warm function's invocations do.
//! `FORMAT`, `KEEP_EXTRA_FIELDS`, `ANONYMIZE_IP` and `ANONYMIZE_IP_KEY` are read as the function
//! reads its settings (`FORMAT` as `LOG_FORMAT`).

use std::io::Read;
use std::time::Instant;

use anyhow::Context;
use loglake_ingest::{prepare, KinesisEventText, RejectsOutput};
use loglake_stream::UserAgentColumns;

// The system allocator, tuned as the `ingest` binary tunes it: the peak RSS is then the
// function's.

fn main() -> anyhow::Result<()> {
    loglake_benches::keep_freed_memory();
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: ingest-batch FILE [RECORDS] [LOG_BYTES] [RUNS]")?;
    let records: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let log_bytes: usize = args.next().map_or(Ok(6_000_000), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(30), |a| a.parse())?;
    // The event needs only LOG_BYTES of lines: read twice that from the start of the file.
    let mut input = Vec::new();
    std::fs::File::open(&path)
        .with_context(|| format!("reading {path}"))?
        .take(2 * log_bytes as u64)
        .read_to_end(&mut input)?;
    let lines: Vec<&[u8]> = input
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let lines = &lines[..lines.len().saturating_sub(1)]; // the last one may be cut
    let (event_json, log_bytes) =
        loglake_benches::kinesis_batch_event_and_log_bytes(lines, records, log_bytes);
    let event_json_bytes = event_json.len();
    let event_text = KinesisEventText::new(event_json);
    drop(input);
    // The peak RSS reported is the invocation's: the event's bytes and everything after them.
    loglake_benches::reset_peak_rss();

    let options = loglake_benches::decoder_options_from_env()?;
    let mut times = Vec::with_capacity(runs);
    let mut summary = None;
    // As in a warm function, the user agents classified by earlier invocations are kept.
    let mut user_agents = UserAgentColumns::default();
    for _ in 0..runs {
        let started = Instant::now();
        // The event's bytes as the function takes them from the runtime (`RawEvents`), read
        // and decoded record by record.
        let (_, prepared) = prepare(
            &event_text,
            options,
            RejectsOutput::Stream,
            &mut user_agents,
        )?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        let firehose_records: usize = prepared.rows.iter().map(|r| r.records.len()).sum();
        let firehose_bytes: usize = prepared.rows.iter().map(|r| r.bytes).sum();
        summary = Some((
            prepared.stats,
            prepared.rows.len(),
            firehose_records,
            firehose_bytes,
        ));
    }
    times.sort_by(f64::total_cmp);
    let (stats, requests, firehose_records, firehose_bytes) = summary.context("no runs")?;
    println!(
        "{{\"records\":{records},\"log_bytes\":{log_bytes},\"event_json_bytes\":{},\"lines\":{},\"rows\":{},\"rejected\":{},\
         \"put_requests\":{requests},\"firehose_records\":{firehose_records},\"firehose_bytes\":{firehose_bytes},\
         \"best_ms\":{:.2},\"median_ms\":{:.2},\"runs\":{runs},\"peak_rss_mb\":{:.1}}}",
        event_json_bytes,
        stats.lines_in,
        stats.rows_out,
        stats.rejected,
        times[0],
        times[times.len() / 2],
        loglake_benches::peak_rss_mb().unwrap_or(f64::NAN),
    );
    Ok(())
}
