//! Custom formats: the server's own `log_format` (nginx) or `LogFormat` (Apache) string, given
//! as `nginx:…` or `apache:…` wherever a format name goes, compiled once at start-up into a
//! parser of its lines.
//!
//! A format string is literal text and fields (`$name` or `${name}` for nginx, `%x`, `%>s` or
//! `%{arg}x` for Apache). Compiling turns it into steps: each field is read up to the literal
//! text that follows it (a field inside quotes up to a closing quote that is not
//! backslash-escaped; the last field to the end of the line). Fields that map onto a column fill
//! it (the table in README.md); any other field (`$request_length`, `%{X-Forwarded-For}i`, …) is
//! kept in `extra_fields`, under the nginx variable's name or the Apache directive as written.
//! Text after the last literal is ignored. nginx's `$upstream_*` fields
//! may hold lists (`0.012, 0.003 : 0.001`) and are read whole. A line that does not follow the
//! format's literal text is a `format_mismatch` reject.

use memchr::memchr;

use super::{BuiltOnce, ParseLine};
use crate::line::{
    dash_is_none, find_short, json_key, parse_bytes, parse_duration, parse_status, split_request,
    AccessLine, Escapes, ExtraFields, Text,
};
use crate::reject::RejectReason;
use crate::timestamp::{
    month_number, parse_epoch, parse_iso8601_offset, ClockReading, TimestampCache,
};

/// Why a custom format string cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomFormatError {
    #[error("a custom format is `nginx:` or `apache:` followed by the server's format string")]
    NoDialect,
    #[error("`{0}` is not a complete field")]
    BadField(String),
    #[error("`{0}` and `{1}` have nothing between them, so where the first ends is unknown")]
    AdjacentFields(String, String),
    #[error("the format has no {0}, which every row needs")]
    Missing(&'static str),
    #[error("time format `{0}` is not supported (see README.md)")]
    BadTimeFormat(String),
}

/// What a field of the format string fills.
#[derive(Debug, Clone, PartialEq)]
enum Field {
    Client,
    RemoteUser,
    Time(TimeLayout),
    /// `GET /a?b=1 HTTP/1.1`.
    Request,
    Method,
    Path,
    /// The path and `?query`, as nginx's `$request_uri`.
    PathAndQuery,
    /// The query, with or without Apache's leading `?`.
    Query,
    Protocol,
    Status,
    BytesSent,
    Referrer,
    UserAgent,
    /// A request duration in this many units per second (1: nginx `$request_time`, 1_000_000:
    /// Apache `%D`).
    Duration(f64),
    Vhost,
    /// Kept in `extra_fields`.
    Other,
    /// Kept in `extra_fields`; may hold `, ` and ` : ` separated lists (nginx `$upstream_*`).
    OtherList,
}

