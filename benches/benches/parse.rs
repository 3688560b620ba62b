//! Criterion benchmarks of the per-line hot path, on 20,000 generated lines (the bundled sample's
//! generator, so they run anywhere). The million-line figures come from `benches/run.sh`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use loglake_decode::{Decoder, DecoderOptions};
use loglake_parser::{parse_line, LineParser, LogFormat, ParseLine, UserAgentCache, UserAgentInfo};

fn sample_lines() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../sample/access.log");
    let sample = std::fs::read(path).expect("sample/access.log is in the repository");
    sample.repeat(10)
}

fn benches(c: &mut Criterion) {
    let input = sample_lines();
    let lines = input
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64;
    let mut group = c.benchmark_group("hot_path");
    group.throughput(Throughput::Elements(lines));

    group.bench_function("parse_line", |b| {
        b.iter(|| {
            input
                .split(|&b| b == b'\n')
                .filter(|line| parse_line(line, LogFormat::Auto).is_ok())
                .count()
        })
    });
    group.bench_function("parse_line_and_cached_user_agent", |b| {
        let mut cache = UserAgentCache::<UserAgentInfo>::default();
        b.iter(|| {
            input
                .split(|&b| b == b'\n')
                .filter_map(|line| parse_line(line, LogFormat::Auto).ok())
                .filter(|l| cache.lookup(l.user_agent).is_bot)
                .count()
        })
    });
    group.bench_function("decode_to_arrow", |b| {
        b.iter(|| {
            let mut decoder = Decoder::new("bench", DecoderOptions::default());
            let mut rows = 0;
            let mut rest = input.as_slice();
            while !rest.is_empty() {
                rest = &rest[decoder.decode(rest)..];
                if let Some(batch) = decoder.flush() {
                    rows += batch.rows.num_rows();
                }
            }
            rows
        })
    });
    group.finish();
}

/// The same requests in each format a target is set for (issue 21: ALB and CloudFront within
/// 1.5x of `combined`, the `combined` format strings within 1.3x of the built-in parser), parsed
/// by one parser per format as a decoder does, without reading or building rows.
fn formats(c: &mut Criterion) {
    let sample = String::from_utf8(sample_lines()).expect("the sample is UTF-8");
    // The sample's `combined` lines (it mixes in other layouts and broken lines).
    let combined: Vec<&str> = (sample.lines())
        .filter(|line| parse_line(line.as_bytes(), LogFormat::Combined).is_ok())
        .collect();
    let rewritten = |format: &str| -> Vec<String> {
        let lines = combined
            .iter()
            .map(|line| loglake_benches::rewrite_as(line, format));
        lines
            .collect::<Result<_, _>>()
            .expect("sample lines are combined lines")
    };
    let (alb, cloudfront) = (rewritten("alb"), rewritten("cloudfront"));
    let (s3_access, json) = (rewritten("s3_access"), rewritten("json"));
    let realtime = rewritten("cloudfront_realtime");
    let nginx = r#"nginx:$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;
    let apache = r#"apache:%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\""#;
    fn as_str(lines: &[String]) -> Vec<&str> {
        lines.iter().map(String::as_str).collect()
    }
    let cases: [(&str, LogFormat, Vec<&str>); 8] = [
        ("combined", LogFormat::Combined, combined.clone()),
        (
            "nginx_combined_string",
            nginx.parse().unwrap(),
            combined.clone(),
        ),
        (
            "apache_combined_string",
            apache.parse().unwrap(),
            combined.clone(),
        ),
        ("alb", LogFormat::Alb, as_str(&alb)),
        ("cloudfront", LogFormat::CloudFront, as_str(&cloudfront)),
        ("s3_access", LogFormat::S3Access, as_str(&s3_access)),
        ("json", LogFormat::Json, as_str(&json)),
        (
            "cloudfront_realtime",
            loglake_benches::CLOUDFRONT_REALTIME_FORMAT.parse().unwrap(),
            as_str(&realtime),
        ),
    ];
    let mut group = c.benchmark_group("formats");
    group.throughput(Throughput::Elements(combined.len() as u64));
    for (name, format, lines) in cases {
        let mut parser = LineParser::new(format);
        assert!(
            lines
                .iter()
                .all(|line| parser.parse(line.as_bytes()).is_ok()),
            "{name}"
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                let parsed = lines.iter().map(|line| parser.parse(line.as_bytes()));
                parsed.filter(Result::is_ok).count()
            })
        });
    }
    group.finish();
}

criterion_group!(hot_path, benches, formats);
criterion_main!(hot_path);
