//! The worker's paths, over the wire to the local AWS stand-in's S3: an ItemBatcher event in,
//! each object's outcome out, one bad object failing only itself; and an S3 notification of an
//! ALB log delivered, read once however often it is notified; and the real `backfill` binary
//! under the Lambda Runtime API emulator, with its settings.

#[path = "../../ingest/tests/support/http.rs"]
mod http;
#[path = "../../ingest/tests/support/runtime_api.rs"]
mod runtime_api;

use loglake_backfill::compact::compact;
use loglake_backfill::s3::S3;
use loglake_backfill::{summarize, Backfill};
use loglake_backfill_function::{
    BackfillEvent, MapBatch, NotificationSettings, WorkerPlan, WorkerResult,
};
use loglake_lake::Progress;
use serde_json::json;
use std::collections::BTreeSet;

use http::{aws_standin, http, s3_objects};

/// What `main.rs` does with a plan.
fn run(plan: WorkerPlan) -> WorkerResult {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(S3::client_from_env());
    let s3 = S3::new(client, runtime.handle().clone());
    let backfill = Backfill::new(plan.dest, Some(s3), plan.options).unwrap();
    let sources = backfill.run_each(&plan.sources, 2, &Progress::none());
    WorkerResult {
        summary: summarize(&sources),
        sources,
    }
}

fn put(endpoint: &str, path: &str, body: &[u8]) {
    let (status, response) = http("PUT", &format!("{endpoint}/{path}"), body);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&response));
}

const LINES: &str = "\
203.0.113.9 - - [10/Oct/2020:13:55:36 -0700] \"GET /index.html HTTP/1.1\" 200 2326 \"-\" \"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\"
garbage line
203.0.113.9 - - [10/Oct/2020:14:01:02 -0700] \"GET /about HTTP/1.1\" 404 12 \"-\" \"curl/8.4.0\"
";

#[test]
fn a_batch_of_objects_with_one_bad_one() {
    let Some(endpoint) = aws_standin() else {
        return;
    };
    put(&endpoint, "worker-src", b"");
    put(&endpoint, "worker-lake", b"");
    put(&endpoint, "worker-src/2020/a.log", LINES.as_bytes());
    let event = json!({
        "Items": [
            {"Key": "2020/a.log", "Size": LINES.len(), "Etag": "\"v1\""},
            {"Key": "2020/missing.log", "Size": 10, "Etag": "\"v1\""},
        ],
        "BatchInput": {"bucket": "worker-src", "dest": "s3://worker-lake/lake/"},
    });
    let batch: MapBatch = serde_json::from_value(event).unwrap();
    let result = run(batch.plan().unwrap());
    assert!(!result.all_failed());
    let json = serde_json::to_value(&result).unwrap();
    assert_eq!(json["lines_in"], 3, "{json}");
    assert_eq!(json["rows_out"], 2);
    assert_eq!(json["rejected"], 1);
    assert_eq!(json["sources"][0]["error"], serde_json::Value::Null);
    let error = json["sources"][1]["error"].as_str().unwrap();
    assert!(
        error.contains("GetObject s3://worker-src/2020/missing.log"),
        "{error}"
    );

    let keys: Vec<String> = s3_objects(&endpoint, "worker-lake")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    // 13:55 and 14:01 at -0700 are 20:55 and 21:01 UTC: two hourly files, the rejects and the
    // manifest of the finished object.
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(keys
        .iter()
        .any(|k| k.starts_with("lake/access_logs/dt=2020-10-10/hour=20/a.log-")));
    assert!(keys
        .iter()
        .any(|k| k.starts_with("lake/access_logs/dt=2020-10-10/hour=21/a.log-")));
    assert!(keys
        .iter()
        .any(|k| k.starts_with("lake/_loglake/backfill/a.log-")));
}

