//! `loglake ingest` end to end: the real binary, real files, the lake read back with the
//! `parquet` crate's reader.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int16Type, Int64Type, TimestampMicrosecondType};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

fn loglake(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loglake"))
        .args(args)
        .output()
        .expect("run loglake")
}

/// Runs `ingest --json` and returns the summary, asserting the reconciliation invariant.
fn ingest(out: &Path, inputs: &[&Path]) -> Value {
    let mut args = vec!["ingest", "--json", "--out", out.to_str().unwrap()];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    let output = loglake(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    summary(&output)
}

fn summary(output: &Output) -> Value {
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "exactly one JSON object: {stdout}"
    );
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    let n = |k: &str| summary[k].as_u64().unwrap();
    assert_eq!(n("lines_in"), n("rows_out") + n("rejected"), "{summary}");
    let by_reason: u64 = summary["rejects_by_reason"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_reason, n("rejected"));
    summary
}

fn files_under(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == extension) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

struct Lake {
    rows: usize,
    statuses: BTreeMap<i16, usize>,
    ts_range: (i64, i64),
    source_lines: Vec<i64>,
}

/// Reads every Parquet file back and checks each sits in the partition its rows belong to.
fn read_lake(out: &Path) -> Lake {
    let mut lake = Lake {
        rows: 0,
        statuses: BTreeMap::new(),
        ts_range: (i64::MAX, i64::MIN),
        source_lines: Vec::new(),
    };
    for file in files_under(&out.join("access_logs"), "parquet") {
        let partition = file.parent().unwrap();
        let hour: i64 = partition.file_name().unwrap().to_str().unwrap()[5..]
            .parse()
            .unwrap();
        let dt = partition
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()[3..]
            .to_string();
        let batches: Vec<RecordBatch> =
            ParquetRecordBatchReaderBuilder::try_new(fs::File::open(&file).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let mut previous = i64::MIN;
        for batch in batches {
            lake.rows += batch.num_rows();
            let ts = batch["ts"].as_primitive::<TimestampMicrosecondType>();
            for &t in ts.values() {
                assert!(t >= previous, "{} is sorted by ts", file.display());
                previous = t;
                let hour_of = loglake_parser::UtcHour::of_micros(t);
                assert_eq!(
                    (hour_of.date_string(), i64::from(hour_of.hour_of_day())),
                    (dt.clone(), hour)
                );
                lake.ts_range = (lake.ts_range.0.min(t), lake.ts_range.1.max(t));
            }
            for &s in batch["status"].as_primitive::<Int16Type>().values() {
                *lake.statuses.entry(s).or_default() += 1;
            }
            lake.source_lines
                .extend(batch["source_line"].as_primitive::<Int64Type>().values());
        }
    }
    lake
}

const FIXTURE: &str = concat!(
    "10.0.0.1 - - [10/Oct/2020:10:59:58 +0000] \"GET /index.html HTTP/1.1\" 200 512 \"-\" \"Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/118.0\"\n",
    "10.0.0.2 - bob [10/Oct/2020:12:00:01 +0200] \"POST /login?next=%2F HTTP/1.1\" 302 0 \"https://example.com/\" \"curl/8.4.0\" 0.012\n",
    "not an access log line\n",
    "www.example.com:443 10.0.0.3 - - [10/Oct/2020:11:00:00 +0000] \"GET /a HTTP/2.0\" 404 - \"-\" \"Googlebot/2.1 (+http://www.google.com/bot.html)\"\n",
    "10.0.0.4 - - [10/Oct/2020:11:30:00 +0000] \"-\" 408 -\n",
    "\n",
    "10.0.0.5 - - [10/Oct/2020:10:59:59 +0000] \"GET /café HTTP/1.1\" 200 1 \"-\" \"-\"\n",
    "10.0.0.6 - - [31/Feb/2020:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1\n",
);

/// A temporary directory holding FIXTURE as `access.log`, and where its lake goes.
fn fixture_log() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    fs::write(&log, FIXTURE).unwrap();
    let out = dir.path().join("lake");
    (dir, log, out)
}

