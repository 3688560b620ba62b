//! JSON access logs: one JSON object a line, as three servers write them, told apart by their
//! keys (which do not overlap):
//!
//! - **Caddy**'s default access log (`"logger":"http.log.access…"`): `ts` (epoch seconds),
//!   `request.{client_ip|remote_ip, method, uri, proto, host, headers.User-Agent[0],
//!   headers.Referer[0]}`, `status`, `size`, `duration` (seconds), `user_id`. Caddy writes its
//!   runtime log to the same output by default: those lines are `not_access_record` rejects.
//! - **Traefik**'s JSON access log: `StartUTC`, `ClientHost`, `ClientUsername`, `RequestMethod`,
//!   `RequestPath` (with the query), `RequestProtocol`, `RequestHost`, `DownstreamStatus`,
//!   `DownstreamContentSize`, `Duration` (nanoseconds), `request_User-Agent`, `request_Referer`.
//! - **nginx** `log_format NAME escape=json '{…}'` with the variables' own names as keys:
//!   `time_iso8601`, `time_local` or `msec`; `remote_addr`; `remote_user`; `request`, or
//!   `request_method` with `request_uri`; `server_protocol`; `status`; `body_bytes_sent` or
//!   `bytes_sent`; `http_referer`; `http_user_agent`; `request_time`; `host`, `http_host` or
//!   `server_name`. Values may be strings (as such a `log_format` writes them) or numbers.
//!
//! Every other key goes to `extra_fields` (a nested value as its JSON text). A line that is not
//! one JSON object is a `bad_json` reject.

use std::borrow::Cow;

use super::{LineFormat, ParseLine};
use crate::line::{
    dash_is_none, json_key, parse_decimal, split_request, AccessLine, Escapes, ExtraFields, Text,
};
use crate::reject::RejectReason;
use crate::timestamp::{parse_clf_timestamp, parse_iso8601_utc, TIMESTAMP_LEN};

/// Parser of JSON access-log lines.
#[derive(Debug, Clone, Default)]
pub struct JsonAccess {
    extra: ExtraFields,
}

impl LineFormat for JsonAccess {
    const NAME: &'static str = "json";
    const SUMMARY: &'static str = "JSON access logs: Caddy, Traefik, nginx `escape=json`";
    const EXAMPLE: &'static str = r#"{"time_iso8601":"2026-10-10T13:55:36+00:00","remote_addr":"203.0.113.9","request":"GET /a?b=1 HTTP/1.1","status":"200","body_bytes_sent":"2326","http_referer":"https://ref/","http_user_agent":"curl/8.5.0","request_time":"0.012","host":"shop.example.com","request_id":"6f1c2e0a9b7d4e3f","ssl_protocol":"TLSv1.3","upstream_addr":"10.0.0.7:80","upstream_status":"200"}"#;
    const TRIED_BY_AUTO: bool = true;

    fn new() -> Self {
        Self::default()
    }
}

/// A member's value, as written on the line.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    /// A string's body, and whether it holds escapes.
    Str(&'a [u8], bool),
    /// A number, `true`, `false` or `null`, as written.
    Bare(&'a [u8]),
    /// An object or array, brackets included.
    Nested(&'a [u8]),
}

impl<'a> Value<'a> {
    fn text(self) -> Option<Text<'a>> {
        match self {
            Value::Str(body, escaped) => dash_is_none(body).map(|bytes| Text {
                bytes,
                escapes: if escaped { Escapes::Json } else { Escapes::None },
            }),
            Value::Bare(b"null") => None,
            Value::Bare(bytes) => Some(Text::plain(bytes)),
            Value::Nested(_) => None,
        }
    }

    /// The value's bytes when it is a plain string or a bare value (no escapes to undo).
    fn plain(self) -> Option<&'a [u8]> {
        match self {
            Value::Str(body, false) | Value::Bare(body) => dash_is_none(body),
            _ => None,
        }
    }

    fn number(self) -> Option<f64> {
        self.plain().and_then(parse_decimal)
    }

    /// For `extra_fields`: a string's body (unescaped), else the value as written.
    fn raw(self) -> Cow<'a, [u8]> {
        match self {
            Value::Str(body, true) => Text {
                bytes: body,
                escapes: Escapes::Json,
            }
            .unescaped(),
            Value::Str(bytes, false) | Value::Bare(bytes) | Value::Nested(bytes) => {
                Cow::Borrowed(bytes)
            }
        }
    }
}