#[test]
fn an_alb_log_notified_twice_is_read_once() {
    let Some(endpoint) = aws_standin() else {
        return;
    };
    put(&endpoint, "alb-logs", b"");
    put(&endpoint, "alb-lake", b"");
    let log = "\
https 2026-10-10T13:55:36.094015Z app/my-alb/50dc6c495c0c9188 203.0.113.9:51234 10.0.0.7:80 0.000 0.012 0.000 200 200 48 2326 \"GET https://shop.example.com:443/a?b=1 HTTP/1.1\" \"curl/8.5.0\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067 \"Root=1-58337262-36d228ad5d99923122bbe354\" \"shop.example.com\" \"-\" 0 2026-10-10T13:55:36.081000Z \"forward\" \"-\" \"-\" \"10.0.0.7:80\" \"200\" \"-\" \"-\"
not an alb line
";
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzip, log.as_bytes()).unwrap();
    let key = "AWSLogs/123456789012/elasticloadbalancing/us-east-1/2026/10/10/my alb.log.gz";
    put(
        &endpoint,
        &format!("alb-logs/{}", key.replace(' ', "%20")),
        &gzip.finish().unwrap(),
    );
    let notification = json!({"Records": [{
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "alb-logs"},
               "object": {"key": key.replace(' ', "+"), "size": 1, "eTag": "e1"}},
    }]});
    let settings = NotificationSettings::from_vars(|name| match name {
        "LAKE_DEST" => Some("s3://alb-lake/lake/".into()),
        "LOG_FORMAT" => Some("alb".into()),
        _ => None,
    })
    .unwrap();
    let plan = || match serde_json::from_value(notification.clone()).unwrap() {
        BackfillEvent::ObjectsCreated(event) => event.plan(&settings),
        other => panic!("read as {other:?}"),
    };

    let first = serde_json::to_value(run(plan())).unwrap();
    assert_eq!(
        (&first["lines_in"], &first["rows_out"], &first["rejected"]),
        (&json!(2), &json!(1), &json!(1)),
        "{first}"
    );
    let lake = || s3_objects(&endpoint, "alb-lake");
    let written = lake();
    assert!(written
        .iter()
        .any(|(k, _)| k.starts_with("lake/access_logs/dt=2026-10-10/hour=13/")));
    // S3 delivers notifications at least once: a second one reads nothing and changes nothing.
    let again = serde_json::to_value(run(plan())).unwrap();
    assert_eq!(again["sources"][0]["skipped"], true, "{again}");
    assert_eq!(lake(), written);
    // The same object announced through EventBridge (a bucket the stack did not create) is the
    // same source: read once.
    let announced = json!({
        "detail-type": "Object Created", "source": "aws.s3",
        "detail": {"bucket": {"name": "alb-logs"}, "object": {"key": key, "size": 1, "etag": "e1"}},
    });
    let BackfillEvent::ObjectCreated(event) = serde_json::from_value(announced).unwrap() else {
        panic!("not read as an EventBridge event");
    };
    let third = serde_json::to_value(run(event.plan(&settings))).unwrap();
    assert_eq!(third["sources"][0]["skipped"], true, "{third}");
    assert_eq!(lake(), written);
}

#[test]
fn the_scheduled_compaction_merges_the_hours_that_have_settled() {
    let Some(endpoint) = aws_standin() else {
        return;
    };
    put(&endpoint, "compact-worker-logs", b"");
    put(&endpoint, "compact-worker-lake", b"");
    // Three small logs, as a load balancer leaves them, each with rows in hours 20 and 21 UTC.
    for part in 0..3 {
        let lines: String = (0..4)
            .map(|i| format!("203.0.113.{part} - - [10/Oct/2020:{}:0{i}:0{part} +0000] \"GET /{i} HTTP/1.1\" 200 5 \"-\" \"curl/8\"\n", 20 + i % 2))
            .collect();
        put(
            &endpoint,
            &format!("compact-worker-logs/p{part}.log"),
            lines.as_bytes(),
        );
    }
    let batch = json!({
        "Items": [{"Key": "p0.log"}, {"Key": "p1.log"}, {"Key": "p2.log"}],
        "BatchInput": {"bucket": "compact-worker-logs", "dest": "s3://compact-worker-lake/lake/"},
    });
    let BackfillEvent::Batch(batch) = serde_json::from_value(batch).unwrap() else {
        panic!("a batch");
    };
    run(batch.plan().unwrap());
    // The rejects objects the ingest function leaves that day, one per batch with a junk line
    // (the second twice: the batch was delivered again and written under a new name as well).
    let reject = |sequence: u32| {
        format!("{{\"source\":\"kinesis:web/shardId-000000000000/{sequence}\",\"source_line\":1,\"reason\":\"no_timestamp\",\"raw\":\"junk {sequence}\",\"raw_len\":7}}\n")
    };
    for (name, sequences) in [("b1", 1..3), ("b2", 3..5), ("b3", 5..6), ("b2-again", 3..5)] {
        let body: String = sequences.map(reject).collect();
        let key = format!("compact-worker-lake/lake/rejects/dt=2020-10-10/{name}.ndjson");
        put(&endpoint, &key, body.as_bytes());
    }
    let files = |hour: &str| {
        s3_objects(&endpoint, "compact-worker-lake")
            .into_iter()
            .filter(|(k, _)| k.starts_with(&format!("lake/access_logs/dt=2020-10-10/hour={hour}/")))
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
    };
    assert_eq!((files("20").len(), files("21").len()), (3, 3));

    // At 22:10 only hour 20 has settled: an hour after it ended; hour 21 settles at 23:00.
    let event = json!({"compact": {"lake": "s3://compact-worker-lake/lake/"}});
    let BackfillEvent::Compact(event) = serde_json::from_value(event).unwrap() else {
        panic!("a compaction");
    };
    let now = loglake_parser::parse_utc_instant("2020-10-10T22:10:00Z").unwrap();
    let (lake, options) = event.compact.plan(now).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let s3 = S3::new(
        runtime.block_on(S3::client_from_env()),
        runtime.handle().clone(),
    );
    let summary = compact(&lake, Some(&s3), &options).unwrap();
    assert_eq!(
        (summary.partitions_compacted, summary.rows),
        (1, 6),
        "{summary:?}"
    );
    let merged = files("20");
    assert_eq!(merged.len(), 1);
    assert!(merged[0].contains("/compacted-"));
    assert_eq!(files("21").len(), 3);
    let rejects: Vec<(String, Vec<u8>)> = s3_objects(&endpoint, "compact-worker-lake")
        .into_iter()
        .filter(|(key, _)| key.starts_with("lake/rejects/dt=2020-10-10/"))
        .collect();
    // The two deliveries of one batch merged together, the other two objects together.
    assert_eq!(rejects.len(), 2, "two merged objects");
    let lines: BTreeSet<&str> = (rejects.iter())
        .flat_map(|(_, body)| std::str::from_utf8(body).unwrap().lines())
        .collect();
    assert_eq!(lines.len(), 5, "each junk line once: {lines:?}");
    assert_eq!(
        (summary.rejects_files_in, summary.rejects_duplicates_dropped),
        (4, 2)
    );
}

