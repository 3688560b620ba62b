//! What a parsed access-log line is ([`AccessLine`]), and the field grammar the formats share:
//! quoted fields with backslash escapes, `-` for a missing value, the request line, the status
//! and the response size. Each format (see [`crate::format`]) is built from these pieces, at the
//! byte level (memchr, no regex, no allocation).

use memchr::{memchr, memchr2, memrchr};
use std::borrow::Cow;

use crate::reject::RejectReason;

/// A slice of the line that may carry escapes: backslashes (`\"`, `\\`) in a quoted field, or
/// `%XX` in a URL-encoded one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text<'a> {
    pub bytes: &'a [u8],
    /// What [`Text::unescaped`] must undo; `None` when `bytes` holds no escape.
    pub escapes: Escapes,
}

/// The escapes a [`Text`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escapes {
    None,
    /// `\"` and `\\`, as Apache and nginx write quotes and backslashes in quoted fields.
    Backslash,
    /// `%XX`, as CloudFront writes its user agents and referrers.
    Percent,
    /// `+` for a space, as IIS writes its user agents (`++`: a space and a `+`).
    Plus,
    /// A JSON string's escapes (`\"`, `\\`, `\n`, `\u00e9`…), as JSON access logs write them.
    Json,
}

impl Escapes {
    /// These escapes when `bytes` hold their escape character, else `None`: a value without one
    /// is copied as it is, never unescaped.
    #[inline]
    pub(crate) fn if_in(self, bytes: &[u8]) -> Self {
        let marker = match self {
            Escapes::None => return Escapes::None,
            Escapes::Backslash | Escapes::Json => b'\\',
            Escapes::Percent => b'%',
            Escapes::Plus => b'+',
        };
        match memchr(marker, bytes) {
            Some(_) => self,
            None => Escapes::None,
        }
    }
}

impl<'a> Text<'a> {
    /// A value without escapes.
    pub fn plain(bytes: &'a [u8]) -> Self {
        Text {
            bytes,
            escapes: Escapes::None,
        }
    }

    /// A value written with `escapes`, which it may not hold.
    #[inline]
    pub fn escaped(bytes: &'a [u8], escapes: Escapes) -> Self {
        Text {
            bytes,
            escapes: escapes.if_in(bytes),
        }
    }

    /// The value with its escapes undone. Of backslash escapes only `\"` and `\\`: other
    /// sequences such as nginx's `\x16` stay as written, they are how the server chose to print a
    /// non-printable byte. A `%` not followed by two hex digits stays as written too.
    #[inline]
    pub fn unescaped(&self) -> Cow<'a, [u8]> {
        match self.escapes {
            Escapes::None => Cow::Borrowed(self.bytes),
            Escapes::Backslash => Cow::Owned(self.without_backslashes()),
            Escapes::Percent => Cow::Owned(percent_decoded(self.bytes)),
            Escapes::Plus => Cow::Owned(plus_decoded(self.bytes)),
            Escapes::Json => Cow::Owned(json_unescaped(self.bytes)),
        }
    }

    fn without_backslashes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len());
        let mut rest = self.bytes;
        while let Some(i) = memchr(b'\\', rest) {
            out.extend_from_slice(&rest[..i]);
            match rest.get(i + 1) {
                Some(&escaped @ (b'"' | b'\\')) => {
                    out.push(escaped);
                    rest = &rest[i + 2..];
                }
                _ => {
                    out.push(b'\\');
                    rest = &rest[i + 1..];
                }
            }
        }
        out.extend_from_slice(rest);
        out
    }
}

