//! `loglake sql`: ad-hoc SQL over the lake's tables, one statement or a shell. Counts are
//! checked against the sample log read here, line by line, not against another query.

#[path = "../functions/ingest/tests/support/http.rs"]
mod http;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

use http::{aws_standin, http, s3_objects};

fn loglake(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loglake"))
        .args(args)
        .output()
        .expect("run loglake")
}

fn sample() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample/access.log")
        .to_string_lossy()
        .into_owned()
}

/// The sample ingested into `dir/lake`, with a line that is no request appended (a reject).
fn lake(dir: &Path) -> String {
    let log = dir.join("access.log");
    let mut text = std::fs::read_to_string(sample()).unwrap();
    text.push_str("this is not an access log line\n");
    std::fs::write(&log, text).unwrap();
    let lake = dir.join("lake");
    let output = loglake(&[
        "ingest",
        "--out",
        lake.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    lake.to_str().unwrap().to_string()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The sample's lines answered 404, counted from the text: the status follows the request's
/// closing quote in the combined format.
fn not_found_in_sample() -> i64 {
    let text = std::fs::read_to_string(sample()).unwrap();
    let not_found = text.lines().filter(|line| {
        let after_request = line.splitn(3, '"').nth(2).unwrap_or_default();
        after_request.split_whitespace().next() == Some("404")
    });
    not_found.count() as i64
}

/// The sample's lines whose time starts with `stamp` (`01/Nov/2026:03:`: an hour), from the text.
fn in_sample_hour(stamp: &str) -> usize {
    let text = std::fs::read_to_string(sample()).unwrap();
    text.lines()
        .filter(|line| line.contains(&format!("[{stamp}")))
        .count()
}

#[test]
fn a_statement_reads_the_lakes_tables_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let sql =
        "SELECT status, count(*) AS requests FROM access_logs GROUP BY status ORDER BY status";
    let rows: Vec<Value> = serde_json::from_str(&stdout(&loglake(&[
        "sql", sql, "--lake", &lake, "--format", "json",
    ])))
    .unwrap();
    let requests = |status: i64| -> i64 {
        (rows.iter())
            .find(|r| r["status"] == status)
            .map_or(0, |r| r["requests"].as_i64().unwrap())
    };
    assert_eq!(requests(404), not_found_in_sample());
    let lines = std::fs::read_to_string(sample()).unwrap().lines().count() as i64;
    let all: i64 = rows.iter().map(|r| r["requests"].as_i64().unwrap()).sum();
    // (the sample has one line with no time: a reject, as the appended one)
    let rejects = stdout(&loglake(&[
        "sql",
        "SELECT reason, source_line FROM rejects ORDER BY source_line",
        "--lake",
        &lake,
        "--format",
        "ndjson",
    ]));
    let rejects: Vec<Value> = rejects
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        all + rejects.len() as i64,
        lines + 1,
        "every line a row or a reject"
    );
    assert_eq!(rejects.last().unwrap()["source_line"], lines + 1);

    // The same rows as CSV and as an aligned table; the view without redelivered copies.
    let csv = stdout(&loglake(&["sql", sql, "--lake", &lake, "--format", "csv"]));
    assert_eq!(csv.lines().next(), Some("status,requests"));
    assert_eq!(csv.lines().count(), rows.len() + 1);
    let table = stdout(&loglake(&["sql", sql, "--lake", &lake]));
    assert!(table.ends_with(&format!("({} rows)\n", rows.len())));
    let unique = stdout(&loglake(&[
        "sql",
        "SELECT count(*) AS n FROM access_logs_unique",
        "--lake",
        &lake,
        "--format",
        "csv",
    ]));
    assert_eq!(unique, format!("n\n{all}\n"));
    // An hour before 10 (its folder is `hour=03`) is found by its number.
    let hour = stdout(&loglake(&[
        "sql",
        "SELECT count(*) AS n FROM access_logs WHERE dt = '2026-11-01' AND hour = 3",
        "--lake",
        &lake,
        "--format",
        "csv",
    ]));
    let expected = in_sample_hour("01/Nov/2026:03:");
    assert!(expected > 0);
    assert_eq!(hour, format!("n\n{expected}\n"));
}

#[test]
fn rows_go_to_a_parquet_file() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let file = dir.path().join("not_found.parquet");
    let output = loglake(&[
        "sql",
        "SELECT ts, path, status FROM access_logs WHERE status = 404",
        "--lake",
        &lake,
        "--output",
        file.to_str().unwrap(),
    ]);
    stdout(&output);
    assert!(output.stdout.is_empty());
    let reader =
        parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&file).unwrap())
            .unwrap();
    use parquet::file::reader::FileReader;
    let metadata = reader.metadata();
    assert_eq!(metadata.file_metadata().num_rows(), not_found_in_sample());
    let columns: Vec<&str> = (metadata.file_metadata().schema_descr().columns().iter())
        .map(|c| c.name())
        .collect();
    assert_eq!(columns, ["ts", "path", "status"]);
}