/// How a time field writes the instant.
#[derive(Debug, Clone, PartialEq)]
enum TimeLayout {
    /// `10/Oct/2026:13:55:36 -0700` (nginx `$time_local`), or bracketed (Apache `%t`).
    Clf,
    /// `2026-10-10T13:55:36+02:00` (nginx `$time_iso8601`).
    Iso8601,
    /// Seconds since the epoch, with a fraction (nginx `$msec`), or whole units of
    /// `1 / per_second` (Apache `%{sec}t`, `%{msec}t`, `%{usec}t`).
    Epoch { per_second: i64 },
    /// An Apache `%{…}t` strftime layout.
    Strftime(Vec<StrftimePart>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum StrftimePart {
    Literal(u8),
    Year,
    Month,
    MonthName,
    Day,
    Hour,
    Minute,
    Second,
    Offset,
}

/// One field and the literal text after it (empty: the field runs to the end of the line).
#[derive(Debug, Clone, PartialEq)]
struct Step {
    /// How the format string wrote the field, for error messages.
    written: String,
    field: Field,
    /// An `Other` field's key in `extra_fields`: an nginx variable's name (`upstream_addr`),
    /// an Apache directive as written (`%{X-Forwarded-For}i`).
    key: Box<[u8]>,
    until: Vec<u8>,
    /// Between quotes: a quote escaped by a backslash does not end it.
    quoted: bool,
    /// Spaces the field's value always holds (a time's), before which it cannot end.
    spaces_inside: usize,
    /// The last field, quoted: a line cut before its closing quote keeps the rest of the line
    /// as its value, as the built-in formats do.
    open_ended: bool,
    /// A field of a few bytes (a status, an address), found by a plain loop rather than memchr.
    short: bool,
}

/// A compiled custom format.
#[derive(Debug)]
pub struct CustomFormat {
    /// The format as given (`nginx:…`), which is also its name.
    spec: String,
    /// Literal text before the first field.
    prefix: Vec<u8>,
    steps: Vec<Step>,
}

impl PartialEq for CustomFormat {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Eq for CustomFormat {}

impl std::hash::Hash for CustomFormat {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.spec.hash(state);
    }
}

/// Formats compiled so far, one per distinct string.
static COMPILED: BuiltOnce<CustomFormat> = BuiltOnce::new();

impl CustomFormat {
    /// Whether `spec` is written as a custom format (rather than a registered format's name).
    pub fn is_custom(spec: &str) -> bool {
        spec.starts_with("nginx:") || spec.starts_with("apache:")
    }

    /// The compiled format of `spec` (`nginx:…` or `apache:…`), compiled on first use.
    pub fn get(spec: &str) -> Result<&'static CustomFormat, CustomFormatError> {
        COMPILED.get(spec, CustomFormat::spec, || Self::compile(spec))
    }

    /// The format string as given, `nginx:` or `apache:` included.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// Compiles `spec` without keeping it: [`CustomFormat::get`] is the way for a run's format;
    /// this is for callers that try many (the fuzz target), which would otherwise keep them all.
    pub fn compile(spec: &str) -> Result<Self, CustomFormatError> {
        let items = if let Some(directive) = spec.strip_prefix("nginx:") {
            items(directive, b'$', nginx_field_at)?
        } else if let Some(directive) = spec.strip_prefix("apache:") {
            items(directive, b'%', apache_field_at)?
        } else {
            return Err(CustomFormatError::NoDialect);
        };
        let mut prefix = Vec::new();
        let mut steps: Vec<Step> = Vec::new();
        for item in items {
            match item {
                Item::Literal(bytes) => match steps.last_mut() {
                    Some(step) => step.until.extend_from_slice(&bytes),
                    None => prefix.extend_from_slice(&bytes),
                },
                Item::Field(written, field) => {
                    if let Some(last) = steps.last().filter(|last| last.until.is_empty()) {
                        return Err(CustomFormatError::AdjacentFields(
                            last.written.clone(),
                            written,
                        ));
                    }
                    let before = steps.last().map_or(&prefix, |last| &last.until);
                    let quoted = before.last() == Some(&b'"');
                    steps.push(Step::new(written, field, quoted));
                }
            }
        }
        for step in &mut steps {
            step.quoted &= step.until.first() == Some(&b'"');
        }
        if let Some(last) = steps.last_mut() {
            last.open_ended = last.quoted && last.until == b"\"";
        }
        let has = |wanted: fn(&Field) -> bool| steps.iter().any(|step| wanted(&step.field));
        if !has(|f| matches!(f, Field::Time(_))) {
            return Err(CustomFormatError::Missing("time ($time_local, %t, …)"));
        }
        if !has(|f| matches!(f, Field::Status)) {
            return Err(CustomFormatError::Missing("status ($status, %>s)"));
        }
        if !has(|f| matches!(f, Field::Client)) {
            return Err(CustomFormatError::Missing(
                "client address ($remote_addr, %h)",
            ));
        }
        Ok(CustomFormat {
            spec: spec.to_string(),
            prefix,
            steps,
        })
    }
}

enum Item {
    Literal(Vec<u8>),
    Field(String, Field),
}

/// A format string's literal text and fields: at each `marker` (`$`, `%`) the dialect's
/// `field_at` reads a field (or an escaped literal) and says where it ends. `\"` is a quote:
/// format strings copied from a config file often keep the escapes.
fn items(
    directive: &str,
    marker: u8,
    field_at: impl Fn(&str, usize) -> Result<(Item, usize), CustomFormatError>,
) -> Result<Vec<Item>, CustomFormatError> {
    let bytes = directive.as_bytes();
    let mut items = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\\"") {
            items.push(Item::Literal(b"\"".to_vec()));
            i += 2;
        } else if bytes[i] == marker {
            let (item, end) = field_at(directive, i)?;
            items.push(item);
            i = end;
        } else {
            items.push(Item::Literal(vec![bytes[i]]));
            i += 1;
        }
    }
    Ok(items)
}

