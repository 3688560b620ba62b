//! AWS Classic Load Balancer (ELB) access logs, as AWS delivers them to S3.
//!
//! `time elb client:port backend:port request_processing_time backend_processing_time
//! response_processing_time elb_status_code backend_status_code received_bytes sent_bytes
//! "request" "user_agent" ssl_cipher ssl_protocol`, space-separated, `time` in ISO 8601 UTC.
//! Fields AWS may add after the user agent are ignored. The request's target is an absolute URL
//! (`http://host:port/path?query`): its `host:port` becomes `vhost` and the rest `path` and
//! `query`. `request_time_ms` is the three processing times added up, null when any is `-1` (the
//! request never reached a backend).

use super::{LineFormat, ParseLine};
use crate::line::{
    dash_is_none, parse_bytes, parse_status, parse_duration, split_request, AccessLine, Cursor, Text,
};
use crate::reject::RejectReason;
use crate::timestamp::parse_iso8601_utc;

/// Parser of Classic ELB access-log lines.
#[derive(Debug, Clone, Default)]
pub struct ElbClassic;

impl LineFormat for ElbClassic {
    const NAME: &'static str = "elb_classic";
    const SUMMARY: &'static str = "AWS Classic Load Balancer";
    const EXAMPLE: &'static str = r#"2026-10-10T13:55:36.094015Z my-elb 203.0.113.9:51234 10.0.0.7:80 0.000041 0.001048 0.000057 200 200 0 2326 "GET http://shop.example.com:80/a?b=1 HTTP/1.1" "curl/8.5.0" - -"#;
    const TRIED_BY_AUTO: bool = true;

    fn new() -> Self {
        Self
    }
}

impl ParseLine for ElbClassic {
    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessLine<'a>, RejectReason> {
        load_balancer_fields(&mut Cursor { line, pos: 0 })
    }
}

/// The fields Classic and Application Load Balancers share, from the time to the user agent
/// (the cursor is left after it).
pub(crate) fn load_balancer_fields<'a>(
    cursor: &mut Cursor<'a>,
) -> Result<AccessLine<'a>, RejectReason> {
    let ts_micros = {
        let time = cursor.word();
        if time.len() < 20 || time[4] != b'-' || time[10] != b'T' {
            return Err(RejectReason::NoTimestamp);
        }
        parse_iso8601_utc(time).ok_or(RejectReason::BadTimestamp)?
    };
    let mut next = |reason| {
        if cursor.eat(b" ") {
            Ok(cursor.word())
        } else {
            Err(reason)
        }
    };
    let _elb = next(RejectReason::BadPrefix)?;
    let client = address_of(next(RejectReason::BadPrefix)?).ok_or(RejectReason::BadPrefix)?;
    let _backend = next(RejectReason::BadPrefix)?;
    let mut request_time_ms = Some(0.0);
    for _ in 0..3 {
        let seconds =
            parse_duration(next(RejectReason::BadPrefix)?).ok_or(RejectReason::BadPrefix)?;
        request_time_ms = request_time_ms
            .zip(seconds.filter(|s| *s >= 0.0))
            .map(|(sum, s)| sum + s * 1_000.0);
    }
    let status = parse_status(next(RejectReason::BadStatus)?).ok_or(RejectReason::BadStatus)?;
    let _backend_status = next(RejectReason::BadStatus)?;
    let _received_bytes = next(RejectReason::BadBytes)?;
    let bytes_sent = parse_bytes(next(RejectReason::BadBytes)?)?;
    if !cursor.eat(b" \"") {
        return Err(RejectReason::BadRequest);
    }
    let request = cursor.quoted_body().ok_or(RejectReason::BadRequest)?;
    if !cursor.eat(b" \"") {
        return Err(RejectReason::BadQuotedField);
    }
    let user_agent = cursor.quoted_body().ok_or(RejectReason::BadQuotedField)?;

    // A TCP or SSL listener has no HTTP request: ELB writes `"- - - "`.
    let request = request.filter(|r| r.bytes != b"- - - ");
    let mut parts = split_request(request);
    let (vhost, path) = split_absolute_url(parts.path);
    parts.path = path;
    Ok(AccessLine {
        ts_micros,
        client,
        remote_user: None,
        method: parts.method,
        path: parts.path,
        query: parts.query,
        protocol: parts.protocol,
        status,
        bytes_sent,
        referrer: None,
        user_agent,
        request_time_ms,
        vhost,
    })

}

/// The address of `address:port` (IPv6 addresses are written without brackets, so the port is
/// what follows the last colon).
fn address_of(client_port: &[u8]) -> Option<&[u8]> {
    let colon = client_port.iter().rposition(|&b| b == b':')?;
    dash_is_none(&client_port[..colon])
}

