//! Amazon S3 server access logs, as S3 delivers them to the target bucket.
//!
//! `bucket_owner bucket [time] remote_ip requester request_id operation key "request_uri"
//! http_status error_code bytes_sent object_size total_time turn_around_time "referer"
//! "user_agent" version_id host_id signature_version cipher_suite authentication_type
//! host_header tls_version access_point_arn acl_required`, space-separated (Amazon S3 User
//! Guide, "Amazon S3 server access log format"). Older logs end earlier, and "Amazon S3 might
//! add new fields at the end": any field after the last one named here is kept as `field_N`,
//! never a reject. A field S3 has nothing for is `-`, the three quoted ones included (then
//! unquoted, as in copy operations' lines).
//!
//! Columns: `client_ip` is `remote_ip`, `remote_user` the requester (an IAM ARN or canonical
//! id), the request URI gives `method`/`path`/`query`/`protocol`, `request_time_ms` is
//! `total_time` (milliseconds), `vhost` is `host_header`, or the bucket in logs without it.
//! The rest go to `extra_fields` under S3's names.

use super::{LineFormat, ParseLine};
use crate::line::{
    dash_is_none, parse_bytes, parse_decimal, parse_status, split_request, static_json_key,
    AccessLine, Cursor, ExtraFields, Text,
};
use crate::reject::RejectReason;
use crate::timestamp::{parse_clf_timestamp, TIMESTAMP_LEN};

/// Parser of S3 server access-log lines.
#[derive(Debug, Clone, Default)]
pub struct S3Access {
    extra: ExtraFields,
}

/// The fields after the user agent, in S3's order (1-based position of the first: 18).
const TAIL_KEYS: [&[u8]; 9] = [
    static_json_key!("version_id"),
    static_json_key!("host_id"),
    static_json_key!("signature_version"),
    static_json_key!("cipher_suite"),
    static_json_key!("authentication_type"),
    static_json_key!("host_header"),
    static_json_key!("tls_version"),
    static_json_key!("access_point_arn"),
    static_json_key!("acl_required"),
];
const HOST_HEADER_AT: usize = 5;
const FIRST_TAIL_POSITION: usize = 18;

impl LineFormat for S3Access {
    const NAME: &'static str = "s3_access";
    const SUMMARY: &'static str = "Amazon S3 server access logs";
    const EXAMPLE: &'static str = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be shop-assets [10/Oct/2026:13:55:36 +0000] 203.0.113.9 - 3E57427F3EXAMPLE REST.GET.OBJECT img/logo.png "GET /img/logo.png?v=2 HTTP/1.1" 200 - 2326 2326 12 10 "https://shop.example.com/" "curl/8.5.0" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 TLS_AES_128_GCM_SHA256 AuthHeader shop-assets.s3.us-east-1.amazonaws.com TLSv1.3 - -"#;
    const TRIED_BY_AUTO: bool = true;

    fn new() -> Self {
        Self::default()
    }
}

impl ParseLine for S3Access {
    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessLine<'a>, RejectReason> {
        let extra = &mut self.extra;
        extra.clear();
        let mut cursor = Cursor { line, pos: 0 };
        let owner = cursor.word();
        if !cursor.eat(b" ") {
            return Err(RejectReason::NoTimestamp);
        }
        let bucket = cursor.word();
        // `[dd/Mon/yyyy:HH:MM:SS +0000]` as the third field: else this is no S3 line.
        if !cursor.eat(b" [") {
            return Err(RejectReason::NoTimestamp);
        }
        let rest = cursor.rest();
        if rest.len() <= TIMESTAMP_LEN || rest[TIMESTAMP_LEN] != b']' {
            return Err(RejectReason::NoTimestamp);
        }
        let ts_micros =
            parse_clf_timestamp(&rest[..TIMESTAMP_LEN]).ok_or(RejectReason::BadTimestamp)?;
        cursor.pos += TIMESTAMP_LEN + 1;
        extra.push(static_json_key!("bucket_owner"), owner);
        extra.push(static_json_key!("bucket"), bucket);

