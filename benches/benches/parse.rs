//! Criterion benchmarks of the per-line hot path, on 20,000 generated lines (the bundled sample's
//! generator, so they run anywhere). The million-line figures come from `benches/run.sh`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use loglake_decode::{Decoder, DecoderOptions};
use loglake_parser::{parse_line, LogFormat, UserAgentCache, UserAgentInfo};

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

criterion_group!(hot_path, benches);
criterion_main!(hot_path);
