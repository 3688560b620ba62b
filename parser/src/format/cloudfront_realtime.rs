//! Amazon CloudFront real-time logs, as CloudFront puts them into a Kinesis data stream: one
//! record per request, tab-separated, no header, holding the fields the real-time log
//! configuration chose.
//!
//! The format is named with those fields: `cloudfront_realtime:timestamp,c-ip,sc-status,…`
//! (commas or spaces between the names CloudFront's configuration uses), or `cloudfront_realtime`
//! alone for every field, the console's default. The order the names are given in does not
//! matter: CloudFront always writes the chosen fields in the order of its field list, whatever
//! order the configuration lists them in (Amazon CloudFront Developer Guide, "Real-time logs",
//! "Fields" and "Creating a Kinesis Data Streams consumer":
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/real-time-logs.html>),
//! so the names are put in that order here. A record with more or fewer fields than the
//! configuration names is a `field_count` reject: the configuration changed (a field added in
//! CloudFront moves the ones after it) and the setting must follow it.
//!
//! Mapping: `ts` from `timestamp` (seconds since the epoch, to the millisecond), `client_ip` from
//! `c-ip`, `vhost` from `cs-host` (the `Host` header the viewer sent; in real-time logs
//! `x-host-header` is the distribution's own name, the reverse of standard logs) or else
//! `x-host-header`, `path` and `query` from `cs-uri-stem` (which here includes the query string),
//! or `cs-uri-query`, `protocol` from `cs-protocol-version`, `bytes_sent` from `sc-bytes`,
//! `request_time_ms` from `time-taken`, and the user agent and referrer URL-decoded. The other
//! fields go to `extra_fields` under their names (`x-edge-result-type`, `asn`, …).
//!
//! Sampling: a configuration with a sampling rate under 100 sends that share of the requests, and
//! the lake holds what was sent; the reports count the sample (shares and rankings estimate the
//! whole, counts are the sample's).

use super::w3c::{count_separators, split_fields};
use super::{BuiltOnce, ParseLine};
use crate::line::{
    dash_is_none, json_key, parse_bytes, parse_duration, parse_status, AccessLine, Escapes,
    ExtraFields, Text,
};
use crate::reject::RejectReason;
use crate::timestamp::parse_epoch;

/// How the format is written before its field list.
pub const PREFIX: &str = "cloudfront_realtime";

/// Every field a real-time log record can hold, in the order CloudFront writes them (the
/// Developer Guide's list; `s-ip`, `primary-distribution-id`, `primary-distribution-dns-name`,
/// `origin-fbl`, `origin-lbl` and `asn` were added to it later, at these places).
pub const RECORD_ORDER: &[&str] = &[
    "timestamp",
    "c-ip",
    "s-ip",
    "time-to-first-byte",
    "sc-status",
    "sc-bytes",
    "cs-method",
    "cs-protocol",
    "cs-host",
    "cs-uri-stem",
    "cs-bytes",
    "x-edge-location",
    "x-edge-request-id",
    "x-host-header",
    "time-taken",
    "cs-protocol-version",
    "c-ip-version",
    "cs-user-agent",
    "cs-referer",
    "cs-cookie",
    "cs-uri-query",
    "x-edge-response-result-type",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-result-type",
    "fle-encrypted-fields",
    "fle-status",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
    "c-port",
    "x-edge-detailed-result-type",
    "c-country",
    "cs-accept-encoding",
    "cs-accept",
    "cache-behavior-path-pattern",
    "cs-headers",
    "cs-header-names",
    "cs-headers-count",
    "primary-distribution-id",
    "primary-distribution-dns-name",
    "origin-fbl",
    "origin-lbl",
    "asn",
];

/// Why a real-time format setting cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RealtimeFormatError {
    #[error("unknown real-time log field {0:?} (CloudFront's fields: {known})", known = RECORD_ORDER.join(", "))]
    UnknownField(String),
    #[error("the real-time log field {0:?} is listed twice")]
    Repeated(String),
    #[error("the fields must include `timestamp`: without it no row can be placed in time")]
    NoTimestamp,
}

/// A real-time log configuration's fields: where each field a column takes is in a record.
#[derive(Debug)]
pub struct RealtimeLayout {
    spec: String,
    count: usize,
    /// How many fields from the start of a record hold every field a column takes.
    needed: usize,
    ts: usize,
    c_ip: Option<usize>,
    status: Option<usize>,
    sc_bytes: Option<usize>,
    method: Option<usize>,
    cs_host: Option<usize>,
    host_header: Option<usize>,
    uri_stem: Option<usize>,
    uri_query: Option<usize>,
    time_taken: Option<usize>,
    protocol: Option<usize>,
    user_agent: Option<usize>,
    referer: Option<usize>,
    /// The fields no column holds: position and name as a JSON key, in record order.
    extra: Vec<(usize, Box<[u8]>)>,
}

