//! Custom formats round-trip: random nginx and Apache format strings, lines written in them from
//! random field values, and each line parsed back to the values it was written from.

mod support;

use loglake_parser::{LineParser, LogFormat, ParseLine};
use proptest::prelude::*;
use support::civil;

/// A field a format string may log: how each dialect writes it (quotes included), and the value
/// a line holds.
#[derive(Debug, Clone)]
enum Field {
    Client(String),
    User(Option<String>),
    /// Seconds since the epoch and the offset (minutes east) the server wrote it in.
    Time(i64, i32),
    Request {
        method: String,
        path: String,
        query: Option<String>,
    },
    Status(i16),
    Bytes(i64),
    Referrer(Option<String>),
    UserAgent(Option<String>),
    /// Milliseconds, whole.
    RequestTime(u32),
    Host(String),
    /// A field no column keeps.
    Other(String),
}

impl Field {
    fn directive(&self, nginx: bool) -> &'static str {
        let (n, a) = match self {
            Field::Client(_) => ("$remote_addr", "%h"),
            Field::User(_) => ("$remote_user", "%u"),
            Field::Time(..) => ("[$time_local]", "%t"),
            Field::Request { .. } => ("\"$request\"", "\"%r\""),
            Field::Status(_) => ("$status", "%>s"),
            Field::Bytes(_) => ("$body_bytes_sent", "%B"),
            Field::Referrer(_) => ("\"$http_referer\"", "\"%{Referer}i\""),
            Field::UserAgent(_) => ("\"$http_user_agent\"", "\"%{User-agent}i\""),
            Field::RequestTime(_) => ("$request_time", "%D"),
            Field::Host(_) => ("$host", "%v"),
            Field::Other(_) => ("$request_length", "%{X-Test}i"),
        };
        if nginx {
            n
        } else {
            a
        }
    }

    fn written(&self, nginx: bool) -> String {
        let quoted = |value: &Option<String>| match value {
            Some(v) => format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")),
            None => "\"-\"".into(),
        };
        match self {
            Field::Client(v) | Field::Host(v) | Field::Other(v) => v.clone(),
            Field::User(v) => v.clone().unwrap_or_else(|| "-".into()),
            Field::Time(seconds, offset) => {
                let local = seconds + i64::from(*offset) * 60;
                let (days, of_day) = (local.div_euclid(86_400), local.rem_euclid(86_400));
                let (y, m, d) = civil(days);
                const MONTHS: [&str; 12] = [
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec",
                ];
                format!(
                    "[{d:02}/{}/{y}:{:02}:{:02}:{:02} {}{:02}{:02}]",
                    MONTHS[m as usize - 1],
                    of_day / 3600,
                    of_day / 60 % 60,
                    of_day % 60,
                    if *offset < 0 { '-' } else { '+' },
                    offset.abs() / 60,
                    offset.abs() % 60
                )
            }
            Field::Request {
                method,
                path,
                query,
            } => match query {
                Some(q) => format!("\"{method} {path}?{q} HTTP/1.1\""),
                None => format!("\"{method} {path} HTTP/1.1\""),
            },
            Field::Status(s) => s.to_string(),
            Field::Bytes(b) => b.to_string(),
            Field::Referrer(v) | Field::UserAgent(v) => quoted(v),
            Field::RequestTime(ms) if nginx => format!("{}.{:03}", ms / 1000, ms % 1000),
            Field::RequestTime(ms) => (u64::from(*ms) * 1000).to_string(),
        }
    }
}

fn word() -> impl Strategy<Value = String> {
    "[a-z0-9._]{1,12}"
}

/// Free text for a quoted field: spaces, quotes and backslashes included.
fn text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[a-zA-Z0-9 /;:()\"\\\\.-]{1,30}".prop_filter("not a dash", |s| s != "-"))
}

fn client() -> impl Strategy<Value = Field> {
    prop_oneof![
        (any::<[u8; 4]>()).prop_map(|[a, b, c, d]| format!("{a}.{b}.{c}.{d}")),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| format!("2001:db8::{a:x}:{b:x}")),
    ]
    .prop_map(Field::Client)
}

fn time() -> impl Strategy<Value = Field> {
    // 1990 to 2060, offsets within ±14:00 in quarter hours
    (631_152_000i64..2_840_140_800, -56i32..=56).prop_map(|(s, q)| Field::Time(s, q * 15))
}

fn optional_fields() -> impl Strategy<Value = Vec<Field>> {
    let request = (
        prop::sample::select(vec!["GET", "POST", "PROPFIND", "M-SEARCH"]),
        "/[a-z0-9/._-]{0,20}",
        proptest::option::of("[a-z0-9=&]{1,12}"),
    )
        .prop_map(|(method, path, query)| Field::Request {
            method: method.into(),
            path,
            query,
        });
    (
        proptest::option::of(proptest::option::of("[a-z]{1,8}").prop_map(Field::User)),
        proptest::option::of(request),
        proptest::option::of((0i64..1 << 40).prop_map(Field::Bytes)),
        proptest::option::of(text().prop_map(Field::Referrer)),
        proptest::option::of(text().prop_map(Field::UserAgent)),
        proptest::option::of((0u32..10_000_000).prop_map(Field::RequestTime)),
        proptest::option::of(word().prop_map(Field::Host)),
        proptest::option::of(word().prop_map(Field::Other)),
    )
        .prop_map(|(a, b, c, d, e, f, g, h)| {
            [a, b, c, d, e, f, g, h].into_iter().flatten().collect()
        })
}

