//! `loglake ship` end to end, over the wire: log files written and rotated (by rename and by
//! copy and truncate) while `loglake ship` follows them and is killed with SIGKILL at random
//! points, the renamed one compressed once read; a Kinesis stand-in in front of moto's Kinesis that throttles whole calls and
//! refuses some records of the others (as Kinesis does under load); then the stream read back by
//! the real ingest function (through `loglake replay-failures`, which runs it on a stretch of a
//! shard) into a lake in moto's S3, and counted there with `loglake sql`.

#[path = "../functions/ingest/tests/support/http.rs"]
mod http;

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{aws_json, aws_standin, http, serve, HttpRequest, HttpResponse};
use serde_json::{json, Value};

/// A shipper running beside a test, killed if the test fails before stopping it (it would
/// outlive the test, holding the test's output open).
struct Running(Child);

impl Running {
    /// SIGTERM (as systemd stops a service), and whether it then ended well.
    fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) with our own child's pid and a signal number.
        assert_eq!(unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) }, 0);
        self.0.wait().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn loglake() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loglake"))
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A pseudo-random sequence (xorshift), seeded so that a failing run can be repeated.
struct Random(u64);

impl Random {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// A Kinesis stand-in in front of moto's, refusing as Kinesis does under load (Kinesis API
/// Reference, PutRecords: "ProvisionedThroughputExceededException … the request rate for the
/// stream is too high", for a whole call; and per record, `ErrorCode` in a response whose other
/// records were put): every fifth `PutRecords` is refused whole, and about a quarter of the
/// records of the others are refused (each call's refusals decided by its number); while `down`,
/// every call is answered 503 (Service Unavailable). moto itself
/// refuses records over 1 MiB and calls over 500 records or 5 MiB, as Kinesis does.
fn flaky_kinesis(
    moto: String,
    calls: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
) -> String {
    let address = serve(move |request: HttpRequest| {
        if down.load(Ordering::SeqCst) {
            return HttpResponse::json(503, &json!({"__type": "ServiceUnavailable"}));
        }
        let target = request
            .headers
            .get("x-amz-target")
            .cloned()
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        if !target.ends_with(".PutRecords") {
            return HttpResponse::json(200, &aws_json(&moto, "kinesis", &target, &body));
        }
        let call = calls.fetch_add(1, Ordering::SeqCst);
        if call % 5 == 4 {
            refused.fetch_add(1, Ordering::SeqCst);
            let error = json!({"__type": "ProvisionedThroughputExceededException",
                "message": "Rate exceeded for shard shardId-000000000000"});
            return HttpResponse::json(400, &error);
        }
        let records = body["Records"].as_array().cloned().unwrap_or_default();
        let mut random = Random(call * 7919 + 17);
        let refuse: Vec<bool> = records.iter().map(|_| random.next(4) == 0).collect();
        let accepted: Vec<Value> = (records.iter().zip(&refuse))
            .filter(|(_, refused)| !**refused)
            .map(|(record, _)| record.clone())
            .collect();
        let mut put = Vec::new();
        if !accepted.is_empty() {
            let forward = json!({"StreamName": body["StreamName"], "Records": accepted});
            let answer = aws_json(&moto, "kinesis", &target, &forward);
            put = answer["Records"].as_array().cloned().unwrap();
        }
        let mut put = put.into_iter();
        let results: Vec<Value> = (refuse.iter())
            .map(|refused| match refused {
                true => json!({"ErrorCode": "ProvisionedThroughputExceededException",
                    "ErrorMessage": "Rate exceeded for shard shardId-000000000001"}),
                false => put.next().expect("moto's answer for each record"),
            })
            .collect();
        let failed = refuse.iter().filter(|r| **r).count();
        refused.fetch_add(failed as u64, Ordering::SeqCst);
        HttpResponse::json(
            200,
            &json!({"FailedRecordCount": failed, "Records": results}),
        )
    });
    format!("http://{address}")
}

/// The sample's lines that parse, over and over: `count` of them.
fn log_lines(count: usize) -> Vec<String> {
    let sample =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample/access.log"))
            .unwrap();
    let good: Vec<&str> = sample.lines().filter(|l| !l.contains("[error]")).collect();
    good.iter()
        .cycle()
        .take(count)
        .map(|l| l.to_string())
        .collect()
}

fn append(path: &Path, lines: &[String]) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(format!("{}\n", lines.join("\n")).as_bytes())
        .unwrap();
}

