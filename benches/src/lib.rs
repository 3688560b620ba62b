//! Inputs for loglake's benchmarks and its bundled sample: deterministic generators, so every
//! run measures the same bytes.

/// A small, fast, deterministic pseudo-random generator (xorshift64*): the same seed gives the
/// same log on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The decoder's settings as the functions read them from the environment, for the benchmark
/// binaries: `FORMAT` (as `LOG_FORMAT`), `KEEP_EXTRA_FIELDS`, `ANONYMIZE_IP`,
/// `ANONYMIZE_IP_KEY` and `LOGLAKE_ENRICHMENT_DIR`; the rest the defaults.
pub fn decoder_options_from_env() -> anyhow::Result<loglake_decode::DecoderOptions> {
    use loglake_parser::{Enrichment, ExtraFields, IpAnonymization, LogFormat};
    let setting = |name| std::env::var(name).ok();
    Ok(loglake_decode::DecoderOptions {
        format: LogFormat::from_setting(setting("FORMAT").as_deref())
            .map_err(anyhow::Error::msg)?,
        keep_extra_fields: ExtraFields::from_setting(setting("KEEP_EXTRA_FIELDS").as_deref())
            .map_err(anyhow::Error::msg)?,
        anonymize_ip: IpAnonymization::from_setting(
            setting("ANONYMIZE_IP").as_deref(),
            setting("ANONYMIZE_IP_KEY").as_deref(),
        )
        .map_err(anyhow::Error::msg)?,
        enrichment: Enrichment::from_env(|warning| eprintln!("warning: {warning}")),
        ..Default::default()
    })
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `dd/Mon/yyyy:HH:MM:SS +0000` for seconds since the epoch (UTC).
pub fn clf_timestamp(epoch_seconds: i64) -> String {
    let (year, month, day) =
        loglake_parser::timestamp::civil_from_days(epoch_seconds.div_euclid(86_400));
    let secs = epoch_seconds.rem_euclid(86_400);
    format!(
        "{day:02}/{}/{year:04}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Replaces the bracketed timestamp of an access-log line, if it has one.
pub fn with_timestamp(line: &str, epoch_seconds: i64) -> Option<String> {
    let open = line.find('[')?;
    let close = open + line[open..].find(']')?;
    Some(format!(
        "{}[{}]{}",
        &line[..open],
        clf_timestamp(epoch_seconds),
        &line[close + 1..]
    ))
}

/// A Kinesis event as Lambda delivers a full batch: `records` records holding about
/// `log_bytes` of the given lines in all (whole lines, cycled), each record's data base64.
pub fn kinesis_batch_event(lines: &[&[u8]], records: usize, log_bytes: usize) -> Vec<u8> {
    kinesis_batch_event_and_log_bytes(lines, records, log_bytes).0
}

/// [`kinesis_batch_event`], and the exact bytes of log lines it holds.
pub fn kinesis_batch_event_and_log_bytes(
    lines: &[&[u8]],
    records: usize,
    log_bytes: usize,
) -> (Vec<u8>, usize) {
    use base64::Engine;
    let per_record = log_bytes / records.max(1);
    let mut lines = lines.iter().cycle();
    let mut json = String::from("{\"Records\":[");
    let mut held = 0;
    for i in 0..records {
        let mut data = Vec::with_capacity(per_record + 512);
        while data.len() < per_record {
            data.extend_from_slice(lines.next().expect("some lines"));
            data.push(b'\n');
        }
        held += data.len();
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!(
            "{{\"kinesis\":{{\"kinesisSchemaVersion\":\"1.0\",\"partitionKey\":\"web-{}\",\
             \"sequenceNumber\":\"49590338271490256608559692538361571095921575989136{i:06}\",\
             \"data\":\"{}\",\"approximateArrivalTimestamp\":1700000000.5}},\
             \"eventSource\":\"aws:kinesis\",\"eventVersion\":\"1.0\",\
             \"eventID\":\"shardId-000000000000:49590338271490256608559692538361571095921575989136{i:06}\",\
             \"eventName\":\"aws:kinesis:record\",\"invokeIdentityArn\":\"arn:aws:iam::123456789012:role/ingest\",\
             \"awsRegion\":\"us-east-1\",\"eventSourceARN\":\"arn:aws:kinesis:us-east-1:123456789012:stream/web-logs\"}}",
            i % 16,
            base64::engine::general_purpose::STANDARD.encode(&data)
        ));
    }
    json.push_str("]}");
    (json.into_bytes(), held)
}

/// Restarts the peak-RSS count (Linux: writing 5 to `clear_refs` resets `VmHWM`), so a
/// benchmark can leave out the memory it used to build its input.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident set size in MB (Linux `VmHWM`), if known.
/// CPU seconds (user and system, every thread) this process has used so far.
pub fn cpu_seconds() -> Option<f64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: getrusage only writes the struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
            return None;
        }
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Some(seconds(usage.ru_utime) + seconds(usage.ru_stime))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The allocator tuning the `loglake`, `ingest` and `backfill` binaries make (each in its
/// `main.rs`), so the benchmarks measure what they run. Lets glibc's allocator keep freed memory for reuse: a run allocates and frees batch-sized
/// buffers continuously (column buffers, JSON rows, Firehose records, zstd contexts), and glibc's
/// defaults hand blocks over 128 KiB back to the kernel on free, so each costs page faults and
/// freshly zeroed pages again. Memory stays bounded by the pipeline's budgets. A no-op where the
/// C library is not glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning parameters; any values are valid.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

/// The CloudFront real-time log configuration the benchmarks read: 23 fields, a typical choice.
pub const CLOUDFRONT_REALTIME_FORMAT: &str = "cloudfront_realtime:timestamp c-ip \
    time-to-first-byte sc-status sc-bytes cs-method cs-protocol cs-host cs-uri-stem cs-bytes \
    x-edge-location x-edge-request-id x-host-header time-taken cs-protocol-version cs-user-agent \
    cs-referer x-edge-result-type ssl-protocol ssl-cipher sc-content-type c-country asn";

/// A combined line written again as the same request in another format (`alb`, `json`,
/// `s3_access`, `cloudfront_realtime`, or else CloudFront's standard log): the benchmarks
/// compare the formats on the same requests.
pub fn rewrite_as(line: &str, format: &str) -> anyhow::Result<String> {
    let parsed = loglake_parser::parse_line(line.as_bytes(), loglake_parser::LogFormat::Combined)
        .map_err(|reason| anyhow::anyhow!("{reason}: {line}"))?;
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let unescaped = |t: Option<loglake_parser::Text<'_>>| t.map(|t| text(&t.unescaped()));
    let time = loglake_parser::format_rfc3339_micros(parsed.ts_micros);
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
        "json" => {
            // nginx `log_format … escape=json` with the variables' names as keys
            let target = match &query {
                Some(query) => format!("{path}?{query}"),
                None => path,
            };
            let time = format!("{}+00:00", &time[..19]);
            serde_json::json!({
                "time_iso8601": time,
                "remote_addr": client,
                "remote_user": "-",
                "request": format!("{method} {target} {protocol}"),
                "status": status.to_string(),
                "body_bytes_sent": bytes.to_string(),
                "http_referer": unescaped(parsed.referrer).unwrap_or_else(|| "-".into()),
                "http_user_agent": agent,
                "request_time": "0.012",
                "host": host,
            })
            .to_string()
        }
        "cloudfront_realtime" => {
            // the fields of CLOUDFRONT_REALTIME_FORMAT, in CloudFront's record order
            let seconds = parsed.ts_micros.div_euclid(1_000_000);
            let target = match &query {
                Some(query) => format!("{path}?{query}"),
                None => path,
            };
            let encode = |text: String| text.replace('%', "%25").replace(' ', "%20");
            let referrer = unescaped(parsed.referrer).map_or("-".into(), encode);
            [
                &format!("{seconds}.123"),
                &client,
                "0.010",
                &status.to_string(),
                &bytes.to_string(),
                &method,
                "https",
                host,
                &target,
                "212",
                "LAX1-C1",
                "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==",
                "d111111abcdef8.cloudfront.net",
                "0.012",
                &protocol,
                &encode(agent),
                &referrer,
                "Hit",
                "TLSv1.3",
                "TLS_AES_128_GCM_SHA256",
                "text/html",
                "US",
                "16509",
            ]
            .join("\t")
        }
        "s3_access" => {
            let target = match &query {
                Some(query) => format!("{path}?{query}"),
                None => path,
            };
            let quoted = |v: Option<String>| match v {
                Some(v) => format!("\"{}\"", v.replace('"', "\\\"")),
                None => "\"-\"".into(),
            };
            let referrer = quoted(unescaped(parsed.referrer));
            let agent = quoted(unescaped(parsed.user_agent));
            let clf_time = clf_timestamp(parsed.ts_micros.div_euclid(1_000_000));
            format!(
                "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be shop-assets [{clf_time}] {client} - \
                 3E57427F3EXAMPLE REST.GET.OBJECT key \"{method} {target} {protocol}\" {status} - {bytes} {bytes} 12 10 \
                 {referrer} {agent} - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 \
                 TLS_AES_128_GCM_SHA256 AuthHeader shop-assets.s3.us-east-1.amazonaws.com TLSv1.3 - -"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_match_the_parser() {
        for t in [0, 971_211_336, 1_790_000_000, 1_709_164_800] {
            let text = clf_timestamp(t);
            assert_eq!(
                loglake_parser::parse_clf_timestamp(text.as_bytes()),
                Some(t * 1_000_000),
                "{text}"
            );
        }
    }
}