#[test]
fn ingests_a_small_log_into_the_lake_and_reruns_identically() {
    let (_dir, log, out) = fixture_log();

    let first = ingest(&out, &[&log]);
    assert_eq!(first["lines_in"], 8);
    assert_eq!(first["rows_out"], 5);
    assert_eq!(first["rejected"], 3);
    assert_eq!(
        first["rejects_by_reason"],
        serde_json::json!({"bad_timestamp": 1, "empty_line": 1, "no_timestamp": 1})
    );
    assert_eq!(first["bytes_in"], FIXTURE.len() as u64);
    // hours 10 (three rows) and 11 (two rows) of 2020-10-10
    assert_eq!(first["files_written"], 2);

    let lake = read_lake(&out);
    assert_eq!(lake.rows, 5);
    assert_eq!(
        lake.statuses,
        BTreeMap::from([(200, 2), (302, 1), (404, 1), (408, 1)])
    );
    assert_eq!(
        lake.ts_range,
        (1_602_324_001_000_000, 1_602_329_400_000_000)
    );
    let mut lines = lake.source_lines.clone();
    lines.sort_unstable();
    assert_eq!(lines, [1, 2, 4, 5, 7]);

    let rejects_files = files_under(&out.join("rejects"), "ndjson");
    assert_eq!(rejects_files.len(), 1);
    let rejects: Vec<Value> = fs::read_to_string(&rejects_files[0])
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let lines: Vec<(i64, &str)> = rejects
        .iter()
        .map(|r| {
            (
                r["source_line"].as_i64().unwrap(),
                r["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [(3, "no_timestamp"), (6, "empty_line"), (8, "bad_timestamp")]
    );
    assert_eq!(rejects[0]["raw"], "not an access log line");
    assert_eq!(rejects[0]["source"], log.to_str().unwrap());

    // Same input, same output: same names, same bytes, nothing added.
    let snapshot = |out: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        files_under(out, "parquet")
            .into_iter()
            .chain(files_under(out, "ndjson"))
            .map(|f| (f.clone(), fs::read(f).unwrap()))
            .collect()
    };
    let before = snapshot(&out);
    let second = ingest(&out, &[&log]);
    assert_eq!(second["rows_out"], first["rows_out"]);
    assert_eq!(snapshot(&out), before);
}

#[test]
fn a_path_named_twice_is_ingested_once() {
    let (_dir, log, out) = fixture_log();
    let summary = ingest(&out, &[&log, &log]);
    assert_eq!(summary["rows_out"], 5);
    assert_eq!(read_lake(&out).rows, 5);
}

#[test]
fn a_forced_format_keeps_only_its_layout() {
    let (_dir, log, out) = fixture_log();
    let output = loglake(&[
        "ingest",
        "--json",
        "--format",
        "common",
        "--out",
        out.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    let summary = summary(&output);
    // only line 5 is Common Log Format; the combined and vhost lines are format mismatches
    assert_eq!(summary["rows_out"], 1);
    assert_eq!(summary["rejects_by_reason"]["format_mismatch"], 4);
    assert_eq!(read_lake(&out).source_lines, [5]);
}

#[test]
fn the_server_s_own_format_string_reads_its_layout() {
    let dir = tempfile::tempdir().unwrap();
    let (log, out) = (dir.path().join("custom.log"), dir.path().join("lake"));
    let lines = "\
shop.example.com|10.0.0.1|2020-10-10T12:00:01+02:00|\"GET /a?b=1 HTTP/1.1\"|200|512|0.012, 0.003 : 0.001\n\
shop.example.com|10.0.0.2|2020-10-10T12:00:02+02:00|\"GET /b HTTP/1.1\"|20x|512|-\n\
not in the format\n";
    fs::write(&log, lines).unwrap();
    let spec = r#"nginx:$host|$remote_addr|$time_iso8601|"$request"|$status|$bytes_sent|$upstream_response_time"#;
    let output = loglake(&[
        "ingest",
        "--json",
        "--log-format",
        spec,
        "--out",
        out.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = summary(&output);
    assert_eq!(summary["rows_out"], 1);
    assert_eq!(summary["rejects_by_reason"]["bad_status"], 1);
    assert_eq!(summary["rejects_by_reason"]["format_mismatch"], 1);
    let lake = read_lake(&out);
    assert_eq!(
        (lake.source_lines, lake.statuses),
        (vec![1], BTreeMap::from([(200, 1)]))
    );
    // 12:00:01 at +02:00
    assert_eq!(lake.ts_range.0, 1_602_324_001_000_000);

    // A string that cannot be compiled stops before reading anything.
    let output = loglake(&["ingest", "--format", "nginx:$remote_addr $status", "x.log"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no time"));
}

#[test]
fn reads_gzip_and_stdin_and_reports_a_truncated_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let body: String = (0..2000)
        .map(|i| {
            format!(
                "10.1.{}.{} - - [11/Oct/2020:{:02}:{:02}:{:02} +0000] \"GET /p/{i} HTTP/1.1\" 200 {i} \"-\" \"Wget/1.21\"\n",
                i / 256, i % 256, i / 3600, i / 60 % 60, i % 60
            )
        })
        .collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    // named .log on purpose: gzip is recognised by content
    let gz_path = dir.path().join("compressed.log");
    fs::write(&gz_path, &gz).unwrap();

    let out = dir.path().join("lake");
    let gzipped = ingest(&out, &[&gz_path]);
    assert_eq!(gzipped["rows_out"], 2000);
    assert_eq!(gzipped["rejected"], 0);

    // stdin
    let mut child = Command::new(env!("CARGO_BIN_EXE_loglake"))
        .args([
            "ingest",
            "--json",
            "--out",
            dir.path().join("lake2").to_str().unwrap(),
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(summary(&output)["rows_out"], 2000);

    // truncated gzip: the lines before the cut are rows, the cut line a reject, and the run
    // fails naming the file
    let cut_path = dir.path().join("cut.log.gz");
    fs::write(&cut_path, &gz[..gz.len() * 2 / 3]).unwrap();
    let output = loglake(&[
        "ingest",
        "--json",
        "--out",
        dir.path().join("lake3").to_str().unwrap(),
        cut_path.to_str().unwrap(),
        gz_path.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cut.log.gz"), "{stderr}");
    let cut = summary(&output);
    let rows = cut["rows_out"].as_u64().unwrap();
    assert!(rows > 2000 && rows < 4000, "{cut}");
    assert_eq!(cut["errors"].as_array().unwrap().len(), 1);
}

#[test]
fn usage_and_missing_files_are_errors_with_the_file_named() {
    let output = loglake(&["ingest", "--json", "/nonexistent/access.log"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/access.log"), "{stderr}");
    assert_eq!(summary(&output)["lines_in"], 0);

    assert_eq!(
        loglake(&["ingest", "--format", "jsonl", "x.log"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(loglake(&["ingest"]).status.code(), Some(2));
}

#[test]
fn binary_junk_never_panics_and_is_all_accounted_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut junk = Vec::new();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        junk.push((state >> 24) as u8);
    }
    junk.extend_from_slice(FIXTURE.as_bytes());
    junk.extend(std::iter::repeat_n(b'x', 300_000)); // a giant last line, no newline
    let path = dir.path().join("junk.bin");
    fs::write(&path, &junk).unwrap();
    let summary = ingest(&dir.path().join("lake"), &[&path]);
    let newlines = junk.iter().filter(|&&b| b == b'\n').count() as u64;
    assert_eq!(summary["lines_in"], newlines + 1);
    assert!(
        summary["rejects_by_reason"]["line_too_long"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert!(summary["rows_out"].as_u64().unwrap() >= 5);
}

fn shared_access_logs() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/access");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("LOGLAKE_REQUIRE_SHARED_DATA").is_none(),
        "shared data missing at {}",
        dir.display()
    );
    eprintln!("skipping: no shared data at {}", dir.display());
    None
}

#[test]
fn every_shared_access_log_reconciles_and_real_formats_parse() {
    let Some(access) = shared_access_logs() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let all = files_under(&access, "log");
    assert!(all.len() >= 30, "{} files", all.len());
    let mut apache_nginx = (0, 0); // (lines, rows)
    for file in &all {
        let out = dir.path().join(file.file_stem().unwrap());
        let summary = ingest(&out, &[file]);
        let lines = summary["lines_in"].as_u64().unwrap();
        let expected_lines = fs::read(file).unwrap().split(|&b| b == b'\n').count() as u64
            - u64::from(fs::read(file).unwrap().ends_with(b"\n"));
        assert_eq!(lines, expected_lines, "{}", file.display());
        let lake = read_lake(&out);
        assert_eq!(lake.rows as u64, summary["rows_out"].as_u64().unwrap());
        let rejected_on_disk: usize = files_under(&out.join("rejects"), "ndjson")
            .iter()
            .map(|f| fs::read_to_string(f).unwrap().lines().count())
            .sum();
        assert_eq!(
            rejected_on_disk as u64,
            summary["rejected"].as_u64().unwrap()
        );

        let folder = file
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        if matches!(folder, "apache" | "nginx") || file.ends_with("elastic_apache_combined.log") {
            apache_nginx.0 += lines;
            apache_nginx.1 += lake.rows as u64;
            // what is rejected there is another log format mixed in, never an access line
            for reason in summary["rejects_by_reason"].as_object().unwrap().keys() {
                assert!(
                    ["no_timestamp", "bad_prefix"].contains(&reason.as_str()),
                    "{reason} in {}",
                    file.display()
                );
            }
        }
    }
    let rate = apache_nginx.1 as f64 / apache_nginx.0 as f64;
    assert!(
        apache_nginx.0 > 10_000 && rate >= 0.999,
        "{apache_nginx:?} = {rate}"
    );
}

/// Many multi-hour files at once on a small thread pool: every file's parser blocks on its
/// writer's bounded channel while the writers encode. This once deadlocked (encoding jobs queued
/// on the very threads that were waiting for them); the run must finish and reconcile.
#[test]
fn parallel_files_with_many_hours_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for file in 0..4 {
        let body: String = (0..40_000)
            .map(|i: i64| {
                let t = 1_790_812_800 + i * 30 + file;
                let (d, s) = (t / 86_400 - 20_726, t % 86_400);
                format!(
                    "10.0.{file}.1 - - [{:02}/Oct/2026:{:02}:{:02}:{:02} +0000] \"GET /f{file}/{i} HTTP/1.1\" 200 {i} \"-\" \"curl/8\"\n",
                    d, s / 3600, s / 60 % 60, s % 60
                )
            })
            .collect();
        let path = dir.path().join(format!("part{file}.log"));
        fs::write(&path, body).unwrap();
        paths.push(path);
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_loglake"))
        .env("RAYON_NUM_THREADS", "2")
        .args([
            "ingest",
            "--json",
            "--out",
            dir.path().join("lake").to_str().unwrap(),
        ])
        .args(&paths)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("loglake ingest hung on parallel files");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = summary(&output);
    assert_eq!(summary["rows_out"], 160_000);
    assert_eq!(read_lake(&dir.path().join("lake")).rows, 160_000);
}
