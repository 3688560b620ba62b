//! Makes the 1,000,000-line benchmark log by repeating a real access log with timestamps that
//! advance evenly over 30 days.
//!
//! `make-bench-log SOURCE.log LINES [--unique-ua-every N] [--as alb|cloudfront] > bench.log`
//!
//! With `--unique-ua-every N`, every Nth line's user agent gets a unique suffix, so 1 lookup in
//! N misses the user-agent cache (N = 18 gives the 94.4 % hit rate of a real 10k-line log).
//! With `--as alb` or `--as cloudfront`, each line is written again as an AWS Application Load
//! Balancer or CloudFront line with the same client, time, request, status, size and agent, so
//! those formats' parsers are measured on the same requests as the combined one.

use std::io::{BufWriter, Write};

use anyhow::{bail, Context};
use loglake_benches::with_timestamp;
use loglake_parser::{format_rfc3339_micros, parse_line, LogFormat};

/// 2026-10-01T00:00:00Z
const START: i64 = 1_790_812_800;
const SPAN_SECONDS: i64 = 30 * 86_400;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: make-bench-log SOURCE.log LINES [--unique-ua-every N] [--as alb|cloudfront]";
    let [source, lines, flags @ ..] = args.as_slice() else {
        bail!(usage);
    };
    let lines = lines.parse::<u64>()?;
    let (mut unique_every, mut written_as) = (None, None);
    for pair in flags.chunks(2) {
        match pair {
            [flag, n] if flag == "--unique-ua-every" => unique_every = Some(n.parse::<u64>()?),
            [flag, format]
                if flag == "--as" && ["alb", "cloudfront"].contains(&format.as_str()) =>
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
            Some(format) => writeln!(out, "{}", rewrite(&line, format)?)?,
            None => writeln!(out, "{line}")?,
        }
    }
    out.flush()?;
    Ok(())
}

/// A combined line written again as an ALB or CloudFront line of the same request.
fn rewrite(line: &str, format: &str) -> anyhow::Result<String> {
    let parsed = parse_line(line.as_bytes(), LogFormat::Combined)
        .map_err(|reason| anyhow::anyhow!("{reason}: {line}"))?;
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let unescaped = |t: Option<loglake_parser::Text<'_>>| t.map(|t| text(&t.unescaped()));
    let time = format_rfc3339_micros(parsed.ts_micros);
    let client = text(parsed.client);
    let method = parsed.method.map_or("-".into(), text);
    let path = unescaped(parsed.path).unwrap_or_else(|| "/".into());
    let query = unescaped(parsed.query);
    let protocol = parsed.protocol.map_or("-".into(), text);
    let agent = unescaped(parsed.user_agent).unwrap_or_else(|| "-".into());
    let bytes = parsed.bytes_sent.unwrap_or(0);
    let status = parsed.status;
    let host = "shop.example.com";
    Ok(match format {
        "alb" => {
            let target = match &query {
                Some(query) => format!("{path}?{query}"),
                None => path,
            };
            let request = format!("{method} https://{host}:443{target} {protocol}");
            let agent = agent.replace('"', "\\\"");
            format!(
                "https {time} app/bench/50dc6c495c0c9188 {client}:51234 10.0.0.7:80 0.000 0.012 0.000 \
                 {status} {status} 212 {bytes} \"{request}\" \"{agent}\" ECDHE-RSA-AES128-GCM-SHA256 \
                 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067 \
                 \"Root=1-58337262-36d228ad5d99923122bbe354\" \"{host}\" \"-\" 0 {time} \"forward\" \
                 \"-\" \"-\" \"10.0.0.7:80\" \"{status}\" \"-\" \"-\" TID_1c9b2d3e4f5a6b7c"
            )
        }
        _ => {
            let date = &time[..10];
            let clock = &time[11..19];
            let agent = agent.replace('%', "%25").replace(' ', "%20");
            let query = query.unwrap_or_else(|| "-".into());
            [
                date,
                clock,
                "LAX1",
                &bytes.to_string(),
                &client,
                &method,
                "d111111abcdef8.cloudfront.net",
                &path,
                &status.to_string(),
                "-",
                &agent,
                &query,
                "-",
                "Hit",
                "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==",
                host,
                "https",
                "212",
                "0.012",
                "-",
                "TLSv1.3",
                "TLS_AES_128_GCM_SHA256",
                "Hit",
                &protocol,
                "-",
                "-",
                "51234",
                "0.010",
                "Hit",
                "text/html",
                &bytes.to_string(),
                "-",
                "-",
            ]
            .join("\t")
        }
    })
}