/// Compaction deletes an input only if it is still the version it merged: S3's conditional
/// delete, as moto answers it (412 for another version, 404 for none, as AWS documents).
#[test]
fn a_delete_of_the_version_read_leaves_a_rewritten_object() {
    let Some(endpoint) = aws_standin() else {
        return;
    };
    put(&endpoint, "conditional-delete", b"");
    put(&endpoint, "conditional-delete/f.parquet", b"first delivery");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let s3 = S3::new(
        runtime.block_on(S3::client_from_env()),
        runtime.handle().clone(),
    );
    let (_, read) = s3.open_version("conditional-delete", "f.parquet").unwrap();
    put(
        &endpoint,
        "conditional-delete/f.parquet",
        b"the whole batch again",
    );
    assert!(!s3
        .delete_if_match("conditional-delete", "f.parquet", &read)
        .unwrap());
    let (_, now) = s3.open_version("conditional-delete", "f.parquet").unwrap();
    assert_ne!(now, read);
    assert!(s3
        .delete_if_match("conditional-delete", "f.parquet", &now)
        .unwrap());
    assert!(s3_objects(&endpoint, "conditional-delete").is_empty());
    assert!(
        s3.delete_if_match("conditional-delete", "f.parquet", &now)
            .unwrap(),
        "gone already"
    );
}

/// Real access-log lines with real addresses (the shared Apache log) when present, else the
/// sample's (documentation addresses, which have no country).
fn real_log(lines: usize) -> (String, bool) {
    let repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shared = repository.join("../shared/data/access/elastic_apache_combined.log");
    let (path, real) = match shared.exists() {
        true => (shared, true),
        false => {
            assert!(
                std::env::var_os("LOGLAKE_REQUIRE_SHARED_DATA").is_none(),
                "LOGLAKE_REQUIRE_SHARED_DATA is set but {} is missing",
                shared.display()
            );
            (repository.join("sample/access.log"), false)
        }
    };
    let text = std::fs::read_to_string(path).unwrap();
    let mut out: String = text.lines().take(lines).collect::<Vec<_>>().join("\n");
    out.push('\n');
    (out, real)
}

/// The `backfill` binary as Lambda runs it: a Distributed Map batch in, its settings
/// (`ANONYMIZE_IP`, the enrichment data) from the environment, the lake written over the wire.
#[test]
fn the_binary_backfills_a_batch_with_the_settings_lambda_gives_it() {
    use arrow::array::{Array, AsArray};
    use runtime_api::*;

    let Some(endpoint) = aws_standin() else {
        return;
    };
    let (log, real) = real_log(80);
    put(&endpoint, "bootstrap-backfill-src", b"");
    put(&endpoint, "bootstrap-backfill-lake", b"");
    put(&endpoint, "bootstrap-backfill-src/a.log", log.as_bytes());
    let event = json!({
        "Items": [{"Key": "a.log"}],
        "BatchInput": {"bucket": "bootstrap-backfill-src", "dest": "s3://bootstrap-backfill-lake/lake/"},
    });
    let (api, calls) = runtime_api(event);
    let mut command = lambda_command(env!("CARGO_BIN_EXE_backfill"), &api, &endpoint);
    command.env("ANONYMIZE_IP", "truncate");
    let enrichment = pass_enrichment(&mut command);
    let response = invoke_once(command, &calls);
    assert_eq!(response["rows_out"], 80, "{response}");

    let expected: std::collections::BTreeSet<String> = log
        .lines()
        .map(|line| truncated(line.split(' ').next().unwrap()))
        .collect();
    let (mut clients, mut countries) = (std::collections::BTreeSet::new(), 0);
    for (key, data) in s3_objects(&endpoint, "bootstrap-backfill-lake") {
        if !key.starts_with("lake/access_logs/") {
            continue;
        }
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            bytes::Bytes::from(data),
        )
        .unwrap()
        .build()
        .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let client = batch["client_ip"].as_string::<i32>();
            clients.extend(client.iter().flatten().map(str::to_string));
            countries += batch["country"].len() - batch["country"].null_count();
        }
    }
    assert_eq!(clients, expected, "every address truncated");
    if real && enrichment {
        assert!(
            countries > 0,
            "no row has a country: the enrichment data was not loaded"
        );
    }
}
