//! Amazon CloudFront standard logs, as AWS delivers them to S3: tab-separated fields named by a
//! `#Fields:` header (after `#Version:`).
//!
//! The fields are found by name, so a header that lists fewer (older logs end at
//! `fle-encrypted-fields`), more or reordered fields is read right; until a header is seen the
//! standard order is assumed (files cut into pieces and parsed on several threads, and lines
//! without their header, are the usual case). Header lines are accounted as `header_line`
//! rejects. Mapping: `ts` from `date` and `time` (UTC), `client_ip` from `c-ip`, `vhost` from
//! `x-host-header` (the name the viewer asked for) or else `cs(Host)`, `path` and `query` from
//! `cs-uri-stem` and `cs-uri-query` as written, `protocol` from `cs-protocol-version`,
//! `bytes_sent` from `sc-bytes`, `request_time_ms` from `time-taken`, and the user agent and
//! referrer URL-decoded (CloudFront writes `%20` for their spaces). The other fields go to
//! `extra_fields` under their header names (`x-edge-location`, `x-edge-result-type`, …), as
//! written (URL-encoded where CloudFront encodes them), `cs(Host)` among them when
//! `x-host-header` fills `vhost`.

use super::w3c::{date_and_time, push_extra_fields, split_fields, FieldPositions, MAX_FIELDS};
use super::{LineFormat, ParseLine};
use crate::line::{
    dash_is_none, parse_bytes, parse_duration, parse_status, AccessLine, Escapes, ExtraFields,
    Text,
};
use crate::reject::RejectReason;

/// The fields of a standard log line, in CloudFront's order.
const STANDARD_FIELDS: &[&str] = &[
    "date", "time", "x-edge-location", "sc-bytes", "c-ip", "cs-method", "cs(Host)",
    "cs-uri-stem", "sc-status", "cs(Referer)", "cs(User-Agent)", "cs-uri-query", "cs(Cookie)",
    "x-edge-result-type", "x-edge-request-id", "x-host-header", "cs-protocol", "cs-bytes",
    "time-taken", "x-forwarded-for", "ssl-protocol", "ssl-cipher", "x-edge-response-result-type",
    "cs-protocol-version", "fle-status", "fle-encrypted-fields", "c-port", "time-to-first-byte",
    "x-edge-detailed-result-type", "sc-content-type", "sc-content-len", "sc-range-start",
    "sc-range-end",
];

/// Parser of CloudFront standard log lines; it remembers the last `#Fields:` header.
#[derive(Debug, Clone)]
pub struct CloudFront {
    positions: FieldPositions,
    extra: ExtraFields,
}

impl LineFormat for CloudFront {
    const NAME: &'static str = "cloudfront";
    const SUMMARY: &'static str = "Amazon CloudFront standard logs";
    const EXAMPLE: &'static str = "2026-10-10\t13:55:36\tLAX1\t2326\t203.0.113.9\tGET\td111111abcdef8.cloudfront.net\t/a\t200\t-\tMozilla/5.0%20(X11;%20Linux%20x86_64)\tb=1\t-\tHit\tSOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\tshop.example.com\thttps\t23\t0.012\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\tHit\tHTTP/2.0\t-\t-\t51234\t0.010\tHit\ttext/html\t2326\t-\t-";
    const TRIED_BY_AUTO: bool = true;

    fn new() -> Self {
        Self {
            positions: FieldPositions::of(STANDARD_FIELDS.iter().map(|f| f.as_bytes())),
            extra: ExtraFields::default(),
        }
    }
}

impl ParseLine for CloudFront {
    fn keep_extra_fields(&mut self) {
        self.extra.keep();
    }

    fn extra_fields(&self) -> Option<&[u8]> {
        self.extra.json()
    }

    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessLine<'a>, RejectReason> {
        if line.first() == Some(&b'#') {
            if let Some(positions) = FieldPositions::of_header(line) {
                self.positions = positions;
            }
            return Err(RejectReason::HeaderLine);
        }
        let mut fields: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
        let p = &self.positions;
        let read = match self.extra.kept() {
            true => p.count,
            false => p.needed,
        };
        let count = split_fields(line, b'\t', &mut fields[..read.min(MAX_FIELDS)]);
        let fields = &fields[..count];
        let field = |at: Option<usize>| at.and_then(|i| fields.get(i)).copied();
        let value = |at: Option<usize>| field(at).and_then(dash_is_none);