/// The nginx variable at `at` (`$name` or `${name}`).
fn nginx_field_at(directive: &str, at: usize) -> Result<(Item, usize), CustomFormatError> {
    let bytes = directive.as_bytes();
    let is_name = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let (name, end) = if bytes.get(at + 1) == Some(&b'{') {
        let close = memchr(b'}', &bytes[at..]).map(|close| at + close);
        let close = close.ok_or_else(|| CustomFormatError::BadField(directive[at..].into()))?;
        (&directive[at + 2..close], close + 1)
    } else {
        let len = bytes[at + 1..].iter().take_while(|b| is_name(b)).count();
        (&directive[at + 1..at + 1 + len], at + 1 + len)
    };
    if name.is_empty() || !name.bytes().all(|b| is_name(&b)) {
        return Err(CustomFormatError::BadField(directive[at..end].into()));
    }
    Ok((
        Item::Field(directive[at..end].into(), nginx_field(name)),
        end,
    ))
}

fn nginx_field(name: &str) -> Field {
    match name {
        "remote_addr" | "realip_remote_addr" => Field::Client,
        "remote_user" => Field::RemoteUser,
        "time_local" => Field::Time(TimeLayout::Clf),
        "time_iso8601" => Field::Time(TimeLayout::Iso8601),
        "msec" => Field::Time(TimeLayout::Epoch { per_second: 1 }),
        "request" => Field::Request,
        "request_method" => Field::Method,
        "uri" | "document_uri" => Field::Path,
        "request_uri" => Field::PathAndQuery,
        "args" | "query_string" => Field::Query,
        "server_protocol" => Field::Protocol,
        "status" => Field::Status,
        "body_bytes_sent" | "bytes_sent" => Field::BytesSent,
        "http_referer" => Field::Referrer,
        "http_user_agent" => Field::UserAgent,
        "request_time" => Field::Duration(1.0),
        "host" | "http_host" | "server_name" => Field::Vhost,
        upstream if upstream.starts_with("upstream_") => Field::OtherList,
        _ => Field::Other,
    }
}

/// The Apache directive at `at`: `%[<>][!][status list][{argument}][<>]letter`, or `%%`.
fn apache_field_at(directive: &str, at: usize) -> Result<(Item, usize), CustomFormatError> {
    let bytes = directive.as_bytes();
    if bytes.get(at + 1) == Some(&b'%') {
        return Ok((Item::Literal(b"%".to_vec()), at + 2));
    }
    let bad = || CustomFormatError::BadField(directive[at..].into());
    let mut i = at + 1;
    while matches!(bytes.get(i), Some(b'<' | b'>' | b'!' | b',' | b'0'..=b'9')) {
        i += 1;
    }
    let mut argument = None;
    if bytes.get(i) == Some(&b'{') {
        let close = memchr(b'}', &bytes[i..])
            .map(|close| i + close)
            .ok_or_else(bad)?;
        argument = Some(&directive[i + 1..close]);
        i = close + 1;
    }
    while matches!(bytes.get(i), Some(b'<' | b'>')) {
        i += 1;
    }
    let letter = *bytes
        .get(i)
        .filter(|b| b.is_ascii_alphabetic())
        .ok_or_else(bad)?;
    let field = apache_field(letter, argument)?;
    Ok((Item::Field(directive[at..=i].into(), field), i + 1))
}

fn apache_field(letter: u8, argument: Option<&str>) -> Result<Field, CustomFormatError> {
    let header = argument.map(str::to_ascii_lowercase);
    Ok(match (letter, header.as_deref()) {
        (b'h' | b'a', _) => Field::Client,
        (b'u', _) => Field::RemoteUser,
        (b't', None) => Field::Time(TimeLayout::Clf),
        (b't', Some(_)) => Field::Time(apache_time(argument.unwrap_or_default())?),
        (b'r', _) => Field::Request,
        (b'm', _) => Field::Method,
        (b'U', _) => Field::Path,
        (b'q', _) => Field::Query,
        (b'H', _) => Field::Protocol,
        (b's', _) => Field::Status,
        (b'b' | b'B' | b'O', _) => Field::BytesSent,
        (b'i', Some("referer")) => Field::Referrer,
        (b'i', Some("user-agent")) => Field::UserAgent,
        (b'i', Some("host")) | (b'v' | b'V', _) => Field::Vhost,
        (b'D', _) => Field::Duration(1_000_000.0),
        (b'T', None | Some("s")) => Field::Duration(1.0),
        (b'T', Some("ms")) => Field::Duration(1_000.0),
        (b'T', Some("us")) => Field::Duration(1_000_000.0),
        _ => Field::Other,
    })
}

