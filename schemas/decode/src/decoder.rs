//! The streaming parser-to-Arrow path, in the shape of arrow-csv's and arrow-json's `Decoder`:
//! feed it bytes with [`Decoder::decode`], take a [`DecodedBatch`] with [`Decoder::flush`].
//!
//! Memory is bounded: a batch holds at most `batch_size` lines, and a line longer than
//! `max_line_bytes` keeps only its first `max_line_bytes` (for the rejects output) however long
//! it runs before its newline.

use std::sync::Arc;

use arrow::array::RecordBatch;
use loglake_parser::{
    ClientCache, Enrichment, IpAnonymization, LineParser, LogFormat, OriginCache, ParseLine,
    RejectReason, UserAgentCache,
};
use memchr::memchr;

use crate::builder::{AccessLogBatchBuilder, RowBuilder};

/// A line that did not become a row, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub source: Arc<str>,
    /// 1-based line number (or record index) within `source`.
    pub source_line: i64,
    pub reason: RejectReason,
    /// The line as read, without its line ending; cut at the line limit for `LineTooLong`.
    pub raw: Vec<u8>,
    /// The full length of the line in bytes (more than `raw.len()` when it was cut).
    pub raw_len: u64,
}

/// What one flush produced: an Arrow batch of rows unless the decoder was made for other rows
/// ([`Decoder::with_row_builder`]). `lines_in == rows + rejects.len()`, always.
#[derive(Debug)]
pub struct DecodedBatch<Rows = RecordBatch> {
    pub rows: Rows,
    pub rejects: Vec<Reject>,
    pub lines_in: u64,
    /// Rows with a field that was not valid UTF-8 (kept, lossily decoded).
    pub lossy_utf8_rows: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct DecoderOptions {
    /// The format of the lines, for a decoder that parses with a [`LineParser`] (the default);
    /// [`Decoder::with_format`] takes a parser instead.
    pub format: LogFormat,
    /// Lines per batch (rows plus rejects).
    pub batch_size: usize,
    /// Longer lines are rejected as `line_too_long`.
    pub max_line_bytes: usize,
    /// Fill the `extra_fields` column with the fields of the format that no column holds
    /// (see `loglake_parser::ExtraFields`); off, it is null.
    pub keep_extra_fields: bool,
    /// How client addresses are written: in the client column, in `extra_fields`, and in the
    /// rejects' raw lines (see `loglake_parser::anonymize`).
    pub anonymize_ip: IpAnonymization,
    /// The country database and crawler list (`loglake_parser::enrich`); the country is looked
    /// up before the address is anonymised.
    pub enrichment: &'static Enrichment,
}

impl Default for DecoderOptions {
    fn default() -> Self {
        Self {
            format: LogFormat::Auto,
            batch_size: 8_192,
            // Apache and nginx cap a request line near 8 KiB; with referrer and user agent a
            // real line stays far below this.
            max_line_bytes: 64 * 1024,
            keep_extra_fields: false,
            anonymize_ip: IpAnonymization::None,
            enrichment: Enrichment::none(),
        }
    }
}

/// Decodes lines into rows (by default Arrow columns in the file schema) and rejects. `B` says
/// what rows are made of, `F` how a line is parsed: by default a [`LineParser`] of the format
/// in the options, or any one format's own parser, whose calls then inline into the loop.
pub struct Decoder<B: RowBuilder = AccessLogBatchBuilder, F: ParseLine = LineParser> {
    options: DecoderOptions,
    source: Arc<str>,
    next_line: i64,
    lines: F,
    user_agents: UserAgentCache<B::UserAgent>,
    builder: B,
    rejects: Vec<Reject>,
    lines_in: u64,
    lossy_utf8_rows: u64,
    rows_total: u64,
    rejects_total: u64,
    /// The start of a line whose newline has not arrived yet (at most `max_line_bytes`).
    partial: Vec<u8>,
    /// The full length of that line so far, including bytes beyond the limit that were dropped.
    partial_len: u64,
    /// Clients anonymised so far.
    clients: ClientCache,
    origins: OriginCache,
}

impl Decoder {
    /// A decoder of lines into Arrow batches.
    pub fn new(source: impl Into<Arc<str>>, options: DecoderOptions) -> Self {
        Self::with_row_builder(source, options)
    }
}

impl<B: RowBuilder> Decoder<B> {
    /// A decoder of lines in `options.format` into `B`'s rows.
    pub fn with_row_builder(source: impl Into<Arc<str>>, options: DecoderOptions) -> Self {
        Self::with_format(source, options, LineParser::new(options.format))
    }
}

impl<B: RowBuilder, F: ParseLine> Decoder<B, F> {
    /// A decoder of lines parsed by `lines` (`options.format` is not used) into `B`'s rows.
    pub fn with_format(source: impl Into<Arc<str>>, options: DecoderOptions, mut lines: F) -> Self {
        if options.keep_extra_fields {
            lines.keep_extra_fields();
        }
        Self {
            options,
            source: source.into(),
            next_line: 1,
            lines,
            user_agents: UserAgentCache::default()
                .with_crawlers(options.enrichment.crawlers.as_ref()),
            builder: B::with_capacity(options.batch_size),
            rejects: Vec::new(),
            lines_in: 0,
            lossy_utf8_rows: 0,
            rows_total: 0,
            rejects_total: 0,
            partial: Vec::new(),
            partial_len: 0,
            clients: ClientCache::default(),
            origins: OriginCache::default(),
        }
    }

