//! The Athena runner over the wire: against a stand-in speaking Athena's JSON protocol on
//! loopback (queued and running states, paginated results, failures), and against the local AWS
//! stand-in (moto) for the whole request/poll/results cycle.

#[path = "../../functions/ingest/tests/support/http.rs"]
mod http;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_athena::config::{BehaviorVersion, Credentials, Region};
use http::{aws_standin, serve, HttpResponse};
use loglake_queries::athena::{run_query, AthenaError, AthenaTarget, PollPolicy};
use loglake_queries::{report, Cell, DateRange};
use serde_json::{json, Value};

fn client(endpoint: &str) -> aws_sdk_athena::Client {
    let config = aws_sdk_athena::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_athena::Client::from_conf(config)
}

fn target() -> AthenaTarget {
    AthenaTarget {
        workgroup: "primary".into(),
        database: "loglake".into(),
        output: Some("s3://results/athena/".into()),
    }
}

fn fast_poll() -> PollPolicy {
    PollPolicy {
        first_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn datum(value: Option<&str>) -> Value {
    match value {
        Some(v) => json!({"VarCharValue": v}),
        None => json!({}),
    }
}

/// An Athena stand-in: the query is QUEUED, RUNNING, then ends in `final_state`; results come
/// in pages of two rows.
fn fake_athena(final_state: &'static str, calls: Arc<Mutex<Vec<(String, Value)>>>) -> String {
    let polls = AtomicUsize::new(0);
    let rows: Vec<Vec<Option<&'static str>>> = vec![
        vec![Some("path"), Some("requests")],
        vec![Some("/a"), Some("30")],
        vec![Some("/b"), Some("20")],
        vec![None, Some("10")],
        vec![Some("/d"), Some("5")],
    ];
    let addr = serve(move |request| {
        let target = request.headers["x-amz-target"].clone();
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        calls.lock().unwrap().push((target.clone(), body.clone()));
        let answer = match target.as_str() {
            "AmazonAthena.StartQueryExecution" => json!({"QueryExecutionId": "q-1"}),
            "AmazonAthena.GetQueryExecution" => {
                let state = match polls.fetch_add(1, Ordering::SeqCst) {
                    0 => "QUEUED",
                    1 => "RUNNING",
                    _ => final_state,
                };
                json!({"QueryExecution": {
                    "QueryExecutionId": "q-1",
                    "Status": {"State": state, "StateChangeReason": "SYNTAX_ERROR: line 1:8: Column 'nope' cannot be resolved",
                               "AthenaError": {"ErrorCategory": 2, "ErrorMessage": "COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved"}},
                    "Statistics": {"DataScannedInBytes": 123_456_789, "EngineExecutionTimeInMillis": 850},
                    "ResultConfiguration": {"OutputLocation": "s3://results/athena/q-1.csv"}
                }})
            }
            "AmazonAthena.GetQueryResults" => {
                let page: usize = body["NextToken"].as_str().map_or(0, |t| t.parse().unwrap());
                let page_rows: Vec<Value> = rows
                    .iter()
                    .skip(page * 2)
                    .take(2)
                    .map(|r| json!({"Data": r.iter().map(|v| datum(*v)).collect::<Vec<_>>()}))
                    .collect();
                let mut answer = json!({"ResultSet": {
                    "Rows": page_rows,
                    "ResultSetMetadata": {"ColumnInfo": [
                        {"Name": "path", "Type": "varchar"},
                        {"Name": "requests", "Type": "bigint"}
                    ]}
                }});
                if (page + 1) * 2 < rows.len() {
                    answer["NextToken"] = json!((page + 1).to_string());
                }
                answer
            }
            other => panic!("unexpected call {other}"),
        };
        HttpResponse::json(200, &answer)
    });
    format!("http://{addr}")
}

#[test]
fn a_report_runs_polls_and_reads_every_page() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let endpoint = fake_athena("SUCCEEDED", Arc::clone(&calls));
    let report = report("top_paths").unwrap();
    let range = DateRange::new("2026-11-01", "2026-11-07").unwrap();
    let result = runtime()
        .block_on(run_query(
            &client(&endpoint),
            &target(),
            report.sql,
            &range.parameters(),
            fast_poll(),
        ))
        .unwrap();
    assert_eq!(result.table.columns, ["path", "requests"]);
    assert_eq!(
        result.table.rows,
        [
            vec![Cell::Text("/a".into()), Cell::Int(30)],
            vec![Cell::Text("/b".into()), Cell::Int(20)],
            vec![Cell::Null, Cell::Int(10)],
            vec![Cell::Text("/d".into()), Cell::Int(5)],
        ]
    );
    assert_eq!(result.data_scanned_bytes, 123_456_789);
    assert!((result.cost_usd() - 123_456_789.0 / 1e12 * 5.0).abs() < 1e-12);

    let calls = calls.lock().unwrap();
    let start = &calls[0];
    assert_eq!(start.0, "AmazonAthena.StartQueryExecution");
    // the same SQL text as the file, the range as execution parameters
    assert_eq!(start.1["QueryString"], report.sql);
    assert_eq!(
        start.1["ExecutionParameters"],
        json!(["'2026-11-01'", "'2026-11-07'"])
    );
    assert_eq!(start.1["WorkGroup"], "primary");
    assert_eq!(start.1["QueryExecutionContext"]["Database"], "loglake");
    let polls = calls
        .iter()
        .filter(|c| c.0 == "AmazonAthena.GetQueryExecution")
        .count();
    assert_eq!(polls, 3, "queued, running, succeeded");
    let pages = calls
        .iter()
        .filter(|c| c.0 == "AmazonAthena.GetQueryResults")
        .count();
    assert_eq!(pages, 3);
}