/// A JSON string's body with its escapes undone; a malformed escape stays as written, and a
/// `\u` escape of half a surrogate pair alone becomes U+FFFD.
fn json_unescaped(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    let hex4 = |digits: &[u8]| -> Option<u32> {
        let text = std::str::from_utf8(digits.get(..4)?).ok()?;
        u32::from_str_radix(text, 16).ok()
    };
    while let Some(i) = memchr(b'\\', rest) {
        out.extend_from_slice(&rest[..i]);
        let simple = match rest.get(i + 1) {
            Some(b'"') => Some(b'"'),
            Some(b'\\') => Some(b'\\'),
            Some(b'/') => Some(b'/'),
            Some(b'b') => Some(0x08),
            Some(b'f') => Some(0x0c),
            Some(b'n') => Some(b'\n'),
            Some(b'r') => Some(b'\r'),
            Some(b't') => Some(b'\t'),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            rest = &rest[i + 2..];
            continue;
        }
        let Some(unit) = (rest.get(i + 1) == Some(&b'u'))
            .then(|| hex4(&rest[i + 2..]))
            .flatten()
        else {
            out.push(b'\\');
            rest = &rest[i + 1..];
            continue;
        };
        let mut used = 6;
        let code = match unit {
            0xD800..=0xDBFF => {
                let low = (rest.get(i + 6..i + 8) == Some(b"\\u"))
                    .then(|| hex4(&rest[i + 8..]))
                    .flatten()
                    .filter(|low| (0xDC00..=0xDFFF).contains(low));
                match low {
                    Some(low) => {
                        used = 12;
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    None => 0xFFFD,
                }
            }
            0xDC00..=0xDFFF => 0xFFFD,
            unit => unit,
        };
        let c = char::from_u32(code).unwrap_or('\u{FFFD}');
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        rest = &rest[i + used..];
    }
    out.extend_from_slice(rest);
    out
}

/// IIS's `+` for a space. A `++` is read as a space and a `+`: crawlers' user agents write
/// `; +http://…`, which IIS logs as `;++http://…`, and two spaces in a row are rare.
fn plus_decoded(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut after_plus = false;
    for &b in bytes {
        out.push(match b {
            b'+' if after_plus => {
                after_plus = false;
                b'+'
            }
            b'+' => {
                after_plus = true;
                b' '
            }
            other => {
                after_plus = false;
                other
            }
        });
    }
    out
}

fn percent_decoded(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = memchr(b'%', rest) {
        out.extend_from_slice(&rest[..at]);
        let digit = |i: usize| rest.get(at + i).copied().and_then(hex);
        match (digit(1), digit(2)) {
            (Some(high), Some(low)) => {
                out.push(high * 16 + low);
                rest = &rest[at + 3..];
            }
            _ => {
                out.push(b'%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.extend_from_slice(rest);
    out
}

/// The fields of one access-log line, borrowed from it. `None` is a field the line does not have
/// or logged as `-`.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessLine<'a> {
    /// Request time in microseconds since the epoch, UTC.
    pub ts_micros: i64,
    /// The client address; when the server logged a forwarded-for list, its first entry.
    pub client: &'a [u8],
    pub remote_user: Option<&'a [u8]>,
    /// `None` for `"-"`, an empty request, or a request whose first word is not an HTTP method
    /// (binary junk, TLS on a plain port): such requests are kept whole in `path`.
    pub method: Option<&'a [u8]>,
    pub path: Option<Text<'a>>,
    /// The query string, without the `?`.
    pub query: Option<Text<'a>>,
    pub protocol: Option<&'a [u8]>,
    pub status: i16,
    pub bytes_sent: Option<i64>,
    pub referrer: Option<Text<'a>>,
    pub user_agent: Option<Text<'a>>,
    /// From nginx `$request_time` (seconds with a fraction) or Apache `%D` (whole microseconds).
    pub request_time_ms: Option<f64>,
    pub vhost: Option<&'a [u8]>,
}

/// The fields of a line that no column holds, kept as one JSON object for the `extra_fields`
/// column: `{"trace_id":"Root=1-…","ssl_protocol":"TLSv1.2"}`. Keys are the format's own names
/// for its fields; values are strings as logged (a quoted field without its quotes, its escapes
/// as written). A field logged as `-` or empty is left out, and a line with none has no object.
///
/// Kept only when asked ([`crate::ParseLine::keep_extra_fields`]): writing them costs about
/// what parsing a load balancer's line does, and they make its rows twice as large
/// (benches/README.md). A parser keeps one and rewrites it for each line it reads
/// ([`crate::ParseLine::extra_fields`] hands it out): its buffer is reused.
#[derive(Debug, Clone, Default)]
pub struct ExtraFields {
    json: Vec<u8>,
    keep: bool,
}

impl ExtraFields {
    /// Whether a setting (`KEEP_EXTRA_FIELDS`) asks to keep them: `true` or `false`, unset or
    /// blank being `false`.
    pub fn from_setting(value: Option<&str>) -> Result<bool, String> {
        match value.map(str::trim) {
            None | Some("" | "false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(format!("{other:?} is neither true nor false")),
        }
    }

    pub(crate) fn keep(&mut self) {
        self.keep = true;
    }

    /// Whether fields are kept: a format can skip reading the fields only they hold.
    #[inline]
    pub(crate) fn kept(&self) -> bool {
        self.keep
    }

    /// Forgets the last line's fields.
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.json.clear();
    }

    /// Adds a field unless it is `-` or empty, when fields are kept. `key` is its name as
    /// [`json_key`] writes it.
    // Inlined, so a parser that does not keep them pays a test per field, not a call.
    #[inline(always)]
    pub(crate) fn push(&mut self, key: &[u8], value: &[u8]) {
        if self.keep {
            self.push_kept(key, value);
        }
    }

    fn push_kept(&mut self, key: &[u8], value: &[u8]) {
        if value.is_empty() || value == b"-" {
            return;
        }
        self.json
            .push(if self.json.is_empty() { b'{' } else { b',' });
        self.json.extend_from_slice(key);
        crate::json::write_string(value, &mut self.json);
    }

    /// Adds a field the format has no name for, by its 1-based position on the line:
    /// `"field_34":`.
    #[cold]
    pub(crate) fn push_numbered(&mut self, position: usize, value: &[u8]) {
        let key = json_key(format!("field_{position}").as_bytes());
        self.push(&key, value);
    }

    /// Closes the object, once the line's fields are pushed.
    #[inline]
    pub(crate) fn finish(&mut self) {
        if !self.json.is_empty() {
            self.json.push(b'}');
        }
    }

    /// The object, or `None` when no field was pushed.
    #[inline]
    pub fn json(&self) -> Option<&[u8]> {
        (!self.json.is_empty()).then_some(self.json.as_slice())
    }
}

/// A field name known when the code is written, as a JSON object key (see [`json_key`]).
macro_rules! static_json_key {
    ($name:literal) => {
        concat!("\"", $name, "\":").as_bytes()
    };
}
pub(crate) use static_json_key;

/// A field's name as a JSON object key, with its colon: `"trace_id":`.
pub(crate) fn json_key(name: &[u8]) -> Box<[u8]> {
    let mut key = Vec::with_capacity(name.len() + 3);
    crate::json::write_string(name, &mut key);
    key.push(b':');
    key.into_boxed_slice()
}

/// The first `byte` in `haystack`, for the few bytes between two fields, where a plain loop
/// beats memchr's setup.
pub(crate) fn find_short(haystack: &[u8], byte: u8) -> Option<usize> {
    haystack.iter().position(|&b| b == byte)
}

pub(crate) fn trim_ascii_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., last] = line {
        if last.is_ascii_whitespace() {
            line = rest;
        } else {
            break;
        }
    }
    line
}

pub(crate) fn dash_is_none(field: &[u8]) -> Option<&[u8]> {
    (field != b"-" && !field.is_empty()).then_some(field)
}

/// A read position in the part of the line after the timestamp.
pub(crate) struct Cursor<'a> {
    pub(crate) line: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.line.get(self.pos..).unwrap_or_default()
    }

    #[inline]
    pub(crate) fn eat(&mut self, expected: &[u8]) -> bool {
        // A loop, not `starts_with`: for the one or two bytes expected, a call to memcmp costs
        // more than the comparison.
        let rest = self.rest();
        let found = rest.len() >= expected.len() && expected.iter().zip(rest).all(|(a, b)| a == b);
        if found {
            self.pos += expected.len();
        }
        found
    }

    /// Up to the next space or the end of the line.
    pub(crate) fn word(&mut self) -> &'a [u8] {
        let rest = self.rest();
        let len = find_short(rest, b' ').unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// The body of a quoted field whose opening quote was just eaten, up to its closing quote
    /// (which is consumed). `Some(None)` for `"-"` and `""`; `None` when the quote never closes.
    pub(crate) fn quoted_body(&mut self) -> Option<Option<Text<'a>>> {
        let rest = self.rest();
        let mut escaped = false;
        let mut from = 0;
        loop {
            let i = from + memchr2(b'"', b'\\', &rest[from..])?;
            if rest[i] == b'\\' {
                escaped = true;
                from = i + 2;
                if from > rest.len() {
                    return None;
                }
                continue;
            }
            self.pos += i + 1;
            let body = &rest[..i];
            let escapes = if escaped {
                Escapes::Backslash
            } else {
                Escapes::None
            };
            return Some(dash_is_none(body).map(|bytes| Text { bytes, escapes }));
        }
    }
}

