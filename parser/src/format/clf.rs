//! The grammar the CLF family shares (Apache and nginx access logs: `common`, `combined`,
//! `vhost_combined` and the trailing fields servers add), which those formats and `auto` read.
//!
//! The parser anchors on the bracketed timestamp, the one field every Apache/nginx access format
//! shares. What stands before it is the prefix (`[vhost[:port]] client ident user`), what follows is
//! `"request" status bytes` and, in the combined formats, `"referrer" "user agent"` and any
//! trailing fields (nginx `$request_time`, Apache `%D`, a quoted X-Forwarded-For, ...).

use memchr::{memchr, memchr2};

use crate::line::{
    dash_is_none, find_short, parse_bytes, parse_decimal, parse_status, split_request,
    trim_ascii_end, AccessLine, Cursor, Escapes, Text,
};
use crate::reject::RejectReason;
use crate::timestamp::{TimestampCache, TIMESTAMP_LEN};

/// Which layout of the family a line has: what the layout-specific formats check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClfLayout {
    /// `"referrer" "user agent"` follow the size (`combined`; else `common`).
    pub combined: bool,
    /// A virtual host stands before the client (`vhost_combined`).
    pub vhost: bool,
}

impl ClfLayout {
    pub const COMMON: Self = Self {
        combined: false,
        vhost: false,
    };
    pub const COMBINED: Self = Self {
        combined: true,
        vhost: false,
    };
    pub const VHOST_COMBINED: Self = Self {
        combined: true,
        vhost: true,
    };
}

/// Parses lines of the CLF family one after another, reusing what consecutive lines share (their
/// timestamp's minute).
#[derive(Debug, Clone, Default)]
pub struct ClfParser {
    timestamps: TimestampCache,
}

impl ClfParser {
    /// Parses one line (without its line ending) of the family: of any layout, or with
    /// `format_mismatch` when it is not the `only` one. (The layout is checked here rather than
    /// returned beside the line, which would copy the line's fields once more, and the grammar
    /// stays one function compiled in this crate, where its helpers inline.)
    #[inline]
    pub fn parse<'a>(
        &mut self,
        line: &'a [u8],
        only: Option<ClfLayout>,
    ) -> Result<AccessLine<'a>, RejectReason> {
        parse_with(line, &mut self.timestamps, only)
    }
}

fn parse_with<'a>(
    line: &'a [u8],
    timestamps: &mut TimestampCache,
    only: Option<ClfLayout>,
) -> Result<AccessLine<'a>, RejectReason> {
    let line = trim_ascii_end(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(RejectReason::EmptyLine);
    }
    let ts_open = find_timestamp(line)?;
    let ts_micros = timestamps
        .parse(&line[ts_open + 1..ts_open + 1 + TIMESTAMP_LEN])
        .ok_or(RejectReason::BadTimestamp)?;
    let prefix = parse_prefix(&line[..ts_open])?;

    let mut cursor = Cursor {
        line,
        pos: ts_open + TIMESTAMP_LEN + 2,
    };
    if !cursor.eat(b" \"") {
        return Err(RejectReason::BadRequest);
    }
    let request = cursor.quoted_body().ok_or(RejectReason::BadRequest)?;
    if !cursor.eat(b" ") {
        return Err(RejectReason::BadStatus);
    }
    let status = parse_status(cursor.word()).ok_or(RejectReason::BadStatus)?;
    if !cursor.eat(b" ") {
        return Err(RejectReason::BadBytes);
    }
    let bytes_sent = parse_bytes(cursor.word())?;

    let mut referrer = None;
    let mut user_agent = None;
    let mut request_time_ms = None;
    let combined = cursor.rest().starts_with(b" \"");
    if combined {
        cursor.eat(b" \"");
        referrer = cursor.quoted_body().ok_or(RejectReason::BadQuotedField)?;
        if !cursor.eat(b" \"") {
            return Err(RejectReason::BadQuotedField);
        }
        // A user agent whose closing quote is missing at the end of the line is a line the
        // server cut short: the rest of the line is the agent.
        user_agent = match cursor.quoted_body() {
            Some(ua) => ua,
            None => {
                let rest = cursor.rest();
                cursor.pos = line.len();
                dash_is_none(rest).map(|bytes| Text::escaped(bytes, Escapes::Backslash))
            }
        };
    }
    if !cursor.rest().is_empty() {
        if !cursor.eat(b" ") {
            return Err(RejectReason::BadBytes);
        }
        request_time_ms = request_time_from_extras(cursor.rest());
    }

    let layout = ClfLayout {
        combined,
        vhost: prefix.vhost.is_some(),
    };
    if only.is_some_and(|only| only != layout) {
        return Err(RejectReason::FormatMismatch);
    }
    let parts = split_request(request);
    Ok(AccessLine {
        ts_micros,
        client: prefix.client,
        remote_user: prefix.remote_user,
        method: parts.method,
        path: parts.path,
        query: parts.query,
        protocol: parts.protocol,
        status,
        bytes_sent,
        referrer,
        user_agent,
        request_time_ms,
        vhost: prefix.vhost,
    })
}

