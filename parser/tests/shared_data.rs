//! The parser against third-party expectations in `../shared/data` (present in CI; set
//! `LOGLAKE_REQUIRE_SHARED_DATA=1` to make its absence a failure rather than a skip).

use std::fs;
use std::path::PathBuf;

use loglake_parser::{
    format_rfc3339_micros, parse_line, LineParser, LogFormat, ParseLine, Text, UserAgentCache,
    UserAgentInfo,
};
use serde::Deserialize;
use serde_json::Value;

fn shared_data() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("LOGLAKE_REQUIRE_SHARED_DATA").is_none(),
        "shared data missing at {}",
        dir.display()
    );
    eprintln!("skipping: no shared data at {}", dir.display());
    None
}

#[derive(Deserialize)]
struct WootheeCase {
    target: Option<String>,
    name: String,
    category: String,
    os: Option<String>,
    version: Option<String>,
    os_version: Option<String>,
}

#[test]
fn woothee_testsets_through_the_cached_user_agent_layer() {
    let Some(data) = shared_data() else { return };
    let mut cache = UserAgentCache::<UserAgentInfo>::default();
    let mut differences = Vec::new();
    let mut cases = 0;
    let dir = data.join("useragents/woothee/testsets");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // Twice: the second round is answered from the cache and must not change anything.
    for _round in 0..2 {
        for file in &files {
            let parsed: Vec<WootheeCase> =
                serde_yaml::from_str(&fs::read_to_string(file).unwrap()).unwrap();
            for case in parsed {
                cases += 1;
                let target = case.target.clone().unwrap_or_default();
                let info = cache.lookup(case.target.as_deref().map(|t| Text::plain(t.as_bytes())));
                let mut check = |field: &'static str, got: &str, expected: Option<&String>| {
                    if let Some(expected) = expected {
                        if got != expected {
                            differences.push((target.clone(), field, got.to_string()));
                        }
                    }
                };
                check("name", &info.name, Some(&case.name));
                check("category", &info.category, Some(&case.category));
                check("os", &info.os, case.os.as_ref());
                check("version", &info.version, case.version.as_ref());
                check("os_version", &info.os_version, case.os_version.as_ref());
                if case.category == "crawler" {
                    assert!(info.is_bot, "a woothee crawler is a bot: {target}");
                }
            }
        }
    }
    assert!(cases >= 2 * 230, "read {cases} cases over two rounds");
    // The pinned woothee 0.13.0 agrees with every case of these testsets (checked 2026-11-22);
    // a crate upgrade that changes a classification shows up here.
    differences.dedup();
    assert!(
        differences.is_empty(),
        "(target, field, ours): {differences:#?}"
    );
}

/// VRL's expected fields mapped onto ours. VRL names them per function and format; the
/// meaning is the same. Returns None for fields we do not store.
fn our_field(vrl_name: &str) -> Option<&'static str> {
    Some(match vrl_name {
        "host" | "client" | "remote_addr" => "client_ip",
        "user" | "remote_user" => "remote_user",
        "timestamp" => "ts",
        "message" | "request" => "request",
        "method" => "method",
        "path" => "path",
        "protocol" => "protocol",
        "status" => "status",
        "size" | "body_bytes_size" => "bytes_sent",
        "referrer" | "referer" | "http_referer" => "referrer",
        "agent" | "http_user_agent" => "user_agent",
        "request_time" => "request_time_ms",
        _ => return None,
    })
}

