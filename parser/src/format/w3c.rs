//! W3C extended log files, as IIS (and other servers and CDNs) write them: space-separated fields
//! named by a `#Fields:` header, which may change mid-file (a server restart or a new day writes
//! a new header block).
//!
//! The fields are found by name, so any field list is read. Until a header is seen, IIS's default
//! field list is assumed: lines shipped without their headers (a log agent drops `#` lines) are
//! the usual case. The pipeline gives each chunk of a file the `#Fields:` and `#Date:` lines that
//! came before it, so a file cut into chunks reads as it does in one piece.
//!
//! Mapping: `ts` from `date` and `time` (UTC, as the W3C draft says; `date-local` and `time-local`
//! are read as written), or from the `#Date:` header's day when the lines have only `time`;
//! `client_ip` from `c-ip` (`-` kept as written); `remote_user` from `cs-username`; `method`;
//! `path` and `query` from `cs-uri-stem` and `cs-uri-query`, or from `cs-uri` split at `?`;
//! `protocol` from `cs-version`; `status`; `bytes_sent` from `sc-bytes` (or `bytes`); `referrer`
//! from `cs(Referer)` (or `cs(Referrer)`); `user_agent` from `cs(User-Agent)` with IIS's `+` read
//! as a space; `vhost` from `x-host-header` or `cs(Host)`; `request_time_ms` from `time-taken`,
//! which IIS writes in whole milliseconds (a value with a decimal point is read as seconds, as the
//! W3C draft and CloudFront write it) or `TimeTakenMS`. Quoted fields (IIS Advanced Logging,
//! Incapsula) are read without their quotes. A line with more fields than its header names is
//! rejected as `field_count`: the header does not describe it. Fields missing at the end of a line
//! are absent. Fields that fill no column go to `extra_fields` under their header names.

use super::{LineFormat, ParseLine};
use crate::line::{
    dash_is_none, json_key, parse_bytes, parse_duration, parse_status, AccessLine, Escapes,
    ExtraFields, Text,
};
use crate::reject::RejectReason;
use crate::timestamp::parse_iso8601_utc;

/// The fields IIS logs by default, in its order.
const IIS_DEFAULT_FIELDS: &str = "date time s-ip cs-method cs-uri-stem cs-uri-query s-port \
     cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken";

/// Most fields a line is split into; a line with more is rejected.
pub(crate) const MAX_FIELDS: usize = 64;

/// Where each field a header-driven format reads is on a line (`None`: the header did not list
/// it). W3C and CloudFront share the field names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldPositions {
    /// How many fields the header names.
    pub(crate) count: usize,
    /// How many fields from the start of a line hold every field a column takes (the rest
    /// need not be read when the other fields are not kept).
    pub(crate) needed: usize,
    pub(crate) date: Option<usize>,
    pub(crate) time: Option<usize>,
    pub(crate) c_ip: Option<usize>,
    pub(crate) username: Option<usize>,
    pub(crate) method: Option<usize>,
    pub(crate) uri: Option<usize>,
    pub(crate) uri_stem: Option<usize>,
    pub(crate) uri_query: Option<usize>,
    pub(crate) protocol: Option<usize>,
    pub(crate) status: Option<usize>,
    pub(crate) sc_bytes: Option<usize>,
    pub(crate) referer: Option<usize>,
    pub(crate) user_agent: Option<usize>,
    pub(crate) cs_host: Option<usize>,
    pub(crate) host_header: Option<usize>,
    pub(crate) time_taken: Option<usize>,
    pub(crate) time_taken_ms: Option<usize>,
    /// The fields no column holds, for `extra_fields`: each one's position and its name as a
    /// JSON key, in header order.
    pub(crate) extra: Vec<(usize, Box<[u8]>)>,
}