impl PartialEq for RealtimeLayout {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Eq for RealtimeLayout {}

impl std::hash::Hash for RealtimeLayout {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.spec.hash(state);
    }
}

/// Layouts built so far, one per distinct setting.
static LAYOUTS: BuiltOnce<RealtimeLayout> = BuiltOnce::new();

impl RealtimeLayout {
    /// Whether `spec` names this format.
    pub fn is_realtime(spec: &str) -> bool {
        spec == PREFIX
            || spec
                .strip_prefix(PREFIX)
                .is_some_and(|rest| rest.starts_with(':'))
    }

    /// The layout of `spec` (`cloudfront_realtime` or `cloudfront_realtime:FIELDS`), built once.
    pub fn get(spec: &str) -> Result<&'static RealtimeLayout, RealtimeFormatError> {
        LAYOUTS.get(spec, RealtimeLayout::spec, || Self::build(spec))
    }

    /// The setting as given.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    fn build(spec: &str) -> Result<Self, RealtimeFormatError> {
        let names = spec.strip_prefix(PREFIX).unwrap_or(spec);
        let names: Vec<&str> = names
            .trim_start_matches(':')
            .split([',', ' ', '\t', '\n'])
            .filter(|name| !name.is_empty())
            .collect();
        for (i, name) in names.iter().enumerate() {
            if !RECORD_ORDER.contains(name) {
                return Err(RealtimeFormatError::UnknownField(name.to_string()));
            }
            if names[..i].contains(name) {
                return Err(RealtimeFormatError::Repeated(name.to_string()));
            }
        }
        let chosen: Vec<&str> = match names.is_empty() {
            true => RECORD_ORDER.to_vec(),
            false => RECORD_ORDER
                .iter()
                .copied()
                .filter(|f| names.contains(f))
                .collect(),
        };
        let at = |name: &str| chosen.iter().position(|&f| f == name);
        let mut layout = RealtimeLayout {
            spec: spec.to_string(),
            count: chosen.len(),
            needed: 0,
            ts: at("timestamp").ok_or(RealtimeFormatError::NoTimestamp)?,
            c_ip: at("c-ip"),
            status: at("sc-status"),
            sc_bytes: at("sc-bytes"),
            method: at("cs-method"),
            cs_host: at("cs-host"),
            host_header: at("x-host-header"),
            uri_stem: at("cs-uri-stem"),
            uri_query: at("cs-uri-query"),
            time_taken: at("time-taken"),
            protocol: at("cs-protocol-version"),
            user_agent: at("cs-user-agent"),
            referer: at("cs-referer"),
            extra: Vec::new(),
        };
        let l = &layout;
        // `x-host-header` fills `vhost` only when `cs-host` is not chosen; it is an extra field
        // otherwise. `cs-uri-query` repeats the query `cs-uri-stem` holds: read only when
        // `cs-uri-stem` is not chosen, and not kept twice.
        let host_header = l.host_header.filter(|_| l.cs_host.is_none());
        let in_columns = [
            Some(l.ts),
            l.c_ip,
            l.status,
            l.sc_bytes,
            l.method,
            l.cs_host,
            host_header,
            l.uri_stem,
            l.uri_query,
            l.time_taken,
            l.protocol,
            l.user_agent,
            l.referer,
        ];
        layout.needed = in_columns
            .into_iter()
            .flatten()
            .max()
            .map_or(0, |last| last + 1);
        layout.extra = (chosen.iter().enumerate())
            .filter(|(at, _)| !in_columns.contains(&Some(*at)))
            .map(|(at, name)| (at, json_key(name.as_bytes())))
            .collect();
        Ok(layout)
    }
}

/// Parser of one real-time log configuration's records.
#[derive(Debug, Clone)]
pub struct RealtimeParser {
    layout: &'static RealtimeLayout,
    extra: ExtraFields,
}

impl RealtimeParser {
    pub fn new(layout: &'static RealtimeLayout) -> Self {
        Self {
            layout,
            extra: ExtraFields::default(),
        }
    }
}

/// A real-time log configuration holds at most this many fields (the Developer Guide's list).
const MAX_FIELDS: usize = 48;

