//! Every built-in format round-trips: a request made of random field values is written as each
//! format writes it (as the server, the load balancer or CloudFront would), and the line parses
//! back to those values, both with its own format and with `auto`.

mod support;

use loglake_parser::{AccessLine, LineParser, LogFormat, ParseLine};
use proptest::prelude::*;
use support::civil;

/// One request, as the columns hold it.
#[derive(Debug, Clone)]
struct Request {
    client: String,
    remote_user: Option<String>,
    /// Microseconds since the epoch; formats that log whole seconds get whole seconds.
    micros: i64,
    method: &'static str,
    path: String,
    query: Option<String>,
    protocol: &'static str,
    status: i16,
    bytes_sent: Option<i64>,
    referrer: Option<String>,
    /// Words and punctuation between single spaces, never `"`, `%` or `+` (CloudFront and IIS
    /// escape those).
    user_agent: Option<String>,
    host: String,
    port: u16,
    /// Whole milliseconds.
    duration_ms: u32,
}

/// (year, month, day, hour, minute, second, microsecond) of microseconds since the epoch.
fn date_time(micros: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let (seconds, micro) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    (y, m, d, of_day / 3600, of_day / 60 % 60, of_day % 60, micro)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Request {
    fn clf_time(&self) -> String {
        let (y, m, d, h, min, s, _) = date_time(self.micros);
        format!(
            "[{d:02}/{}/{y}:{h:02}:{min:02}:{s:02} +0000]",
            MONTHS[m as usize - 1]
        )
    }

    fn iso_time(&self) -> String {
        let (y, m, d, h, min, s, micro) = date_time(self.micros);
        format!("{y}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{micro:06}Z")
    }

    /// `date` and `time`, W3C style, with `sep` between them.
    fn w3c_time(&self, sep: char) -> String {
        let (y, m, d, h, min, s, _) = date_time(self.micros);
        format!("{y}-{m:02}-{d:02}{sep}{h:02}:{min:02}:{s:02}")
    }

    fn target(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        }
    }

    fn seconds(&self) -> String {
        format!("{}.{:03}", self.duration_ms / 1000, self.duration_ms % 1000)
    }

    fn dash(value: &Option<String>) -> &str {
        value.as_deref().unwrap_or("-")
    }

    fn clf(&self) -> String {
        let bytes = self.bytes_sent.map_or("-".into(), |b| b.to_string());
        format!(
            r#"{} - {} {} "{} {} {}" {} {bytes}"#,
            self.client,
            Self::dash(&self.remote_user),
            self.clf_time(),
            self.method,
            self.target(),
            self.protocol,
            self.status
        )
    }

    fn combined(&self) -> String {
        let (referrer, agent) = (Self::dash(&self.referrer), Self::dash(&self.user_agent));
        format!(r#"{} "{referrer}" "{agent}""#, self.clf())
    }

    /// The fields up to the user agent that Classic ELB and ALB lines share, `time` to `"user_agent"`.
    fn load_balancer(&self, scheme: &str) -> String {
        // The duration split over the three processing times.
        let ms = self.duration_ms;
        let (a, b) = (ms / 3, ms / 2);
        let s = |ms: u32| format!("{}.{:03}", ms / 1000, ms % 1000);
        format!(
            r#"{} lb-1 {}:51234 10.0.0.7:80 {} {} {} {} {} 48 {} "{} {scheme}://{}:{}{} {}" "{}""#,
            self.iso_time(),
            self.client,
            s(a),
            s(b),
            s(ms - a - b),
            self.status,
            self.status,
            self.bytes_sent.unwrap_or(0),
            self.method,
            self.host,
            self.port,
            self.target(),
            self.protocol,
            Self::dash(&self.user_agent),
        )
    }

    fn alb(&self, domain_name: bool) -> String {
        let domain = if domain_name { self.host.as_str() } else { "-" };
        format!(
            "h2 {} ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 \
             arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2 \
             \"Root=1-58337262-36d228ad\" \"{domain}\" \"-\" 0 {} \"forward\" \"-\" \"-\" \
             \"10.0.0.7:80\" \"200\" \"-\" \"-\" TID_1c9b",
            self.load_balancer("https"),
            self.iso_time(),
        )
    }

    fn cloudfront(&self) -> String {
        let encode = |text: &Option<String>| Self::dash(text).replace(' ', "%20");
        let fields = [
            self.w3c_time('\t'),
            "LAX1".into(),
            self.bytes_sent.unwrap_or(0).to_string(),
            self.client.clone(),
            self.method.into(),
            "d111.cloudfront.net".into(),
            self.path.clone(),
            self.status.to_string(),
            encode(&self.referrer),
            encode(&self.user_agent),
            Self::dash(&self.query).into(),
            "-".into(),
            "Hit".into(),
            "SOX4xwn4XV6Q==".into(),
            self.host.clone(),
            "https".into(),
            "23".into(),
            self.seconds(),
            "-".into(),
            "TLSv1.3".into(),
            "TLS_AES_128_GCM_SHA256".into(),
            "Hit".into(),
            self.protocol.into(),
        ];
        format!(
            "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) \
             cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) \
             x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken \
             x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type \
             cs-protocol-version\n{}",
            fields.join("\t")
        )
    }

    /// As S3 writes a server access log line (owner, bucket, time, then the request).
    fn s3_access(&self) -> String {
        let bytes = self.bytes_sent.map_or("-".into(), |b| b.to_string());
        let quoted = |v: &Option<String>| match v {
            Some(v) => format!("\"{v}\""),
            None => "\"-\"".into(),
        };
        format!(
            "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be assets {} {} {} 3E57427F3EXAMPLE REST.GET.OBJECT key \"{} {} {}\" {} - {bytes} 5000 {} 3 {} {} - hostid SigV4 TLS_AES_128_GCM_SHA256 AuthHeader {}:{} TLSv1.3 - -",
            self.clf_time(),
            self.client,
            Self::dash(&self.remote_user),
            self.method,
            self.target(),
            self.protocol,
            self.status,
            self.duration_ms,
            quoted(&self.referrer),
            quoted(&self.user_agent),
            self.host,
            self.port,
        )
    }

    /// As nginx writes a `log_format … escape=json` line with the variables' names as keys.
    fn nginx_json(&self) -> String {
        let (y, m, d, h, min, sec, _) = date_time(self.micros);
        let line = serde_json::json!({
            "time_iso8601": format!("{y}-{m:02}-{d:02}T{h:02}:{min:02}:{sec:02}+00:00"),
            "remote_addr": self.client,
            "remote_user": Self::dash(&self.remote_user),
            "request": format!("{} {} {}", self.method, self.target(), self.protocol),
            "status": self.status.to_string(),
            "body_bytes_sent": self.bytes_sent.unwrap_or(0).to_string(),
            "http_referer": Self::dash(&self.referrer),
            "http_user_agent": Self::dash(&self.user_agent),
            "request_time": format!("{}.{:03}", self.duration_ms / 1000, self.duration_ms % 1000),
            "host": self.host,
        });
        line.to_string()
    }

    fn w3c(&self) -> String {
        let bytes = self.bytes_sent.map_or("-".into(), |b| b.to_string());
        format!(
            "#Software: Microsoft Internet Information Services 10.0\n\
             #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip \
             cs-version cs(User-Agent) cs(Referer) cs(Host) sc-status sc-substatus \
             sc-win32-status sc-bytes time-taken\n\
             {} 10.0.0.5 {} {} {} 443 {} {} {} {} {} {} {} 0 0 {bytes} {}",
            self.w3c_time(' '),
            self.method,
            self.path,
            Self::dash(&self.query),
            Self::dash(&self.remote_user),
            self.client,
            self.protocol,
            Self::dash(&self.user_agent).replace(' ', "+"),
            Self::dash(&self.referrer),
            self.host,
            self.status,
            self.duration_ms,
        )
    }
}

/// What a format logs of a request: which fields it has, at what time resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Common,
    Combined,
    VhostCombined,
    ElbClassic,
    Alb { domain_name: bool },
    CloudFront,
    W3c,
    S3Access,
    NginxJson,
}