#[test]
fn vector_vrl_parse_vectors_for_apache_common_and_nginx() {
    let Some(data) = shared_data() else { return };
    let vectors: Value = serde_json::from_str(
        &fs::read_to_string(data.join("vectors/vrl_parse_vectors.json")).unwrap(),
    )
    .unwrap();
    let mut compared = 0;
    for function in ["parse_apache_log", "parse_common_log", "parse_nginx_log"] {
        for case in vectors["functions"][function]["tests"].as_array().unwrap() {
            let name = format!("{function}/{}", case["name"].as_str().unwrap());
            let line = case["args"]["value"].as_str().unwrap();
            let parsed = parse_line(line.as_bytes(), LogFormat::Auto);
            let format = case["args"]["format"].as_str().unwrap_or("common");
            let custom_timestamp = case["args"].get("timestamp_format").is_some();
            let expected = case["expected"].as_object();
            // Lines VRL rejects, error logs, custom timestamp layouts and lines without any
            // timestamp (VRL returns `{}`; our rows need one to be partitioned) are rejects here.
            let vrl_row = expected.is_some_and(|e| e.contains_key("timestamp"));
            if format == "error" || custom_timestamp || !vrl_row {
                assert!(parsed.is_err(), "{name}: expected a reject, got {parsed:?}");
                continue;
            }
            let l = parsed.unwrap_or_else(|e| panic!("{name}: rejected ({e})"));
            let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
            let unescaped = |t: Option<loglake_parser::Text<'_>>| t.map(|t| text(&t.unescaped()));
            for (vrl_name, value) in expected.unwrap() {
                let Some(field) = our_field(vrl_name) else {
                    continue;
                };
                // `-` and "" mean "not logged": null for us, sometimes a string in VRL.
                let expected_value = match value {
                    Value::String(s) if s == "-" || s.is_empty() => Value::Null,
                    Value::Object(ts) => ts["$timestamp"].clone(),
                    other => other.clone(),
                };
                let ours = match field {
                    "client_ip" => Value::from(text(l.client)),
                    "remote_user" => l.remote_user.map(text).into(),
                    "ts" => {
                        Value::from(format_rfc3339_micros(l.ts_micros).replace(".000000Z", "Z"))
                    }
                    "request" => {
                        let mut target = unescaped(l.path).unwrap_or_default();
                        if let Some(q) = unescaped(l.query) {
                            target = format!("{target}?{q}");
                        }
                        let words: Vec<String> =
                            [l.method.map(text), Some(target), l.protocol.map(text)]
                                .into_iter()
                                .flatten()
                                .filter(|w| !w.is_empty())
                                .collect();
                        Value::from(words.join(" "))
                    }
                    "method" => l.method.map(text).into(),
                    "path" => unescaped(l.path).into(),
                    "protocol" => l.protocol.map(text).into(),
                    "status" => Value::from(l.status),
                    "bytes_sent" => l.bytes_sent.into(),
                    "referrer" => unescaped(l.referrer).into(),
                    "user_agent" => unescaped(l.user_agent).into(),
                    "request_time_ms" => {
                        let seconds = expected_value.as_f64().unwrap();
                        let ms = l.request_time_ms.unwrap();
                        assert!(
                            (ms - seconds * 1000.0).abs() < 1e-9,
                            "{name}: {ms} ms vs {seconds} s"
                        );
                        continue;
                    }
                    _ => unreachable!(),
                };
                let expected_value = if field == "request" && expected_value.is_null() {
                    Value::from("")
                } else {
                    expected_value
                };
                assert_eq!(ours, expected_value, "{name}: field {vrl_name}");
                compared += 1;
            }
        }
    }
    assert!(compared >= 60, "compared {compared} fields");
}

/// The base64 `data` of every record in an event fixture: Kinesis (`Records[].kinesis.data`),
/// Firehose (`records[].data`) or a direct CloudWatch Logs event (`awslogs.data`).
fn record_data(event: &Value) -> Vec<Vec<u8>> {
    use base64::Engine;
    let encoded: Vec<&str> = if let Some(records) = event["Records"].as_array() {
        records
            .iter()
            .map(|r| r["kinesis"]["data"].as_str().unwrap())
            .collect()
    } else if let Some(records) = event["records"].as_array() {
        records
            .iter()
            .map(|r| r["data"].as_str().unwrap())
            .collect()
    } else {
        vec![event["awslogs"]["data"].as_str().unwrap()]
    };
    encoded
        .into_iter()
        .map(|d| base64::engine::general_purpose::STANDARD.decode(d).unwrap())
        .collect()
}