impl FieldPositions {
    /// The positions of the fields in a `#Fields:` header's list of names.
    pub(crate) fn of<'n>(names: impl Iterator<Item = &'n [u8]> + Clone) -> Self {
        let at = |name: &str| names.clone().position(|n| n == name.as_bytes());
        let mut positions = FieldPositions {
            count: names.clone().count(),
            needed: 0,
            date: at("date").or_else(|| at("date-local")),
            time: at("time").or_else(|| at("time-local")),
            c_ip: at("c-ip"),
            username: at("cs-username"),
            method: at("cs-method"),
            uri: at("cs-uri"),
            uri_stem: at("cs-uri-stem"),
            uri_query: at("cs-uri-query"),
            protocol: at("cs-protocol-version").or_else(|| at("cs-version")),
            status: at("sc-status"),
            sc_bytes: at("sc-bytes").or_else(|| at("bytes")),
            referer: at("cs(Referer)").or_else(|| at("cs(Referrer)")),
            user_agent: at("cs(User-Agent)"),
            cs_host: at("cs(Host)"),
            host_header: at("x-host-header"),
            time_taken: at("time-taken"),
            time_taken_ms: at("TimeTakenMS"),
            extra: Vec::new(),
        };
        let p = &positions;
        // `cs(Host)` is the server's (CloudFront's distribution) name: a field of its own when
        // `x-host-header`, the name the client asked for, fills `vhost`.
        let cs_host = p.cs_host.filter(|_| p.host_header.is_none());
        let in_columns = [
            p.date, p.time, p.c_ip, p.username, p.method, p.uri, p.uri_stem, p.uri_query,
            p.protocol, p.status, p.sc_bytes, p.referer, p.user_agent, cs_host, p.host_header,
            p.time_taken, p.time_taken_ms,
        ];
        // (`cs(Host)` is read for `vhost` when `x-host-header` is `-`.)
        let read = in_columns.into_iter().chain([p.cs_host]).flatten().max();
        positions.needed = read.map_or(0, |last| last + 1);
        positions.extra = (names.enumerate())
            .filter(|(at, _)| !in_columns.contains(&Some(*at)))
            .map(|(at, name)| (at, json_key(name)))
            .collect();
        positions
    }

    /// The positions named by a header line, when it is a `#Fields:` line (names separated by
    /// spaces or tabs, runs of them too).
    pub(crate) fn of_header(line: &[u8]) -> Option<Self> {
        let names = line.strip_prefix(b"#Fields:")?;
        Some(Self::of(
            names
                .split(|&b| b == b' ' || b == b'\t' || b == b'\r')
                .filter(|n| !n.is_empty()),
        ))
    }
}

/// Splits `line` at each `separator` into `fields`, at most as many as `fields` holds (the rest
/// of the line is not read); returns how many were filled.
///
/// Eight bytes at a time: CloudFront's fields average a dozen bytes, too few for memchr's
/// set-up to pay.
pub(crate) fn split_fields<'a>(line: &'a [u8], separator: u8, fields: &mut [&'a [u8]]) -> usize {
    const LOW_BITS: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let (mut count, mut start) = (0, 0);
    if fields.is_empty() {
        return 0;
    }
    let mut found = |at: usize, count: &mut usize| {
        fields[*count] = &line[start..at];
        *count += 1;
        start = at + 1;
        *count == fields.len()
    };
    let mut words = line.chunks_exact(8);
    for (word_at, word) in (0..).step_by(8).zip(&mut words) {
        let x = u64::from_le_bytes(word.try_into().unwrap_or_default())
            ^ (u64::from(separator) * 0x0101_0101_0101_0101);
        // The high bit of each byte of `x` that is zero, exactly (no carries between bytes).
        let mut zeros = !(((x & LOW_BITS) + LOW_BITS) | x | LOW_BITS);
        while zeros != 0 {
            if found(word_at + zeros.trailing_zeros() as usize / 8, &mut count) {
                return count;
            }
            zeros &= zeros - 1;
        }
    }
    let tail_at = line.len() - words.remainder().len();
    for (at, &b) in line.iter().enumerate().skip(tail_at) {
        if b == separator && found(at, &mut count) {
            return count;
        }
    }
    found(line.len(), &mut count);
    count
}

/// How many times `separator` occurs in `text`, eight bytes at a time (as [`split_fields`]
/// finds them).
pub(crate) fn count_separators(text: &[u8], separator: u8) -> usize {
    const LOW_BITS: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut words = text.chunks_exact(8);
    let mut count = 0;
    for word in &mut words {
        let x = u64::from_le_bytes(word.try_into().unwrap_or_default())
            ^ (u64::from(separator) * 0x0101_0101_0101_0101);
        count += (!(((x & LOW_BITS) + LOW_BITS) | x | LOW_BITS)).count_ones() as usize;
    }
    count + words.remainder().iter().filter(|&&b| b == separator).count()
}

