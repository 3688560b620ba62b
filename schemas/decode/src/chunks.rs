//! Log text cut into chunks of whole lines, so that several threads can parse one large source
//! while its line numbers, rows and rejects stay exactly those of parsing it in one piece.
//!
//! A chunk is what one decoder turns into one batch: `max_lines` lines (a decoder's batch), or
//! fewer when they reach `max_bytes` or an over-long line. It travels in pieces of about
//! `piece_bytes`, so memory in flight does not grow with the chunk. Cuts depend only on the text,
//! never on how it was read, so a re-run gives the same batches (and the same Parquet files).
//! Memory stays bounded by an over-long line as well: only its first `max_line_bytes` are kept,
//! as a [`Decoder`] would keep them, and the piece records how many bytes were left out.

use memchr::memchr;

use crate::decoder::{DecodedBatch, Decoder};

/// Whole lines of a source, numbered from `first_line`: part of a chunk.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Piece {
    pub first_line: i64,
    /// Lines ending in `\n`; the last one may be unterminated when `cut` is set or at the end.
    pub text: Vec<u8>,
    /// The last line was over-long: this many of its bytes (before its newline) follow `text`
    /// and were left out.
    pub cut: Option<u64>,
    /// The last piece of its chunk.
    pub ends_chunk: bool,
    /// The last piece of the input; `Some(true)` when the input was cut short by a read error.
    pub end: Option<bool>,
    /// In a chunk's first piece: the header lines in effect where the chunk starts (each ending
    /// in `\n`), to be read, not counted.
    pub headers: Vec<u8>,
}

pub struct Chunker {
    max_lines: usize,
    max_bytes: usize,
    piece_bytes: usize,
    max_line_bytes: usize,
    /// The number of the first line in `text`.
    first_line: i64,
    text: Vec<u8>,
    /// Complete lines in `text`.
    lines: usize,
    /// Lines and bytes of the current chunk in pieces already handed over.
    chunk_lines: usize,
    chunk_bytes: usize,
    /// Where the line not yet terminated starts in `text`.
    line_start: usize,
    /// Inside an over-long line: the bytes of it left out so far.
    cut: Option<u64>,
    /// Texts of parsed pieces, to be filled again rather than allocated.
    spare: Vec<Vec<u8>>,
    /// The last `#Fields:` and `#Date:` lines so far, and those in effect where the next chunk
    /// starts (empty once its first piece has them).
    fields_header: Vec<u8>,
    date_header: Vec<u8>,
    next_chunk_headers: Vec<u8>,
}

impl Chunker {
    pub fn new(
        max_lines: usize,
        max_bytes: usize,
        piece_bytes: usize,
        max_line_bytes: usize,
    ) -> Self {
        Self {
            max_lines: max_lines.max(1),
            max_bytes,
            piece_bytes,
            max_line_bytes,
            first_line: 1,
            text: Vec::new(),
            lines: 0,
            chunk_lines: 0,
            chunk_bytes: 0,
            line_start: 0,
            cut: None,
            spare: Vec::new(),
            fields_header: Vec::new(),
            date_header: Vec::new(),
            next_chunk_headers: Vec::new(),
        }
    }

    /// Gives back the text of a piece that has been parsed, to be filled again.
    pub fn recycle(&mut self, mut text: Vec<u8>) {
        text.clear();
        self.spare.push(text);
    }

    /// Adds the next bytes of text, handing each finished piece to `emit`; stops (returning
    /// false) as soon as `emit` does.
    pub fn push(&mut self, bytes: &[u8], emit: &mut impl FnMut(Piece) -> bool) -> bool {
        let mut rest = bytes;
        while !rest.is_empty() {
            let newline = memchr(b'\n', rest);
            if let Some(cut) = self.cut.as_mut() {
                let Some(end) = newline else {
                    *cut += rest.len() as u64;
                    return true;
                };
                *cut += end as u64;
                rest = &rest[end + 1..];
                if !self.emit(true, true, emit) {
                    return false;
                }
                continue;
            }
            let pending = self.text.len() - self.line_start;
            let Some(end) = newline else {
                self.text.extend_from_slice(rest);
                self.start_cut_if_over_long();
                return true;
            };
            if pending + end > self.max_line_bytes {
                self.text.extend_from_slice(&rest[..end]);
                self.start_cut_if_over_long();
                rest = &rest[end + 1..];
                if !self.emit(true, true, emit) {
                    return false;
                }
                continue;
            }
            self.text.extend_from_slice(&rest[..=end]);
            rest = &rest[end + 1..];
            if self.text.get(self.line_start) == Some(&b'#') {
                self.remember_header();
            }
            self.lines += 1;
            self.line_start = self.text.len();
            let chunk_full = self.chunk_lines + self.lines >= self.max_lines
                || self.chunk_bytes + self.text.len() >= self.max_bytes;
            if (chunk_full || self.text.len() >= self.piece_bytes)
                && !self.emit(false, chunk_full, emit)
            {
                return false;
            }
        }
        true
    }