/// The index of the `[` that opens the timestamp: the first `[` followed by the timestamp's
/// fixed shape and a `]`. A shape-valid timestamp with impossible values is still found here so
/// that it is reported as a bad timestamp, not a missing one.
fn find_timestamp(line: &[u8]) -> Result<usize, RejectReason> {
    let mut from = 0;
    while let Some(i) = memchr(b'[', &line[from..]) {
        let open = from + i;
        let close = open + 1 + TIMESTAMP_LEN;
        if close < line.len()
            && line[close] == b']'
            && line[open + 3] == b'/'
            && line[open + 7] == b'/'
            && line[open + 12] == b':'
        {
            return Ok(open);
        }
        from = open + 1;
    }
    Err(RejectReason::NoTimestamp)
}

struct Prefix<'a> {
    vhost: Option<&'a [u8]>,
    client: &'a [u8],
    remote_user: Option<&'a [u8]>,
}

/// Most tokens a prefix may have: vhost, a forwarded-for list, client, ident, user, and slack.
const MAX_PREFIX_TOKENS: usize = 6;

/// Splits `[vhost] client-or-list ident user ` into its parts. Tokens are space-separated; a
/// quoted token is one token, and a token ending in `,` continues into the next (the address lists
/// nginx writes when `$remote_addr` is preceded by `$http_x_forwarded_for`).
fn parse_prefix(prefix: &[u8]) -> Result<Prefix<'_>, RejectReason> {
    let Some(prefix) = prefix.strip_suffix(b" ") else {
        return Err(RejectReason::BadPrefix);
    };
    let mut tokens: [&[u8]; MAX_PREFIX_TOKENS] = [&[]; MAX_PREFIX_TOKENS];
    let mut count = 0;
    let mut pos = 0;
    while pos < prefix.len() {
        if prefix[pos] == b' ' {
            pos += 1;
            continue;
        }
        let start = pos;
        loop {
            if prefix[pos] == b'"' {
                let close = memchr(b'"', &prefix[pos + 1..]).ok_or(RejectReason::BadPrefix)?;
                pos += close + 2;
            } else {
                pos += find_short(&prefix[pos..], b' ').unwrap_or(prefix.len() - pos);
            }
            let continues_list = prefix[pos - 1] == b',';
            if !(continues_list && pos < prefix.len()) {
                break;
            }
            pos += 1;
            while pos < prefix.len() && prefix[pos] == b' ' {
                pos += 1;
            }
            if pos == prefix.len() {
                break;
            }
        }
        if count == MAX_PREFIX_TOKENS {
            return Err(RejectReason::BadPrefix);
        }
        tokens[count] = &prefix[start..pos];
        count += 1;
    }
    let tokens = &tokens[..count];
    let (head, remote_user) = match tokens {
        [] | [_] => return Err(RejectReason::BadPrefix),
        // `client user` with the ident column missing: seen in the wild, kept.
        [client, user] => (std::slice::from_ref(client), *user),
        [head @ .., _ident, user] => (head, *user),
    };
    let (vhost, client_list) = match head {
        [only] => (None, *only),
        // A list (`a, b c`: the forwarded-for entries, then the address that connected) is no
        // host name.
        [first, rest @ ..] if !first.starts_with(b"\"") && memchr(b',', first).is_none() => {
            (Some(*first), rest[0])
        }
        [first, ..] => (None, *first),
        [] => return Err(RejectReason::BadPrefix),
    };
    if head.len() > 3 || (vhost.is_none() && head.len() > 2) {
        return Err(RejectReason::BadPrefix);
    }
    let client = first_address(client_list).ok_or(RejectReason::BadPrefix)?;
    Ok(Prefix {
        vhost,
        client,
        remote_user: dash_is_none(remote_user),
    })
}