        let next = |cursor: &mut Cursor<'a>, reason| match cursor.eat(b" ") {
            true => Ok(cursor.word()),
            false => Err(reason),
        };
        let client = next(&mut cursor, RejectReason::BadPrefix)?;
        // S3 writes the requester's id or ARN, `-` for anonymous requests.
        let remote_user = dash_is_none(next(&mut cursor, RejectReason::BadPrefix)?);
        extra.push(
            static_json_key!("request_id"),
            next(&mut cursor, RejectReason::BadPrefix)?,
        );
        extra.push(
            static_json_key!("operation"),
            next(&mut cursor, RejectReason::BadPrefix)?,
        );
        extra.push(
            static_json_key!("key"),
            next(&mut cursor, RejectReason::BadPrefix)?,
        );
        let request = quoted_or_dash(&mut cursor).ok_or(RejectReason::BadRequest)?;
        let status_word = next(&mut cursor, RejectReason::BadStatus)?;
        let status = parse_status(status_word).ok_or(RejectReason::BadStatus)?;
        extra.push(
            static_json_key!("error_code"),
            next(&mut cursor, RejectReason::BadStatus)?,
        );
        let bytes_sent = parse_bytes(next(&mut cursor, RejectReason::BadBytes)?)?;
        extra.push(
            static_json_key!("object_size"),
            next(&mut cursor, RejectReason::BadBytes)?,
        );
        let total_time = next(&mut cursor, RejectReason::BadPrefix)?;
        let request_time_ms = match total_time {
            b"-" => None,
            time => Some(parse_decimal(time).ok_or(RejectReason::BadPrefix)?),
        };
        extra.push(
            static_json_key!("turn_around_time"),
            next(&mut cursor, RejectReason::BadPrefix)?,
        );
        let referrer = quoted_or_dash(&mut cursor).ok_or(RejectReason::BadQuotedField)?;
        let user_agent = quoted_or_dash(&mut cursor).ok_or(RejectReason::BadQuotedField)?;

        // The fields after the user agent (all of them only when kept: `host_header` gives
        // `vhost`, so the line is read at least that far).
        let mut vhost = None;
        let wanted = if extra.kept() {
            usize::MAX
        } else {
            HOST_HEADER_AT + 1
        };
        let mut index = 0;
        while index < wanted && cursor.eat(b" ") {
            let value = cursor.word();
            match TAIL_KEYS.get(index) {
                _ if index == HOST_HEADER_AT => vhost = dash_is_none(value),
                Some(key) => extra.push(key, value),
                None => extra.push_numbered(FIRST_TAIL_POSITION + index, value),
            }
            index += 1;
        }
        if let Some(host) = vhost {
            extra.push(TAIL_KEYS[HOST_HEADER_AT], host);
        }
        extra.finish();

        let parts = split_request(request);
        Ok(AccessLine {
            ts_micros,
            client,
            remote_user,
            method: parts.method,
            path: parts.path,
            query: parts.query,
            protocol: parts.protocol,
            status,
            bytes_sent,
            referrer,
            user_agent,
            request_time_ms,
            vhost: vhost.or(dash_is_none(bucket)),
        })
    }

    fn keep_extra_fields(&mut self) {
        self.extra.keep();
    }

    fn extra_fields(&self) -> Option<&[u8]> {
        self.extra.json()
    }
}

/// After a space: a quoted field (its body, `None` for `"-"`), or a bare `-`. `None` (the outer
/// one) when neither.
fn quoted_or_dash<'a>(cursor: &mut Cursor<'a>) -> Option<Option<Text<'a>>> {
    if cursor.eat(b" \"") {
        return cursor.quoted_body();
    }
    (cursor.eat(b" -") && matches!(cursor.rest().first(), None | Some(b' '))).then_some(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<AccessLine<'_>, RejectReason> {
        S3Access::new().parse(line.as_bytes())
    }

    #[test]
    fn a_get_of_an_object_fills_the_columns() {
        let line = parse(S3Access::EXAMPLE).unwrap();
        assert_eq!(line.client, b"203.0.113.9");
        assert_eq!(line.remote_user, None);
        assert_eq!(line.method, Some(&b"GET"[..]));
        assert_eq!(line.path.unwrap().bytes, b"/img/logo.png");
        assert_eq!(line.query.unwrap().bytes, b"v=2");
        assert_eq!((line.status, line.bytes_sent), (200, Some(2326)));
        assert_eq!(line.request_time_ms, Some(12.0));
        assert_eq!(line.referrer.unwrap().bytes, b"https://shop.example.com/");
        assert_eq!(line.vhost, Some(&b"shop-assets.s3.us-east-1.amazonaws.com"[..]));
    }

    #[test]
    fn old_short_lines_copies_and_new_fields_are_rows() {
        // 2012: ends after the version id; the bucket is the vhost.
        let old = parse(r#"9ab8c3 n-e-w-legacy [04/Jun/2012:16:44:26 +0000] 10.1.155.11 9ab8c3 2B8A7289376A942E REST.GET.LOGGING_STATUS - "GET /n-e-w-legacy?logging HTTP/1.1" 200 - 239 - 8 - "-" "S3Console/0.4" -"#).unwrap();
        assert_eq!(old.vhost, Some(&b"n-e-w-legacy"[..]));
        assert_eq!(old.remote_user, Some(&b"9ab8c3"[..]));
        // A copy's GET: no request, referrer or agent, all bare dashes.
        let copy = parse(r#"2cf7e6 media [17/Sep/2010:13:38:36 +0000] 85.113.244.146 2cf7e6 71F7D2AAA93B0A05 REST.COPY.OBJECT_GET 10010150/2010-08-29-0930.mp3 - 200 - - 13538337 - - - - -"#).unwrap();
        assert_eq!((copy.method, copy.path, copy.bytes_sent), (None, None, None));
        // Fields S3 adds later are kept by position.
        let mut parser = S3Access::new();
        parser.keep_extra_fields();
        let newer = format!("{} Yes extra", S3Access::EXAMPLE);
        parser.parse(newer.as_bytes()).unwrap();
        let json = std::str::from_utf8(parser.extra_fields().unwrap()).unwrap();
        assert!(json.contains(r#""operation":"REST.GET.OBJECT""#), "{json}");
        assert!(json.contains(r#""field_27":"Yes""#) && json.contains(r#""field_28":"extra""#), "{json}");
    }

    #[test]
    fn other_lines_are_not_s3_lines() {
        for line in [
            r#"203.0.113.9 - - [10/Oct/2026:13:55:36 -0700] "GET / HTTP/1.1" 200 5"#,
            "2026-10-10T13:55:36.094015Z my-elb 203.0.113.9:51234 10.0.0.7:80",
            "",
        ] {
            assert!(parse(line).is_err(), "{line}");
        }
        let cut = &S3Access::EXAMPLE[..120];
        assert!(parse(cut).is_err());
    }
}