#[test]
fn event_fixture_payloads_decode_as_the_reference_says() {
    use loglake_parser::payload::{deaggregate, decode_payload, LogText};
    let Some(data) = shared_data() else { return };
    let expected: Value = serde_json::from_str(
        &fs::read_to_string(data.join("vectors/event_payloads_decoded.json")).unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for (fixture, want) in expected.as_object().unwrap() {
        if fixture == "_meta" {
            continue;
        }
        let event: Value =
            serde_json::from_str(&fs::read_to_string(data.join("events").join(fixture)).unwrap())
                .unwrap();
        let records = record_data(&event);
        let mut texts = Vec::new();
        for record in &records {
            texts.extend(decode_payload(record).unwrap().texts);
        }
        if let Some(plain) = want.get("decoded_data_utf8") {
            let want: Vec<LogText<'_>> = plain
                .as_array()
                .unwrap()
                .iter()
                .map(|s| LogText::Lines(s.as_str().unwrap().as_bytes().to_vec().into()))
                .collect();
            assert_eq!(texts, want, "{fixture}");
        } else if let Some(payloads) = want.get("decoded_payloads") {
            let want: Vec<LogText<'_>> = payloads
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    LogText::Messages(
                        p["logEvents"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|e| e["message"].as_str().unwrap().to_string())
                            .collect(),
                    )
                })
                .collect();
            assert_eq!(texts, want, "{fixture}");
        } else {
            let users = deaggregate(&records[0]).unwrap().expect("a KPL aggregate");
            let want_users = want["user_records"].as_array().unwrap();
            assert_eq!(users.len(), want_users.len());
            assert_eq!(
                users.len() as u64,
                want["user_record_count"].as_u64().unwrap()
            );
            for (got, want) in users.iter().zip(want_users) {
                assert_eq!(got.partition_key, want["partition_key"].as_str().unwrap());
                assert_eq!(
                    got.explicit_hash_key.as_deref(),
                    want["explicit_hash_key"].as_str()
                );
                assert_eq!(got.data, want["data"].as_str().unwrap().as_bytes());
            }
            assert_eq!(texts.len(), users.len(), "{fixture}");
        }
        checked += 1;
    }
    assert!(checked >= 9, "checked {checked} fixtures");
}

/// Vector's `parse_aws_alb_log` vectors: every line is a row of ours with the same meaning:
/// the client without its port, the status, the bytes sent, the user agent, the time, the
/// request's method, protocol and target (its host in `vhost` unless the line names a TLS
/// domain), and the three processing times added up.
#[test]
fn vector_vrl_parse_vectors_for_alb() {
    let Some(data) = shared_data() else { return };
    let vectors: Value = serde_json::from_str(
        &fs::read_to_string(data.join("vectors/vrl_parse_vectors.json")).unwrap(),
    )
    .unwrap();
    let cases = vectors["functions"]["parse_aws_alb_log"]["tests"]
        .as_array()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let line = case["args"]["value"].as_str().unwrap();
        let want = &case["expected"];
        for format in [LogFormat::Alb, LogFormat::Auto] {
            let mut parser = LineParser::new(format);
            parser.keep_extra_fields();
            let l = parser
                .parse(line.as_bytes())
                .unwrap_or_else(|e| panic!("{name} as {format}: rejected ({e})"));
            let client = want["client_host"].as_str().unwrap();
            assert_eq!(text(l.client), client.rsplit_once(':').unwrap().0, "{name}");
            let status: i16 = want["elb_status_code"].as_str().unwrap().parse().unwrap();
            assert_eq!(l.status, status, "{name}");
            assert_eq!(l.bytes_sent, want["sent_bytes"].as_i64(), "{name}");
            assert_eq!(
                l.user_agent.map(|t| text(&t.unescaped())).as_deref(),
                want["user_agent"].as_str(),
                "{name}"
            );
            assert_eq!(
                format_rfc3339_micros(l.ts_micros),
                want["timestamp"].as_str().unwrap(),
                "{name}"
            );
            assert_eq!(
                l.method.map(text).as_deref(),
                want["request_method"].as_str()
            );
            assert_eq!(
                l.protocol.map(text).as_deref(),
                want["request_protocol"].as_str()
            );
            let url = want["request_url"].as_str().unwrap();
            let path = text(l.path.unwrap().bytes);
            let target = match l.query {
                Some(query) => format!("{path}?{}", text(query.bytes)),
                None => path,
            };
            match want["request_method"].as_str() {
                // an absolute URL: its host in `vhost` (or the TLS domain there), the rest here
                Some(_) => {
                    let (_, after_scheme) = url.split_once("://").unwrap();
                    let slash = after_scheme.find('/').unwrap_or(after_scheme.len());
                    let host = &after_scheme[..slash];
                    assert_eq!(target, &after_scheme[slash..], "{name}");
                    let vhost = want["domain_name"].as_str().unwrap_or(host);
                    assert_eq!(l.vhost.map(text).as_deref(), Some(vhost), "{name}");
                }
                // a request the balancer could not read: kept whole
                None => assert!(target.contains(url), "{name}: {target}"),
            }
            let times = [
                "request_processing_time",
                "target_processing_time",
                "response_processing_time",
            ]
            .map(|t| want[t].as_f64().unwrap());
            let expected_ms = times
                .iter()
                .all(|&t| t >= 0.0)
                .then(|| times.iter().sum::<f64>() * 1_000.0);
            match (l.request_time_ms, expected_ms) {
                (Some(ours), Some(theirs)) => assert!((ours - theirs).abs() < 1e-6, "{name}"),
                (ours, theirs) => assert_eq!(ours, theirs, "{name}"),
            }
            // Every other field Vector reads is in `extra_fields`, by AWS's name: the same
            // text, Vector's numbers the same number, its lists the same items, its nulls
            // absent.
            let extra: serde_json::Map<String, Value> =
                serde_json::from_slice(parser.extra_fields().unwrap()).unwrap();
            let mut compared = 0;
            for (theirs, expected) in want.as_object().unwrap() {
                let ours = match theirs.as_str() {
                    "target_host" => "target_port",
                    "traceability_id" => "conn_trace_id",
                    "client_host" | "elb_status_code" | "sent_bytes" | "user_agent"
                    | "timestamp" | "request_method" | "request_protocol" | "request_url"
                    | "domain_name" => continue,
                    same => same,
                };
                let value = extra.get(ours).map(|v| v.as_str().unwrap());
                match expected {
                    Value::Null => assert_eq!(value, None, "{name}: {ours}"),
                    Value::Number(n) => {
                        let value: f64 = value.unwrap().parse().unwrap();
                        assert_eq!(value, n.as_f64().unwrap(), "{name}: {ours}");
                    }
                    Value::Array(items) => {
                        let items: Vec<&str> = items.iter().map(|i| i.as_str().unwrap()).collect();
                        let value: Vec<&str> = value.map_or(vec![], |v| v.split(' ').collect());
                        assert_eq!(value, items, "{name}: {ours}");
                    }
                    _ => assert_eq!(value, expected.as_str(), "{name}: {ours}"),
                }
                compared += 1;
            }
            assert!(compared >= 20, "{name}: {compared}");
        }
    }
    assert_eq!(cases.len(), 10);
}