#[test]
fn a_failed_query_reports_athenas_reason() {
    let endpoint = fake_athena("FAILED", Arc::default());
    let error = runtime()
        .block_on(run_query(
            &client(&endpoint),
            &target(),
            "SELECT nope FROM access_logs",
            &[],
            fast_poll(),
        ))
        .unwrap_err();
    assert_eq!(
        error,
        AthenaError::QueryFailed {
            state: "failed".into(),
            reason: "COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved".into()
        }
    );
}

#[test]
fn a_query_that_never_ends_times_out() {
    let endpoint = fake_athena("RUNNING", Arc::default());
    let poll = PollPolicy {
        timeout: Duration::from_millis(100),
        ..fast_poll()
    };
    let error = runtime()
        .block_on(run_query(
            &client(&endpoint),
            &target(),
            "SELECT 1",
            &[],
            poll,
        ))
        .unwrap_err();
    assert!(matches!(error, AthenaError::Timeout(_)));
}

#[test]
fn the_cycle_runs_against_the_local_aws_standin() {
    let Some(endpoint) = aws_standin() else {
        return;
    };
    // moto answers every query with results queued through its API.
    let canned = json!({
        "account_id": "123456789012",
        "region": "us-east-1",
        "results": [{
            "rows": [
                {"Data": [{"VarCharValue": "ua_name"}, {"VarCharValue": "requests"}]},
                {"Data": [{"VarCharValue": "Googlebot"}, {"VarCharValue": "42"}]}
            ],
            "column_info": [
                {"Name": "ua_name", "Type": "varchar", "CatalogName": "hive", "SchemaName": "loglake",
                 "TableName": "access_logs", "Label": "ua_name", "Precision": 0, "Scale": 0,
                 "Nullable": "UNKNOWN", "CaseSensitive": true},
                {"Name": "requests", "Type": "bigint", "CatalogName": "hive", "SchemaName": "loglake",
                 "TableName": "access_logs", "Label": "requests", "Precision": 0, "Scale": 0,
                 "Nullable": "UNKNOWN", "CaseSensitive": false}
            ]
        }]
    });
    let (status, body) = http::http(
        "POST",
        &format!("{endpoint}/moto-api/static/athena/query-results"),
        canned.to_string().as_bytes(),
    );
    assert!(status < 300, "{}", String::from_utf8_lossy(&body));
    let report = report("bots").unwrap();
    let range = DateRange::new("2026-11-01", "2026-11-01").unwrap();
    let result = runtime()
        .block_on(run_query(
            &client(&endpoint),
            &target(),
            report.sql,
            &range.parameters(),
            fast_poll(),
        ))
        .unwrap();
    assert_eq!(result.table.columns, ["ua_name", "requests"]);
    assert_eq!(
        result.table.rows,
        [vec![Cell::Text("Googlebot".into()), Cell::Int(42)]]
    );
}
