//! The `ingest` function's Kinesis event reader on any bytes, and the records it reads through
//! the stream encoder: an error or records, never a panic; every line a row or a reject.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loglake_fuzz::{check_stream_stats, decoder_options, CheckingSink};
use loglake_stream::{KinesisEventText, StreamEncoder};

fuzz_target!(|data: &[u8]| {
    let [settings, json @ ..] = data else {
        return;
    };
    let event = KinesisEventText::new(json.to_vec());
    let Ok(batch) = event.read() else {
        return;
    };
    let mut encoder = StreamEncoder::new(decoder_options(*settings));
    let mut sink = CheckingSink::default();
    for (input, record) in batch.records.iter().enumerate() {
        assert!(record.source.starts_with("kinesis:"));
        encoder.push_base64(input, &record.source, &record.kinesis.data, &mut sink);
    }
    let records = batch.records.len() as u64;
    check_stream_stats(&encoder.finish(&mut sink), &sink, records);
});
