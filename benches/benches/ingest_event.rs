//! Criterion benchmark of one `ingest` invocation's CPU work on a full Kinesis batch (10,000
//! records, 6 MB of log lines from the bundled sample): event JSON → Firehose request bodies.
//! `ingest-batch` runs the same on the benchmark log for benches/README.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use loglake_decode::DecoderOptions;
use loglake_ingest::{prepare, KinesisEventText, RejectsOutput};
use loglake_stream::UserAgentColumns;

fn benches(c: &mut Criterion) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../sample/access.log");
    let sample = std::fs::read(path).expect("sample/access.log is in the repository");
    let lines: Vec<&[u8]> = sample
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let event = KinesisEventText::new(loglake_benches::kinesis_batch_event(
        &lines, 10_000, 6_000_000,
    ));

    let mut group = c.benchmark_group("ingest_invocation");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(6_000_000));
    // As in a warm function, the user agents classified by earlier invocations are kept.
    let mut user_agents = UserAgentColumns::default();
    group.bench_function("10k_records_6MB_to_firehose_bodies", |b| {
        b.iter(|| {
            // the event's bytes as the function takes them from the runtime (`RawEvents`)
            let (_, prepared) = prepare(
                &event,
                DecoderOptions::default(),
                RejectsOutput::Stream,
                &mut user_agents,
            )
            .unwrap();
            prepared.rows.len()
        })
    });
    group.finish();
}

criterion_group!(ingest, benches);
criterion_main!(ingest);