pub(crate) fn parse_status(word: &[u8]) -> Option<i16> {
    match *word {
        [a, b, c] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Some(i16::from(a - b'0') * 100 + i16::from(b - b'0') * 10 + i16::from(c - b'0'))
        }
        _ => None,
    }
}

/// A non-negative decimal as servers write numbers (`0.000041`, `12`, `1e-3`). Digits with at
/// most one dot, up to 16 bytes, are read without the general float parser: the whole number of
/// units divided by a power of ten is the same correctly rounded value, since both are exact in
/// an `f64`.
pub(crate) fn parse_decimal(word: &[u8]) -> Option<f64> {
    if word.len() <= 16 && word.first().is_some_and(u8::is_ascii_digit) {
        let (mut units, mut scale, mut seen_dot) = (0u64, 1u64, false);
        let plain = word.iter().all(|&b| match b {
            b'0'..=b'9' => {
                units = units * 10 + u64::from(b - b'0');
                scale *= if seen_dot { 10 } else { 1 };
                true
            }
            b'.' if !seen_dot => {
                seen_dot = true;
                true
            }
            _ => false,
        });
        if plain {
            return Some(units as f64 / scale as f64);
        }
    }
    std::str::from_utf8(word).ok()?.parse().ok()
}

/// A duration as logged (`0.000041`, `-1`): `Some(None)` for a negative one, which AWS writes
/// for a time it did not measure.
pub(crate) fn parse_duration(word: &[u8]) -> Option<Option<f64>> {
    let value = parse_decimal(word)?;
    value.is_finite().then_some((value >= 0.0).then_some(value))
}

