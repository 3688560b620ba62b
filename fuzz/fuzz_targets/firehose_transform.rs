//! The Firehose transformation's event on any bytes: an error, or one answer per record, each
//! `Ok` with JSON rows, `Dropped` or `ProcessingFailed`; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loglake_firehose_transform::{transform, FirehoseEvent, DROPPED, OK, PROCESSING_FAILED};
use loglake_fuzz::{assert_json_object, decoder_options};

fuzz_target!(|data: &[u8]| {
    let [settings, json @ ..] = data else {
        return;
    };
    let Ok(event) = serde_json::from_slice::<FirehoseEvent>(json) else {
        return;
    };
    let (response, stats) = transform(&event, decoder_options(*settings));
    assert_eq!(response.records.len(), event.records.len());
    assert_eq!(
        stats.ok + stats.dropped + stats.failed,
        event.records.len() as u64
    );
    let s = &stats.stream;
    assert_eq!(s.lines_in, s.rows_out + s.rejected);
    for (answer, record) in response.records.iter().zip(&event.records) {
        assert_eq!(answer.record_id.as_deref(), Some(record.record_id.as_str()));
        match answer.result.as_deref() {
            Some(OK) => {
                let rows = answer.data.split(|&b| b == b'\n').filter(|r| !r.is_empty());
                rows.for_each(assert_json_object);
            }
            Some(DROPPED | PROCESSING_FAILED) => assert!(answer.data.is_empty()),
            other => panic!("result {other:?}"),
        }
    }
});
