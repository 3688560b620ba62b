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
    use base64::Engine;
    let per_record = log_bytes / records.max(1);
    let mut lines = lines.iter().cycle();
    let mut json = String::from("{\"Records\":[");
    for i in 0..records {
        let mut data = Vec::with_capacity(per_record + 512);
        while data.len() < per_record {
            data.extend_from_slice(lines.next().expect("some lines"));
            data.push(b'\n');
        }
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
    json.into_bytes()
}

/// Restarts the peak-RSS count (Linux: writing 5 to `clear_refs` resets `VmHWM`), so a
/// benchmark can leave out the memory it used to build its input.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident set size in MB (Linux `VmHWM`), if known.
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
