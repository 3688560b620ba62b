//! AWS Application Load Balancer (ALB) access logs, as AWS delivers them to S3.
//!
//! `type time elb client:port target:port request_processing_time target_processing_time
//! response_processing_time elb_status_code target_status_code received_bytes sent_bytes
//! "request" "user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name" …`:
//! after the `type` (`http`, `https`, `h2`, `grpcs`, `ws`, `wss`), the fields up to the user
//! agent are a Classic Load Balancer's and map the same way. `vhost` is the TLS `domain_name`
//! when the line has one, else the request URL's `host:port`. The other fields go to
//! `extra_fields` under AWS's names (`:` written `_`: `target_port`, `target_port_list`). Lines
//! end with 25 to 33 fields and AWS adds more without notice: a field past the 33 known is kept
//! as `field_N` (N its position), never a reject. Other lines AWS writes to the same buckets (NLB
//! TLS lines, ALB connection logs) are rejected.

use super::elb_classic::{load_balancer_fields, read_tail, HeadKeys, TailKeys};
use super::{LineFormat, ParseLine};
use crate::line::{static_json_key, AccessLine, Cursor, ExtraFields};
use crate::reject::RejectReason;

/// Parser of ALB access-log lines.
#[derive(Debug, Clone, Default)]
pub struct Alb {
    extra: ExtraFields,
}

const HEAD_KEYS: HeadKeys = [
    static_json_key!("elb"),
    static_json_key!("target_port"),
    static_json_key!("request_processing_time"),
    static_json_key!("target_processing_time"),
    static_json_key!("response_processing_time"),
    static_json_key!("target_status_code"),
    static_json_key!("received_bytes"),
];

/// The fields after the user agent, the 14th field.
const TAIL: TailKeys = TailKeys {
    keys: &[
        static_json_key!("ssl_cipher"),
        static_json_key!("ssl_protocol"),
        static_json_key!("target_group_arn"),
        static_json_key!("trace_id"),
        static_json_key!("domain_name"),
        static_json_key!("chosen_cert_arn"),
        static_json_key!("matched_rule_priority"),
        static_json_key!("request_creation_time"),
        static_json_key!("actions_executed"),
        static_json_key!("redirect_url"),
        static_json_key!("error_reason"),
        static_json_key!("target_port_list"),
        static_json_key!("target_status_code_list"),
        static_json_key!("classification"),
        static_json_key!("classification_reason"),
        static_json_key!("conn_trace_id"),
        static_json_key!("transformed_host"),
        static_json_key!("transformed_uri"),
        static_json_key!("request_transform_status"),
    ],
    agent_position: 14,
    domain_name_at: Some(4),
};

/// The request types an ALB logs first on each line.
const TYPES: [&[u8]; 6] = [b"http", b"https", b"h2", b"grpcs", b"ws", b"wss"];

impl LineFormat for Alb {
    const NAME: &'static str = "alb";
    const SUMMARY: &'static str = "AWS Application Load Balancer";
    const EXAMPLE: &'static str = r#"h2 2026-10-10T13:55:36.094015Z app/my-alb/50dc6c495c0c9188 203.0.113.9:51234 10.0.0.7:80 0.000 0.012 0.000 200 200 48 2326 "GET https://shop.example.com:443/a?b=1 HTTP/2.0" "curl/8.5.0" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "shop.example.com" "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012" 0 2026-10-10T13:55:36.081000Z "forward" "-" "-" "10.0.0.7:80" "200" "-" "-" TID_1c9b2d3e4f5a6b7c"#;
    const TRIED_BY_AUTO: bool = true;

    fn new() -> Self {
        Self::default()
    }
}

