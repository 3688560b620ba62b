//! A stored source (what `loglake ingest` and the backfill read: plain, gzip or zstd; cut or
//! corrupt) through the decompressing reader, the chunker and the decoder, as the lake pipeline
//! runs them: every line of the text read is a row or a reject, whatever the bytes.
#![no_main]

use std::io::{ErrorKind, Read};

use libfuzzer_sys::fuzz_target;
use loglake_decode::chunks::{decode_piece, Chunker};
use loglake_decode::Decoder;
use loglake_fuzz::{decoder_options, lines_in, Totals};
use loglake_lake::decompressing_reader;

/// A bomb is read this far: the pipeline streams, so a larger one only takes longer.
const MAX_TEXT_BYTES: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let [settings, stored @ ..] = data else {
        return;
    };
    let options = decoder_options(*settings);
    let mut decoder = Decoder::new("fuzz.log.gz", options);
    let mut totals = Totals::default();
    let mut chunker = Chunker::new(options.batch_size, 4096, 256, options.max_line_bytes);
    let mut emit = |piece: loglake_decode::chunks::Piece| {
        let mut batches = Vec::new();
        decode_piece(&mut decoder, &piece, &mut batches);
        batches.iter().for_each(|batch| totals.add(batch));
        true
    };
    let (mut text, mut truncated) = (Vec::new(), false);
    match decompressing_reader(stored) {
        Err(_) => truncated = true,
        Ok(mut reader) => {
            let mut buf = [0u8; 1000];
            while text.len() < MAX_TEXT_BYTES {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        text.extend_from_slice(&buf[..n]);
                        chunker.push(&buf[..n], &mut emit);
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => {
                        truncated = true;
                        break;
                    }
                }
            }
        }
    }
    emit(chunker.finish(truncated));
    assert_eq!(totals.lines, lines_in(&text));
    assert_eq!(decoder.totals(), (totals.rows, totals.rejects));
});