impl Written {
    const ALL: [Written; 10] = [
        Written::Common,
        Written::Combined,
        Written::VhostCombined,
        Written::ElbClassic,
        Written::Alb { domain_name: true },
        Written::Alb { domain_name: false },
        Written::CloudFront,
        Written::W3c,
        Written::S3Access,
        Written::NginxJson,
    ];

    fn format(self) -> LogFormat {
        let name = match self {
            Written::Common => "common",
            Written::Combined => "combined",
            Written::VhostCombined => "vhost_combined",
            Written::ElbClassic => "elb_classic",
            Written::Alb { .. } => "alb",
            Written::CloudFront => "cloudfront",
            Written::W3c => "w3c",
            Written::S3Access => "s3_access",
            Written::NginxJson => "json",
        };
        name.parse().unwrap()
    }

    /// The text, header lines first.
    fn write(self, request: &Request) -> String {
        match self {
            Written::Common => request.clf(),
            Written::Combined => request.combined(),
            Written::VhostCombined => {
                format!("{}:{} {}", request.host, request.port, request.combined())
            }
            Written::ElbClassic => format!("{} - -", request.load_balancer("http")),
            Written::Alb { domain_name } => request.alb(domain_name),
            Written::CloudFront => request.cloudfront(),
            Written::W3c => request.w3c(),
            Written::S3Access => request.s3_access(),
            Written::NginxJson => request.nginx_json(),
        }
    }

