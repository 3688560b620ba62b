//! A Kinesis record's data as it arrives (plain, gzip, CloudWatch Logs, KPL; cut or corrupt),
//! through the stream encoder: one reject for a damaged payload, every line a row or a reject.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loglake_fuzz::stream_record;

fuzz_target!(|data: &[u8]| {
    let [settings, data @ ..] = data else {
        return;
    };
    stream_record(*settings, data);
});