/// Calls `member` with each key and value of the object that `text` holds (whitespace around it
/// allowed); `None` when `text` is not one well-formed object.
fn members<'a>(text: &'a [u8], mut member: impl FnMut(&'a [u8], Value<'a>)) -> Option<()> {
    let mut pos = skip_space(text, 0);
    if text.get(pos) != Some(&b'{') {
        return None;
    }
    pos = skip_space(text, pos + 1);
    if text.get(pos) == Some(&b'}') {
        return (skip_space(text, pos + 1) == text.len()).then_some(());
    }
    loop {
        if text.get(pos) != Some(&b'"') {
            return None;
        }
        let (key, _, after) = string(text, pos)?;
        pos = skip_space(text, after);
        if text.get(pos) != Some(&b':') {
            return None;
        }
        pos = skip_space(text, pos + 1);
        let (value, after) = value(text, pos)?;
        member(key, value);
        pos = skip_space(text, after);
        match text.get(pos) {
            Some(b',') => pos = skip_space(text, pos + 1),
            Some(b'}') => return (skip_space(text, pos + 1) == text.len()).then_some(()),
            _ => return None,
        }
    }
}

fn skip_space(text: &[u8], mut pos: usize) -> usize {
    while matches!(text.get(pos), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        pos += 1;
    }
    pos
}

/// The string whose opening quote is at `start`: its body, whether it has escapes, and the
/// position after its closing quote.
fn string(text: &[u8], start: usize) -> Option<(&[u8], bool, usize)> {
    let mut pos = start + 1;
    let mut escaped = false;
    loop {
        pos += memchr::memchr2(b'"', b'\\', text.get(pos..)?)?;
        if text[pos] == b'\\' {
            escaped = true;
            pos += 2;
        } else {
            return Some((&text[start + 1..pos], escaped, pos + 1));
        }
    }
}

/// The value starting at `start`, and the position after it.
fn value(text: &[u8], start: usize) -> Option<(Value<'_>, usize)> {
    match *text.get(start)? {
        b'"' => string(text, start).map(|(body, escaped, end)| (Value::Str(body, escaped), end)),
        b'{' | b'[' => {
            // To the matching bracket, strings skipped whole.
            let mut depth = 0usize;
            let mut pos = start;
            while pos < text.len() {
                match text[pos] {
                    b'"' => {
                        pos = string(text, pos)?.2;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some((Value::Nested(&text[start..=pos]), pos + 1));
                        }
                    }
                    _ => {}
                }
                pos += 1;
            }
            None
        }
        _ => {
            let len = text[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'))
                .unwrap_or(text.len() - start);
            (len > 0).then(|| (Value::Bare(&text[start..start + len]), start + len))
        }
    }
}