        let ts_micros = match (field(p.date), field(p.time)) {
            (Some(date), Some(time)) if time.len() == 8 => date_and_time(date, time)?,
            _ => return Err(RejectReason::NoTimestamp),
        };
        let client = value(p.c_ip).ok_or(RejectReason::BadPrefix)?;
        let status = field(p.status)
            .and_then(parse_status)
            .ok_or(RejectReason::BadStatus)?;
        let bytes_sent = match field(p.sc_bytes) {
            Some(bytes) => parse_bytes(bytes)?,
            None => None,
        };
        let encoded = |at| value(at).map(|bytes| Text::escaped(bytes, Escapes::Percent));
        let plain = |at| value(at).map(Text::plain);
        push_extra_fields(&mut self.extra, &p.extra, fields);
        Ok(AccessLine {
            ts_micros,
            client,
            remote_user: None,
            method: value(p.method),
            path: plain(p.uri_stem),
            query: plain(p.uri_query),
            protocol: value(p.protocol),
            status,
            bytes_sent,
            referrer: encoded(p.referer),
            user_agent: encoded(p.user_agent),
            request_time_ms: value(p.time_taken)
                .and_then(parse_duration)
                .flatten()
                .map(|seconds| seconds * 1_000.0),
            vhost: value(p.host_header).or(value(p.cs_host)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_fields_onto_the_table() {
        let mut parser = CloudFront::new();
        let line = parser.parse(CloudFront::EXAMPLE.as_bytes()).unwrap();
        assert_eq!(line.ts_micros, 1_791_640_536_000_000);
        assert_eq!(line.client, b"203.0.113.9");
        assert_eq!(line.method, Some(&b"GET"[..]));
        assert_eq!(line.path.unwrap().bytes, b"/a");
        assert_eq!(line.query.unwrap().bytes, b"b=1");
        assert_eq!(line.protocol, Some(&b"HTTP/2.0"[..]));
        assert_eq!((line.status, line.bytes_sent), (200, Some(2326)));
        assert_eq!(line.vhost, Some(&b"shop.example.com"[..]));
        assert_eq!(line.referrer, None);
        assert_eq!(
            &*line.user_agent.unwrap().unescaped(),
            b"Mozilla/5.0 (X11; Linux x86_64)"
        );
        assert_eq!(line.request_time_ms, Some(12.0));
    }

    #[test]
    fn the_fields_header_names_the_columns() {
        let mut parser = CloudFront::new();
        parser.keep_extra_fields();
        assert_eq!(
            parser.parse(b"#Version: 1.0").err(),
            Some(RejectReason::HeaderLine)
        );
        let header = b"#Fields: time date c-ip sc-status cs(User-Agent) x-unknown";
        assert_eq!(parser.parse(header).err(), Some(RejectReason::HeaderLine));
        let line = parser
            .parse(b"13:55:36\t2026-10-10\t2001:db8::7\t000\tcurl%2F8\tz")
            .unwrap();
        assert_eq!(line.ts_micros, 1_791_640_536_000_000);
        assert_eq!(line.client, b"2001:db8::7");
        assert_eq!(line.status, 0);
        assert_eq!(&*line.user_agent.unwrap().unescaped(), b"curl/8");
        assert_eq!((line.method, line.path, line.bytes_sent), (None, None, None));
        let fields = crate::format::tests::extra_fields(&parser);
        assert_eq!(fields.len(), 1);
        assert_eq!(fields["x-unknown"], "z");
    }

    #[test]
    fn the_other_fields_are_kept_by_their_header_names() {
        let mut parser = CloudFront::new();
        parser.keep_extra_fields();
        parser.parse(CloudFront::EXAMPLE.as_bytes()).unwrap();
        let fields = crate::format::tests::extra_fields(&parser);
        assert_eq!(fields["x-edge-location"], "LAX1");
        // the distribution's name, while `vhost` is the name the viewer asked for
        assert_eq!(fields["cs(Host)"], "d111111abcdef8.cloudfront.net");
        assert_eq!(fields["x-edge-request-id"], "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==");
        assert_eq!(fields["c-port"], "51234");
        assert_eq!(fields["sc-content-type"], "text/html");
        // not the fields in columns, nor those logged as `-`
        for left_out in ["date", "c-ip", "cs(User-Agent)", "x-host-header", "time-taken", "cs(Cookie)"] {
            assert!(!fields.contains_key(left_out), "{left_out}");
        }
        assert_eq!(fields.len(), 14, "{fields:?}");
    }

    #[test]
    fn rejects_with_reasons() {
        let mut parser = CloudFront::new();
        let cases: [(&[u8], RejectReason); 5] = [
            (b"", RejectReason::NoTimestamp),
            (b"1.2.3.4 - - [10/Oct/2020:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1", RejectReason::NoTimestamp),
            (b"2026-02-30\t13:55:36\tLAX1\t1\t1.2.3.4", RejectReason::BadTimestamp),
            (b"2026-10-10\t13:55:36\tLAX1\t1\t-", RejectReason::BadPrefix),
            (b"2026-10-10\t13:55:36\tLAX1\t1\t1.2.3.4\tGET\th\t/\t2000", RejectReason::BadStatus),
        ];
        for (line, reason) in cases {
            assert_eq!(parser.parse(line).err(), Some(reason), "{}", String::from_utf8_lossy(line));
        }
        let line = CloudFront::EXAMPLE.as_bytes();
        for end in 0..line.len() {
            let _ = parser.parse(&line[..end]);
        }
    }
}
