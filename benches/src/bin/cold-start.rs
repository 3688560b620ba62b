//! Time from starting a Lambda binary to its first `GET /2018-06-01/runtime/invocation/next`:
//! the part of a cold start the function's own init controls.
//!
//! `cold-start BINARY [RUNS]` plays the Runtime API on a loopback port, starts BINARY with the
//! environment Lambda gives it (and `FIREHOSE_STREAM_NAME`), and prints the best and median
//! milliseconds as JSON.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let binary = args.next().context("usage: cold-start BINARY [RUNS]")?;
    let runs: usize = args.next().map_or(Ok(20), |a| a.parse())?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let api = listener.local_addr()?.to_string();
        let started = Instant::now();
        let mut child = Command::new(&binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", &api)
            .env("AWS_LAMBDA_FUNCTION_NAME", "loglake-ingest")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("FIREHOSE_STREAM_NAME", "rows")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {binary}"))?;
        let (mut connection, _) = listener.accept()?;
        let mut request = [0u8; 64];
        let n = connection.read(&mut request)?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(
            request[..n].starts_with(b"GET /2018-06-01/runtime/invocation/next"),
            "unexpected first request: {}",
            String::from_utf8_lossy(&request[..n])
        );
        child.kill()?;
        child.wait()?;
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"binary\":\"{binary}\",\"runs\":{runs},\"best_ms\":{:.2},\"median_ms\":{:.2}}}",
        times[0],
        times[times.len() / 2]
    );
    Ok(())
}