/// Writes `lines` into `dir/access.log` in bursts, rotating it by rename after the first third
/// and by copy and truncate after the second.
fn write_and_rotate(dir: &Path, lines: &[String]) {
    let log = dir.join("access.log");
    let third = lines.len() / 3;
    for (part, lines) in lines.chunks(third).enumerate() {
        match part {
            1 => fs::rename(&log, dir.join("access.log.1")).unwrap(),
            2 => {
                fs::copy(&log, dir.join("access.log.2")).unwrap();
                OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&log)
                    .unwrap();
            }
            _ => {}
        }
        for burst in lines.chunks(100) {
            append(&log, burst);
            std::thread::sleep(Duration::from_millis(15));
        }
    }
}

/// Polls `done` until it holds and returns how long that took; fails with `waiting()` (what was
/// seen) after `limit`.
fn wait_until(
    limit: Duration,
    mut done: impl FnMut() -> bool,
    waiting: impl Fn() -> String,
) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{}", waiting());
        std::thread::sleep(Duration::from_millis(100));
    }
    started.elapsed()
}

fn ship(dir: &Path, endpoint: &str, stream: &str, extra: &[&str]) -> Command {
    let mut command = loglake();
    command
        .args(["ship", &format!("{}/access.log*", dir.display())])
        .args(["--to", &format!("kinesis://{stream}")])
        .args([
            "--state",
            &dir.join("state/ship.json").display().to_string(),
        ])
        .args(["--flush-ms", "200", "--status-secs", "1"])
        .args(extra)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("HOSTNAME", "web-1");
    command
}

/// Every record of every shard, as failure-queue messages naming each shard's whole stretch:
/// what `loglake replay-failures` reads back from the stream.
fn whole_stream_messages(moto: &str, stream: &str) -> (String, usize) {
    let kinesis = |target: &str, body: Value| {
        aws_json(
            moto,
            "kinesis",
            &format!("Kinesis_20131202.{target}"),
            &body,
        )
    };
    let shards = kinesis("ListShards", json!({"StreamName": stream}));
    let (mut messages, mut records) = (String::new(), 0);
    for shard in shards["Shards"].as_array().unwrap() {
        let shard = shard["ShardId"].as_str().unwrap();
        let iterator = kinesis(
            "GetShardIterator",
            json!({"StreamName": stream, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}),
        );
        let mut iterator = iterator["ShardIterator"].as_str().unwrap().to_string();
        let mut sequences = Vec::new();
        loop {
            let page = kinesis(
                "GetRecords",
                json!({"ShardIterator": iterator, "Limit": 10000}),
            );
            let got = page["Records"].as_array().unwrap();
            if got.is_empty() {
                break;
            }
            sequences.extend(
                got.iter()
                    .map(|r| r["SequenceNumber"].as_str().unwrap().to_string()),
            );
            iterator = page["NextShardIterator"].as_str().unwrap().to_string();
        }
        let (Some(first), Some(last)) = (sequences.first(), sequences.last()) else {
            continue;
        };
        records += sequences.len();
        let message = json!({
            "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 1},
            "version": "1.0",
            "KinesisBatchInfo": {
                "shardId": shard, "startSequenceNumber": first, "endSequenceNumber": last,
                "batchSize": sequences.len(),
                "streamArn": format!("arn:aws:kinesis:us-east-1:123456789012:stream/{stream}"),
            },
        });
        messages.push_str(&format!("{message}\n"));
    }
    (messages, records)
}

