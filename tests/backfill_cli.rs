//! `loglake backfill` end to end: the real binary, S3 over the wire (the local AWS stand-in that
//! scripts/test starts), and local directories; the lake read back with the `parquet` reader.

#[path = "../functions/ingest/tests/support/http.rs"]
mod http;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use http::{aws_standin, http, s3_objects};

fn loglake(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loglake"))
        .args(args)
        .output()
        .expect("run loglake")
}

/// Runs `backfill --json`; returns the summary after checking it reconciles.
fn backfill(args: &[&str]) -> (Value, Output) {
    let mut all = vec!["backfill", "--json", "--jobs", "2"];
    all.extend_from_slice(args);
    let output = loglake(&all);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "one JSON object ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let n = |k: &str| summary[k].as_u64().unwrap();
    assert_eq!(
        n("lines_in"),
        n("rows_out") + n("rejected") + n("out_of_range"),
        "{summary}"
    );
    (summary, output)
}

fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var_os("LOGLAKE_REQUIRE_SHARED_DATA").is_none());
    eprintln!("skipping: {} is missing", dir.display());
    None
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn read_parquet(bytes: Vec<u8>) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Every row as text (`name=value` for each column, nulls shown as such), sorted.
fn rows_as_text(batches: &[RecordBatch]) -> Vec<String> {
    let options = FormatOptions::default().with_null("<null>");
    let mut rows = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        let columns: Vec<(&str, ArrayFormatter)> = schema
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(field, column)| {
                let formatter = ArrayFormatter::try_new(column.as_ref(), &options).unwrap();
                (field.name().as_str(), formatter)
            })
            .collect();
        for row in 0..batch.num_rows() {
            let fields: Vec<String> = columns
                .iter()
                .map(|(name, values)| format!("{name}={}", values.value(row)))
                .collect();
            rows.push(fields.join("\t"));
        }
    }
    rows.sort();
    rows
}

/// `(source, source_line)` of every row and reject of an S3 lake, checking none repeats.
fn lake_lines(objects: &BTreeMap<String, Vec<u8>>) -> BTreeSet<(String, i64)> {
    let mut lines = BTreeSet::new();
    let mut insert = |source: &str, line: i64| {
        assert!(
            lines.insert((source.to_string(), line)),
            "{source}:{line} is in the lake twice"
        );
    };
    for (key, body) in objects {
        if key.ends_with(".parquet") {
            for batch in read_parquet(body.clone()) {
                let sources = batch.column_by_name("source").unwrap().as_string::<i32>();
                let numbers = batch
                    .column_by_name("source_line")
                    .unwrap()
                    .as_primitive::<Int64Type>();
                for row in 0..batch.num_rows() {
                    insert(sources.value(row), numbers.value(row));
                }
            }
        } else if key.contains("/rejects/") {
            for line in String::from_utf8_lossy(body).lines() {
                let reject: Value = serde_json::from_str(line).unwrap();
                insert(
                    reject["source"].as_str().unwrap(),
                    reject["source_line"].as_i64().unwrap(),
                );
            }
        }
    }
    lines
}

fn put(endpoint: &str, path: &str, body: &[u8]) {
    let (status, response) = http("PUT", &format!("{endpoint}/{path}"), body);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&response));
}

fn lake_objects(endpoint: &str, bucket: &str) -> BTreeMap<String, Vec<u8>> {
    s3_objects(endpoint, bucket)
        .into_iter()
        .filter(|(key, _)| !key.contains("/_loglake/"))
        .collect()
}