/// The first string of a JSON array (`["curl/8"]`: how Caddy writes a header's values).
fn first_of(value: Value<'_>) -> Option<Value<'_>> {
    let Value::Nested(array) = value else {
        return None;
    };
    let pos = skip_space(array, 1);
    (array.first() == Some(&b'[') && array.get(pos) == Some(&b'"'))
        .then(|| self::value(array, pos))
        .flatten()
        .map(|(v, _)| v)
}

/// `YYYY-MM-DDTHH:MM:SS[.f]` with `Z` or `±HH:MM`, as nginx's `$time_iso8601` and Traefik write it.
fn parse_iso8601(text: &[u8]) -> Option<i64> {
    if text.last() == Some(&b'Z') {
        return parse_iso8601_utc(text);
    }
    let (head, offset) = text.split_at(text.len().checked_sub(6)?);
    let [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] = *offset else {
        return None;
    };
    let digits = |a: u8, b: u8| -> Option<i64> {
        (a.is_ascii_digit() && b.is_ascii_digit()).then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
    };
    let minutes = digits(h1, h2)? * 60 + digits(m1, m2)?;
    let mut utc = head.to_vec();
    utc.push(b'Z');
    let local = parse_iso8601_utc(&utc)?;
    let offset = minutes * 60_000_000;
    Some(if sign == b'+' { local - offset } else { local + offset })
}

/// Epoch seconds (`1693840791.7564995`, Caddy's `ts`, nginx's `$msec`) as microseconds.
fn epoch_seconds(value: Value<'_>) -> Option<i64> {
    let seconds = value.number()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1e6).round() as i64)
}

/// What the line's keys say about the request, before it becomes an [`AccessLine`].
#[derive(Default)]
struct Found<'a> {
    ts_micros: Option<i64>,
    client: Option<&'a [u8]>,
    remote_user: Option<&'a [u8]>,
    request_line: Option<Text<'a>>,
    method: Option<&'a [u8]>,
    target: Option<Text<'a>>,
    protocol: Option<&'a [u8]>,
    status: Option<i16>,
    bytes_sent: Option<i64>,
    referrer: Option<Text<'a>>,
    user_agent: Option<Text<'a>>,
    request_time_ms: Option<f64>,
    vhost: Option<&'a [u8]>,
    /// Caddy's `logger`, when the line has one: only `http.log.access…` lines are requests.
    caddy_logger: Option<&'a [u8]>,
}

fn status_of(value: Value<'_>) -> Option<i16> {
    let n = value.number()?;
    (n.fract() == 0.0 && (0.0..1000.0).contains(&n)).then_some(n as i16)
}

fn bytes_of(value: Value<'_>) -> Option<i64> {
    let n = value.number()?;
    (n.fract() == 0.0 && n >= 0.0).then_some(n as i64)
}