    /// Starts the next source (a stream record, say) on the same decoder, so its parser state
    /// and user-agent cache carry over: a last line of the previous source without its newline
    /// is finished first, and line numbers restart at 1.
    pub fn set_source(&mut self, source: impl Into<Arc<str>>) {
        self.finish(false);
        self.source = source.into();
        self.next_line = 1;
    }

    /// Numbers the next line `line`: for a source parsed in chunks, each by the decoder that is
    /// free (see [`crate::chunks`]). Call it between whole lines.
    pub fn set_next_line(&mut self, line: i64) {
        debug_assert_eq!(self.partial_len, 0, "called inside a line");
        self.next_line = line;
    }

    /// Has the parser read header lines (`\n`-terminated) that came before the lines it is
    /// given next, without counting them: a chunk's headers (see [`crate::chunks`]).
    pub fn read_headers(&mut self, headers: &[u8]) {
        for line in headers
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
        {
            let _ = self.lines.parse(line);
        }
    }

    /// Counts `n` more bytes of the line being decoded that the caller left out: past the line
    /// limit they would not be kept anyway, so a reader may drop them (see [`crate::chunks`]).
    pub fn skip_line_bytes(&mut self, n: u64) {
        self.partial_len += n;
    }

    /// Appends a reject for a whole record of the current source that could not be decoded
    /// (`source_line` 0); `raw` is kept up to the line limit.
    pub fn reject_record(&mut self, reason: RejectReason, raw: &[u8]) {
        let kept = &raw[..raw.len().min(self.options.max_line_bytes)];
        self.rejects.push(Reject {
            source: self.source.clone(),
            source_line: 0,
            reason,
            raw: kept.to_vec(),
            raw_len: raw.len() as u64,
        });
        self.lines_in += 1;
        self.rejects_total += 1;
    }

    /// Rows and rejects produced since the decoder was created (flushed or not): tells which
    /// rows belong to which source when several sources share a batch.
    pub fn totals(&self) -> (u64, u64) {
        (self.rows_total, self.rejects_total)
    }

    /// Whether a batch is full and [`Decoder::flush`] should be called before decoding more.
    pub fn is_full(&self) -> bool {
        self.lines_in as usize >= self.options.batch_size || self.builder.is_full()
    }

    /// Decodes complete lines from `buf` until a batch is full; returns how many bytes were
    /// consumed. A line without its newline yet is kept until the next call or [`Decoder::finish`].
    pub fn decode(&mut self, buf: &[u8]) -> usize {
        let mut consumed = 0;
        while consumed < buf.len() && !self.is_full() {
            let rest = &buf[consumed..];
            match memchr(b'\n', rest) {
                Some(end) if self.partial_len == 0 => {
                    self.process_line(&rest[..end], end as u64);
                    consumed += end + 1;
                }
                Some(end) => {
                    self.extend_partial(&rest[..end]);
                    self.process_partial(None);
                    consumed += end + 1;
                }
                None => {
                    self.extend_partial(rest);
                    consumed = buf.len();
                }
            }
        }
        consumed
    }

