//! AWS Classic Load Balancer (ELB) access logs, as AWS delivers them to S3.
//!
//! `time elb client:port backend:port request_processing_time backend_processing_time
//! response_processing_time elb_status_code backend_status_code received_bytes sent_bytes
//! "request" "user_agent" ssl_cipher ssl_protocol`, space-separated, `time` in ISO 8601 UTC.
//! The request's target is an absolute URL (`http://host:port/path?query`): its `host:port`
//! becomes `vhost` and the rest `path` and `query`. `request_time_ms` is the three processing times added up, null when any is `-1` (the
//! request never reached a backend). The other fields go to `extra_fields` under AWS's names
//! (`:` written `_`): `elb`, `backend_port`, the three processing times, `backend_status_code`,
//! `received_bytes`, `ssl_cipher`, `ssl_protocol`, and any field AWS adds as `field_N`.

use super::{LineFormat, ParseLine};
use crate::line::{
    dash_is_none, parse_bytes, parse_duration, parse_status, split_request, static_json_key,
    AccessLine, Cursor, ExtraFields, Text,
};
use crate::reject::RejectReason;
use crate::timestamp::parse_iso8601_utc;

/// Parser of Classic ELB access-log lines.
#[derive(Debug, Clone, Default)]
pub struct ElbClassic {
    extra: ExtraFields,
}

/// The keys of the fields between the time and the request that no column holds, in line
/// order: the balancer, the backend (or target), the three processing times, the backend's
/// status and the bytes received.
pub(crate) type HeadKeys = [&'static [u8]; 7];

const HEAD_KEYS: HeadKeys = [
    static_json_key!("elb"),
    static_json_key!("backend_port"),
    static_json_key!("request_processing_time"),
    static_json_key!("backend_processing_time"),
    static_json_key!("response_processing_time"),
    static_json_key!("backend_status_code"),
    static_json_key!("received_bytes"),
];

/// The fields after the user agent, the 13th field.
const TAIL: TailKeys = TailKeys {
    keys: &[static_json_key!("ssl_cipher"), static_json_key!("ssl_protocol")],
    agent_position: 13,
    domain_name_at: None,
};

/// The fields after the user agent, in AWS's order.
pub(crate) struct TailKeys {
    pub(crate) keys: &'static [&'static [u8]],
    /// The user agent's position on the line, 1-based: a field past `keys` is kept as
    /// `field_N`, N its own position.
    pub(crate) agent_position: usize,
    /// Where `domain_name` is in `keys`: it fills `vhost`, and is read even when the other
    /// fields are not kept.
    pub(crate) domain_name_at: Option<usize>,
}

impl LineFormat for ElbClassic {
    const NAME: &'static str = "elb_classic";
    const SUMMARY: &'static str = "AWS Classic Load Balancer";
    const EXAMPLE: &'static str = r#"2026-10-10T13:55:36.094015Z my-elb 203.0.113.9:51234 10.0.0.7:80 0.000041 0.001048 0.000057 200 200 0 2326 "GET http://shop.example.com:80/a?b=1 HTTP/1.1" "curl/8.5.0" - -"#;
    const TRIED_BY_AUTO: bool = true;

    fn new() -> Self {
        Self::default()
    }
}

impl ParseLine for ElbClassic {
    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessLine<'a>, RejectReason> {
        let extra = &mut self.extra;
        extra.clear();
        let mut cursor = Cursor { line, pos: 0 };
        let mut parsed = load_balancer_fields(&mut cursor, &HEAD_KEYS, extra)?;
        read_tail(&mut cursor, &TAIL, &mut parsed, extra);
        Ok(parsed)
    }

    fn keep_extra_fields(&mut self) {
        self.extra.keep();
    }

    fn extra_fields(&self) -> Option<&[u8]> {
        self.extra.json()
    }
}

/// The fields Classic and Application Load Balancers share, from the time to the user agent
/// (the cursor is left after it). Those no column holds go to `extra` under `keys`.
pub(crate) fn load_balancer_fields<'a>(
    cursor: &mut Cursor<'a>,
    keys: &HeadKeys,
    extra: &mut ExtraFields,
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
    extra.push(keys[0], next(RejectReason::BadPrefix)?);
    let client = address_of(next(RejectReason::BadPrefix)?).ok_or(RejectReason::BadPrefix)?;
    extra.push(keys[1], next(RejectReason::BadPrefix)?);
    let mut request_time_ms = Some(0.0);
    for key in &keys[2..5] {
        let time = next(RejectReason::BadPrefix)?;
        let seconds = parse_duration(time).ok_or(RejectReason::BadPrefix)?;
        request_time_ms = request_time_ms
            .zip(seconds.filter(|s| *s >= 0.0))
            .map(|(sum, s)| sum + s * 1_000.0);
        extra.push(key, time);
    }
    let status = parse_status(next(RejectReason::BadStatus)?).ok_or(RejectReason::BadStatus)?;
    extra.push(keys[5], next(RejectReason::BadStatus)?);
    extra.push(keys[6], next(RejectReason::BadBytes)?);
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