/// A format: its fields in a random order, the separators between them, a prefix, a dialect.
fn format() -> impl Strategy<Value = (Vec<Field>, Vec<&'static str>, &'static str, bool)> {
    (
        client(),
        time(),
        (100i16..600).prop_map(Field::Status),
        optional_fields(),
    )
        .prop_flat_map(|(client, time, status, mut fields)| {
            fields.extend([client, time, status]);
            let n = fields.len();
            (
                Just(fields).prop_shuffle(),
                prop::collection::vec(
                    prop::sample::select(vec![" ", " - ", " | ", "\t", " :: "]),
                    n,
                ),
                prop::sample::select(vec!["", "access: ", "<14>"]),
                any::<bool>(),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn lines_of_random_formats_parse_back_to_their_fields(
        (fields, separators, prefix, nginx) in format()
    ) {
        let mut spec = format!("{}:{prefix}", if nginx { "nginx" } else { "apache" });
        let mut line = prefix.to_string();
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                spec += separators[i];
                line += separators[i];
            }
            spec += field.directive(nginx);
            line += &field.written(nginx);
        }
        let format: LogFormat = spec.parse().map_err(TestCaseError::fail)?;
        let mut parser = LineParser::new(format);
        parser.keep_extra_fields();
        let parsed = parser.parse(line.as_bytes());
        let parsed = parsed.map_err(|e| TestCaseError::fail(format!("{e:?}: {spec} | {line}")))?;
        let text = |t: Option<loglake_parser::Text>| {
            t.map(|t| String::from_utf8(t.unescaped().into_owned()).unwrap())
        };
        let str_of = |b: Option<&[u8]>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
        for field in &fields {
            match field {
                Field::Client(v) => prop_assert_eq!(str_of(Some(parsed.client)), Some(v.clone())),
                Field::User(v) => prop_assert_eq!(str_of(parsed.remote_user), v.clone()),
                Field::Time(seconds, _) => prop_assert_eq!(parsed.ts_micros, seconds * 1_000_000),
                Field::Request { method, path, query } => {
                    prop_assert_eq!(str_of(parsed.method), Some(method.clone()));
                    prop_assert_eq!(text(parsed.path), Some(path.clone()));
                    prop_assert_eq!(text(parsed.query), query.clone());
                    prop_assert_eq!(str_of(parsed.protocol), Some("HTTP/1.1".into()));
                }
                Field::Status(s) => prop_assert_eq!(parsed.status, *s),
                Field::Bytes(b) => prop_assert_eq!(parsed.bytes_sent, Some(*b)),
                Field::Referrer(v) => prop_assert_eq!(text(parsed.referrer), v.clone()),
                Field::UserAgent(v) => prop_assert_eq!(text(parsed.user_agent), v.clone()),
                Field::RequestTime(ms) => {
                    let got = parsed.request_time_ms.unwrap_or(f64::NAN);
                    prop_assert!((got - f64::from(*ms)).abs() < 1e-6, "{} ms, not {}", got, ms);
                }
                Field::Host(v) => prop_assert_eq!(str_of(parsed.vhost), Some(v.clone())),
                Field::Other(v) => {
                    let key = if nginx { "request_length" } else { "%{X-Test}i" };
                    let fields = extra_fields(&parser);
                    prop_assert_eq!(fields.get(key), Some(&serde_json::json!(v)));
                }
            }
        }
        if !fields.iter().any(|field| matches!(field, Field::Other(_))) {
            prop_assert_eq!(parser.extra_fields(), None);
        }
    }
}

/// The parser's `extra_fields` for its last row, as JSON (decoded lossily, as the rows are).
fn extra_fields(parser: &LineParser) -> serde_json::Map<String, serde_json::Value> {
    let json = String::from_utf8_lossy(parser.extra_fields().unwrap_or(b"{}")).into_owned();
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Any bytes, in any format (custom ones included), header lines first or not: a row or a
    /// reject, never a panic.
    #[test]
    fn any_bytes_in_any_format_are_a_row_or_a_reject(
        header in proptest::option::of("#Fields:( [a-z()-]{1,12}){0,12}"),
        lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..8),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let custom = [
            r#"nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $upstream_response_time"#,
            r#"apache:%h %{%d/%b/%Y %T %z}t %{msec}t \"%r\" %>s %D %q"#,
        ];
        let formats = LogFormat::ALL
            .iter()
            .copied()
            .chain(custom.iter().map(|spec| spec.parse().unwrap()));
        for format in formats {
            let mut parser = LineParser::new(format);
            parser.keep_extra_fields();
        parser.keep_extra_fields();
            if let Some(header) = &header {
                let _ = parser.parse(header.as_bytes());
            }
            for line in &lines {
                if parser.parse(line).is_ok() {
                    extra_fields(&parser);
                }
            }
            // The format's own example, a few bytes changed and cut short: deep into the parser.
            let mut example = format.example().as_bytes().to_vec();
            if example.is_empty() {
                example = b"203.0.113.9 - - [10/Oct/2026:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5".to_vec();
            }
            for (at, byte) in &edits {
                let i = at.index(example.len());
                example[i] = *byte;
            }
            for line in [&example[..cut.index(example.len() + 1)], &example] {
                if parser.parse(line).is_ok() {
                    extra_fields(&parser);
                }
            }
        }
    }
}