/// `date` (`YYYY-MM-DD`) and `time` (`HH:MM:SS`, maybe with a fraction), UTC: `no_timestamp`
/// when they do not look like a date and a time, `bad_timestamp` when they are not a real one.
pub(crate) fn date_and_time(date: &[u8], time: &[u8]) -> Result<i64, RejectReason> {
    if date.len() != 10 || date[4] != b'-' || date[7] != b'-' || !(8..=18).contains(&time.len()) {
        return Err(RejectReason::NoTimestamp);
    }
    let mut iso = [0u8; 30];
    iso[..10].copy_from_slice(date);
    iso[10] = b'T';
    iso[11..11 + time.len()].copy_from_slice(time);
    iso[11 + time.len()] = b'Z';
    parse_iso8601_utc(&iso[..12 + time.len()]).ok_or(RejectReason::BadTimestamp)
}

/// Parser of W3C extended log lines; it remembers the last `#Fields:` and `#Date:` headers.
#[derive(Debug, Clone)]
pub struct W3c {
    positions: FieldPositions,
    /// The day of the last `#Date:` header, for lines that log only the time.
    header_date: Option<[u8; 10]>,
    extra: ExtraFields,
}

impl LineFormat for W3c {
    const NAME: &'static str = "w3c";
    const SUMMARY: &'static str = "W3C extended (IIS)";
    const EXAMPLE: &'static str = "2026-10-10 13:55:36 10.0.0.5 GET /a b=1 443 - 203.0.113.9 Mozilla/5.0+(X11;+Linux+x86_64) https://ref/ 200 0 0 12";
    const TRIED_BY_AUTO: bool = true;

    fn new() -> Self {
        Self {
            positions: FieldPositions::of(IIS_DEFAULT_FIELDS.split(' ').map(str::as_bytes)),
            header_date: None,
            extra: ExtraFields::default(),
        }
    }
}

impl ParseLine for W3c {
    fn keep_extra_fields(&mut self) {
        self.extra.keep();
    }

    fn extra_fields(&self) -> Option<&[u8]> {
        self.extra.json()
    }

    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessLine<'a>, RejectReason> {
        if line.first() == Some(&b'#') {
            self.read_header(line);
            return Err(RejectReason::HeaderLine);
        }
        let mut fields: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
        let mut count = 0;
        let mut rest = line;
        let mut too_many = false;
        while let Some(field) = next_field(&mut rest)? {
            if count == MAX_FIELDS.min(self.positions.count) {
                too_many = true;
                break;
            }
            fields[count] = field;
            count += 1;
        }
        let fields = &fields[..count];
        let p = &self.positions;
        let field = |at: Option<usize>| at.and_then(|i| fields.get(i)).copied();
        let value = |at: Option<usize>| field(at).and_then(dash_is_none);

        let time = field(p.time).ok_or(RejectReason::NoTimestamp)?;
        let ts_micros = match (field(p.date), &self.header_date) {
            (Some(date), _) => date_and_time(date, time)?,
            (None, Some(date)) => date_and_time(date, time)?,
            (None, None) => return Err(RejectReason::NoTimestamp),
        };
        if too_many {
            return Err(RejectReason::FieldCount);
        }
        // A `-` client (not logged) stays as written, as in the CLF formats: the request is real.
        let client = field(p.c_ip).ok_or(RejectReason::BadPrefix)?;
        let status = field(p.status)
            .and_then(parse_status)
            .ok_or(RejectReason::BadStatus)?;
        let bytes_sent = match value(p.sc_bytes) {
            Some(bytes) => parse_bytes(bytes)?,
            None => None,
        };
        let (path, query) = match (value(p.uri_stem), value(p.uri)) {
            (Some(stem), _) => (Some(Text::plain(stem)), value(p.uri_query).map(Text::plain)),
            (None, Some(uri)) => match memchr::memchr(b'?', uri) {
                Some(at) => (Some(Text::plain(&uri[..at])), Some(Text::plain(&uri[at + 1..]))),
                None => (Some(Text::plain(uri)), None),
            },
            (None, None) => (None, None),
        };
        let request_time_ms = match (value(p.time_taken), value(p.time_taken_ms)) {
            (Some(taken), _) if taken.contains(&b'.') => parse_duration(taken).flatten().map(|s| s * 1e3),
            (Some(ms), _) | (None, Some(ms)) => parse_duration(ms).flatten(),
            (None, None) => None,
        };
        push_extra_fields(&mut self.extra, &p.extra, fields);
        Ok(AccessLine {
            ts_micros,
            client,
            remote_user: value(p.username),
            method: value(p.method),
            path,
            query,
            protocol: value(p.protocol),
            status,
            bytes_sent,
            referrer: value(p.referer).map(Text::plain),
            user_agent: value(p.user_agent).map(|bytes| Text::escaped(bytes, Escapes::Plus)),
            request_time_ms,
            vhost: value(p.host_header).or(value(p.cs_host)),
        })
    }
}