/// The first entry of a client token that may be a quoted, comma-separated list.
fn first_address(token: &[u8]) -> Option<&[u8]> {
    let token = token.strip_prefix(b"\"").unwrap_or(token);
    let end = memchr2(b',', b'"', token)
        .into_iter()
        .chain(memchr(b' ', token))
        .min()
        .unwrap_or(token.len());
    let address = &token[..end];
    (!address.is_empty()).then_some(address)
}

/// The request duration from the fields after the user agent. nginx prints `$request_time` in
/// seconds with a fraction (`0.050`), so the first unquoted `digits.digits` token is taken as
/// seconds (ingress-nginx logs `$request_length` before it, a plain integer, which is skipped).
/// Without one, a whole number ending the line is Apache's `%D`, in microseconds.
fn request_time_from_extras(extras: &[u8]) -> Option<f64> {
    let mut rest = extras;
    let mut last_unquoted: &[u8] = &[];
    while !rest.is_empty() {
        let len = if rest[0] == b'"' {
            memchr(b'"', &rest[1..]).map_or(rest.len(), |close| close + 2)
        } else {
            let token = &rest[..memchr(b' ', rest).unwrap_or(rest.len())];
            if let Some(seconds) = decimal_seconds(token) {
                return Some(seconds * 1_000.0);
            }
            last_unquoted = token;
            token.len()
        };
        rest = rest.get(len + 1..).unwrap_or_default();
    }
    let is_integer = !last_unquoted.is_empty()
        && last_unquoted.len() <= 15
        && last_unquoted.iter().all(u8::is_ascii_digit);
    is_integer
        .then(|| parse_decimal(last_unquoted))
        .flatten()
        .map(|micros| micros / 1_000.0)
}

