//! Single-core throughput of the two halves of `loglake ingest`, on a file read into memory
//! first (so the disk is not measured):
//!
//! - `decode`: bytes → Arrow batches (parse lines, classify user agents, build columns);
//! - `lake`: bytes → finished Parquet files in a temporary lake (decode + partition + sort +
//!   encode + write).
//!
//! `throughput FILE [STAGE]` prints one JSON object per stage (or just the one named);
//! `FORMAT=NAME` parses FILE in that format instead of `auto`.

use std::time::Instant;

use anyhow::Context;
use loglake_decode::Decoder;
use loglake_lake::{LakeOptions, LakeWriter};

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .context("usage: throughput FILE [STAGE]")?;
    let only = std::env::args().nth(2);
    loglake_benches::keep_freed_memory();
    let input = std::fs::read(&path).with_context(|| format!("reading {path}"))?;
    let mb = input.len() as f64 / 1e6;

    for stage in ["decode", "lake"] {
        if only.as_deref().is_some_and(|o| o != stage) {
            continue;
        }
        let lake_dir =
            std::env::temp_dir().join(format!("loglake-throughput-{}", std::process::id()));
        let mut lake =
            (stage == "lake").then(|| LakeWriter::new(&lake_dir, &path, LakeOptions::default()));
        // `FORMAT=NAME` parses the file in that format (default `auto`); `KEEP_EXTRA_FIELDS`,
        // `ANONYMIZE_IP` and `ANONYMIZE_IP_KEY` as the functions read them.
        let options = loglake_benches::decoder_options_from_env()?;
        let mut decoder = Decoder::new(path.as_str(), options);
        let (mut lines, mut rows) = (0u64, 0u64);
        let started = Instant::now();
        let mut rest = input.as_slice();
        loop {
            rest = &rest[decoder.decode(rest)..];
            if rest.is_empty() {
                decoder.finish(false);
            }
            let Some(batch) = decoder.flush() else { break };
            lines += batch.lines_in;
            rows += batch.rows.num_rows() as u64;
            if let Some(lake) = lake.as_mut() {
                lake.write(&batch.rows)?;
            }
        }
        let files = match lake {
            Some(lake) => lake.finish()?.files,
            None => Vec::new(),
        };
        let seconds = started.elapsed().as_secs_f64();
        let lake_bytes: u64 = files
            .iter()
            .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
            .sum();
        let files = files.len();
        // `KEEP_LAKE=1` leaves the lake for comparing two builds' output (its path on stderr).
        if std::env::var_os("KEEP_LAKE").is_some() {
            eprintln!("lake kept in {}", lake_dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&lake_dir);
        }
        println!(
            "{{\"stage\":\"{stage}\",\"lines\":{lines},\"rows\":{rows},\"files\":{files},\"lake_bytes\":{lake_bytes},\"seconds\":{seconds:.3},\"lines_per_s\":{:.0},\"mb_per_s\":{:.1},\"ua_cache_misses\":{}}}",
            lines as f64 / seconds,
            mb / seconds,
            decoder.user_agent_misses()
        );
    }
    Ok(())
}