/// Gives `extra` the fields at the positions `keys` name (a line may end before some).
pub(crate) fn push_extra_fields(
    extra: &mut ExtraFields,
    keys: &[(usize, Box<[u8]>)],
    fields: &[&[u8]],
) {
    extra.clear();
    if !extra.kept() {
        return;
    }
    for (at, key) in keys {
        if let Some(value) = fields.get(*at) {
            extra.push(key, value);
        }
    }
    extra.finish();
}

impl W3c {
    #[cold]
    fn read_header(&mut self, line: &[u8]) {
        if let Some(positions) = FieldPositions::of_header(line) {
            self.positions = positions;
        } else if let Some(date) = line.strip_prefix(b"#Date:") {
            let day = date.trim_ascii_start().get(..10);
            self.header_date = day.and_then(|day| day.try_into().ok());
        }
    }
}

/// The next field of a line, after the spaces before it (`None` at the end): a word, or a
/// `"…"`-quoted value without its quotes (a doubled `""` inside is part of the value).
fn next_field<'a>(rest: &mut &'a [u8]) -> Result<Option<&'a [u8]>, RejectReason> {
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    let line = &rest[start..];
    if line.is_empty() || line == b"\r" {
        return Ok(None);
    }
    if line[0] == b'"' {
        let mut at = 1;
        loop {
            let close = at + memchr::memchr(b'"', &line[at..]).ok_or(RejectReason::BadQuotedField)?;
            match line.get(close + 1) {
                Some(b'"') => at = close + 2,
                None | Some(b' ' | b'\r') => {
                    *rest = &line[(close + 1).min(line.len())..];
                    return Ok(Some(&line[1..close]));
                }
                Some(_) => return Err(RejectReason::BadQuotedField),
            }
        }
    }
    let end = memchr::memchr(b' ', line).unwrap_or(line.len());
    *rest = &line[end..];
    Ok(Some(line[..end].strip_suffix(b"\r").unwrap_or(&line[..end])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_fields_onto_the_table() {
        let mut parser = W3c::new();
        parser.keep_extra_fields();
        let line = parser.parse(W3c::EXAMPLE.as_bytes()).unwrap();
        assert_eq!(line.ts_micros, 1_791_640_536_000_000);
        assert_eq!(line.client, b"203.0.113.9");
        assert_eq!(line.method, Some(&b"GET"[..]));
        assert_eq!(line.path.unwrap().bytes, b"/a");
        assert_eq!(line.query.unwrap().bytes, b"b=1");
        assert_eq!((line.status, line.bytes_sent), (200, None));
        assert_eq!(line.referrer.unwrap().bytes, b"https://ref/");
        assert_eq!(
            &*line.user_agent.unwrap().unescaped(),
            b"Mozilla/5.0 (X11; Linux x86_64)"
        );
        assert_eq!(line.request_time_ms, Some(12.0));
        // IIS's default fields that fill no column
        let fields = crate::format::tests::extra_fields(&parser);
        let fields: Vec<_> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap())).collect();
        assert_eq!(
            fields,
            [("s-ip", "10.0.0.5"), ("s-port", "443"), ("sc-substatus", "0"), ("sc-win32-status", "0")]
        );
    }

    #[test]
    fn headers_name_the_fields_and_the_day() {
        let mut parser = W3c::new();
        parser.keep_extra_fields();
        for header in [
            &b"#Software: Microsoft Internet Information Services 10.0"[..],
            b"#Date: 2026-10-10 00:00:00",
            b"#Fields:  time c-ip cs-method cs-uri sc-status  sc-bytes cs(Host) time-taken cs-version",
        ] {
            assert_eq!(parser.parse(header).err(), Some(RejectReason::HeaderLine));
        }
        let line = parser
            .parse(br#"13:55:36.250 2001:db8::7 "GET" /a?b=1 404 512 shop.example.com 0.5 HTTP/1.1"#)
            .unwrap();
        assert_eq!(line.ts_micros, 1_791_640_536_250_000);
        assert_eq!(line.client, b"2001:db8::7");
        assert_eq!(line.method, Some(&b"GET"[..]));
        assert_eq!((line.path.unwrap().bytes, line.query.unwrap().bytes), (&b"/a"[..], &b"b=1"[..]));
        assert_eq!((line.status, line.bytes_sent), (404, Some(512)));
        assert_eq!(line.vhost, Some(&b"shop.example.com"[..]));
        assert_eq!(line.protocol, Some(&b"HTTP/1.1"[..]));
        assert_eq!(line.request_time_ms, Some(500.0));
        // every field fills a column
        assert_eq!(parser.extra_fields(), None);
        // A later header block replaces the fields.
        let _ = parser.parse(b"#Fields: date time c-ip sc-status");
        let line = parser.parse(b"2026-10-11 00:00:01 10.1.1.1 200").unwrap();
        assert_eq!(line.client, b"10.1.1.1");
    }

    #[test]
    fn fields_split_as_a_plain_split_does() {
        let line = b"a\tbb\t\tccc dddd\teeeee\tffffff\tggggggg\thhhhhhhh\t\tx";
        let plain: Vec<&[u8]> = line.split(|&b| b == b'\t').collect();
        for len in 0..=line.len() {
            for wanted in 0..plain.len() + 2 {
                let plain: Vec<&[u8]> = line[..len].split(|&b| b == b'\t').take(wanted).collect();
                let mut fields: [&[u8]; 16] = [&[]; 16];
                let count = split_fields(&line[..len], b'\t', &mut fields[..wanted.min(16)]);
                assert_eq!(&fields[..count], &plain[..], "{len} bytes, {wanted} fields");
            }
            let tabs = line[..len].iter().filter(|&&b| b == b'\t').count();
            assert_eq!(count_separators(&line[..len], b'\t'), tabs, "{len} bytes");
        }
        // bytes with the high bit set are not taken for the separator
        assert_eq!(count_separators(&[0x89, 0xff, 9, 0x80, 9, 9, 0x09 | 0x80, 1, 9], b'\t'), 4);
    }

    #[test]
    fn rejects_with_reasons() {
        let mut parser = W3c::new();
        let cases: [(&[u8], RejectReason); 6] = [
            (b"", RejectReason::NoTimestamp),
            (b"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1", RejectReason::NoTimestamp),
            (b"2026-02-30 13:55:36 10.0.0.5 GET / - 443 - 1.2.3.4 - - 200 0 0 1", RejectReason::BadTimestamp),
            (b"2026-10-10 13:55:36 10.0.0.5 GET / - 443 -", RejectReason::BadPrefix),
            (b"2026-10-10 13:55:36 10.0.0.5 GET / - 443 - 1.2.3.4 - - 2000 0 0 1", RejectReason::BadStatus),
            (b"2026-10-10 13:55:36 10.0.0.5 GET / - 443 - 1.2.3.4 - - 200 0 0 1 extra", RejectReason::FieldCount),
        ];
        for (line, reason) in cases {
            assert_eq!(parser.parse(line).err(), Some(reason), "{}", String::from_utf8_lossy(line));
        }
        assert_eq!(
            parser.parse(b"2026-10-10 13:55:36 \"unclosed").err(),
            Some(RejectReason::BadQuotedField)
        );
        let line = W3c::EXAMPLE.as_bytes();
        for end in 0..line.len() {
            let _ = parser.parse(&line[..end]);
        }
    }
}
