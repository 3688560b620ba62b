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
