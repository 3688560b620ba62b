//! One `ingest` invocation's CPU work on a full Kinesis batch, as the Lambda does it: event JSON
//! → Kinesis records → parsed rows → packed `PutRecordBatch` bodies, or with `WIRING=lake` the
//! lake wiring's Parquet files and rejects object (no network).
//!
//! `ingest-batch FILE [RECORDS] [LOG_BYTES] [RUNS]` builds the event from FILE's lines (default
//! 10,000 records holding 6 MB of lines), then prints one JSON object: the best and median
//! milliseconds per invocation (wall, and CPU of every thread), what the batch held and produced,
//! and the peak RSS from the event's bytes on. The runs share their user-agent cache, as a warm
//! function's invocations do.
//! `FORMAT`, `KEEP_EXTRA_FIELDS`, `ANONYMIZE_IP` and `ANONYMIZE_IP_KEY` are read as the function
//! reads its settings (`FORMAT` as `LOG_FORMAT`).

use std::io::Read;
use std::time::Instant;

use anyhow::Context;
use loglake_ingest::lake_output::{prepare_objects, UserAgentRows};
use loglake_ingest::{prepare, KinesisEventText, RejectsOutput};
use loglake_parser::UtcHour;
use loglake_stream::{StreamStats, UserAgentColumns};

/// What one run produced: Firehose requests, records and bytes, or lake objects and bytes.
struct Output {
    stats: StreamStats,
    requests: usize,
    records: usize,
    bytes: usize,
}

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
    let lake = match std::env::var("WIRING").as_deref() {
        Ok("lake") => true,
        Ok("firehose") | Err(_) => false,
        Ok(other) => anyhow::bail!("WIRING={other}: firehose (the default) or lake"),
    };
    let mut times = Vec::with_capacity(runs);
    let mut cpu_times = Vec::with_capacity(runs);
    let mut output = None;
    // As in a warm function, the user agents classified by earlier invocations are kept.
    let mut user_agents = UserAgentColumns::default();
    let mut user_agent_rows = UserAgentRows::default();
    let staging = std::env::temp_dir().join(format!("ingest-batch-{}", std::process::id()));
    for _ in 0..runs {
        let started = Instant::now();
        let cpu_before = loglake_benches::cpu_seconds().unwrap_or(f64::NAN);
        // The event's bytes as the function takes them from the runtime (`RawEvents`), read
        // and decoded record by record.
        let run = if lake {
            std::fs::create_dir_all(&staging)?;
            let (_, prepared) = prepare_objects(
                &event_text,
                options,
                &mut user_agent_rows,
                &staging,
                UtcHour::of_micros(0),
            )?;
            std::fs::remove_dir_all(&staging)?;
            Output {
                stats: prepared.stats,
                requests: prepared.objects.len(),
                records: prepared.objects.len(),
                bytes: prepared.objects.iter().map(|o| o.body.len()).sum(),
            }
        } else {
            let (_, prepared) = prepare(
                &event_text,
                options,
                RejectsOutput::Stream,
                &mut user_agents,
            )?;
            Output {
                stats: prepared.stats,
                requests: prepared.rows.len(),
                records: prepared.rows.iter().map(|r| r.records.len()).sum(),
                bytes: prepared.rows.iter().map(|r| r.bytes).sum(),
            }
        };
        times.push(started.elapsed().as_secs_f64() * 1e3);
        cpu_times.push((loglake_benches::cpu_seconds().unwrap_or(f64::NAN) - cpu_before) * 1e3);
        output = Some(run);
    }
    times.sort_by(f64::total_cmp);
    cpu_times.sort_by(f64::total_cmp);
    let Output {
        stats,
        requests,
        records: out_records,
        bytes,
    } = output.context("no runs")?;
    let produced = if lake {
        format!("\"wiring\":\"lake\",\"lake_objects\":{out_records},\"lake_bytes\":{bytes}")
    } else {
        format!(
            "\"wiring\":\"firehose\",\"put_requests\":{requests},\"firehose_records\":{out_records},\"firehose_bytes\":{bytes}"
        )
    };
    println!(
        "{{\"records\":{records},\"log_bytes\":{log_bytes},\"event_json_bytes\":{},\"lines\":{},\"rows\":{},\"rejected\":{},\
         {produced},\"best_ms\":{:.2},\"median_ms\":{:.2},\"median_cpu_ms\":{:.2},\"runs\":{runs},\"peak_rss_mb\":{:.1}}}",
        event_json_bytes,
        stats.lines_in,
        stats.rows_out,
        stats.rejected,
        times[0],
        times[times.len() / 2],
        cpu_times[cpu_times.len() / 2],
        loglake_benches::peak_rss_mb().unwrap_or(f64::NAN),
    );
    Ok(())
}