/// The lines of a format's folder that must be rejected, and why: (file, [(reason, how many)]).
const EXPECTED_REJECTS: &[(&str, &[(&str, usize)])] = &[
    // 4 NLB TLS lines and 3 ALB connection-log lines among the ALB access lines
    (
        "integrations_alb_nlb_mixed_test.log",
        &[("no_timestamp", 7)],
    ),
    ("integrations_cloudfront_test.log", &[("header_line", 2)]),
    ("lnav_w3c.0.log", &[("header_line", 4)]),
    // FTP commands logged by IIS 4 are rows (their status is a valid three-digit code)
    ("lnav_w3c.1.log", &[("header_line", 6)]),
    ("lnav_w3c.2.log", &[("header_line", 8)]),
    // quoted fields, a `-` client, a quoted substatus with doubled quotes: all rows
    ("lnav_w3c.3.log", &[("header_line", 4)]),
    // Incapsula: the second request's connection closed before any response, status `""`
    ("lnav_w3c.4.log", &[("header_line", 4), ("bad_status", 1)]),
    // the line has more fields than its header names
    ("lnav_w3c.5.log", &[("header_line", 1), ("field_count", 1)]),
    ("lnav_w3c.6.log", &[("header_line", 4)]),
    ("lnav_w3c_big_iis85.log", &[("header_line", 44)]),
];

/// The folder of real logs in `shared/data/access/` of a format not named after it.
const FOLDERS: &[(&str, &str)] = &[("w3c", "w3c_iis")];