    /// The columns the line must parse to.
    fn expected(self, request: &Request) -> Columns {
        let host_port = format!("{}:{}", request.host, request.port);
        let whole_seconds = request.micros - request.micros.rem_euclid(1_000_000);
        let mut columns = Columns {
            micros: whole_seconds,
            client: request.client.clone(),
            remote_user: None,
            method: Some(request.method.into()),
            path: Some(request.path.clone()),
            query: request.query.clone(),
            protocol: Some(request.protocol.into()),
            status: request.status,
            bytes_sent: request.bytes_sent,
            referrer: request.referrer.clone(),
            user_agent: request.user_agent.clone(),
            request_time_ms: Some(f64::from(request.duration_ms)),
            vhost: None,
        };
        match self {
            Written::Common | Written::Combined | Written::VhostCombined => {
                columns.remote_user = request.remote_user.clone();
                columns.request_time_ms = None;
                if self == Written::Common {
                    (columns.referrer, columns.user_agent) = (None, None);
                }
                if self == Written::VhostCombined {
                    columns.vhost = Some(host_port);
                }
            }
            Written::ElbClassic | Written::Alb { .. } => {
                columns.micros = request.micros;
                columns.bytes_sent = Some(request.bytes_sent.unwrap_or(0));
                columns.referrer = None;
                columns.vhost = Some(match self {
                    Written::Alb { domain_name: true } => request.host.clone(),
                    _ => host_port,
                });
            }
            Written::CloudFront => {
                columns.bytes_sent = Some(request.bytes_sent.unwrap_or(0));
                columns.vhost = Some(request.host.clone());
            }
            Written::W3c => {
                columns.remote_user = request.remote_user.clone();
                columns.vhost = Some(request.host.clone());
            }
            Written::S3Access => {
                columns.remote_user = request.remote_user.clone();
                columns.vhost = Some(host_port);
            }
            Written::NginxJson => {
                columns.remote_user = request.remote_user.clone();
                columns.bytes_sent = Some(request.bytes_sent.unwrap_or(0));
                columns.vhost = Some(request.host.clone());
            }
        }
        columns
    }
}