/// Reads the space-separated fields after the user agent, bare or quoted (a quoted one without
/// its quotes, `-` for `""`), into `extra` under `tail`'s keys, `domain_name` into `vhost`,
/// and closes `extra`. Without the other fields, the line is read only as far as
/// `domain_name`, if at all. A quote that never closes ends the line.
pub(crate) fn read_tail<'a>(
    cursor: &mut Cursor<'a>,
    tail: &TailKeys,
    parsed: &mut AccessLine<'a>,
    extra: &mut ExtraFields,
) {
    let count = match (extra.kept(), tail.domain_name_at) {
        (true, _) => usize::MAX,
        (false, Some(at)) => at + 1,
        (false, None) => 0,
    };
    let mut index = 0;
    while index < count && cursor.eat(b" ") {
        let value = match cursor.eat(b"\"") {
            true => match cursor.quoted_body() {
                Some(text) => text.map_or(&b"-"[..], |text| text.bytes),
                None => break,
            },
            false => cursor.word(),
        };
        match tail.keys.get(index) {
            _ if Some(index) == tail.domain_name_at => {
                parsed.vhost = dash_is_none(value).or(parsed.vhost)
            }
            Some(key) => extra.push(key, value),
            None => extra.push_numbered(tail.agent_position + 1 + index, value),
        }
        index += 1;
    }
    extra.finish();
}

/// The address of `address:port` (IPv6 addresses are written without brackets, so the port is
/// what follows the last colon).
/// The address of `address:port`. The load balancers write an IPv6 client in brackets,
/// `[2001:db8::1]:54321` (as in a URL), and older logs without them, `2001:db8::1:54321`: both
/// give `2001:db8::1`, so the address is stored, looked up and anonymised like any other.
fn address_of(client_port: &[u8]) -> Option<&[u8]> {
    let colon = client_port.iter().rposition(|&b| b == b':')?;
    let address = &client_port[..colon];
    let address = match (address.strip_prefix(b"["), address.last()) {
        (Some(inner), Some(b']')) => &inner[..inner.len() - 1],
        _ => address,
    };
    dash_is_none(address)
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
        ElbClassic::new().parse(line.as_bytes())
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
        // as an ALB writes an IPv6 client: in brackets
        let line = parse(r#"2026-10-10T13:55:36Z lb [2001:db8::7]:4431 - -1 -1 -1 504 - 0 0 "GET https://h/ HTTP/1.1" "-" - -"#).unwrap();
        assert_eq!(line.client, b"2001:db8::7");
        assert_eq!(line.request_time_ms, None);
        assert_eq!(line.user_agent, None);
        assert_eq!(line.vhost, Some(&b"h"[..]));
        assert_eq!(line.path.unwrap().bytes, b"/");
        // a TCP listener: no request; fields AWS may add are kept by their position
        let mut elb = ElbClassic::new();
        elb.keep_extra_fields();
        let line = elb.parse(br#"2026-10-10T13:55:36Z lb 1.2.3.4:1 5.6.7.8:2 0.1 0.2 0.3 200 200 1 2 "- - - " "-" - TLSv1.2 extra"#).unwrap();
        assert_eq!((line.method, line.path, line.vhost), (None, None, None));
        let fields = crate::format::tests::extra_fields(&elb);
        let fields: Vec<_> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap())).collect();
        assert_eq!(
            fields,
            [
                ("backend_port", "5.6.7.8:2"),
                ("backend_processing_time", "0.2"),
                ("backend_status_code", "200"),
                ("elb", "lb"),
                ("field_16", "extra"),
                ("received_bytes", "1"),
                ("request_processing_time", "0.1"),
                ("response_processing_time", "0.3"),
                ("ssl_protocol", "TLSv1.2"),
            ]
        );
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
            let _ = ElbClassic::new().parse(&line[..end]);
        }
    }
}