impl ParseLine for Alb {
    fn parse<'a>(&mut self, line: &'a [u8]) -> Result<AccessLine<'a>, RejectReason> {
        let mut cursor = Cursor { line, pos: 0 };
        let kind = cursor.word();
        if !TYPES.contains(&kind) || !cursor.eat(b" ") {
            return Err(RejectReason::NoTimestamp);
        }
        let extra = &mut self.extra;
        extra.clear();
        extra.push(static_json_key!("type"), kind);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<AccessLine<'_>, RejectReason> {
        Alb::new().parse(line.as_bytes())
    }

    #[test]
    fn maps_the_fields_onto_the_table() {
        let line = parse(Alb::EXAMPLE).unwrap();
        assert_eq!(line.ts_micros, 1_791_640_536_094_015);
        assert_eq!(line.client, b"203.0.113.9");
        assert_eq!(line.vhost, Some(&b"shop.example.com"[..]));
        assert_eq!(line.path.unwrap().bytes, b"/a");
        assert_eq!(line.query.unwrap().bytes, b"b=1");
        assert_eq!(line.protocol, Some(&b"HTTP/2.0"[..]));
        assert_eq!((line.status, line.bytes_sent), (200, Some(2326)));
        assert_eq!(line.request_time_ms, Some(12.0));
        // an IPv6 client, as the ALB writes it: in brackets before the port
        let v6 = Alb::EXAMPLE.replacen("203.0.113.9:", "[2001:db8:85a3::8a2e:370:7334]:", 1);
        assert_eq!(parse(&v6).unwrap().client, b"2001:db8:85a3::8a2e:370:7334");
    }

    #[test]
    fn older_and_newer_lines_and_their_hosts() {
        // 25 fields (before 2019): no domain name past the trace id, so the URL's host
        let old = r#"https 2018-07-02T22:23:00.186641Z app/lb/50dc 192.168.131.39:2817 - -1 -1 -1 404 - 34 366 "GET https://www.example.com:443/x HTTP/1.1" "curl/7.46.0" ECDHE TLSv1.2 arn:tg "Root=1-5833" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-""#;
        let line = parse(old).unwrap();
        assert_eq!(line.vhost, Some(&b"www.example.com:443"[..]));
        assert_eq!(line.request_time_ms, None);
        // fields AWS may add later are ignored
        let newer = format!("{} \"m.example.com\" \"-\" \"TransformSuccess\" extra", Alb::EXAMPLE);
        assert_eq!(parse(&newer).unwrap().vhost, Some(&b"shop.example.com"[..]));
        // cut right after the user agent: still a row
        let short = r#"http 2018-07-02T22:23:00Z app/lb/50dc 1.2.3.4:2817 10.0.0.1:80 0.0 0.0 0.0 200 200 0 1 "GET http://h:80/ HTTP/1.1" "ua""#;
        assert_eq!(parse(short).unwrap().vhost, Some(&b"h:80"[..]));
    }

    #[test]
    fn the_other_fields_are_kept_by_their_aws_names() {
        let mut alb = Alb::new();
        alb.parse(Alb::EXAMPLE.as_bytes()).unwrap();
        assert_eq!(alb.extra_fields(), None, "kept only when asked");
        alb.keep_extra_fields();
        alb.parse(Alb::EXAMPLE.as_bytes()).unwrap();
        let fields = crate::format::tests::extra_fields(&alb);
        let mut expected = [
            ("type", "h2"),
            ("elb", "app/my-alb/50dc6c495c0c9188"),
            ("target_port", "10.0.0.7:80"),
            ("request_processing_time", "0.000"),
            ("target_processing_time", "0.012"),
            ("response_processing_time", "0.000"),
            ("target_status_code", "200"),
            ("received_bytes", "48"),
            ("ssl_cipher", "ECDHE-RSA-AES128-GCM-SHA256"),
            ("ssl_protocol", "TLSv1.2"),
            ("target_group_arn", "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067"),
            ("trace_id", "Root=1-58337262-36d228ad5d99923122bbe354"),
            ("chosen_cert_arn", "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"),
            ("matched_rule_priority", "0"),
            ("request_creation_time", "2026-10-10T13:55:36.081000Z"),
            ("actions_executed", "forward"),
            ("target_port_list", "10.0.0.7:80"),
            ("target_status_code_list", "200"),
            ("conn_trace_id", "TID_1c9b2d3e4f5a6b7c"),
        ];
        let fields: Vec<(&str, &str)> = (fields.iter())
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
            .collect();
        // `domain_name` is in `vhost`, `-` fields are left out
        expected.sort();
        assert_eq!(fields, expected);
        // fields AWS adds later are kept by their position
        let newer = format!("{} \"m.example.com\" \"-\" \"TransformSuccess\" x\"y", Alb::EXAMPLE);
        alb.parse(newer.as_bytes()).unwrap();
        let fields = crate::format::tests::extra_fields(&alb);
        assert_eq!(fields["transformed_host"], "m.example.com");
        assert_eq!(fields["request_transform_status"], "TransformSuccess");
        assert_eq!(fields["field_34"], "x\"y");
        assert!(!fields.contains_key("transformed_uri"));
    }

    #[test]
    fn other_aws_lines_are_rejected() {
        let cases = [
            "tls 2.0 2018-12-20T02:59:40 net/my-nlb/c6e7 g3d4 192.168.131.39:2817 10.0.0.1:80 5 2 98 246 -",
            "2024-10-04T17:05:15.514108Z 192.168.131.39 36280 443 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 4.036",
            "TID_16132ed0b4112148",
            "",
        ];
        for line in cases {
            assert_eq!(parse(line).err(), Some(RejectReason::NoTimestamp), "{line}");
        }
        assert_eq!(
            parse("http 2026-02-30T00:00:00Z lb").err(),
            Some(RejectReason::BadTimestamp)
        );
        let line = Alb::EXAMPLE.as_bytes();
        for end in 0..line.len() {
            let _ = Alb::new().parse(&line[..end]);
        }
    }
}