impl ParseLine for RealtimeParser {
    fn keep_extra_fields(&mut self) {
        self.extra.keep();
    }

    fn extra_fields(&self) -> Option<&[u8]> {
        self.extra.json()
    }

    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessLine<'a>, RejectReason> {
        let l = self.layout;
        let mut fields: [&[u8]; MAX_FIELDS + 1] = [&[]; MAX_FIELDS + 1];
        // The fields the columns take are split out (all of them, and one more to see a record
        // with too many, when the others are kept); the rest are only counted.
        let split = match self.extra.kept() {
            true => l.count + 1,
            false => l.needed,
        };
        let mut count = split_fields(line, b'\t', &mut fields[..split]);
        if count == split && split <= l.count {
            let last = fields[count - 1];
            let rest = &line[last.as_ptr() as usize - line.as_ptr() as usize + last.len()..];
            count += count_separators(rest, b'\t');
        }
        if count != l.count {
            return Err(match count {
                1 if line.is_empty() => RejectReason::EmptyLine,
                _ => RejectReason::FieldCount,
            });
        }
        let fields = &fields[..split.min(count)];
        let field = |at: Option<usize>| at.map(|i| fields[i]);
        let value = |at: Option<usize>| field(at).and_then(dash_is_none);

        let ts_micros = parse_epoch(fields[l.ts], 1).ok_or(match fields[l.ts] {
            b"" | b"-" => RejectReason::NoTimestamp,
            _ => RejectReason::BadTimestamp,
        })?;
        let client = match l.c_ip {
            Some(at) => dash_is_none(fields[at]).ok_or(RejectReason::BadPrefix)?,
            None => b"-",
        };
        let status = match l.status {
            Some(at) => parse_status(fields[at]).ok_or(RejectReason::BadStatus)?,
            None => 0,
        };
        let bytes_sent = match field(l.sc_bytes) {
            Some(bytes) => parse_bytes(bytes)?,
            None => None,
        };
        let (path, query) = match value(l.uri_stem) {
            Some(target) => match memchr::memchr(b'?', target) {
                Some(mark) => (Some(&target[..mark]), dash_is_none(&target[mark + 1..])),
                None => (Some(target), None),
            },
            None => (None, value(l.uri_query)),
        };
        let encoded = |at| value(at).map(|bytes| Text::escaped(bytes, Escapes::Percent));
        super::w3c::push_extra_fields(&mut self.extra, &l.extra, fields);
        Ok(AccessLine {
            ts_micros,
            client,
            remote_user: None,
            method: value(l.method),
            path: path.map(Text::plain),
            query: query.map(Text::plain),
            protocol: value(l.protocol),
            status,
            bytes_sent,
            referrer: encoded(l.referer),
            user_agent: encoded(l.user_agent),
            request_time_ms: value(l.time_taken)
                .and_then(parse_duration)
                .flatten()
                .map(|seconds| seconds * 1_000.0),
            vhost: value(l.cs_host).or(value(l.host_header)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tests::extra_fields;
    use crate::format::LogFormat;

    const FIELDS: &str = "timestamp c-ip sc-status cs-uri-stem x-edge-result-type";

    fn parser(spec: &str) -> RealtimeParser {
        let mut parser = RealtimeParser::new(RealtimeLayout::get(spec).unwrap());
        parser.keep_extra_fields();
        parser
    }

    #[test]
    fn fields_are_read_in_cloudfronts_order_whatever_order_the_setting_gives() {
        let line = b"1668968526.477\t192.0.2.7\t404\t/a?b=1\tError";
        for spec in [
            format!("{PREFIX}:{FIELDS}"),
            format!("{PREFIX}:x-edge-result-type,cs-uri-stem, sc-status,c-ip,timestamp"),
        ] {
            let mut parser = parser(&spec);
            let parsed = parser.parse(line).unwrap();
            assert_eq!(parsed.ts_micros, 1_668_968_526_477_000);
            assert_eq!((parsed.client, parsed.status), (&b"192.0.2.7"[..], 404));
            assert_eq!(parsed.path.unwrap().bytes, b"/a");
            assert_eq!(parsed.query.unwrap().bytes, b"b=1");
            assert_eq!(extra_fields(&parser)["x-edge-result-type"], "Error");
        }
    }

    #[test]
    fn every_field_by_default_and_the_viewers_host_is_the_vhost() {
        let layout = RealtimeLayout::get(PREFIX).unwrap();
        assert_eq!(layout.count, RECORD_ORDER.len());
        let mut values: Vec<String> = RECORD_ORDER.iter().map(|_| "-".to_string()).collect();
        let mut set = |name: &str, value: &str| {
            values[RECORD_ORDER.iter().position(|&f| f == name).unwrap()] = value.to_string();
        };
        set("timestamp", "1700000000.5");
        set("c-ip", "2001:db8::1");
        set("sc-status", "200");
        set("sc-bytes", "1234");
        set("cs-method", "GET");
        set("cs-host", "shop.example.com");
        set("x-host-header", "d111111abcdef8.cloudfront.net");
        set("cs-uri-stem", "/p");
        set("time-taken", "0.082");
        set("cs-protocol-version", "HTTP/2.0");
        set("cs-user-agent", "Mozilla/5.0%20(X11)");
        set("asn", "16509");
        let line = values.join("\t");
        let mut parser = parser(PREFIX);
        let parsed = parser.parse(line.as_bytes()).unwrap();
        assert_eq!(parsed.vhost, Some(&b"shop.example.com"[..]));
        assert_eq!(parsed.bytes_sent, Some(1234));
        assert_eq!(parsed.request_time_ms, Some(82.0));
        assert_eq!(
            parsed.user_agent.unwrap().unescaped().as_ref(),
            b"Mozilla/5.0 (X11)"
        );
        assert_eq!(parsed.protocol, Some(&b"HTTP/2.0"[..]));
        let extra = extra_fields(&parser);
        assert_eq!(extra["x-host-header"], "d111111abcdef8.cloudfront.net");
        assert_eq!(extra["asn"], "16509");
        assert!(!extra.contains_key("cs-host") && !extra.contains_key("timestamp"));
    }

    #[test]
    fn a_setting_that_cannot_describe_a_record_is_refused_and_named() {
        let error = |spec: &str| spec.parse::<LogFormat>().unwrap_err();
        let unknown = error("cloudfront_realtime:timestamp,c_ip");
        assert!(
            unknown.contains("\"c_ip\"") && unknown.contains("c-ip"),
            "{unknown}"
        );
        assert!(error("cloudfront_realtime:timestamp,c-ip,c-ip").contains("twice"));
        assert!(error("cloudfront_realtime:c-ip,sc-status").contains("timestamp"));
        assert!(matches!(
            "cloudfront_realtime:timestamp c-ip".parse(),
            Ok(LogFormat::CloudFrontRealtime(_))
        ));
        // not this format: a name that merely starts like it
        assert!(!RealtimeLayout::is_realtime("cloudfront_realtimex"));
    }

    #[test]
    fn records_that_do_not_fit_the_setting_are_rejected_with_their_reason() {
        // with the other fields kept (every field split out) and not (the last ones counted)
        let kept = parser(&format!("{PREFIX}:{FIELDS}"));
        let not_kept = RealtimeParser::new(kept.layout);
        for mut parser in [kept, not_kept] {
            rejects_with_reasons(&mut parser);
        }
    }

    fn rejects_with_reasons(parser: &mut RealtimeParser) {
        let mut reject = |line: &[u8]| parser.parse(line).unwrap_err();
        // a field added in CloudFront but not to the setting, and one removed
        let longer = b"1668968526.477\t192.0.2.7\t0.001\t404\t/a\tError";
        assert_eq!(reject(longer), RejectReason::FieldCount);
        assert_eq!(
            reject(b"1668968526.477\t192.0.2.7\t404\t/a\tError\t"),
            RejectReason::FieldCount
        );
        assert_eq!(
            reject(b"1668968526.477\t192.0.2.7\t404\t/a"),
            RejectReason::FieldCount
        );
        assert_eq!(reject(b""), RejectReason::EmptyLine);
        let bad_time = b"2022-11-20T18:22:06\t192.0.2.7\t404\t/a\tError";
        assert_eq!(reject(bad_time), RejectReason::BadTimestamp);
        let no_time = b"-\t192.0.2.7\t404\t/a\tError";
        assert_eq!(reject(no_time), RejectReason::NoTimestamp);
        let bad_status = b"1668968526.477\t192.0.2.7\tOK\t/a\tError";
        assert_eq!(reject(bad_status), RejectReason::BadStatus);
        // every cut of a good record, and junk, is a reject or a row, never a panic
        let good = b"1668968526.477\t192.0.2.7\t404\t/a?\tError";
        for end in 0..good.len() {
            let _ = parser.parse(&good[..end]);
        }
        let _ = parser.parse(&[0xff, b'\t', 0xfe, b'\t', b'\t', b'\t']);
        assert!(parser.parse(good).unwrap().query.is_none());
    }
}