#[test]
fn s3_to_s3_every_line_once_and_reruns_change_nothing() {
    let (Some(endpoint), Some(data)) = (aws_standin(), shared_data()) else {
        return;
    };
    let src_bucket = "backfill-cli-src";
    let lake_bucket = "backfill-cli-lake";
    put(&endpoint, src_bucket, b"");
    put(&endpoint, lake_bucket, b"");

    // Real logs: plain and larger than a read chunk (2.4 MB), gzip, one of mostly rejects;
    // then an empty object and a cut gzip.
    let big = fs::read(data.join("access/elastic_apache_combined.log")).unwrap();
    let nginx = fs::read(data.join("access/nginx/crowdsec_http_dos_bypass_cache.log")).unwrap();
    let malformed = fs::read(data.join("access/malformed/lnav_bad_access_log.log")).unwrap();
    let cut = gzip(&nginx);
    let sources: Vec<(&str, Vec<u8>, usize)> = vec![
        ("logs/big.log", big.clone(), lines_count(&big)),
        ("logs/2024/nginx.log.gz", gzip(&nginx), lines_count(&nginx)),
        ("logs/bad.log", malformed.clone(), lines_count(&malformed)),
        ("logs/empty.log", Vec::new(), 0),
    ];
    for (key, body, _) in &sources {
        put(&endpoint, &format!("{src_bucket}/{key}"), body);
    }
    put(
        &endpoint,
        &format!("{src_bucket}/logs/cut.log.gz"),
        &cut[..cut.len() / 2],
    );

    let src = format!("s3://{src_bucket}/logs/");
    let dest = format!("s3://{lake_bucket}/lake");
    let (summary, output) = backfill(&[&src, "--dest", &dest]);
    assert!(!output.status.success(), "the cut gzip is an error");
    let errors = summary["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{summary}");
    assert_eq!(
        errors[0]["source"],
        format!("s3://{src_bucket}/logs/cut.log.gz")
    );
    assert_eq!(summary["sources_read"], 5);

    // Every line of every complete source is in the lake exactly once, as a row or a reject.
    let first = lake_objects(&endpoint, lake_bucket);
    let lines = lake_lines(&first);
    for (key, _, count) in &sources {
        let name = format!("s3://{src_bucket}/{key}");
        let found: Vec<i64> = lines
            .iter()
            .filter(|(s, _)| *s == name)
            .map(|(_, l)| *l)
            .collect();
        assert_eq!(found, (1..=*count as i64).collect::<Vec<_>>(), "{name}");
    }
    assert!(first
        .keys()
        .all(|k| k.starts_with("lake/access_logs/dt=") || k.starts_with("lake/rejects/")));
    assert!(first.keys().any(|k| k.starts_with("lake/rejects/")));

    // A re-run skips what is done (the cut source is read again) and changes nothing; so does
    // a forced re-run that reads everything.
    let (again, _) = backfill(&[&src, "--dest", &dest]);
    assert_eq!(
        (
            again["sources_skipped"].as_u64(),
            again["sources_read"].as_u64()
        ),
        (Some(4), Some(1))
    );
    assert_eq!(lake_objects(&endpoint, lake_bucket), first);
    let (forced, _) = backfill(&[&src, "--dest", &dest, "--force"]);
    assert_eq!(forced["sources_read"], 5);
    assert_eq!(lake_objects(&endpoint, lake_bucket), first);

    // A changed source replaces its own outputs, and only those.
    let changed: Vec<u8> = big[..big.len() / 3].to_vec();
    let changed = &changed[..=changed.iter().rposition(|&b| b == b'\n').unwrap()];
    put(&endpoint, &format!("{src_bucket}/logs/big.log"), changed);
    let (dry, _) = {
        let output = loglake(&["backfill", "--dry-run", "--json", &src, "--dest", &dest]);
        (
            serde_json::from_slice::<Value>(&output.stdout).unwrap(),
            output,
        )
    };
    let to_read: Vec<&str> = dry["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "read")
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(to_read.len(), 2, "big.log and the cut gzip: {dry}");
    backfill(&[&src, "--dest", &dest]);
    let after = lake_objects(&endpoint, lake_bucket);
    let big_id = loglake_lake::lake::source_id(&format!("s3://{src_bucket}/logs/big.log"));
    let is_big = |key: &str| key.contains(&big_id);
    let others = |objects: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> {
        objects
            .iter()
            .filter(|(k, _)| !is_big(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(others(&after), others(&first));
    let big_lines = lake_lines(&after)
        .into_iter()
        .filter(|(s, _)| s.ends_with("/logs/big.log"))
        .count();
    assert_eq!(big_lines, lines_count(changed));
    assert!(after
        .keys()
        .filter(|k| is_big(k))
        .all(|k| !first.contains_key(k)));
}

/// Runs `compact --json` on `lake`; returns the summary after checking it succeeded.
fn compact(lake: &str) -> Value {
    let output = loglake(&["compact", "--json", "--lake", lake]);
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{summary}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    summary
}

#[test]
fn compaction_in_s3_merges_small_files_and_replays_stay_exact() {
    let Some(endpoint) = aws_standin() else {
        return;
    };
    let (src_bucket, lake_bucket) = ("compact-cli-src", "compact-cli-lake");
    put(&endpoint, src_bucket, b"");
    put(&endpoint, lake_bucket, b"");
    // The bundled sample in ten small sources, as a CDN or load balancer leaves them: every
    // hour of the lake gets a small file from several sources.
    let sample = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample/access.log")).unwrap();
    let lines: Vec<&[u8]> = sample.split_inclusive(|&b| b == b'\n').collect();
    for (i, chunk) in lines.chunks(lines.len().div_ceil(10)).enumerate() {
        put(
            &endpoint,
            &format!("{src_bucket}/logs/part-{i:02}.log"),
            &chunk.concat(),
        );
    }
    let src = format!("s3://{src_bucket}/logs/");
    let dest = format!("s3://{lake_bucket}/lake");
    backfill(&[&src, "--dest", &dest]);
    let parquet = |objects: &BTreeMap<String, Vec<u8>>| {
        objects.keys().filter(|k| k.ends_with(".parquet")).count()
    };
    let before = lake_objects(&endpoint, lake_bucket);
    let lines_before = lake_lines(&before);
    assert_eq!(lines_before.len(), lines.len());

    let summary = compact(&dest);
    let after = lake_objects(&endpoint, lake_bucket);
    assert_eq!(
        lake_lines(&after),
        lines_before,
        "every line once: {summary}"
    );
    let merged = summary["files_in"].as_u64().unwrap() - summary["files_out"].as_u64().unwrap();
    assert!(merged > 0, "{summary}");
    assert_eq!(parquet(&after), parquet(&before) - merged as usize);
    assert!(after.keys().any(|k| k.contains("/compacted-")));
    // Nothing left to merge: a re-run changes nothing.
    assert_eq!(compact(&dest)["partitions_compacted"], 0);
    assert_eq!(lake_objects(&endpoint, lake_bucket), after);

    // A forced replay of every source moves their rows out of the merged files again.
    backfill(&[&src, "--dest", &dest, "--force"]);
    let replayed = lake_objects(&endpoint, lake_bucket);
    assert_eq!(lake_lines(&replayed), lines_before);
    assert!(!replayed.keys().any(|k| k.contains("/compacted-")));
}

#[test]
fn ingest_and_backfill_write_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample/access.log");
    let input = dir.path().join("access.log");
    fs::copy(&sample, &input).unwrap();
    let (ingested, backfilled) = (dir.path().join("ingested"), dir.path().join("backfilled"));
    let output = loglake(&[
        "ingest",
        "--out",
        ingested.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    let (summary, output) = backfill(&[
        input.to_str().unwrap(),
        "--dest",
        backfilled.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{summary}");
    let read_lake = |root: &Path| -> Vec<String> {
        let mut batches = Vec::new();
        let mut stack = vec![root.join("access_logs")];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    batches.extend(read_parquet(fs::read(path).unwrap()));
                }
            }
        }
        rows_as_text(&batches)
    };
    let rows = read_lake(&ingested);
    assert_eq!(rows.len() as u64, summary["rows_out"].as_u64().unwrap());
    assert!(!rows.is_empty());
    assert_eq!(rows, read_lake(&backfilled));
}

#[test]
fn a_time_range_writes_only_its_hours_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("access.log");
    fs::write(
        &input,
        "1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] \"GET /a HTTP/1.1\" 200 1 \"-\" \"curl/8\"\n\
         1.2.3.4 - - [10/Oct/2020:11:30:00 +0000] \"GET /b HTTP/1.1\" 200 1 \"-\" \"curl/8\"\n\
         1.2.3.4 - - [11/Oct/2020:00:00:00 +0000] \"GET /c HTTP/1.1\" 200 1 \"-\" \"curl/8\"\n",
    )
    .unwrap();
    let lake = dir.path().join("lake");
    let (summary, _) = backfill(&[
        input.to_str().unwrap(),
        "--dest",
        lake.to_str().unwrap(),
        "--since",
        "2020-10-10T11:00:00Z",
        "--until",
        "2020-10-11",
    ]);
    assert_eq!(
        (
            summary["rows_out"].as_u64(),
            summary["out_of_range"].as_u64()
        ),
        (Some(1), Some(2))
    );
    assert!(lake.join("access_logs/dt=2020-10-10/hour=11").is_dir());
    assert!(!lake.join("access_logs/dt=2020-10-10/hour=10").exists());

    let output = loglake(&[
        "backfill",
        input.to_str().unwrap(),
        "--dest",
        "x",
        "--since",
        "yesterday",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("YYYY-MM-DD"));
}

/// Lines as the parser counts them: newline-terminated, plus a last unterminated one.
fn lines_count(data: &[u8]) -> usize {
    let newlines = data.iter().filter(|&&b| b == b'\n').count();
    newlines + usize::from(!data.is_empty() && !data.ends_with(b"\n"))
}
