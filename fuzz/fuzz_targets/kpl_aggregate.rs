//! KPL de-aggregation: the input is an `AggregatedRecord` protobuf, given its magic and a valid
//! MD5 so that the fuzzer works on the protobuf, not the checksum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loglake_fuzz::stream_record;
use loglake_parser::payload::{deaggregate, KPL_MAGIC};

fuzz_target!(|data: &[u8]| {
    let [settings, protobuf @ ..] = data else {
        return;
    };
    let mut record = KPL_MAGIC.to_vec();
    record.extend_from_slice(protobuf);
    record.extend_from_slice(&md5::compute(protobuf).0);
    if let Ok(Some(user_records)) = deaggregate(&record) {
        // Each user record's data is a slice of the protobuf.
        let inner: usize = user_records.iter().map(|r| r.data.len()).sum();
        assert!(inner <= protobuf.len());
    }
    stream_record(*settings, &record);
});