impl ParseLine for JsonAccess {
    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessLine<'a>, RejectReason> {
        if line.first() != Some(&b'{') {
            return Err(RejectReason::NoTimestamp);
        }
        let extra = &mut self.extra;
        extra.clear();
        let mut found = Found::default();
        let mut bad_time = false;
        let mut caddy_request: Option<&'a [u8]> = None;
        members(line, |key, value| {
            match key {
                // Caddy
                b"ts" => found.ts_micros = epoch_seconds(value),
                b"logger" => found.caddy_logger = value.plain(),
                b"request" if matches!(value, Value::Nested(_)) => {
                    if let Value::Nested(object) = value {
                        caddy_request = Some(object);
                    }
                }
                b"duration" => found.request_time_ms = value.number().map(|s| s * 1e3),
                b"size" => found.bytes_sent = bytes_of(value),
                b"user_id" => found.remote_user = value.plain(),
                b"status" => found.status = status_of(value),
                // Traefik
                b"StartUTC" => {
                    found.ts_micros = value.plain().and_then(parse_iso8601);
                    bad_time |= found.ts_micros.is_none();
                }
                b"ClientHost" => found.client = value.plain(),
                b"ClientUsername" => found.remote_user = value.plain(),
                b"RequestMethod" | b"request_method" => found.method = value.plain(),
                b"RequestPath" | b"request_uri" => found.target = value.text(),
                b"RequestProtocol" | b"server_protocol" => found.protocol = value.plain(),
                b"RequestHost" | b"host" | b"http_host" | b"server_name" => {
                    found.vhost = found.vhost.or(value.plain())
                }
                b"DownstreamStatus" => found.status = status_of(value),
                b"DownstreamContentSize" | b"body_bytes_sent" | b"bytes_sent" => {
                    found.bytes_sent = found.bytes_sent.or(bytes_of(value))
                }
                b"Duration" => found.request_time_ms = value.number().map(|ns| ns / 1e6),
                b"request_User-Agent" | b"http_user_agent" => found.user_agent = value.text(),
                b"request_Referer" | b"http_referer" => found.referrer = value.text(),
                // nginx
                b"time_iso8601" => {
                    found.ts_micros = value.plain().and_then(parse_iso8601);
                    bad_time |= found.ts_micros.is_none();
                }
                b"time_local" => {
                    let clf = value.plain().filter(|t| t.len() == TIMESTAMP_LEN);
                    found.ts_micros = clf.and_then(parse_clf_timestamp);
                    bad_time |= found.ts_micros.is_none();
                }
                b"msec" => found.ts_micros = found.ts_micros.or(epoch_seconds(value)),
                b"remote_addr" => found.client = found.client.or(value.plain()),
                b"remote_user" => found.remote_user = value.plain(),
                b"request" => found.request_line = value.text(),
                b"request_time" => found.request_time_ms = value.number().map(|s| s * 1e3),
                // (the key's JSON and the value's unescaping only when they are kept)
                _ if extra.kept() => extra.push(&json_key(key), &value.raw()),
                _ => {}
            }
        })
        .ok_or(RejectReason::BadJson)?;
        if let Some(logger) = found.caddy_logger {
            if !logger.starts_with(b"http.log.access") {
                return Err(RejectReason::NotAccessRecord);
            }
        }
        if let Some(request) = caddy_request {
            read_caddy_request(request, &mut found, extra).ok_or(RejectReason::BadJson)?;
        }
        extra.finish();
        let ts_micros = found.ts_micros.ok_or(match bad_time {
            true => RejectReason::BadTimestamp,
            false => RejectReason::NotAccessRecord,
        })?;
        let client = found.client.ok_or(RejectReason::NotAccessRecord)?;
        let status = found.status.ok_or(RejectReason::BadStatus)?;
        // The request line as one value (nginx's `$request`), or in parts.
        let mut parts = split_request(found.request_line);
        if found.request_line.is_none() {
            parts.method = found.method;
            parts.protocol = found.protocol;
            if let Some(target) = found.target {
                let (path, query) = match memchr::memchr(b'?', target.bytes) {
                    Some(q) => (&target.bytes[..q], Some(&target.bytes[q + 1..])),
                    None => (target.bytes, None),
                };
                parts.path = Some(Text::escaped(path, target.escapes));
                parts.query = query.map(|q| Text::escaped(q, target.escapes));
            }
        }
        Ok(AccessLine {
            ts_micros,
            // the first entry of a forwarded-for list, as the CLF family reads one
            client: first_entry(client),
            remote_user: found.remote_user,
            method: parts.method,
            path: parts.path,
            query: parts.query,
            protocol: parts.protocol,
            status,
            bytes_sent: found.bytes_sent,
            referrer: found.referrer,
            user_agent: found.user_agent,
            request_time_ms: found.request_time_ms,
            vhost: found.vhost,
        })
    }

    fn keep_extra_fields(&mut self) {
        self.extra.keep();
    }

    fn extra_fields(&self) -> Option<&[u8]> {
        self.extra.json()
    }
}

fn first_entry(client: &[u8]) -> &[u8] {
    let end = memchr::memchr(b',', client).unwrap_or(client.len());
    client[..end].trim_ascii()
}

