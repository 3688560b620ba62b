//! Formats that `../shared/data` has no logs of, read from the public samples in `tests/data/`
//! (each folder's SOURCE.md says where they come from and under which licence), with the values
//! their own projects' tests expect.

use loglake_parser::{LineParser, LogFormat, ParseLine};

fn lines(path: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn s3_server_access_logs_read_as_logstash_reads_them() {
    let lines = lines("s3_access/logstash_patterns_core.log");
    for format in ["s3_access", "auto"] {
        let format: LogFormat = format.parse().unwrap();
        let mut parser = LineParser::new(format);
        parser.keep_extra_fields();
        let mut read = Vec::new();
        for line in &lines {
            let parsed = parser
                .parse(line.as_bytes())
                .unwrap_or_else(|e| panic!("{format}: {e}: {line}"));
            let extra = String::from_utf8(parser.extra_fields().unwrap().to_vec()).unwrap();
            read.push((
                String::from_utf8_lossy(parsed.client).to_string(),
                parsed
                    .remote_user
                    .map(|u| String::from_utf8_lossy(u).to_string()),
                parsed.status,
                parsed.bytes_sent,
                parsed.request_time_ms,
                parsed
                    .path
                    .map(|p| String::from_utf8_lossy(p.bytes).to_string()),
                extra,
            ));
        }
        assert_eq!(read[0].0, "192.0.2.3");
        assert_eq!(read[0].1.as_deref(), Some("79a5"));
        assert_eq!(
            (read[0].2, read[0].3, read[0].4),
            (200, Some(113), Some(7.0))
        );
        assert_eq!(read[0].5.as_deref(), Some("/mybucket"));
        assert!(
            read[0].6.contains(r#""operation":"REST.GET.VERSIONING""#),
            "{}",
            read[0].6
        );
        assert_eq!(
            (read[1].0.as_str(), read[1].1.as_deref()),
            ("10.0.1.2", None)
        );
        assert_eq!((read[1].2, read[1].3, read[1].4), (304, None, Some(10.0)));
        assert!(
            read[1].6.contains(r#""object_size":"1718""#)
                && read[1].6.contains(r#""key":"foo/bar.html""#)
        );
    }
}

#[test]
fn caddy_and_traefik_json_logs_read_as_crowdsec_reads_them() {
    for format in ["json", "auto"] {
        let format: LogFormat = format.parse().unwrap();
        let mut parser = LineParser::new(format);
        let caddy = lines("json/caddy.log");
        let mut rows = Vec::new();
        let mut runtime_lines = 0;
        for line in caddy.iter().filter(|l| !l.trim().is_empty()) {
            match parser.parse(line.as_bytes()) {
                Ok(parsed) => rows.push((
                    String::from_utf8_lossy(parsed.client).to_string(),
                    parsed
                        .method
                        .map(|m| String::from_utf8_lossy(m).to_string()),
                    parsed
                        .path
                        .map(|p| String::from_utf8_lossy(&p.unescaped()).to_string()),
                    parsed
                        .user_agent
                        .map(|u| String::from_utf8_lossy(&u.unescaped()).to_string()),
                    parsed.vhost.map(|v| String::from_utf8_lossy(v).to_string()),
                    parsed.ts_micros,
                )),
                Err(loglake_parser::RejectReason::NotAccessRecord) => runtime_lines += 1,
                Err(other) => panic!("{format}: {other}: {line}"),
            }
        }
        assert_eq!((rows.len(), runtime_lines), (10, 1), "{format}");
        // CrowdSec's test expects these of the first line: the client behind the proxy, its agent.
        assert_eq!(rows[0].0, "127.0.0.1");
        assert_eq!(rows[0].1.as_deref(), Some("GET"));
        assert_eq!(rows[0].2.as_deref(), Some("/"));
        assert_eq!(rows[0].3.as_deref(), Some("curl/7.74.0"));
        assert_eq!(rows[0].4.as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(
            rows[0].5, 1_693_840_791_756_500,
            "ts 1693840791.7564995, to the microsecond"
        );

        let traefik = lines("json/traefik.log");
        let first = parser.parse(traefik[0].as_bytes()).unwrap();
        assert_eq!(first.client, b"172.17.0.1");
        assert_eq!(first.path.unwrap().bytes, b"/594VAEoi.save");
        assert_eq!((first.status, first.bytes_sent), (200, Some(357)));
        assert_eq!(first.request_time_ms, Some(0.357313));
        assert_eq!(first.vhost, Some(&b"test.docker.localhost"[..]));
        // Its JSON lines are rows; a plugin's debug line mixed in is not.
        for line in traefik.iter().filter(|l| !l.trim().is_empty()) {
            let parsed = parser.parse(line.as_bytes());
            assert_eq!(parsed.is_ok(), line.starts_with('{'), "{format}: {line}");
        }
    }
}

#[test]
fn cloudfront_real_time_records_read_with_their_configurations_fields() {
    // The configuration's fields as OwnStats' template lists them (SOURCE.md); CloudFront
    // writes them in its own order, which here is the same.
    let fields = "timestamp c-ip sc-status cs-uri-stem cs-bytes x-edge-location time-taken \
                  cs-user-agent cs-referer cs-uri-query x-edge-result-type asn";
    let format: LogFormat = format!("cloudfront_realtime:{fields}").parse().unwrap();
    let mut parser = LineParser::new(format);
    parser.keep_extra_fields();
    let lines = lines("cloudfront_realtime/ownstats.log");
    let mut read = Vec::new();
    for line in &lines {
        let parsed = parser
            .parse(line.as_bytes())
            .unwrap_or_else(|e| panic!("{e}: {line}"));
        let text = |t: Option<loglake_parser::Text<'_>>| {
            t.map(|t| String::from_utf8(t.unescaped().to_vec()).unwrap())
        };
        let extra: serde_json::Value =
            serde_json::from_slice(parser.extra_fields().unwrap()).unwrap();
        read.push((
            loglake_parser::format_rfc3339_micros(parsed.ts_micros),
            String::from_utf8_lossy(parsed.client).to_string(),
            parsed.status,
            text(parsed.path),
            text(parsed.query).map(|q| q[..4].to_string()),
            parsed.request_time_ms,
            text(parsed.user_agent).map(|ua| ua[..31].to_string()),
            text(parsed.referrer),
            [
                &extra["cs-bytes"],
                &extra["x-edge-location"],
                &extra["x-edge-result-type"],
                &extra["asn"],
            ]
            .map(|v| v.as_str().unwrap().to_string()),
        ));
    }
    let macos = Some("Mozilla/5.0 (Macintosh; Intel M".to_string());
    assert_eq!(
        read[0],
        (
            "2022-11-20T18:22:06.477000Z".to_string(),
            "91.48.244.135".to_string(),
            200,
            Some("/hello.gif".to_string()),
            Some("t=pv".to_string()),
            Some(0.0),
            macos.clone(),
            Some("http://localhost:3000/".to_string()),
            ["319", "HAM50-C2", "Hit", "3320"].map(String::from),
        )
    );
    assert_eq!((read[1].4.as_deref(), read[1].5), (Some("t=tr"), Some(1.0)));
    assert_eq!(read[2].1, "2600:1700:2328:7f60:fc5c:8867:7522:1bef");
    assert_eq!(read[2].8[3], "7018");
    // The query is not kept a second time from `cs-uri-query`.
    assert!(!String::from_utf8_lossy(parser.extra_fields().unwrap()).contains("cs-uri-query"));
}