/// A parsed line's columns, owned and unescaped.
#[derive(Debug, Clone, PartialEq)]
struct Columns {
    micros: i64,
    client: String,
    remote_user: Option<String>,
    method: Option<String>,
    path: Option<String>,
    query: Option<String>,
    protocol: Option<String>,
    status: i16,
    bytes_sent: Option<i64>,
    referrer: Option<String>,
    user_agent: Option<String>,
    request_time_ms: Option<f64>,
    vhost: Option<String>,
}

impl Columns {
    fn of(line: &AccessLine<'_>) -> Self {
        let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).unwrap();
        Columns {
            micros: line.ts_micros,
            client: text(line.client),
            remote_user: line.remote_user.map(text),
            method: line.method.map(text),
            path: line.path.map(|t| text(&t.unescaped())),
            query: line.query.map(|t| text(&t.unescaped())),
            protocol: line.protocol.map(text),
            status: line.status,
            bytes_sent: line.bytes_sent,
            referrer: line.referrer.map(|t| text(&t.unescaped())),
            user_agent: line.user_agent.map(|t| text(&t.unescaped())),
            // Sums of decimal seconds: compared to the microsecond.
            request_time_ms: line
                .request_time_ms
                .map(|ms| (ms * 1000.0).round() / 1000.0),
            vhost: line.vhost.map(text),
        }
    }
}

/// The columns of the last line of `text`, the lines before it being headers.
fn parse_last(text: &str, format: LogFormat) -> Result<Columns, String> {
    let mut parser = LineParser::new(format);
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let parsed = parser.parse(line.as_bytes());
        if lines.peek().is_none() {
            return parsed
                .map(|line| Columns::of(&line))
                .map_err(|e| format!("{e:?}"));
        }
    }
    unreachable!("a text has a line")
}

fn words(pattern: &'static str) -> impl Strategy<Value = Option<String>> {
    proptest::option::of(pattern.prop_filter("not a dash", |s| s != "-"))
}

fn request() -> impl Strategy<Value = Request> {
    let client = prop_oneof![
        any::<[u8; 4]>().prop_map(|[a, b, c, d]| format!("{a}.{b}.{c}.{d}")),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| format!("2001:db8::{a:x}:{b:x}")),
    ];
    const METHODS: [&str; 7] = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"];
    (
        (client, words("[a-z][a-z0-9._]{0,11}")),
        // 1990 to 2060, to the microsecond
        631_152_000_000_000i64..2_840_140_800_000_000,
        (
            prop::sample::select(&METHODS[..]),
            "/[a-zA-Z0-9._~/-]{0,24}",
            words("[a-z0-9=&]{1,16}"),
        ),
        prop::sample::select(&["HTTP/1.0", "HTTP/1.1", "HTTP/2.0"][..]),
        (100i16..600, proptest::option::of(0i64..1 << 40)),
        words("https://[a-z]{1,10}\\.example/[a-z0-9/]{0,12}"),
        // Single spaces: IIS writes a space `+`, and reads `++` as a space and a `+`.
        words("[a-zA-Z0-9;:()/._,-]{1,10}( [a-zA-Z0-9;:()/._,-]{1,10}){0,4}"),
        ("[a-z][a-z0-9-]{0,12}\\.example", 1u16..),
        0u32..600_000,
    )
        .prop_map(
            |(
                (client, remote_user),
                micros,
                (method, path, query),
                protocol,
                (status, bytes_sent),
                referrer,
                user_agent,
                (host, port),
                duration_ms,
            )| Request {
                client,
                remote_user,
                micros,
                method,
                path,
                query,
                protocol,
                status,
                bytes_sent,
                referrer,
                user_agent,
                host,
                port,
                duration_ms,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn every_built_in_format_parses_back_what_it_wrote(request in request()) {
        for written in Written::ALL {
            let text = written.write(&request);
            let expected = written.expected(&request);
            let parsed = parse_last(&text, written.format());
            prop_assert_eq!(parsed.as_ref(), Ok(&expected), "{:?}:\n{}", written, text);
            let auto = parse_last(&text, LogFormat::Auto);
            prop_assert_eq!(auto.as_ref(), Ok(&expected), "auto, {:?}:\n{}", written, text);
        }
    }
}