    /// Ends the input: a last line without a newline becomes a row (or a reject). With
    /// `truncated`, the input was cut short (a damaged gzip), so that line is incomplete and is
    /// rejected as `truncated_input`.
    pub fn finish(&mut self, truncated: bool) {
        if self.partial_len > 0 {
            self.process_partial(truncated.then_some(RejectReason::TruncatedInput));
        }
    }

    /// Takes the decoded lines as a batch, or `None` when nothing is pending.
    pub fn flush(&mut self) -> Option<DecodedBatch<B::Rows>> {
        if self.lines_in == 0 {
            return None;
        }
        debug_assert_eq!(
            self.lines_in as usize,
            self.builder.len() + self.rejects.len()
        );
        let batch = DecodedBatch {
            rows: self.builder.finish(),
            rejects: std::mem::take(&mut self.rejects),
            lines_in: std::mem::take(&mut self.lines_in),
            lossy_utf8_rows: std::mem::take(&mut self.lossy_utf8_rows),
        };
        Some(batch)
    }

    /// Uses `user_agents` (from [`Decoder::into_user_agents`] of an earlier decoder) as the
    /// user-agent cache, so agents seen before are not classified again.
    pub fn with_user_agents(mut self, user_agents: UserAgentCache<B::UserAgent>) -> Self {
        // A cache classified with another crawler list would give this run's agents that
        // list's verdicts.
        if user_agents.classifies_with(self.options.enrichment.crawlers.as_ref()) {
            self.user_agents = user_agents;
        }
        self
    }

    /// The user-agent cache, for a later decoder.
    pub fn into_user_agents(self) -> UserAgentCache<B::UserAgent> {
        self.user_agents
    }

    /// Gives back the rows of a flushed batch once used, for the builder to reuse their buffers.
    pub fn recycle(&mut self, rows: B::Rows) {
        self.builder.recycle(rows);
    }

    /// How many user agents had to be classified (cache misses) so far.
    pub fn user_agent_misses(&self) -> u64 {
        self.user_agents.misses()
    }

    fn extend_partial(&mut self, bytes: &[u8]) {
        let room = self
            .options
            .max_line_bytes
            .saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.partial_len += bytes.len() as u64;
    }

    fn process_partial(&mut self, forced: Option<RejectReason>) {
        let line = std::mem::take(&mut self.partial);
        let len = std::mem::take(&mut self.partial_len);
        match forced {
            Some(reason) => self.reject(reason, &line, len),
            None => self.process_line(&line, len),
        }
        self.partial = line;
        self.partial.clear();
    }

