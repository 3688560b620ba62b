//! Makes the 1,000,000-line benchmark log by repeating a real access log with timestamps that
//! advance evenly over 30 days.
//!
//! `make-bench-log SOURCE.log LINES [--unique-ua-every N] [--as alb|cloudfront|s3_access|json|cloudfront_realtime] > bench.log`
//!
//! With `--unique-ua-every N`, every Nth line's user agent gets a unique suffix, so 1 lookup in
//! N misses the user-agent cache (N = 18 gives the 94.4 % hit rate of a real 10k-line log).
//! With `--as alb`, `--as cloudfront`, `--as s3_access`, `--as json` (nginx's) or
//! `--as cloudfront_realtime` (the fields of `loglake_benches::CLOUDFRONT_REALTIME_FORMAT`), each
//! line is written again as an AWS Application Load Balancer, CloudFront, S3 server access, JSON
//! or CloudFront real-time line with the same client, time, request, status, size and agent, so
//! those formats' parsers are measured on the same requests as the combined one.

use std::io::{BufWriter, Write};

use anyhow::{bail, Context};
use loglake_benches::with_timestamp;

/// 2026-10-01T00:00:00Z
const START: i64 = 1_790_812_800;
const SPAN_SECONDS: i64 = 30 * 86_400;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: make-bench-log SOURCE.log LINES [--unique-ua-every N] [--as alb|cloudfront|s3_access|json|cloudfront_realtime]";
    let [source, lines, flags @ ..] = args.as_slice() else {
        bail!(usage);
    };
    let lines = lines.parse::<u64>()?;
    let (mut unique_every, mut written_as) = (None, None);
    for pair in flags.chunks(2) {
        match pair {
            [flag, n] if flag == "--unique-ua-every" => unique_every = Some(n.parse::<u64>()?),
            [flag, format]
                if flag == "--as"
                    && [
                        "alb",
                        "cloudfront",
                        "s3_access",
                        "json",
                        "cloudfront_realtime",
                    ]
                    .contains(&format.as_str()) =>
            {
                written_as = Some(format.as_str())
            }
            _ => bail!(usage),
        }
    }
    let text = std::fs::read_to_string(source).with_context(|| format!("reading {source}"))?;
    let originals: Vec<&str> = text.lines().filter(|l| l.contains('[')).collect();
    if originals.is_empty() {
        bail!("{source} has no access-log lines");
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    for i in 0..lines {
        let original = originals[(i % originals.len() as u64) as usize];
        let ts = START + (i as i64 * SPAN_SECONDS) / lines as i64;
        let mut line = with_timestamp(original, ts).expect("filtered to lines with a timestamp");
        if unique_every.is_some_and(|n| i % n == 0) && line.ends_with('"') {
            line.pop();
            line.push_str(&format!(" u{i}\""));
        }
        match written_as {
            Some(format) => writeln!(out, "{}", loglake_benches::rewrite_as(&line, format)?)?,
            None => writeln!(out, "{line}")?,
        }
    }
    out.flush()?;
    Ok(())
}