    /// The last piece: what is left, including a line without its newline.
    pub fn finish(mut self, truncated: bool) -> Piece {
        Piece {
            first_line: self.first_line,
            text: std::mem::take(&mut self.text),
            cut: self.cut,
            ends_chunk: true,
            end: Some(truncated),
            headers: self.take_headers_if_chunk_starts(),
        }
    }

    /// Keeps the line just added (from `line_start`) when it is a `#Fields:` or `#Date:` line.
    #[cold]
    fn remember_header(&mut self) {
        let line = &self.text[self.line_start..];
        let kept = if line.starts_with(b"#Fields:") {
            &mut self.fields_header
        } else if line.starts_with(b"#Date:") {
            &mut self.date_header
        } else {
            return;
        };
        kept.clear();
        kept.extend_from_slice(line);
    }

    /// The headers for the piece about to be handed over, when it is its chunk's first.
    fn take_headers_if_chunk_starts(&mut self) -> Vec<u8> {
        match self.chunk_lines == 0 && self.chunk_bytes == 0 {
            true => std::mem::take(&mut self.next_chunk_headers),
            false => Vec::new(),
        }
    }

    /// Keeps only the first `max_line_bytes` of the line being read, counting the rest.
    fn start_cut_if_over_long(&mut self) {
        let pending = self.text.len() - self.line_start;
        if pending > self.max_line_bytes {
            self.text.truncate(self.line_start + self.max_line_bytes);
            self.cut = Some((pending - self.max_line_bytes) as u64);
        }
    }

    /// Hands over the text so far; `terminated_cut`: it ends in an over-long line whose newline
    /// has been seen.
    fn emit(
        &mut self,
        terminated_cut: bool,
        ends_chunk: bool,
        emit: &mut impl FnMut(Piece) -> bool,
    ) -> bool {
        let lines = self.lines + usize::from(terminated_cut);
        let next = self.spare.pop().unwrap_or_default();
        let headers = self.take_headers_if_chunk_starts();
        let piece = Piece {
            first_line: self.first_line,
            text: std::mem::replace(&mut self.text, next),
            cut: self.cut.take(),
            ends_chunk,
            end: None,
            headers,
        };
        self.first_line += lines as i64;
        if ends_chunk {
            (self.chunk_lines, self.chunk_bytes) = (0, 0);
            self.next_chunk_headers.clear();
            for header in [&self.date_header, &self.fields_header] {
                self.next_chunk_headers.extend_from_slice(header);
            }
        } else {
            self.chunk_lines += lines;
            self.chunk_bytes += piece.text.len();
        }
        self.lines = 0;
        self.line_start = 0;
        emit(piece)
    }
}

