//! CloudWatch Logs subscription envelopes: the input is the JSON, gzipped here so that the
//! fuzzer works on the JSON, not on deflate.
#![no_main]

use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;
use libfuzzer_sys::fuzz_target;
use loglake_fuzz::stream_record;

fuzz_target!(|data: &[u8]| {
    let [settings, json @ ..] = data else {
        return;
    };
    let mut gzip = GzEncoder::new(Vec::new(), Compression::fast());
    gzip.write_all(json).expect("writing to memory");
    stream_record(*settings, &gzip.finish().expect("writing to memory"));
});