/// `digits.digits` as a number, else `None`.
fn decimal_seconds(token: &[u8]) -> Option<f64> {
    let dot = memchr(b'.', token)?;
    let (whole, fraction) = (&token[..dot], &token[dot + 1..]);
    let digits =
        |part: &[u8]| !part.is_empty() && part.len() <= 9 && part.iter().all(u8::is_ascii_digit);
    (digits(whole) && digits(fraction))
        .then(|| parse_decimal(token))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{parse_line, LogFormat};

    fn parse(line: &str) -> AccessLine<'_> {
        parse_line(line.as_bytes(), LogFormat::Auto).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    fn text(t: Option<Text<'_>>) -> Option<String> {
        t.map(|t| String::from_utf8(t.unescaped().into_owned()).unwrap())
    }

    fn s(b: Option<&[u8]>) -> Option<&str> {
        b.map(|b| std::str::from_utf8(b).unwrap())
    }

    #[test]
    fn combined() {
        let l = parse(
            r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/kibana.png?x=1&y=2 HTTP/1.1" 200 203023 "http://semicomplete.com/" "Mozilla/5.0 (X11; Linux x86_64)""#,
        );
        assert_eq!(l.client, b"83.149.9.216");
        assert_eq!(l.remote_user, None);
        assert_eq!(s(l.method), Some("GET"));
        assert_eq!(text(l.path).as_deref(), Some("/presentations/kibana.png"));
        assert_eq!(text(l.query).as_deref(), Some("x=1&y=2"));
        assert_eq!(s(l.protocol), Some("HTTP/1.1"));
        assert_eq!(l.status, 200);
        assert_eq!(l.bytes_sent, Some(203023));
        assert_eq!(
            text(l.referrer).as_deref(),
            Some("http://semicomplete.com/")
        );
        assert_eq!(
            text(l.user_agent).as_deref(),
            Some("Mozilla/5.0 (X11; Linux x86_64)")
        );
        assert_eq!(l.vhost, None);
        assert_eq!(l.request_time_ms, None);
        assert_eq!(l.ts_micros, 1_431_857_103_000_000);
    }

    #[test]
    fn common() {
        let l = parse(
            r#"127.0.0.1 user-identifier frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#,
        );
        assert_eq!(s(l.remote_user), Some("frank"));
        assert_eq!(l.referrer, None);
        assert_eq!(l.user_agent, None);
        assert_eq!(l.bytes_sent, Some(2326));
        assert!(parse_line(
            br#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326"#,
            LogFormat::Common
        )
        .is_ok());
    }

    #[test]
    fn vhost_combined_with_port_or_host() {
        let l = parse(
            r#"www.example.com:443 10.1.2.3 - - [08/Jun/2020:08:04:43 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/7.68.0""#,
        );
        assert_eq!(s(l.vhost), Some("www.example.com:443"));
        assert_eq!(l.client, b"10.1.2.3");
        let l = parse(
            r#"example.com 172.17.0.1 - - [29/May/2017:19:02:48 +0000] "GET /x HTTP/1.1" 404 612 "-" "ua" "-""#,
        );
        assert_eq!(s(l.vhost), Some("example.com"));
        assert_eq!(l.client, b"172.17.0.1");
    }

    #[test]
    fn forwarded_for_lists_before_the_identity() {
        let l = parse(
            r#"10.0.0.2, 10.0.0.1, 127.0.0.1 - - [07/Dec/2016:11:05:07 +0100] "GET /ocelot HTTP/1.1" 200 571 "-" "ua""#,
        );
        assert_eq!(l.client, b"10.0.0.2");
        assert_eq!(l.vhost, None);
        let l = parse(
            r#""10.5.102.222, 199.96.1.1" 10.2.1.185 - - [22/Jan/2016:13:18:29 +0000] "GET /a?q=1 HTTP/1.1" 200 25507 "-" "Amazon CloudFront""#,
        );
        assert_eq!(l.client, b"10.5.102.222");
        assert_eq!(l.vhost, None);
        let l = parse(
            r#"example.com:80 "10.5.102.222, 175.16.199.1" 10.2.1.185 - - [22/Jan/2016:13:18:29 +0000] "GET / HTTP/1.1" 200 1 "-" "ua""#,
        );
        assert_eq!(s(l.vhost), Some("example.com:80"));
        assert_eq!(l.client, b"10.5.102.222");
        // an unquoted list before the address that connected: the list's first entry
        let l = parse(
            r#"2a03:0000:10ff:f00f:0000:0000:0:8000, 10.225.192.17 10.2.2.121 - - [30/Dec/2016:06:47:09 +0000] "GET /test.html HTTP/1.1" 404 8571 "-" "ua""#,
        );
        assert_eq!(l.client, b"2a03:0000:10ff:f00f:0000:0000:0:8000");
        assert_eq!(l.vhost, None);
    }

    #[test]
    fn trailing_fields_give_the_request_time() {
        // nginx: $request_time $upstream_response_time "$http_x_forwarded_for"
        let l = parse(
            r#"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" 0.125 0.120 "5.6.7.8""#,
        );
        assert_eq!(l.request_time_ms, Some(125.0));
        // a quoted forwarded-for first, then the time
        let l = parse(
            r#"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" "5.6.7.8, 9.9.9.9" 1.500"#,
        );
        assert_eq!(l.request_time_ms, Some(1500.0));
        // Apache %D, microseconds
        let l = parse(
            r#"localhost:443 178.20.184.42 1j0vhgd jsmith [26/Jul/2023:00:01:26 -0700] "GET /secure HTTP/2.0" 200 17163 "-" "Mozilla/5.0" 116075"#,
        );
        assert_eq!(l.request_time_ms, Some(116.075));
        assert_eq!(s(l.remote_user), Some("jsmith"));
        // ingress-nginx upstreaminfo: $request_length, then $request_time
        let l = parse(
            r#"0.0.0.0 - bob [18/Mar/2023:15:00:00 +0000] "GET /p HTTP/2.0" 200 12312 "-" "ua" 462 0.050 [svc-9000] [] 10.0.50.80:9000 19437 0.049 200 75217"#,
        );
        assert_eq!(l.request_time_ms, Some(50.0));
        // unknown extras are ignored
        let l = parse(
            r#"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua" "-" extra"#,
        );
        assert_eq!(l.request_time_ms, None);
    }

    #[test]
    fn odd_requests_are_rows() {
        let l = parse(r#"::1 - - [26/Dec/2016:16:16:48 +0200] "-" 408 -"#);
        assert_eq!(
            (l.method, l.path, l.protocol, l.bytes_sent),
            (None, None, None, None)
        );
        assert_eq!(l.client, b"::1");
        let l = parse(r#"127.0.0.1 - - [12/Apr/2018:09:48:40 +0200] "" 400 0 "-" "-""#);
        assert_eq!((l.method, l.path), (None, None));
        // HTTP/0.9: no protocol
        let l = parse(r#"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] "GET /index.html" 200 10"#);
        assert_eq!(s(l.method), Some("GET"));
        assert_eq!(text(l.path).as_deref(), Some("/index.html"));
        assert_eq!(l.protocol, None);
        // a space in the target, no protocol
        let l = parse(
            r#"172.17.0.1 - - [29/Sep/2021:12:37:05 +0000] "GET /a.php?cmd=ls -al&x=1" 400 226"#,
        );
        assert_eq!(text(l.path).as_deref(), Some("/a.php"));
        assert_eq!(text(l.query).as_deref(), Some("cmd=ls -al&x=1"));
        // TLS handshake bytes as nginx escapes them: kept whole, no method
        let l = parse(
            r#"5.6.7.8 - - [10/Oct/2020:10:00:00 +0000] "\x16\x03\x01\x00\xA5\x01" 400 157 "-" "-""#,
        );
        assert_eq!(l.method, None);
        assert_eq!(text(l.path).as_deref(), Some(r"\x16\x03\x01\x00\xA5\x01"));
        let l = parse(
            r#"example.com:80 unix: - - [26/Feb/2019:15:39:42 +0100] "hello" 400 173 "-" "-""#,
        );
        assert_eq!(l.client, b"unix:");
        assert_eq!(text(l.path).as_deref(), Some("hello"));
        assert_eq!(l.method, None);
    }

    #[test]
    fn a_user_agent_cut_short_keeps_the_rest_of_the_line() {
        let l = parse(
            r#"46.118.127.106 - - [20/May/2015:12:05:17 +0000] "GET /a HTTP/1.1" 200 235 "-" "Mozilla/5.0 (compatible; Googlebot/2.1"#,
        );
        assert_eq!(
            text(l.user_agent).as_deref(),
            Some("Mozilla/5.0 (compatible; Googlebot/2.1")
        );
    }

    #[test]
    fn escaped_quotes_inside_quoted_fields() {
        let l = parse(
            r#"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] "GET /a\"b HTTP/1.1" 200 1 "-" "Mozilla \"quoted\" \\ end""#,
        );
        assert_eq!(text(l.path).as_deref(), Some(r#"/a"b"#));
        assert_eq!(
            text(l.user_agent).as_deref(),
            Some(r#"Mozilla "quoted" \ end"#)
        );
    }

    #[test]
    fn ipv6_clients_and_hostnames() {
        assert_eq!(
            parse(r#"2001:db8::1 - - [10/Oct/2020:10:00:00 +0000] "GET / HTTP/1.1" 200 1"#).client,
            b"2001:db8::1"
        );
        assert_eq!(parse(r#"monitoring-server - - [29/May/2017:19:02:48 +0000] "GET /status HTTP/1.1" 200 612 "-" "ua" "-""#).client, b"monitoring-server");
    }

    #[test]
    fn rejects_with_reasons() {
        let cases: &[(&str, RejectReason)] = &[
            ("", RejectReason::EmptyLine),
            ("   \t", RejectReason::EmptyLine),
            (
                "[Thu Oct 13 12:24:49.880562 2022] [auth_basic:error] [pid 10] AH01618",
                RejectReason::NoTimestamp,
            ),
            (
                "2021/12/01 13:53:33 [error] 31#31: *46 not found",
                RejectReason::NoTimestamp,
            ),
            (
                r#"1.2.3.4 - - [30/Feb/2020:10:00:00 +0000] "GET / HTTP/1.1" 200 1"#,
                RejectReason::BadTimestamp,
            ),
            (
                r#"[10/Aug/2018:09:45:56 +0200] 172.30.0.119 TLSv1.2 ECDHE "GET / HTTP/1.1" 1375"#,
                RejectReason::BadPrefix,
            ),
            (
                r#"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] "GET / HTTP/1.1 200 1"#,
                RejectReason::BadRequest,
            ),
            (
                r#"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] GET / 200 1"#,
                RejectReason::BadRequest,
            ),
            (
                r#"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] "GET / HTTP/1.1" 2000 1"#,
                RejectReason::BadStatus,
            ),
            (
                r#"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] "GET / HTTP/1.1" 200 1x"#,
                RejectReason::BadBytes,
            ),
            (
                r#"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "ref""#,
                RejectReason::BadQuotedField,
            ),
        ];
        for (line, reason) in cases {
            assert_eq!(
                parse_line(line.as_bytes(), LogFormat::Auto).err(),
                Some(*reason),
                "{line}"
            );
        }
    }

    #[test]
    fn a_forced_format_rejects_other_layouts() {
        let combined =
            br#"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua""#;
        let common = br#"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] "GET / HTTP/1.1" 200 1"#;
        let vhost =
            br#"h:80 1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua""#;
        let mismatch = Err(RejectReason::FormatMismatch);
        assert!(parse_line(combined, LogFormat::Combined).is_ok());
        assert_eq!(
            parse_line(common, LogFormat::Combined).map(|_| ()),
            mismatch
        );
        assert_eq!(
            parse_line(combined, LogFormat::Common).map(|_| ()),
            mismatch
        );
        assert_eq!(parse_line(vhost, LogFormat::Combined).map(|_| ()), mismatch);
        assert!(parse_line(vhost, LogFormat::VhostCombined).is_ok());
        assert_eq!(
            parse_line(combined, LogFormat::VhostCombined).map(|_| ()),
            mismatch
        );
    }

    #[test]
    fn never_panics_on_prefixes_of_a_line() {
        let line = br#"h:80 "1.1.1.1, 2.2.2.2" 3.3.3.3 - u [10/Oct/2020:10:00:00 +0000] "GET /a\"?b HTTP/1.1" 200 1 "r\\" "ua\"" 0.1 "x""#;
        for end in 0..=line.len() {
            let _ = parse_line(&line[..end], LogFormat::Auto);
            for start in 0..end.min(40) {
                let _ = parse_line(&line[start..end], LogFormat::Auto);
            }
        }
    }
}