/// Apache's `%{…}t`: `sec`, `msec`, `usec`, or a strftime layout of `%Y %m %d %H %M %S %z %b`
/// (and `%T`, `%F`), each optionally after `begin:` or `end:`.
fn apache_time(argument: &str) -> Result<TimeLayout, CustomFormatError> {
    let layout = argument
        .strip_prefix("begin:")
        .or_else(|| argument.strip_prefix("end:"))
        .unwrap_or(argument);
    let per_second = match layout {
        "sec" => Some(1),
        "msec" => Some(1_000),
        "usec" => Some(1_000_000),
        _ => None,
    };
    if let Some(per_second) = per_second {
        return Ok(TimeLayout::Epoch { per_second });
    }
    let unsupported = || CustomFormatError::BadTimeFormat(argument.to_string());
    let mut parts = Vec::new();
    let mut bytes = layout.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            parts.push(StrftimePart::Literal(b));
            continue;
        }
        use StrftimePart::*;
        match bytes.next().ok_or_else(unsupported)? {
            b'Y' => parts.push(Year),
            b'm' => parts.push(Month),
            b'b' => parts.push(MonthName),
            b'd' => parts.push(Day),
            b'H' => parts.push(Hour),
            b'M' => parts.push(Minute),
            b'S' => parts.push(Second),
            b'z' => parts.push(Offset),
            b'T' => parts.extend([Hour, Literal(b':'), Minute, Literal(b':'), Second]),
            b'F' => parts.extend([Year, Literal(b'-'), Month, Literal(b'-'), Day]),
            b'%' => parts.push(Literal(b'%')),
            _ => return Err(unsupported()),
        }
    }
    if !parts.contains(&StrftimePart::Day) || !parts.contains(&StrftimePart::Hour) {
        return Err(unsupported());
    }
    Ok(TimeLayout::Strftime(parts))
}

