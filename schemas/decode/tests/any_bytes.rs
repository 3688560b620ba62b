//! Property: whatever bytes arrive, in whatever pieces, in whatever format, with whatever
//! settings, every line is a row or a reject (`lines_in == rows_out + rejected`, for every batch
//! and in total), the count of lines is the input's, and nothing panics.

use arrow::array::Array;
use loglake_decode::{Decoder, DecoderOptions};
use loglake_parser::{IpAnonymization, LogFormat};
use proptest::prelude::*;

/// Lines that look like real ones, to be cut and damaged, so the bytes reach deep into parsers.
const SEEDS: &[&str] = &[
    r#"203.0.113.9 - - [10/Oct/2026:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "https://ref/" "Mozilla/5.0 (X11)" 0.125"#,
    r#"h2 2026-10-10T13:55:36.094015Z app/lb/1 203.0.113.9:51234 10.0.0.7:80 0.000 0.012 0.000 200 200 48 2326 "GET https://h:443/a HTTP/2.0" "curl/8.5.0" - - arn "Root=1" "h" "-" 0 2026-10-10T13:55:36Z "forward" "-" "-" "10.0.0.7:80" "200""#,
    "2026-10-10\t13:55:36\tLAX1\t2326\t203.0.113.9\tGET\td1.cloudfront.net\t/a\t200\t-\tMozilla/5.0%20(X11)\tb=1",
    "#Fields: date time c-ip cs-method cs-uri-stem sc-status x-extra",
    "2026-10-10 13:55:36 203.0.113.9 GET /a 200 z",
];

fn input() -> impl Strategy<Value = Vec<u8>> {
    let damaged_seed = (
        prop::sample::select(SEEDS),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(seed, edits, cut)| {
            let mut line = seed.as_bytes().to_vec();
            for (at, byte) in edits {
                let i = at.index(line.len());
                line[i] = byte;
            }
            line.truncate(cut.index(line.len() + 1));
            line
        });
    let piece = prop_oneof![
        damaged_seed,
        prop::collection::vec(any::<u8>(), 0..200),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.join(&b"\n"[..]))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn every_line_is_a_row_or_a_reject(
        input in input(),
        piece in 1usize..64,
        format in prop::sample::select(LogFormat::ALL),
        keep_extra_fields in any::<bool>(),
        anonymize in prop::sample::select(&["none", "truncate", "hash"][..]),
    ) {
        let options = DecoderOptions {
            format,
            batch_size: 5,
            max_line_bytes: 300,
            keep_extra_fields,
            anonymize_ip: IpAnonymization::from_setting(Some(anonymize), Some("a sixteen-byte key"))
                .unwrap(),
            enrichment: Default::default(),
        };
        let mut decoder = Decoder::new("prop.log", options);
        let (mut lines, mut rows, mut rejects) = (0, 0, 0);
        let mut count = |batch: loglake_decode::DecodedBatch| {
            assert_eq!(batch.lines_in, (batch.rows.num_rows() + batch.rejects.len()) as u64);
            batch.rows.columns().iter().for_each(|c| c.to_data().validate_full().unwrap());
            lines += batch.lines_in;
            rows += batch.rows.num_rows() as u64;
            rejects += batch.rejects.len() as u64;
        };
        for chunk in input.chunks(piece) {
            let mut rest = chunk;
            while !rest.is_empty() {
                rest = &rest[decoder.decode(rest)..];
                if decoder.is_full() {
                    decoder.flush().into_iter().for_each(&mut count);
                }
            }
        }
        decoder.finish(false);
        decoder.flush().into_iter().for_each(&mut count);
        let newlines = input.iter().filter(|&&b| b == b'\n').count() as u64;
        let expected = newlines + u64::from(!input.is_empty() && !input.ends_with(b"\n"));
        prop_assert_eq!(lines, expected);
        prop_assert_eq!(lines, rows + rejects);
        prop_assert_eq!(decoder.totals(), (rows, rejects));
    }
}