/// `http://host:port/path` → (`host:port`, `/path`). A target that is not an absolute URL
/// (`-`, `*`, a bare path) is kept as it is, without a host.
fn split_absolute_url(path: Option<Text<'_>>) -> (Option<&[u8]>, Option<Text<'_>>) {
    let Some(target) = path else {
        return (None, None);
    };
    let bytes = target.bytes;
    let scheme_end = [&b"http://"[..], b"https://"]
        .iter()
        .find(|scheme| bytes.starts_with(scheme))
        .map(|scheme| scheme.len());
    let Some(start) = scheme_end else {
        return (None, Some(target));
    };
    let end = bytes[start..]
        .iter()
        .position(|&b| b == b'/')
        .map_or(bytes.len(), |i| start + i);
    let host = dash_is_none(&bytes[start..end]);
    let rest = &bytes[end..];
    let path = (!rest.is_empty()).then_some(Text {
        bytes: rest,
        escapes: target.escapes,
    });
    (
        host,
        path.or(Some(Text::plain(b"/"))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<AccessLine<'_>, RejectReason> {
        ElbClassic.parse(line.as_bytes())
    }

    #[test]
    fn maps_the_fields_onto_the_table() {
        let line = parse(ElbClassic::EXAMPLE).unwrap();
        assert_eq!(line.ts_micros, 1_791_640_536_094_015);
        assert_eq!(line.client, b"203.0.113.9");
        assert_eq!(line.method, Some(&b"GET"[..]));
        assert_eq!(line.vhost, Some(&b"shop.example.com:80"[..]));
        assert_eq!(line.path.unwrap().bytes, b"/a");
        assert_eq!(line.query.unwrap().bytes, b"b=1");
        assert_eq!(line.protocol, Some(&b"HTTP/1.1"[..]));
        assert_eq!((line.status, line.bytes_sent), (200, Some(2326)));
        assert_eq!(line.user_agent.unwrap().bytes, b"curl/8.5.0");
        let ms = line.request_time_ms.unwrap();
        assert!((ms - 1.146).abs() < 1e-9, "{ms}");
    }

    #[test]
    fn odd_but_real_lines() {
        // never reached a backend: -1 timings, `-` backend and status
        let line = parse(r#"2026-10-10T13:55:36Z lb 2001:db8::7:4431 - -1 -1 -1 504 - 0 0 "GET https://h/ HTTP/1.1" "-" - -"#).unwrap();
        assert_eq!(line.client, b"2001:db8::7");
        assert_eq!(line.request_time_ms, None);
        assert_eq!(line.user_agent, None);
        assert_eq!(line.vhost, Some(&b"h"[..]));
        assert_eq!(line.path.unwrap().bytes, b"/");
        // a TCP listener: no request; extra trailing fields are ignored
        let line = parse(r#"2026-10-10T13:55:36Z lb 1.2.3.4:1 5.6.7.8:2 0.1 0.2 0.3 200 200 1 2 "- - - " "-" - - extra"#).unwrap();
        assert_eq!((line.method, line.path, line.vhost), (None, None, None));
    }

    #[test]
    fn rejects_with_reasons() {
        let cases = [
            ("", RejectReason::NoTimestamp),
            (
                r#"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] "GET / HTTP/1.1" 200 1"#,
                RejectReason::NoTimestamp,
            ),
            (
                "2026-02-30T13:55:36Z lb 1.2.3.4:1 -",
                RejectReason::BadTimestamp,
            ),
            ("2026-10-10T13:55:36Z lb 1.2.3.4", RejectReason::BadPrefix),
            (
                "2026-10-10T13:55:36Z lb 1.2.3.4:1 - x 0 0 200 200 0 0",
                RejectReason::BadPrefix,
            ),
            (
                r#"2026-10-10T13:55:36Z lb 1.2.3.4:1 - 0 0 0 2000 200 0 0 "GET / HTTP/1.1" "ua""#,
                RejectReason::BadStatus,
            ),
            (
                r#"2026-10-10T13:55:36Z lb 1.2.3.4:1 - 0 0 0 200 200 0 0 GET"#,
                RejectReason::BadRequest,
            ),
            (
                r#"2026-10-10T13:55:36Z lb 1.2.3.4:1 - 0 0 0 200 200 0 0 "GET / HTTP/1.1" "ua"#,
                RejectReason::BadQuotedField,
            ),
        ];
        for (line, reason) in cases {
            assert_eq!(parse(line).err(), Some(reason), "{line}");
        }
        let line = ElbClassic::EXAMPLE.as_bytes();
        for end in 0..line.len() {
            let _ = ElbClassic.parse(&line[..end]);
        }
    }
}