#[test]
fn errors_name_what_there_is() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let output = loglake(&["sql", "SELECT pth FROM access_logs", "--lake", &lake]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("No field named pth"), "{stderr}");
    assert!(
        stderr.contains("access_logs.path"),
        "names the columns: {stderr}"
    );
    // said once, not once per wrapping layer
    assert_eq!(stderr.matches("No field named pth").count(), 1, "{stderr}");
    let output = loglake(&["sql", "SELECT 1", "--lake", "/nonexistent/lake"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("loglake ingest"));
}

fn shell(lake: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_loglake"))
        .args(["sql", "--lake", lake, "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// With no statement, a shell: here a script on standard input (no prompts). Statements run
/// over several lines up to their `;`, dot commands answer, an error is said and the shell goes
/// on, and a last statement without `;` runs at the end.
#[test]
fn the_shell_runs_a_script_and_survives_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let mut child = shell(&lake);
    let script = ".tables\n.schema rejects\nSELECT count(*) AS not_found\n  FROM access_logs\n  WHERE status = 404;\nSELECT nope FROM access_logs;\n.nothing\nSELECT 42 AS answer";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let out = stdout(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        out.starts_with("access_logs\naccess_logs_unique\nrejects\n"),
        "{out}"
    );
    assert!(
        out.contains("rejects\n  source Utf8\n  source_line Int64\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!("not_found\n{}\n", not_found_in_sample())),
        "{out}"
    );
    assert!(out.ends_with("answer\n42\n"), "{out}");
    assert!(stderr.contains("No field named nope"), "{stderr}");
    assert!(stderr.contains("unknown command \".nothing\""), "{stderr}");
    assert_eq!(
        stderr.matches(" rows in ").count(),
        2,
        "each statement timed: {stderr}"
    );
}

/// Ctrl-C (SIGINT) stops the running query, not the shell: the next statement still runs.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn ctrl_c_cancels_the_query_and_not_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let mut child = shell(&lake);
    let mut stdin = child.stdin.take().unwrap();
    // 10^11 rows: hours.
    stdin
        .write_all(b"SELECT sum(value) AS slow FROM generate_series(1, 100000000000);\n")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let started = std::time::Instant::now();
    // SAFETY: kill(2) with our own child's pid and a signal number.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    stdin.write_all(b"SELECT 42 AS answer;\n").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert!(stdout(&output).ends_with("answer\n42\n"));
    assert!(!stdout(&output).contains("slow"));
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}

/// The same lake in S3 (moto, over the wire), written by `loglake backfill`: the same answers as
/// the local one, reading only what a query needs.
#[test]
fn an_s3_lake_answers_as_the_local_one() {
    let Some(endpoint) = aws_standin() else {
        return;
    };
    let bucket = "sql-lake";
    let (status, _) = http("PUT", &format!("{endpoint}/{bucket}"), b"");
    assert!(status < 300);
    let s3_lake = format!("s3://{bucket}/lake");
    stdout(&loglake(&["backfill", &sample(), "--dest", &s3_lake]));
    let dir = tempfile::tempdir().unwrap();
    let local_lake = dir.path().join("lake");
    let local_lake = local_lake.to_str().unwrap();
    stdout(&loglake(&["ingest", &sample(), "--out", local_lake]));

    let statements = [
        "SELECT status, count(*) AS n, sum(bytes_sent) AS bytes FROM access_logs GROUP BY 1 ORDER BY 1",
        "SELECT dt, hour, count(*) AS n FROM access_logs_unique GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT path, client_ip, source_line FROM access_logs WHERE dt = '2026-11-01' AND hour = 3 ORDER BY source_line",
    ];
    for statement in statements {
        let answer = |lake: &str| {
            stdout(&loglake(&[
                "sql", statement, "--lake", lake, "--format", "csv",
            ]))
        };
        let local = answer(local_lake);
        assert!(local.lines().count() > 2, "{statement}: {local}");
        assert_eq!(answer(&s3_lake), local, "{statement}");
    }
    // `rejects`: backfill's object a source, and one the ingest function wrote under
    // `rejects/dt=…/` (functions/ingest/src/lake_output.rs).
    let function_reject = json!({"source": "kinesis:shardId-000000000000:4961", "source_line": 7,
        "reason": "no_timestamp", "raw": "junk", "raw_encoding": "text", "raw_len": 4});
    let key = format!("{bucket}/lake/rejects/dt=2026-11-02/1792000000-0.ndjson");
    let (status, _) = http(
        "PUT",
        &format!("{endpoint}/{key}"),
        format!("{function_reject}\n").as_bytes(),
    );
    assert!(status < 300);
    let rejects = |lake: &str| {
        let sql = "SELECT source_line, reason, raw_len FROM rejects ORDER BY source_line DESC";
        stdout(&loglake(&["sql", sql, "--lake", lake, "--format", "csv"]))
    };
    let local = rejects(local_lake);
    assert_eq!(local.lines().count(), 2, "the sample's one reject: {local}");
    assert_eq!(rejects(&s3_lake), format!("{local}7,no_timestamp,4\n"));

    for report in [
        "top_paths",
        "traffic_by_hour",
        "entry_exit_pages",
        "security_summary",
    ] {
        let answer = |lake: &str| {
            stdout(&loglake(&[
                "query", report, "--lake", lake, "--format", "json",
            ]))
        };
        assert_eq!(answer(&s3_lake), answer(local_lake), "{report}");
    }

    // One hour's rows: its partition alone is read, a fraction of the lake's bytes.
    let lake_bytes: usize = (s3_objects(&endpoint, bucket).iter())
        .filter(|(key, _)| key.ends_with(".parquet"))
        .map(|(_, body)| body.len())
        .sum();
    let output = loglake(&[
        "sql",
        "SELECT count(*) AS n FROM access_logs WHERE dt = '2026-11-01' AND hour = 3",
        "--lake",
        &s3_lake,
        "--format",
        "csv",
    ]);
    assert_eq!(
        stdout(&output),
        format!("n\n{}\n", in_sample_hour("01/Nov/2026:03:"))
    );
    let fetched = fetched_bytes(&String::from_utf8_lossy(&output.stderr));
    assert!(
        fetched > 0 && fetched * 10 < lake_bytes,
        "{fetched} of {lake_bytes} bytes"
    );
    // A report over every hour fetches each file once at most: a small file that its footer's
    // read brought whole is not fetched again column by column.
    let output = loglake(&["query", "top_paths", "--lake", &s3_lake]);
    let fetched = fetched_bytes(&String::from_utf8_lossy(&output.stderr));
    assert!(fetched <= lake_bytes, "{fetched} of {lake_bytes} bytes");

    // A folder of more than one page of ListObjectsV2 (1,000 keys): 1,001 writes in progress
    // (`.NAME.parquet.tmp`) list before the hour's one file, which is still found.
    let hour = format!("{bucket}/lake/access_logs/dt=2026-10-31/hour=23");
    for n in 0..1001 {
        let url = format!("{endpoint}/{hour}/.{n:04}.parquet.tmp");
        assert!(http("PUT", &url, b"").0 < 300);
    }
    let count = "SELECT count(*) AS n FROM access_logs WHERE dt = '2026-10-31'";
    let output = loglake(&["sql", count, "--lake", &s3_lake, "--format", "csv"]);
    assert_eq!(
        stdout(&output),
        format!("n\n{}\n", in_sample_hour("31/Oct/2026:23:"))
    );
}

/// The bytes a command's note says it fetched from S3.
fn fetched_bytes(stderr: &str) -> usize {
    stderr
        .split("fetched ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no fetched bytes in {stderr}"))
}

/// `--tz`: `ts` shown and counted in the zone, the partitions still the UTC ones.
#[test]
fn timestamps_in_a_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let in_tokyo = |statement: &str| {
        stdout(&loglake(&[
            "sql",
            statement,
            "--lake",
            &lake,
            "--tz",
            "Asia/Tokyo",
            "--format",
            "csv",
        ]))
    };
    // 03:00–03:59 UTC on the 1st is noon in Tokyo (UTC+9, no summer time).
    let noon = in_tokyo(
        "SELECT count(*) AS n FROM access_logs WHERE dt = '2026-11-01' AND date_part('hour', ts) = 12",
    );
    assert_eq!(noon, format!("n\n{}\n", in_sample_hour("01/Nov/2026:03:")));
    let first = in_tokyo(
        "SELECT ts, hour FROM access_logs WHERE dt = '2026-11-01' AND hour = 3 ORDER BY ts LIMIT 1",
    );
    let row = first.lines().nth(1).unwrap();
    assert!(
        row.starts_with("2026-11-01T12:") && row.ends_with("+09:00,3"),
        "{row}"
    );
    let output = loglake(&["sql", "SELECT 1", "--lake", &lake, "--tz", "Mars/Olympus"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Invalid timezone"));
}

/// A shell reads the lake as it is at each statement: files written meanwhile (by `loglake
/// ship`, say) are counted, as DataFusion's own listing cache would not have them.
#[test]
fn a_shell_sees_files_written_after_it_started() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let mut shell = Command::new(env!("CARGO_BIN_EXE_loglake"))
        .args(["sql", "--lake", &lake, "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = shell.stdin.take().unwrap();
    let mut output = BufReader::new(shell.stdout.take().unwrap());
    let mut count = || {
        writeln!(input, "SELECT count(*) AS n FROM access_logs;").unwrap();
        let (mut header, mut value) = (String::new(), String::new());
        output.read_line(&mut header).unwrap();
        output.read_line(&mut value).unwrap();
        assert_eq!(header, "n\n");
        value.trim().parse::<u64>().unwrap()
    };
    let before = count();
    let copy = dir.path().join("copy.log");
    std::fs::copy(sample(), &copy).unwrap();
    stdout(&loglake(&[
        "ingest",
        "--out",
        &lake,
        copy.to_str().unwrap(),
    ]));
    assert_eq!(count(), before * 2);
    drop(input); // (the end of the script: the shell ends)
    assert!(shell.wait().unwrap().success());
}