/// Caddy's `request` object: the client, the request line's parts, the host and two headers.
fn read_caddy_request<'a>(
    request: &'a [u8],
    found: &mut Found<'a>,
    extra: &mut ExtraFields,
) -> Option<()> {
    let mut remote_ip = None;
    let mut headers = None;
    members(request, |key, value| match key {
        b"client_ip" => found.client = value.plain(),
        b"remote_ip" => remote_ip = value.plain(),
        b"method" => found.method = value.plain(),
        b"uri" => found.target = value.text(),
        b"proto" => found.protocol = value.plain(),
        b"host" => found.vhost = value.plain(),
        b"headers" => headers = Some(value),
        _ if !extra.kept() => {}
        _ => {
            let mut name = b"request.".to_vec();
            name.extend_from_slice(key);
            extra.push(&json_key(&name), &value.raw());
        }
    })?;
    found.client = found.client.or(remote_ip);
    if let Some(Value::Nested(headers)) = headers {
        members(headers, |name, values| {
            if name.eq_ignore_ascii_case(b"User-Agent") {
                found.user_agent = first_of(values).and_then(Value::text);
            } else if name.eq_ignore_ascii_case(b"Referer") {
                found.referrer = first_of(values).and_then(Value::text);
            }
        })?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<AccessLine<'_>, RejectReason> {
        JsonAccess::new().parse(line.as_bytes())
    }

    fn text(t: Option<Text<'_>>) -> Option<String> {
        t.map(|t| String::from_utf8(t.unescaped().into_owned()).unwrap())
    }

    #[test]
    fn nginx_escape_json_lines_fill_the_columns() {
        let line = parse(JsonAccess::EXAMPLE).unwrap();
        assert_eq!(line.ts_micros, crate::parse_utc_instant("2026-10-10T13:55:36Z").unwrap());
        assert_eq!(line.client, b"203.0.113.9");
        assert_eq!((line.method, line.protocol), (Some(&b"GET"[..]), Some(&b"HTTP/1.1"[..])));
        assert_eq!(text(line.path).as_deref(), Some("/a"));
        assert_eq!(text(line.query).as_deref(), Some("b=1"));
        assert_eq!((line.status, line.bytes_sent), (200, Some(2326)));
        assert_eq!(line.request_time_ms, Some(12.0));
        assert_eq!(line.vhost, Some(&b"shop.example.com"[..]));
        // an offset, escapes, numbers unquoted, and keys no column holds
        let mut parser = JsonAccess::new();
        parser.keep_extra_fields();
        let line = parser
            .parse(br#"{"time_iso8601":"2026-10-10T15:55:36+02:00","remote_addr":"203.0.113.9","request_method":"GET","request_uri":"/s?q=\"x\"","server_protocol":"HTTP/2.0","status":404,"http_user_agent":"Mozilla/5.0 \u00e9","upstream_addr":"10.0.0.7:80"}"#)
            .unwrap();
        assert_eq!(line.ts_micros, crate::parse_utc_instant("2026-10-10T13:55:36Z").unwrap());
        assert_eq!(text(line.query).as_deref(), Some("q=\"x\""));
        assert_eq!(text(line.user_agent).as_deref(), Some("Mozilla/5.0 é"));
        assert_eq!(line.status, 404);
        let extra = std::str::from_utf8(parser.extra_fields().unwrap()).unwrap();
        assert_eq!(extra, r#"{"upstream_addr":"10.0.0.7:80"}"#);
    }

    #[test]
    fn what_is_no_access_record_says_why() {
        assert_eq!(parse("{not json").err(), Some(RejectReason::BadJson));
        assert_eq!(parse(r#"{"a":1} trailing"#).err(), Some(RejectReason::BadJson));
        assert_eq!(
            parse(r#"{"level":"info","ts":1693840791.75,"logger":"tls.obtain","msg":"certificate obtained"}"#).err(),
            Some(RejectReason::NotAccessRecord)
        );
        assert_eq!(parse(r#"{"x":1}"#).err(), Some(RejectReason::NotAccessRecord));
        assert_eq!(
            parse(r#"{"time_iso8601":"yesterday","remote_addr":"1.2.3.4","status":200}"#).err(),
            Some(RejectReason::BadTimestamp)
        );
        assert_eq!(parse("203.0.113.9 - -").err(), Some(RejectReason::NoTimestamp));
    }
}