pub(crate) fn parse_bytes(word: &[u8]) -> Result<Option<i64>, RejectReason> {
    if word == b"-" {
        return Ok(None);
    }
    // 18 digits always fit an i64; no response is anywhere near that large.
    if word.is_empty() || word.len() > 18 || !word.iter().all(u8::is_ascii_digit) {
        return Err(RejectReason::BadBytes);
    }
    Ok(Some(
        word.iter().fold(0i64, |n, &d| n * 10 + i64::from(d - b'0')),
    ))
}
pub(crate) struct RequestParts<'a> {
    pub(crate) method: Option<&'a [u8]>,
    pub(crate) path: Option<Text<'a>>,
    pub(crate) query: Option<Text<'a>>,
    pub(crate) protocol: Option<&'a [u8]>,
}

/// Splits `METHOD target PROTOCOL`. A request whose first word is not a method is kept whole in
/// `path` (binary junk, TLS handshakes on a plain port); a request with no protocol is HTTP/0.9
/// or has a space in its target, and keeps everything after the method as the target.
pub(crate) fn split_request(request: Option<Text<'_>>) -> RequestParts<'_> {
    let mut parts = RequestParts {
        method: None,
        path: None,
        query: None,
        protocol: None,
    };
    let Some(request) = request else {
        return parts;
    };
    let text = request.bytes;
    let method_end = find_short(text, b' ');
    let method = method_end.map(|end| &text[..end]);
    let Some(method) = method.filter(|m| is_http_method(m)) else {
        parts.path = Some(request);
        return parts;
    };
    parts.method = Some(method);
    let mut target = &text[method.len() + 1..];
    if let Some(space) = memrchr(b' ', target) {
        if target[space + 1..].starts_with(b"HTTP/") {
            parts.protocol = Some(&target[space + 1..]);
            target = &target[..space];
        }
    }
    let with_escapes = |bytes| Text::escaped(bytes, request.escapes);
    match memchr(b'?', target) {
        Some(q) => {
            parts.path = Some(with_escapes(&target[..q]));
            parts.query = Some(with_escapes(&target[q + 1..]));
        }
        None => parts.path = Some(with_escapes(target)),
    }
    parts
}

/// Upper-case letters, `-` and `_`, as HTTP methods are written (GET, PROPFIND, M-SEARCH),
/// starting with a letter: a load balancer's `-` for a request it could not read is no method.
pub(crate) fn is_http_method(word: &[u8]) -> bool {
    (1..=20).contains(&word.len())
        && word[0].is_ascii_uppercase()
        && word
            .iter()
            .all(|b| b.is_ascii_uppercase() || *b == b'-' || *b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_undone_and_broken_ones_kept_as_written() {
        let unescaped = |bytes: &'static [u8], escapes| Text { bytes, escapes }.unescaped();
        let cases: [(&[u8], Escapes, &[u8]); 6] = [
            (b"a%20b%2Fc", Escapes::Percent, b"a b/c"),
            (b"%zz%2%", Escapes::Percent, b"%zz%2%"),
            (b"%%41%e9", Escapes::Percent, b"%A\xe9"),
            (
                br#"say \"hi\" \\ \x16"#,
                Escapes::Backslash,
                br#"say "hi" \ \x16"#,
            ),
            (
                b"Mozilla/5.0+(bot;++http://x)",
                Escapes::Plus,
                b"Mozilla/5.0 (bot; +http://x)",
            ),
            (b"as+is", Escapes::None, b"as+is"),
        ];
        for (bytes, escapes, expected) in cases {
            assert_eq!(&*unescaped(bytes, escapes), expected, "{escapes:?}");
        }
    }

    #[test]
    fn decimals_read_as_the_float_parser_reads_them() {
        for word in [
            "0.000041",
            "0.012",
            "12",
            "1.5",
            "0.1",
            "999999.999999",
            "3.",
            "0.33333333333333",
            "12345678901234567",
            "1e-3",
        ] {
            let parsed: f64 = word.parse().unwrap();
            assert_eq!(parse_decimal(word.as_bytes()), Some(parsed), "{word}");
        }
        for word in ["", ".", "1.2.3", "x"] {
            assert_eq!(parse_decimal(word.as_bytes()), None, "{word}");
        }
        assert_eq!(parse_duration(b"-1"), Some(None));
        assert_eq!(parse_duration(b"1e-3"), Some(Some(0.001)));
        assert_eq!(parse_duration(b"inf"), None);
    }
}
