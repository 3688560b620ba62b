//! The real `firehose-transform` binary under the Lambda Runtime API emulator, as Lambda runs
//! it: its settings from the environment (`ANONYMIZE_IP`, the enrichment data), one Firehose
//! event in, the transformation response out.

#[path = "../../ingest/tests/support/mod.rs"]
mod support;

use base64::Engine;
use loglake_schema::json_key;
use serde_json::Value;
use support::runtime_api::*;
use support::*;

#[test]
fn the_binary_transforms_with_the_settings_lambda_gives_it() {
    let lines = real_lines(60);
    let records: Vec<Vec<u8>> = lines.iter().map(|l| l.clone().into_bytes()).collect();
    let (api, calls) = runtime_api(firehose_event_json(&records));
    let binary = env!("CARGO_BIN_EXE_firehose-transform");
    let mut command = lambda_command(binary, &api, "http://127.0.0.1:9");
    command.env("ANONYMIZE_IP", "truncate");
    let enrichment = pass_enrichment(&mut command);
    let response = invoke_once(command, &calls);

    let answered = response["records"].as_array().unwrap();
    assert_eq!(answered.len(), records.len());
    let mut countries = 0;
    for (record, line) in answered.iter().zip(&lines) {
        assert_eq!(record["result"], "Ok", "{record}");
        let data = base64::engine::general_purpose::STANDARD
            .decode(record["data"].as_str().unwrap())
            .unwrap();
        let row: Value = serde_json::from_slice(data.trim_ascii_end()).unwrap();
        let address = line.split(' ').next().unwrap();
        assert_eq!(row[json_key("client_ip")], truncated(address), "{line}");
        countries += usize::from(row[json_key("country")].is_string());
    }
    if enrichment {
        assert!(
            countries > 0,
            "no row has a country: the enrichment data was not loaded"
        );
    }
}