#[test]
fn every_line_reaches_the_lake_through_rotations_refusals_and_kill_9() {
    let Some(moto) = aws_standin() else {
        return;
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut random = Random(seed);
    let stream = format!("ship-{}", std::process::id());
    aws_json(
        &moto,
        "kinesis",
        "Kinesis_20131202.CreateStream",
        &json!({"StreamName": stream, "ShardCount": 2}),
    );
    let (calls, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let up = Arc::new(AtomicBool::new(false));
    let flaky = flaky_kinesis(moto.clone(), Arc::clone(&calls), Arc::clone(&refused), up);
    let logs = tempfile::tempdir().unwrap();
    let dir = logs.path().to_path_buf();
    let lines = log_lines(9_000);

    let writer = {
        let (dir, lines) = (dir.clone(), lines.clone());
        std::thread::spawn(move || write_and_rotate(&dir, &lines))
    };
    // SIGKILL at random points while the files are written and rotated
    let mut kills = 0;
    while !writer.is_finished() {
        let mut child: Child = ship(&dir, &flaky, &stream, &[])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + random.next(600)));
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    writer.join().unwrap();
    // SIGTERM: what was read is put and the positions saved, and it ends by itself
    // (once it has written its first metrics, it is listening for the signal)
    let metrics = dir.join("ship.prom");
    let child = Running(
        ship(
            &dir,
            &flaky,
            &stream,
            &["--metrics", metrics.to_str().unwrap()],
        )
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    wait_until(Duration::from_secs(60), || metrics.exists(), String::new);
    let started = Instant::now();
    let status = child.terminate();
    assert!(
        status.success() && started.elapsed() < Duration::from_secs(20),
        "{status:?}"
    );
    // the rest, and a last status line
    let output = ship(&dir, &flaky, &stream, &["--once"]).output().unwrap();
    let status_line = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "{status_line}");
    assert!(status_line.contains(" 0 bytes behind"), "{status_line}");
    assert!(calls.load(Ordering::SeqCst) > 0 && refused.load(Ordering::SeqCst) > 0);
    // The renamed file compressed once it was read, as logrotate's `delaycompress` leaves it
    // until the next rotation (one compressed before the shipper read it to its end would lose
    // its tail: a `.gz` is never read): nothing of the `.gz` is sent.
    let rotated = dir.join("access.log.1");
    let mut gzip = flate2::write::GzEncoder::new(
        fs::File::create(dir.join("access.log.1.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    gzip.write_all(&fs::read(&rotated).unwrap()).unwrap();
    gzip.finish().unwrap();
    fs::remove_file(&rotated).unwrap();
    let before = calls.load(Ordering::SeqCst);
    let output = ship(&dir, &flaky, &stream, &["--once"]).output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        before,
        "something was sent again"
    );

    // The stream read back by the ingest function into a lake, counted there.
    let bucket = format!("ship-lake-{}", std::process::id());
    assert!(http("PUT", &format!("{moto}/{bucket}"), b"").0 < 300);
    let lake = format!("s3://{bucket}/lake");
    let (messages, records) = whole_stream_messages(&moto, &stream);
    let messages_file = dir.join("messages.ndjson");
    fs::write(&messages_file, messages).unwrap();
    let replay = loglake()
        .args([
            "replay-failures",
            messages_file.to_str().unwrap(),
            "--lake",
            &lake,
        ])
        .env("AWS_ENDPOINT_URL", &moto)
        .output()
        .unwrap();
    stdout(&replay);
    let sql = |statement: &str| -> Vec<Value> {
        let output = loglake()
            .args(["sql", statement, "--lake", &lake, "--format", "json"])
            .env("AWS_ENDPOINT_URL", &moto)
            .output()
            .unwrap();
        serde_json::from_str(&stdout(&output)).unwrap()
    };
    let files = sql(
        "SELECT source, count(*) AS rows, count(DISTINCT source_line) AS lines, \
         min(source_line) AS first, max(source_line) AS last FROM access_logs GROUP BY source ORDER BY source",
    );
    let rejects = sql("SELECT count(*) AS n FROM rejects");
    assert_eq!(
        rejects[0]["n"], 0,
        "every line of the sample's good lines parses"
    );
    let count = |row: &Value, key: &str| row[key].as_i64().unwrap();
    // each file's lines, from its first to its last, none missing
    let mut by_source: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for file in &files {
        assert_eq!(count(file, "first"), 1, "{file}");
        assert_eq!(
            count(file, "lines"),
            count(file, "last"),
            "a line missing: {file}"
        );
        by_source.insert(
            file["source"].as_str().unwrap().into(),
            (count(file, "rows"), count(file, "lines")),
        );
    }
    assert_eq!(by_source.len(), 3, "three files (two rotations): {files:?}");
    let lines_in_lake: i64 = by_source.values().map(|(_, lines)| lines).sum();
    assert_eq!(lines_in_lake, lines.len() as i64);
    let unique = sql("SELECT count(*) AS n FROM access_logs_unique");
    assert_eq!(count(&unique[0], "n"), lines.len() as i64);
    // sent twice: only lines of the batches in flight at the kills (a batch is at most the
    // 200 ms of lines between flushes; without checkpoints, every restart would resend all)
    let rows: i64 = by_source.values().map(|(rows, _)| rows).sum();
    let twice = rows - lines_in_lake;
    eprintln!(
        "{kills} kills, {} PutRecords calls, {} refusals, {records} records for {} lines, {twice} lines sent twice",
        calls.load(Ordering::SeqCst),
        refused.load(Ordering::SeqCst),
        lines.len()
    );
    assert!(
        twice <= kills * 2_000,
        "{twice} lines twice after {kills} kills"
    );
}

#[test]
fn a_stream_that_is_not_there_is_an_error_and_nothing_is_checkpointed() {
    let Some(moto) = aws_standin() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    append(&dir.path().join("access.log"), &log_lines(10));
    let output = ship(dir.path(), &moto, "no-such-stream", &["--once"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no-such-stream: ResourceNotFoundException"),
        "{stderr}"
    );
    assert!(!dir.path().join("state/ship.json").exists());
    let output = loglake()
        .args(["ship", "x.log", "--to", "sqs://queue"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("expected kinesis://STREAM_NAME or s3://bucket/prefix"),
        "{stderr}"
    );
}

/// `loglake sql`'s JSON answer over `lake`.
fn sql(lake: &str, statement: &str, endpoint: Option<&str>) -> Vec<Value> {
    let mut command = loglake();
    command.args(["sql", statement, "--lake", lake, "--format", "json"]);
    if let Some(endpoint) = endpoint {
        command.env("AWS_ENDPOINT_URL", endpoint);
    }
    serde_json::from_str(&stdout(&command.output().unwrap())).unwrap()
}

/// Each source's `(rows, distinct lines, first line, last line)`.
fn lines_by_source(lake: &str, endpoint: Option<&str>) -> BTreeMap<String, [i64; 4]> {
    let statement = "SELECT source, count(*) AS rows, count(DISTINCT source_line) AS lines, \
        min(source_line) AS first, max(source_line) AS last FROM access_logs GROUP BY source";
    sql(lake, statement, endpoint)
        .iter()
        .map(|row| {
            let n = |key: &str| row[key].as_i64().unwrap();
            let counts = [n("rows"), n("lines"), n("first"), n("last")];
            (row["source"].as_str().unwrap().to_string(), counts)
        })
        .collect()
}

#[test]
fn a_local_lake_is_kept_current_and_its_closed_hours_compacted() {
    let logs = tempfile::tempdir().unwrap();
    let dir = logs.path();
    let lake = dir.join("lake").display().to_string();
    let lines = log_lines(3_000);
    append(&dir.join("access.log"), &lines[..1_000]);
    let mut command = loglake();
    command
        .args([
            "ship",
            &format!("{}/access.log*", dir.display()),
            "--out",
            &lake,
        ])
        .args(["--state", &dir.join("ship.json").display().to_string()])
        .args(["--flush-ms", "300", "--status-secs", "1"])
        // (the sample's hours ended long ago: each is compacted once 2 s go by unwritten)
        .args(["--compact-after-secs", "2"])
        .env("HOSTNAME", "laptop")
        .env_remove("LOGLAKE_ENRICHMENT_DIR");
    let child = Running(command.stderr(Stdio::null()).spawn().unwrap());
    let rows_in_lake = || -> i64 {
        let statement = "SELECT count(*) AS n FROM access_logs";
        if !Path::new(&lake).join("access_logs").exists() {
            return 0;
        }
        sql(&lake, statement, None)[0]["n"].as_i64().unwrap()
    };
    // new lines are in the lake within a flush interval (and a scan), rotation or not
    let wait_for = |rows: i64| {
        wait_until(
            Duration::from_secs(30),
            || rows_in_lake() >= rows,
            || format!("{} of {rows} rows", rows_in_lake()),
        )
    };
    let first = wait_for(1_000);
    append(&dir.join("access.log"), &lines[1_000..2_000]);
    fs::rename(dir.join("access.log"), dir.join("access.log.1")).unwrap();
    append(&dir.join("access.log"), &lines[2_000..]);
    let rotated = wait_for(3_000);
    eprintln!("in the lake after {first:?}, and after the rotation {rotated:?}");
    // each closed hour compacted into one file while it runs, the lake queryable meanwhile
    let files_per_hour = || -> Vec<usize> {
        let mut counts = Vec::new();
        for day in fs::read_dir(Path::new(&lake).join("access_logs")).unwrap() {
            for hour in fs::read_dir(day.unwrap().path()).unwrap() {
                let files = fs::read_dir(hour.unwrap().path()).unwrap().filter(|f| {
                    let name = f.as_ref().unwrap().file_name();
                    name.to_string_lossy().ends_with(".parquet")
                });
                counts.push(files.count());
            }
        }
        counts
    };
    wait_until(
        Duration::from_secs(60),
        || files_per_hour().iter().all(|&files| files <= 1),
        || format!("{:?}", files_per_hour()),
    );
    assert!(child.terminate().success());
    // (counted once stopped: a query meeting a compaction between its merged file's rename and
    // its inputs' removal sees the hour twice, as README's Compaction says; the unique view not)
    assert_eq!(rows_in_lake(), 3_000);

    let sources = lines_by_source(&lake, None);
    assert_eq!(sources.len(), 2, "{sources:?}");
    let mut counts: Vec<[i64; 4]> = sources.values().copied().collect();
    counts.sort();
    assert_eq!(
        counts,
        [[1_000, 1_000, 1, 1_000], [2_000, 2_000, 1, 2_000]],
        "{sources:?}"
    );
    assert!(sources
        .keys()
        .all(|s| s.starts_with("laptop:") && s.contains("access.log*#")));
    assert!(files_per_hour().iter().all(|&files| files == 1));
}

#[test]
fn an_s3_lake_is_written_as_the_ingest_function_writes_it() {
    let Some(moto) = aws_standin() else {
        return;
    };
    let logs = tempfile::tempdir().unwrap();
    let dir = logs.path();
    let bucket = format!("ship-s3-lake-{}", std::process::id());
    assert!(http("PUT", &format!("{moto}/{bucket}"), b"").0 < 300);
    let lake = format!("s3://{bucket}/lake");
    let mut lines = log_lines(500);
    lines.insert(250, "not a log line".to_string());
    append(&dir.join("access.log"), &lines);
    // a last line still being written (no newline yet): not shipped, and `--once` ends anyway
    fs::OpenOptions::new()
        .append(true)
        .open(dir.join("access.log"))
        .unwrap()
        .write_all(b"203.0.113.9 - - [01/Nov/2026:00:00")
        .unwrap();
    let ship_once = || {
        loglake()
            .args(["ship", &dir.join("access.log").display().to_string()])
            .args(["--to", &lake, "--once"])
            .args(["--state", &dir.join("ship.json").display().to_string()])
            .env("AWS_ENDPOINT_URL", &moto)
            .output()
            .unwrap()
    };
    let output = ship_once();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sources = lines_by_source(&lake, Some(&moto));
    assert_eq!(
        sources.values().copied().collect::<Vec<_>>(),
        [[500, 500, 1, 501]]
    );
    let rejects = sql(
        &lake,
        "SELECT source_line, reason FROM rejects",
        Some(&moto),
    );
    assert_eq!(
        rejects,
        [json!({"source_line": 251, "reason": "no_timestamp"})]
    );
    // again: nothing new, nothing written twice
    let again = ship_once();
    assert!(again.status.success());
    assert_eq!(lines_by_source(&lake, Some(&moto)), sources);
}

/// The stream away (every call answered 503): nothing more is read than the documented cap,
/// nothing is dropped, and once the stream is back every line is put.
#[test]
fn while_the_stream_is_down_reading_stops_at_the_cap_and_resumes() {
    let Some(moto) = aws_standin() else {
        return;
    };
    let stream = format!("ship-down-{}", std::process::id());
    aws_json(
        &moto,
        "kinesis",
        "Kinesis_20131202.CreateStream",
        &json!({"StreamName": stream, "ShardCount": 1}),
    );
    let down = Arc::new(AtomicBool::new(true));
    let (calls, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let proxy = flaky_kinesis(moto.clone(), Arc::clone(&calls), refused, Arc::clone(&down));
    let logs = tempfile::tempdir().unwrap();
    let dir = logs.path();
    // 24 MB of lines, twice the cap
    let lines = log_lines(100_000);
    append(&dir.join("access.log"), &lines);
    let metrics = dir.join("ship.prom");
    let child = Running(
        ship(
            dir,
            &proxy,
            &stream,
            &["--metrics", &metrics.display().to_string()],
        )
        .stderr(fs::File::create(dir.join("ship.stderr")).unwrap())
        .spawn()
        .unwrap(),
    );
    let said = || fs::read_to_string(dir.join("ship.stderr")).unwrap();
    let metric = |name: &str| -> Option<u64> {
        let text = fs::read_to_string(&metrics).ok()?;
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("loglake_ship_{name} ")))?;
        line.split(' ').nth(1)?.parse().ok()
    };
    // (until it has been refused twice: reading beyond the cap would have happened by then)
    wait_until(
        Duration::from_secs(60),
        || metric("failed_calls_total").unwrap_or(0) >= 2,
        || format!("no refusal seen: {}", said()),
    );
    let read = metric("bytes_total").unwrap();
    let cap = 11 << 20;
    assert!(
        read > 0 && read <= cap,
        "{read} bytes read while the stream is down"
    );
    assert!(metric("lag_bytes").unwrap() > 0);
    assert_eq!(metric("delivered_total"), Some(0));
    down.store(false, Ordering::SeqCst);
    wait_until(
        Duration::from_secs(60),
        || metric("lag_bytes") == Some(0) && metric("lines_total") == Some(lines.len() as u64),
        || format!("not caught up: {}", said()),
    );
    assert!(child.terminate().success());
    let (messages, _) = whole_stream_messages(&moto, &stream);
    assert!(!messages.is_empty());
    let state: Value =
        serde_json::from_slice(&fs::read(dir.join("state/ship.json")).unwrap()).unwrap();
    let next: Vec<i64> = (state["files"].as_object().unwrap().values())
        .map(|f| f["next_line"].as_i64().unwrap())
        .collect();
    assert_eq!(
        next,
        [lines.len() as i64 + 1],
        "every line acknowledged and checkpointed"
    );
}