/// Every registered format with a folder of real logs in `shared/data/access/` reads every line
/// there, file by file as a log is read, but the rejects listed above, and so does `auto`: a new
/// format is tested on real data by being registered.
#[test]
fn each_format_reads_the_real_logs_in_its_folder() {
    let Some(data) = shared_data() else { return };
    let (mut read, mut with_extra_fields) = (0, 0);
    for &format in LogFormat::ALL {
        let folder = FOLDERS
            .iter()
            .find(|(name, _)| *name == format.name())
            .map_or(format.name(), |(_, folder)| folder);
        let Ok(entries) = fs::read_dir(data.join("access").join(folder)) else {
            continue;
        };
        for file in entries {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap();
            let mut expected: Vec<(&str, usize)> = EXPECTED_REJECTS
                .iter()
                .find(|(file, _)| *file == name)
                .map_or(&[][..], |(_, rejects)| rejects)
                .to_vec();
            expected.sort();
            let text = fs::read(&path).unwrap();
            let lines: Vec<&[u8]> = text
                .split(|&b| b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .collect();
            // `auto` must reject the same lines; its reason is the first format's that tried.
            for parser_format in [format, LogFormat::Auto] {
                // The format's own parser keeps the other fields, `auto` does not: the rows
                // and rejects are the same either way.
                let mut parser = LineParser::new(parser_format);
                if parser_format == format {
                    parser.keep_extra_fields();
                }
                let mut rejects = std::collections::BTreeMap::<&str, usize>::new();
                for line in &lines {
                    match parser.parse(line) {
                        Err(reason) => *rejects.entry(reason.as_str()).or_default() += 1,
                        Ok(_) => {
                            // the format's other fields, a JSON object (decoded as rows are)
                            if let Some(json) = parser.extra_fields() {
                                let json = String::from_utf8_lossy(json);
                                let object: Value = serde_json::from_str(&json).unwrap();
                                assert!(object.is_object(), "{name}: {json}");
                                with_extra_fields += 1;
                            }
                        }
                    }
                }
                let rejects: Vec<_> = rejects.into_iter().collect();
                if parser_format == format {
                    assert_eq!(rejects, expected, "{name} as {format}");
                } else {
                    let count = |r: &[(&str, usize)]| r.iter().map(|(_, n)| n).sum::<usize>();
                    assert_eq!(
                        count(&rejects),
                        count(&expected),
                        "{name} as auto: {rejects:?}"
                    );
                }
            }
            read += lines.len();
        }
    }
    eprintln!("{read} lines read in their own formats, {with_extra_fields} rows with other fields");
    // Most rows of these formats have other fields.
    assert!(
        with_extra_fields * 2 > read,
        "{with_extra_fields} of {read}"
    );
}

/// W3C values that come from the headers: the day of `#Date:` for time-only lines, the fields
/// of each `#Fields:` line, IIS's `+` for spaces.
#[test]
fn w3c_lines_are_read_by_their_headers() {
    let Some(data) = shared_data() else { return };
    let rows = |file: &str| {
        let text = fs::read(data.join("access/w3c_iis").join(file)).unwrap();
        let mut parser = LineParser::new(LogFormat::W3c);
        text.split(|&b| b == b'\n')
            .filter_map(|line| parser.parse(line).ok())
            .map(|l| {
                let text = |t: &[u8]| String::from_utf8_lossy(t).into_owned();
                let agent = l.user_agent.map(|a| text(&a.unescaped()));
                (
                    format_rfc3339_micros(l.ts_micros),
                    text(l.client),
                    l.status,
                    agent,
                    l.request_time_ms,
                )
            })
            .collect::<Vec<_>>()
    };
    let ftp = rows("lnav_w3c.2.log");
    assert_eq!(ftp.len(), 14);
    assert_eq!(
        (ftp[0].0.as_str(), ftp[0].2),
        ("2000-10-09T16:44:49.000000Z", 331)
    );
    assert_eq!(
        ftp[11].0, "2000-10-10T16:44:49.000000Z",
        "the second #Date: block"
    );
    let iis = rows("lnav_w3c_big_iis85.log");
    assert_eq!(iis.len(), 210);
    assert_eq!(iis[0].1, "157.55.39.146");
    assert_eq!(
        iis[0].3.as_deref(),
        Some("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)")
    );
    assert_eq!((iis[0].2, iis[0].4), (404, Some(283.0)));
}

/// nginx's and Apache's own `combined` format strings, compiled, read the real logs' lines as
/// the built-in `combined` does: the same rows, and the same lines rejected.
#[test]
fn the_combined_format_strings_read_real_logs_as_the_built_in_combined() {
    let Some(data) = shared_data() else { return };
    let specs = [
        r#"nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#,
        r#"apache:%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\""#,
    ];
    let text = fs::read(data.join("access/elastic_apache_combined.log")).unwrap();
    let mut built_in = LineParser::new(LogFormat::Combined);
    let mut compared = 0;
    for spec in specs {
        let mut custom = LineParser::new(spec.parse().unwrap());
        for line in text.split(|&b| b == b'\n').take(20_000) {
            let (ours, theirs) = (custom.parse(line), built_in.parse(line));
            match theirs {
                // trailing fields give the built-in a request time the format string does not log
                Ok(mut theirs) => {
                    theirs.request_time_ms = None;
                    assert_eq!(
                        ours,
                        Ok(theirs),
                        "{spec}: {}",
                        String::from_utf8_lossy(line)
                    );
                }
                Err(_) => assert!(ours.is_err(), "{spec}: {}", String::from_utf8_lossy(line)),
            }
            compared += 1;
        }
    }
    assert!(compared > 20_000, "{compared}");
}
