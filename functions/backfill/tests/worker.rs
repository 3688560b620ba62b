//! The Distributed Map worker's path, over the wire to the local AWS stand-in's S3: an
//! ItemBatcher event in, each object's outcome out, one bad object failing only itself.

#[path = "../../ingest/tests/support/http.rs"]
mod http;

use loglake_backfill::s3::S3;
use loglake_backfill::{summarize, Backfill};
use loglake_backfill_function::{MapBatch, WorkerResult};
use loglake_lake::Progress;
use serde_json::json;

use http::{aws_standin, http, s3_objects};

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
    let plan = batch.plan().unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(S3::client_from_env());
    let s3 = S3::new(client, runtime.handle().clone());
    let backfill = Backfill::new(plan.dest, Some(s3), plan.options).unwrap();
    let sources = backfill.run_each(&plan.sources, 2, &Progress::none());
    let result = WorkerResult {
        summary: summarize(&sources),
        sources,
    };
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
