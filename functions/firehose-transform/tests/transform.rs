//! The Firehose transformation: one output per record, the right result and partition keys,
//! every line accounted for, and the response within Lambda's limit.

#[path = "../../ingest/tests/support/mod.rs"]
mod support;

use base64::Engine;
use loglake_decode::DecoderOptions;
use loglake_firehose_transform::{
    transform, FirehoseEvent, DROPPED, OK, PROCESSING_FAILED, RESPONSE_BUDGET_BYTES,
};
use serde_json::Value;
use support::*;

/// A transformation event for records read from a Kinesis stream.
fn firehose_event(records: &[Vec<u8>]) -> FirehoseEvent {
    serde_json::from_value(firehose_event_json(records)).unwrap()
}

fn rows_of(record: &Value) -> Vec<Value> {
    let data = base64::engine::general_purpose::STANDARD
        .decode(record["data"].as_str().unwrap())
        .unwrap();
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

const AT_10_59: &str =
    r#"1.2.3.4 - - [22/Nov/2026:10:59:58 +0000] "GET /a HTTP/1.1" 200 10 "-" "curl/8.0""#;
const AT_11_00: &str =
    r#"1.2.3.4 - - [22/Nov/2026:12:00:01 +0100] "GET /b HTTP/1.1" 200 10 "-" "curl/8.0""#;
const AT_03_00: &str =
    r#"1.2.3.4 - - [22/Nov/2026:03:00:01 +0000] "GET /c HTTP/1.1" 200 10 "-" "curl/8.0""#;

#[test]
fn every_record_gets_exactly_one_result() {
    let records = vec![
        format!("{AT_10_59}\n{AT_11_00}\n").into_bytes(),
        cloudwatch_control_message(),
        b"\x00\x01 binary junk, no log line here\n".to_vec(),
        gzip(format!("{AT_11_00}\nnot a log line\n").as_bytes()),
        Vec::new(),
        kpl_aggregate(&[AT_10_59.as_bytes()]),
        b"\x1f\x8b\x08\x00 cut gzip".to_vec(),
        AT_03_00.as_bytes().to_vec(),
    ];
    let event = firehose_event(&records);
    let (response, stats) = transform(&event, DecoderOptions::default());
    let response = serde_json::to_value(&response).unwrap();
    let out = response["records"].as_array().unwrap();
    assert_eq!(out.len(), records.len());
    let results: Vec<(&str, &str)> = out
        .iter()
        .map(|r| {
            (
                r["recordId"].as_str().unwrap(),
                r["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("rec-0", OK),
            ("rec-1", DROPPED),
            ("rec-2", PROCESSING_FAILED),
            ("rec-3", OK),
            ("rec-4", DROPPED),
            ("rec-5", OK),
            ("rec-6", PROCESSING_FAILED),
            ("rec-7", OK),
        ]
    );
    // Rows spanning two hours: the record goes to the partition of its earliest row, and each
    // row keeps its own time.
    assert_eq!(out[0]["metadata"]["partitionKeys"]["dt"], "2026-11-22");
    assert_eq!(out[0]["metadata"]["partitionKeys"]["hour"], "10");
    let rows = rows_of(&out[0]);
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (
            &rows[0][loglake_stream::json_key("ts")].as_str().unwrap()[11..13],
            &rows[1][loglake_stream::json_key("ts")].as_str().unwrap()[11..13]
        ),
        ("10", "11")
    );
    assert_eq!(out[3]["metadata"]["partitionKeys"]["hour"], "11");
    // two digits, as in the lake's layout (hour=03)
    assert_eq!(out[7]["metadata"]["partitionKeys"]["hour"], "03");
    assert_eq!(rows_of(&out[3]).len(), 1);
    assert_eq!(
        rows[0][loglake_stream::json_key("source")],
        format!(
            "kinesis:web-logs/shardId-000000000001/{}",
            sequence_number(0)
        )
    );

    let s = &stats.stream;
    assert_eq!(s.lines_in, s.rows_out + s.rejected);
    assert_eq!(s.rows_out, 5);
    assert_eq!(s.rejects_by_reason["bad_gzip"], 1);
    assert_eq!(s.control_messages, 1);
    assert_eq!((stats.ok, stats.dropped, stats.failed), (4, 2, 2));
}

#[test]
fn bad_base64_fails_only_its_record() {
    let mut event = firehose_event(&[AT_10_59.as_bytes().to_vec(), AT_11_00.as_bytes().to_vec()]);
    event.records[0].data = "%%% not base64".into();
    let (response, stats) = transform(&event, DecoderOptions::default());
    let results: Vec<&str> = response
        .records
        .iter()
        .map(|r| r.result.as_deref().unwrap())
        .collect();
    assert_eq!(results, [PROCESSING_FAILED, OK]);
    assert_eq!(stats.stream.rejects_by_reason["bad_base64"], 1);
}

#[test]
fn the_response_stays_under_lambdas_6_mb_limit() {
    // About 6 MB of log lines: their JSON rows alone would be several times the limit.
    let lines = sample_lines();
    let record: Vec<u8> = lines[..300].join("\n").into_bytes();
    let count = 6_000_000 / record.len();
    let records: Vec<Vec<u8>> = (0..count).map(|_| record.clone()).collect();
    let (response, stats) = transform(&firehose_event(&records), DecoderOptions::default());
    let body = serde_json::to_vec(&response).unwrap();
    assert!(body.len() <= 6 * 1024 * 1024, "{} bytes", body.len());
    assert!(
        body.len() > RESPONSE_BUDGET_BYTES * 9 / 10,
        "the budget is used"
    );
    assert_eq!(response.records.len(), count);
    assert!(stats.over_budget > 0);
    assert_eq!(stats.ok + stats.failed, count as u64);
    // the records that did not fit are failed, so Firehose keeps them in its error output
    for record in &response.records[stats.ok as usize..] {
        assert_eq!(record.result.as_deref(), Some(PROCESSING_FAILED));
    }
}

#[test]
fn the_shared_firehose_event_fixtures_transform() {
    let Some(shared) = shared_data() else {
        return;
    };
    let mut seen = 0;
    for dir in std::fs::read_dir(shared.join("events")).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let json: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            if !json["records"][0]["recordId"].is_string() || json["invocationId"].is_null() {
                continue;
            }
            seen += 1;
            let event: FirehoseEvent = serde_json::from_value(json.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let (response, stats) = transform(&event, DecoderOptions::default());
            assert_eq!(response.records.len(), event.records.len());
            for (input, output) in event.records.iter().zip(&response.records) {
                assert_eq!(output.record_id.as_deref(), Some(input.record_id.as_str()));
                let result = output.result.as_deref().unwrap();
                assert!([OK, DROPPED, PROCESSING_FAILED].contains(&result));
            }
            let s = &stats.stream;
            assert_eq!(s.lines_in, s.rows_out + s.rejected, "{}", path.display());
        }
    }
    assert!(seen >= 3, "found {seen} Firehose event fixtures");
}