/// Reads `text` by a strftime layout (no offset: UTC).
fn parse_strftime(parts: &[StrftimePart], text: &[u8]) -> Option<i64> {
    let mut reading = ClockReading {
        year: 1970,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        offset_seconds: 0,
    };
    let mut rest = text;
    let number = |rest: &mut &[u8], digits: usize| -> Option<i64> {
        let (head, tail) = rest.split_at_checked(digits)?;
        *rest = tail;
        head.iter().try_fold(0, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    for part in parts {
        match part {
            StrftimePart::Literal(b) => rest = rest.strip_prefix(&[*b])?,
            StrftimePart::Year => reading.year = number(&mut rest, 4)?,
            StrftimePart::Month => reading.month = number(&mut rest, 2)?,
            StrftimePart::Day => reading.day = number(&mut rest, 2)?,
            StrftimePart::Hour => reading.hour = number(&mut rest, 2)?,
            StrftimePart::Minute => reading.minute = number(&mut rest, 2)?,
            StrftimePart::Second => reading.second = number(&mut rest, 2)?,
            StrftimePart::MonthName => {
                let (name, tail) = rest.split_at_checked(3)?;
                reading.month = month_number(name.try_into().ok()?)?;
                rest = tail;
            }
            StrftimePart::Offset => {
                let sign = match rest.first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                rest = &rest[1..];
                let (hours, minutes) = (number(&mut rest, 2)?, number(&mut rest, 2)?);
                reading.offset_seconds = sign * (hours * 3_600 + minutes * 60);
            }
        }
    }
    rest.is_empty().then_some(())?;
    reading.micros()
}

/// Parser of one custom format's lines.
#[derive(Debug, Clone)]
pub struct CustomParser<'f> {
    format: &'f CustomFormat,
    timestamps: TimestampCache,
    extra: ExtraFields,
}

impl<'f> CustomParser<'f> {
    pub fn new(format: &'f CustomFormat) -> Self {
        Self {
            format,
            timestamps: TimestampCache::default(),
            extra: ExtraFields::default(),
        }
    }
}

impl Step {
    /// A step for `field`, its literal text to come.
    fn new(written: String, field: Field, quoted: bool) -> Self {
        let spaces_inside = match &field {
            Field::Time(TimeLayout::Clf) => 1,
            Field::Time(TimeLayout::Strftime(parts)) => (parts.iter())
                .filter(|part| **part == StrftimePart::Literal(b' '))
                .count(),
            _ => 0,
        };
        let short = matches!(
            field,
            Field::Client
                | Field::RemoteUser
                | Field::Time(_)
                | Field::Method
                | Field::Protocol
                | Field::Status
                | Field::BytesSent
                | Field::Duration(_)
        );
        let key = match written.strip_prefix('$') {
            Some(variable) => variable.trim_start_matches('{').trim_end_matches('}'),
            None => &written,
        };
        Step {
            key: json_key(key.as_bytes()),
            written,
            field,
            until: Vec::new(),
            quoted,
            spaces_inside,
            open_ended: false,
            short,
        }
    }

    /// This step's field at the start of `rest`, and what follows the literal after it.
    #[inline]
    fn read<'a>(&self, rest: &'a [u8]) -> Option<(&'a [u8], &'a [u8])> {
        let Some(&first) = self.until.first() else {
            return Some((rest, &[]));
        };
        let find = |haystack: &[u8], byte| match self.short {
            true => find_short(haystack, byte),
            false => memchr(byte, haystack),
        };
        let mut from = 0;
        for _ in 0..self.spaces_inside {
            from += find(&rest[from..], b' ')? + 1;
        }
        // The literal's other bytes, compared in a loop: they are few, and a call to memcmp
        // costs more than the comparison.
        let more = &self.until[1..];
        loop {
            let Some(at) = find(&rest[from..], first).map(|at| from + at) else {
                return self.open_ended.then_some((rest, &[]));
            };
            let after = &rest[at + 1..];
            let ends_here = after.len() >= more.len()
                && more.iter().zip(after).all(|(a, b)| a == b)
                && !(self.quoted && backslash_escaped(rest, at))
                && !(self.field == Field::OtherList && list_goes_on(rest, at));
            if ends_here {
                return Some((&rest[..at], &after[more.len()..]));
            }
            from = at + 1;
        }
    }
}

/// Whether the byte at `at` follows an odd number of backslashes.
fn backslash_escaped(text: &[u8], at: usize) -> bool {
    text[..at].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// Whether the space at `at` is inside an nginx upstream list (`a, b : c`).
fn list_goes_on(text: &[u8], at: usize) -> bool {
    let before = at.checked_sub(1).map(|i| text[i]);
    matches!(before, Some(b',' | b':')) || text[at + 1..].starts_with(b": ")
}

impl ParseLine for CustomParser<'_> {
    fn keep_extra_fields(&mut self) {
        self.extra.keep();
    }

    fn extra_fields(&self) -> Option<&[u8]> {
        self.extra.json()
    }

    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessLine<'a>, RejectReason> {
        let format = self.format;
        let mut rest = match format.prefix.is_empty() {
            true => line,
            false => {
                (line.strip_prefix(format.prefix.as_slice())).ok_or(RejectReason::FormatMismatch)?
            }
        };
        let mut parsed = AccessLine {
            ts_micros: 0,
            client: b"-",
            remote_user: None,
            method: None,
            path: None,
            query: None,
            protocol: None,
            status: 0,
            bytes_sent: None,
            referrer: None,
            user_agent: None,
            request_time_ms: None,
            vhost: None,
        };
        let text = |bytes| Text::escaped(bytes, Escapes::Backslash);
        self.extra.clear();
        for step in &format.steps {
            let (value, after) = step.read(rest).ok_or(RejectReason::FormatMismatch)?;
            rest = after;
            match &step.field {
                Field::Client => parsed.client = value,
                Field::RemoteUser => parsed.remote_user = dash_is_none(value),
                Field::Time(layout) => {
                    parsed.ts_micros = self.time(layout, value).ok_or(RejectReason::BadTimestamp)?
                }
                Field::Request => {
                    let request = split_request(dash_is_none(value).map(text));
                    parsed.method = request.method;
                    parsed.path = request.path;
                    parsed.query = request.query;
                    parsed.protocol = request.protocol;
                }
                Field::Method => parsed.method = dash_is_none(value),
                Field::Path => parsed.path = dash_is_none(value).map(text),
                Field::PathAndQuery => {
                    let uri = dash_is_none(value);
                    let (path, query) = match uri.and_then(|uri| memchr(b'?', uri)) {
                        Some(at) => (uri.map(|uri| &uri[..at]), uri.map(|uri| &uri[at + 1..])),
                        None => (uri, None),
                    };
                    (parsed.path, parsed.query) = (path.map(text), query.map(text));
                }
                Field::Query => {
                    let query = value.strip_prefix(b"?").unwrap_or(value);
                    parsed.query = dash_is_none(query).filter(|q| !q.is_empty()).map(text);
                }
                Field::Protocol => parsed.protocol = dash_is_none(value),
                Field::Status => {
                    parsed.status = parse_status(value).ok_or(RejectReason::BadStatus)?
                }
                Field::BytesSent => parsed.bytes_sent = parse_bytes(value)?,
                Field::Referrer => parsed.referrer = dash_is_none(value).map(text),
                Field::UserAgent => parsed.user_agent = dash_is_none(value).map(text),
                Field::Duration(per_second) => {
                    parsed.request_time_ms = parse_duration(value)
                        .flatten()
                        .map(|units| units * 1_000.0 / per_second)
                }
                Field::Vhost => parsed.vhost = dash_is_none(value),
                Field::Other | Field::OtherList => self.extra.push(&step.key, value),
            }
        }
        self.extra.finish();
        Ok(parsed)
    }
}

