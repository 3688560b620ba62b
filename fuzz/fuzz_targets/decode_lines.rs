//! Lines of any format, with any settings, fed to the decoder in pieces of any size: every line
//! is a row or a reject, and nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loglake_decode::Decoder;
use loglake_fuzz::{decoder_options, lines_in, Totals};

fuzz_target!(|data: &[u8]| {
    let [settings, piece, input @ ..] = data else {
        return;
    };
    let mut decoder = Decoder::new("fuzz.log", decoder_options(*settings));
    let mut totals = Totals::default();
    for chunk in input.chunks(usize::from(*piece).max(1)) {
        let mut rest = chunk;
        while !rest.is_empty() {
            rest = &rest[decoder.decode(rest)..];
            if decoder.is_full() {
                decoder.flush().iter().for_each(|batch| totals.add(batch));
            }
        }
    }
    totals.finish(&mut decoder, false);
    assert_eq!(totals.lines, lines_in(input));
});
