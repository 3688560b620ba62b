//! Where the bytes of the JSON rows sent to Firehose go: `json-bytes FILE [MAX_BYTES]` decodes
//! the start of FILE (50 MB by default) as `ingest` does, with the `source` a Kinesis record gives
//! its rows, and prints the rows' size against the log's and each key's share, largest first
//! (the key, its quotes and colon, the value and a comma).

use std::collections::BTreeMap;

use anyhow::Context;
use loglake_decode::{Decoder, DecoderOptions};
use loglake_stream::JsonRowsBuilder;

/// A Kinesis record's `source` as `ingest` builds it, with a stream named `web-logs`.
const KINESIS_SOURCE: &str =
    "kinesis:web-logs/shardId-000000000002/49590338271490256608559692538361571095921575989136588898";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().context("usage: json-bytes FILE [MAX_BYTES]")?;
    let max_bytes: usize = args.next().map_or(Ok(50_000_000), |a| a.parse())?;
    let data = std::fs::read(&path).with_context(|| format!("reading {path}"))?;
    let data = &data[..data.len().min(max_bytes)];
    let data = &data[..data
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |end| end + 1)];

    let mut decoder =
        Decoder::<JsonRowsBuilder>::with_row_builder(KINESIS_SOURCE, DecoderOptions::default());
    let mut by_key: BTreeMap<String, u64> = BTreeMap::new();
    let (mut rows, mut json_bytes) = (0u64, 0u64);
    let mut tally = |decoder: &mut Decoder<JsonRowsBuilder>| -> anyhow::Result<()> {
        while let Some(batch) = decoder.flush() {
            for (row, _) in batch.rows.iter() {
                rows += 1;
                json_bytes += row.len() as u64 + 1;
                let fields: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(row)?;
                for (key, value) in fields {
                    let bytes = key.len() + 4 + value.to_string().len();
                    *by_key.entry(key).or_default() += bytes as u64;
                }
            }
        }
        Ok(())
    };
    let mut rest = data;
    while !rest.is_empty() {
        rest = &rest[decoder.decode(rest)..];
        tally(&mut decoder)?;
    }
    decoder.finish(true);
    tally(&mut decoder)?;

    let log_bytes = data.len() as f64;
    let per_row = |bytes: f64| bytes / rows.max(1) as f64;
    println!(
        "{rows} rows: JSON {:.3}x the log ({:.1} bytes a row, the log {:.1})",
        json_bytes as f64 / log_bytes,
        per_row(json_bytes as f64),
        per_row(log_bytes)
    );
    let mut by_key: Vec<(String, u64)> = by_key.into_iter().collect();
    by_key.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
    for (key, bytes) in by_key {
        println!(
            "{key:>4} {:6.1} bytes a row, {:.3}x the log",
            per_row(bytes as f64),
            bytes as f64 / log_bytes
        );
    }
    Ok(())
}