impl CustomParser<'_> {
    #[inline]
    fn time(&mut self, layout: &TimeLayout, value: &[u8]) -> Option<i64> {
        match layout {
            TimeLayout::Clf => {
                let inside = value.strip_prefix(b"[").and_then(|v| v.strip_suffix(b"]"));
                self.timestamps.parse(inside.unwrap_or(value))
            }
            TimeLayout::Iso8601 => parse_iso8601_offset(value),
            TimeLayout::Epoch { per_second } => parse_epoch(value, *per_second),
            TimeLayout::Strftime(parts) => parse_strftime(parts, value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser(spec: &str) -> CustomParser<'static> {
        let mut parser = CustomParser::new(CustomFormat::get(spec).unwrap());
        parser.keep_extra_fields();
        parser
    }

    const NGINX_COMBINED: &str = r#"nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;

    #[test]
    fn the_combined_directive_reads_as_the_built_in_combined() {
        let line = br#"203.0.113.9 - frank [10/Oct/2026:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "https://ref/" "Mozilla/5.0 \"x\"""#;
        let built_in = super::super::parse_line(line, super::super::LogFormat::Combined).unwrap();
        for spec in [
            NGINX_COMBINED,
            r#"apache:%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\""#,
        ] {
            assert_eq!(parser(spec).parse(line).unwrap(), built_in, "{spec}");
        }
    }

    #[test]
    fn times_durations_lists_and_other_fields() {
        let mut p = parser(
            "nginx:$time_iso8601|$msec|$remote_addr|$status|$request_time|$upstream_response_time $host $request_uri",
        );
        let line = p
            .parse(b"2026-10-10T15:55:36+02:00|1791640536.250|::1|404|0.125|0.100, 0.020 : 0.005 shop.example.com /a?b=1")
            .unwrap();
        // the later time field wins
        assert_eq!(line.ts_micros, 1_791_640_536_250_000);
        assert_eq!((line.client, line.status), (&b"::1"[..], 404));
        assert_eq!(line.request_time_ms, Some(125.0));
        assert_eq!(line.vhost, Some(&b"shop.example.com"[..]));
        assert_eq!(
            (line.path.unwrap().bytes, line.query.unwrap().bytes),
            (&b"/a"[..], &b"b=1"[..])
        );
        // fields that fill no column, by the variable's name
        let fields = crate::format::tests::extra_fields(&p);
        assert_eq!(fields.len(), 1);
        assert_eq!(fields["upstream_response_time"], "0.100, 0.020 : 0.005");

        let mut p = parser("apache:%a %{%d/%b/%Y %T %z}t %{msec}t %s %D %q %{X-Forwarded-For}i");
        let line = p
            .parse(b"10.0.0.1 10/Oct/2026 13:55:36 +0000 1791640536250 200 125000 ?b=1 1.2.3.4, 5.6.7.8")
            .unwrap();
        assert_eq!(line.ts_micros, 1_791_640_536_250_000);
        assert_eq!(line.request_time_ms, Some(125.0));
        assert_eq!(line.query.unwrap().bytes, b"b=1");
        // by the directive as written
        let fields = crate::format::tests::extra_fields(&p);
        assert_eq!(fields.len(), 1);
        assert_eq!(fields["%{X-Forwarded-For}i"], "1.2.3.4, 5.6.7.8");
        // a line with only `-` for them has none
        p.parse(b"10.0.0.1 10/Oct/2026 13:55:36 +0000 1791640536250 200 125000 ?b=1 -")
            .unwrap();
        assert_eq!(p.extra_fields(), None);
    }

    #[test]
    fn compile_errors_say_what_is_wrong() {
        let error = |spec: &str| CustomFormat::get(spec).unwrap_err();
        assert_eq!(error("$remote_addr"), CustomFormatError::NoDialect);
        assert_eq!(
            error("nginx:$remote_addr $status"),
            CustomFormatError::Missing("time ($time_local, %t, …)")
        );
        assert_eq!(
            error("nginx:$remote_addr [$time_local] $status$body_bytes_sent"),
            CustomFormatError::AdjacentFields("$status".into(), "$body_bytes_sent".into())
        );
        assert!(matches!(
            error("apache:%h %t %>s %{oops"),
            CustomFormatError::BadField(_)
        ));
        assert!(matches!(
            error("apache:%h %{%j}t %>s"),
            CustomFormatError::BadTimeFormat(_)
        ));
        assert!(matches!(
            error("nginx:${remote_addr [$time_local] $status"),
            CustomFormatError::BadField(_)
        ));
    }

    #[test]
    fn lines_off_the_format_are_rejected_with_reasons() {
        let mut p = parser(NGINX_COMBINED);
        let cases: [(&[u8], RejectReason); 4] = [
            (
                b"1.2.3.4 - - 10/Oct/2026:13:55:36 -0700 \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
                RejectReason::FormatMismatch,
            ),
            (
                b"1.2.3.4 - - [10/Oct/2026:25:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"",
                RejectReason::BadTimestamp,
            ),
            (
                b"1.2.3.4 - - [10/Oct/2026:13:55:36 -0700] \"GET / HTTP/1.1\" 20x 1 \"-\" \"-\"",
                RejectReason::BadStatus,
            ),
            (
                b"1.2.3.4 - - [10/Oct/2026:13:55:36 -0700] \"GET / HTTP/1.1\" 200 x \"-\" \"-\"",
                RejectReason::BadBytes,
            ),
        ];
        for (line, reason) in cases {
            assert_eq!(
                p.parse(line).err(),
                Some(reason),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    /// README.md's table of the fields that fill columns is what the compiler maps.
    #[test]
    fn the_readme_names_the_fields_that_fill_columns() {
        let readme = include_str!("../../../README.md");
        let table = readme
            .split("### Custom formats")
            .nth(1)
            .and_then(|section| section.split("\n#").next())
            .expect("README.md has the custom formats section");
        let mut checked = 0;
        for row in table.lines().filter(|line| line.starts_with("| `")) {
            let cells: Vec<&str> = row.split(" | ").collect();
            for cell in &cells[1..] {
                for directive in cell.split('`').skip(1).step_by(2) {
                    let field = match directive.as_bytes() {
                        [b'$', name @ ..] => nginx_field(std::str::from_utf8(name).unwrap()),
                        // `%l` is read over; `%{…}t` and the strftime letters stand for a family
                        _ if directive == "%l" || directive.contains(['…', ' ']) => continue,
                        _ => match apache_field_at(directive, 0) {
                            Ok((Item::Field(_, field), end)) if end == directive.len() => field,
                            _ => panic!("{directive} is not one Apache field"),
                        },
                    };
                    assert_ne!(field, Field::Other, "{directive} fills no column");
                    checked += 1;
                }
            }
        }
        assert!(checked > 30, "{checked}");
    }

    #[test]
    fn a_format_string_is_compiled_once() {
        let spec = "nginx:$remote_addr [$time_local] $status";
        assert!(std::ptr::eq(
            CustomFormat::get(spec).unwrap(),
            CustomFormat::get(spec).unwrap()
        ));
    }
}