/// Parses one piece with `decoder`, adding the batches it completes to `batches`: all of the
/// chunk's rows once the piece ends its chunk. Pieces of a chunk come to one decoder, in order.
pub fn decode_piece(decoder: &mut Decoder, piece: &Piece, batches: &mut Vec<DecodedBatch>) {
    let mut decode = |decoder: &mut Decoder, mut rest: &[u8]| {
        while !rest.is_empty() {
            rest = &rest[decoder.decode(rest)..];
            if decoder.is_full() {
                batches.extend(decoder.flush());
            }
        }
    };
    decoder.read_headers(&piece.headers);
    decoder.set_next_line(piece.first_line);
    decode(decoder, &piece.text);
    if let Some(cut) = piece.cut {
        decoder.skip_line_bytes(cut);
        if piece.end.is_none() {
            decode(decoder, b"\n");
        }
    }
    if let Some(truncated) = piece.end {
        decoder.finish(truncated);
    }
    if piece.ends_chunk {
        batches.extend(decoder.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decoder::DecoderOptions;

    fn pieces(input: &[u8], read: usize, max_lines: usize, max_line_bytes: usize) -> Vec<Piece> {
        let mut chunker = Chunker::new(max_lines, 1 << 20, 64, max_line_bytes);
        let mut out = Vec::new();
        for bytes in input.chunks(read) {
            assert!(chunker.push(bytes, &mut |c| {
                out.push(c);
                true
            }));
        }
        out.push(chunker.finish(false));
        out
    }

    #[test]
    fn cuts_depend_on_the_text_not_on_how_it_was_read() {
        let mut input = Vec::new();
        for i in 0..50 {
            let len = if i % 7 == 3 { 300 } else { 10 + i };
            input.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len));
            input.push(b'\n');
        }
        input.extend_from_slice(b"unterminated");
        let whole = pieces(&input, input.len(), 8, 100);
        for read in [1, 3, 64, 299, 301] {
            assert_eq!(
                pieces(&input, read, 8, 100),
                whole,
                "read {read} bytes at a time"
            );
        }
        // An over-long line ends a chunk early, keeping 100 bytes; line numbers run on.
        assert_eq!(whole[0].first_line, 1);
        assert_eq!(whole[0].cut, Some(200));
        assert_eq!(whole[0].text.len(), 11 + 12 + 13 + 100); // three lines and their newlines
        assert!(whole[0].ends_chunk);
        // Pieces of about 64 bytes, chunks of at most 8 lines.
        assert_eq!(whole[1].first_line, 5);
        assert!(!whole[1].ends_chunk && whole[1].text.len() >= 64);
        let mut chunk_lines = 0;
        for (piece, next) in whole.iter().zip(&whole[1..]) {
            chunk_lines += next.first_line - piece.first_line;
            assert!(chunk_lines <= 8);
            if piece.ends_chunk {
                chunk_lines = 0;
            }
        }
        let last = whole.last().unwrap();
        assert_eq!(last.end, Some(false));
        assert!(last.text.ends_with(b"unterminated"));
    }

    #[test]
    fn chunks_decode_to_what_one_decoder_makes_of_the_whole() {
        let good =
            "1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] \"GET /a HTTP/1.1\" 200 10 \"-\" \"curl/8\"";
        let mut input = Vec::new();
        for i in 0..40 {
            match i % 9 {
                4 => input.extend(vec![b'x'; 5_000]),
                7 => input.extend_from_slice(b"not a log line"),
                _ => input.extend_from_slice(good.as_bytes()),
            }
            input.extend_from_slice(if i % 5 == 0 { b"\r\n" } else { b"\n" });
        }
        input.extend(vec![b'y'; 3_000]); // an over-long last line without its newline
        let options = DecoderOptions {
            batch_size: 6,
            max_line_bytes: 1_000,
            ..Default::default()
        };
        let summary = |batches: Vec<DecodedBatch>| {
            let rows: usize = batches.iter().map(|b| b.rows.num_rows()).sum();
            let rejects: Vec<_> = batches
                .into_iter()
                .flat_map(|b| b.rejects)
                .map(|r| (r.source_line, r.reason, r.raw.len(), r.raw_len))
                .collect();
            (rows, rejects)
        };
        for truncated in [false, true] {
            let mut whole = Decoder::new("s", options);
            let mut expected = Vec::new();
            let mut rest = input.as_slice();
            while !rest.is_empty() {
                rest = &rest[whole.decode(rest)..];
                if whole.is_full() {
                    expected.extend(whole.flush());
                }
            }
            whole.finish(truncated);
            expected.extend(whole.flush());

            let mut chunker = Chunker::new(6, 1 << 20, 300, 1_000);
            let mut pieces = Vec::new();
            for bytes in input.chunks(777) {
                chunker.push(bytes, &mut |c| {
                    pieces.push(c);
                    true
                });
            }
            pieces.push(chunker.finish(truncated));
            // two decoders taking a chunk each in turn, as the pipeline's threads do
            let mut decoders = [Decoder::new("s", options), Decoder::new("s", options)];
            let mut chunk = 0;
            let mut got = Vec::new();
            for piece in &pieces {
                decode_piece(&mut decoders[chunk % 2], piece, &mut got);
                chunk += usize::from(piece.ends_chunk);
            }
            let (rows, rejects) = summary(got);
            assert_eq!(
                (rows, rejects.clone()),
                summary(expected),
                "truncated: {truncated}"
            );
            assert_eq!(rows + rejects.len(), 41);
            assert!(rejects
                .iter()
                .any(|&(line, _, kept, len)| line == 41 && kept == 1_000 && len == 3_000));
        }
    }

    #[test]
    fn each_chunk_reads_its_lines_by_the_headers_before_it() {
        // Two header blocks naming different fields: lines after the second are read by it,
        // in whichever chunk they fall.
        let mut input = String::from("#Fields: date time c-ip sc-status\n");
        for i in 0..20 {
            input += &format!("2026-10-10 10:00:{i:02} 10.0.0.{i} 200\n");
        }
        input += "#Date: 2026-10-11 00:00:00\n#Fields: time sc-status c-ip cs-method\n";
        for i in 0..20 {
            input += &format!("11:00:{i:02} 404 10.1.0.{i} GET\n");
        }
        let options = DecoderOptions {
            batch_size: 6,
            format: loglake_parser::LogFormat::W3c,
            ..Default::default()
        };
        let mut whole = Decoder::new("s", options);
        let (mut rest, mut expected) = (input.as_bytes(), Vec::new());
        while !rest.is_empty() {
            rest = &rest[whole.decode(rest)..];
            expected.extend(whole.flush());
        }
        whole.finish(false);
        expected.extend(whole.flush());
        assert_eq!(
            expected.iter().map(|b| b.rows.num_rows()).sum::<usize>(),
            40
        );

        let mut chunker = Chunker::new(6, 1 << 20, 50, 1_000);
        let mut pieces = Vec::new();
        chunker.push(input.as_bytes(), &mut |piece| {
            pieces.push(piece);
            true
        });
        pieces.push(chunker.finish(false));
        let mut decoders = [Decoder::new("s", options), Decoder::new("s", options)];
        let (mut chunk, mut got) = (0, Vec::new());
        for piece in &pieces {
            decode_piece(&mut decoders[chunk % 2], piece, &mut got);
            chunk += usize::from(piece.ends_chunk);
        }
        let rows = |batches: &[DecodedBatch]| -> Vec<_> {
            batches
                .iter()
                .map(|b| (b.rows.clone(), b.rejects.len()))
                .collect()
        };
        assert_eq!(rows(&got), rows(&expected));
    }
}