    fn process_line(&mut self, line: &[u8], full_len: u64) {
        if full_len > self.options.max_line_bytes as u64 {
            let kept = &line[..line.len().min(self.options.max_line_bytes)];
            return self.reject(RejectReason::LineTooLong, kept, full_len);
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match self.lines.parse(line) {
            Ok(mut parsed) => {
                let ua = self.user_agents.lookup(parsed.user_agent);
                let origin = self.origins.origin(self.options.enrichment, parsed.client);
                let anonymize = self.options.anonymize_ip;
                let extra_fields = self.lines.extra_fields();
                let extra_fields =
                    extra_fields.map(|json| anonymize.scrub_cached(json, &mut self.clients));
                if !anonymize.is_none() {
                    parsed.client = self.clients.client(anonymize, parsed.client);
                }
                let appended = self.builder.append(
                    line,
                    &parsed,
                    extra_fields.as_deref(),
                    origin,
                    ua,
                    &self.source,
                    self.next_line,
                );
                self.lossy_utf8_rows += u64::from(appended.is_err());
                self.lines_in += 1;
                self.rows_total += 1;
                self.next_line += 1;
            }
            Err(reason) => self.reject(reason, line, full_len),
        }
    }

    fn reject(&mut self, reason: RejectReason, raw: &[u8], raw_len: u64) {
        self.rejects.push(Reject {
            source: self.source.clone(),
            source_line: self.next_line,
            reason,
            raw: (self.options.anonymize_ip)
                .scrub_cached(raw, &mut self.clients)
                .into_owned(),
            raw_len,
        });
        self.lines_in += 1;
        self.rejects_total += 1;
        self.next_line += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::Int64Type;

    const GOOD: &str =
        r#"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] "GET /a HTTP/1.1" 200 10 "-" "curl/8.0""#;

    fn decode_all(input: &[u8], options: DecoderOptions, piece: usize) -> Vec<DecodedBatch> {
        let mut decoder = Decoder::new("test.log", options);
        let mut out = Vec::new();
        for chunk in input.chunks(piece.max(1)) {
            let mut rest = chunk;
            while !rest.is_empty() {
                let used = decoder.decode(rest);
                rest = &rest[used..];
                if decoder.is_full() {
                    out.extend(decoder.flush());
                }
            }
        }
        decoder.finish(false);
        out.extend(decoder.flush());
        out
    }

    #[test]
    fn no_full_client_address_reaches_the_rows_or_the_rejects() {
        let input = concat!(
            "203.0.113.9 - - [10/Oct/2020:10:00:00 +0000] \"GET /a HTTP/1.1\" 200 1 \"-\" \"curl/8.0\"\n",
            "2001:db8:7:1::9 - - [10/Oct/2020:10:00:01 +0000] \"GET /b HTTP/1.1\" 200 1 \"-\" \"-\"\n",
            "h2 2020-10-10T10:00:02Z app/lb/1 198.51.100.7:4431 10.0.3.4:80 0.001 0.002 0.000 200 200 1 2 \"GET https://h:443/ HTTP/2.0\" \"ua\" - - arn \"Root=1\" \"-\" \"-\" 0 2020-10-10T10:00:02Z \"forward\" \"-\" \"-\" \"10.0.3.4:80 10.0.3.5:80\" \"200\"\n",
            "203.0.113.77 - - [10/Oct/2020:10:00:03 +0000] \"GET /c HTTP/1.1\" 2000 1\n",
        );
        let full = [
            "203.0.113.9",
            "2001:db8:7:1::9",
            "198.51.100.7",
            "10.0.3.4",
            "10.0.3.5",
            "203.0.113.77",
        ];
        let everything_written = |options: DecoderOptions| {
            let batches = decode_all(input.as_bytes(), options, 7);
            let mut text = String::new();
            for batch in &batches {
                for column in batch.rows.columns() {
                    if let Some(strings) = column.as_string_opt::<i32>() {
                        strings
                            .iter()
                            .flatten()
                            .for_each(|s| text += &format!("{s}\n"));
                    }
                }
                for reject in &batch.rejects {
                    text += &String::from_utf8_lossy(&reject.raw);
                }
            }
            text
        };
        let kept = DecoderOptions {
            keep_extra_fields: true,
            ..Default::default()
        };
        let as_logged = everything_written(kept);
        for address in full {
            assert!(as_logged.contains(address), "{address} in {as_logged}");
        }
        for (mode, written) in [
            (
                "truncate",
                ["203.0.113.0", "2001:db8:7::", "198.51.100.0", "10.0.3.0"],
            ),
            (
                "truncate16",
                ["203.0.0.0", "2001:db8:7::", "198.51.0.0", "10.0.0.0"],
            ),
        ] {
            let anonymize_ip = IpAnonymization::from_setting(Some(mode), None).unwrap();
            let text = everything_written(DecoderOptions {
                anonymize_ip,
                ..kept
            });
            for address in full {
                assert!(!text.contains(address), "{mode}: {address} in {text}");
            }
            for address in written {
                assert!(text.contains(address), "{mode}: no {address} in {text}");
            }
        }
        let hash = IpAnonymization::from_setting(Some("hash"), Some("sixteen bytes key!")).unwrap();
        let text = everything_written(DecoderOptions {
            anonymize_ip: hash,
            ..kept
        });
        for address in full {
            assert!(!text.contains(address), "hash: {address} in {text}");
        }
        assert_eq!(text.matches("ip-").count(), 7, "{text}");
    }

    #[test]
    fn every_line_is_a_row_or_a_reject_whatever_the_feed_sizes() {
        let mut input = Vec::new();
        for i in 0..50 {
            match i % 5 {
                0 => input.extend_from_slice(b"garbage line\n"),
                1 => input.extend_from_slice(b"\n"),
                2 => input.extend_from_slice(b"\xff\xfe binary \x00 junk\r\n"),
                _ => {
                    input.extend_from_slice(GOOD.as_bytes());
                    input.extend_from_slice(b"\r\n");
                }
            }
        }
        input.extend_from_slice(GOOD.as_bytes()); // no final newline
        let options = DecoderOptions {
            batch_size: 7,
            ..Default::default()
        };
        for piece in [1, 3, 64, 100_000] {
            let batches = decode_all(&input, options, piece);
            let lines: u64 = batches.iter().map(|b| b.lines_in).sum();
            let rows: usize = batches.iter().map(|b| b.rows.num_rows()).sum();
            let rejects: usize = batches.iter().map(|b| b.rejects.len()).sum();
            assert_eq!(lines, 51, "piece {piece}");
            assert_eq!(rows, 21, "piece {piece}");
            assert_eq!(lines as usize, rows + rejects);
            for b in &batches {
                assert!(b.lines_in <= 7);
                assert_eq!(b.lines_in as usize, b.rows.num_rows() + b.rejects.len());
            }
            // line numbers: rows and rejects together are exactly 1..=51
            let mut numbers: Vec<i64> = batches
                .iter()
                .flat_map(|b| {
                    let col = b.rows.column_by_name("source_line").unwrap();
                    let rows: &Int64Array = col.as_primitive::<Int64Type>();
                    rows.values()
                        .to_vec()
                        .into_iter()
                        .chain(b.rejects.iter().map(|r| r.source_line))
                })
                .collect();
            numbers.sort_unstable();
            assert_eq!(numbers, (1..=51).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_decoder_of_one_format_s_own_parser() {
        use loglake_parser::format::combined::Combined;
        use loglake_parser::LineFormat;
        let common = "1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] \"GET /a HTTP/1.1\" 200 10";
        let input = format!("{GOOD}\n{common}\n");
        let mut decoder: Decoder<AccessLogBatchBuilder, Combined> =
            Decoder::with_format("one.log", DecoderOptions::default(), Combined::new());
        assert_eq!(decoder.decode(input.as_bytes()), input.len());
        let batch = decoder.flush().unwrap();
        assert_eq!((batch.lines_in, batch.rows.num_rows()), (2, 1));
        assert_eq!(batch.rejects[0].reason, RejectReason::FormatMismatch);
    }

    #[test]
    fn giant_lines_are_rejected_with_bounded_memory() {
        let options = DecoderOptions {
            max_line_bytes: 100,
            ..Default::default()
        };
        let mut input = vec![b'x'; 10_000];
        input.push(b'\n');
        input.extend_from_slice(GOOD.as_bytes());
        input.push(b'\n');
        let batches = decode_all(&input, options, 333);
        let rejects: Vec<_> = batches.iter().flat_map(|b| &b.rejects).collect();
        assert_eq!(rejects.len(), 1);
        assert_eq!(rejects[0].reason, RejectReason::LineTooLong);
        assert_eq!(rejects[0].raw.len(), 100);
        assert_eq!(rejects[0].raw_len, 10_000);
        assert_eq!(batches.iter().map(|b| b.rows.num_rows()).sum::<usize>(), 1);
    }

    #[test]
    fn a_truncated_last_line_is_a_reject() {
        let mut decoder = Decoder::new("cut.gz", DecoderOptions::default());
        let input = format!("{GOOD}\n{}", &GOOD[..40]);
        assert_eq!(decoder.decode(input.as_bytes()), input.len());
        decoder.finish(true);
        let batch = decoder.flush().unwrap();
        assert_eq!(batch.rows.num_rows(), 1);
        assert_eq!(batch.rejects[0].reason, RejectReason::TruncatedInput);
        assert_eq!(batch.rejects[0].source_line, 2);
        assert_eq!(batch.rejects[0].raw, &GOOD.as_bytes()[..40]);
    }

    #[test]
    fn invalid_utf8_fields_are_kept_lossily_and_counted() {
        let line = b"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] \"GET /caf\xe9 HTTP/1.1\" 200 1 \"-\" \"ua\"\n";
        let batches = decode_all(line, DecoderOptions::default(), 1000);
        assert_eq!(batches[0].rows.num_rows(), 1);
        assert_eq!(batches[0].lossy_utf8_rows, 1);
        let path = batches[0].rows.column_by_name("path").unwrap();
        assert_eq!(path.as_string::<i32>().value(0), "/caf\u{fffd}");
    }
}
