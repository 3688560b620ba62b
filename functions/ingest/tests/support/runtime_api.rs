//! A Lambda Runtime API emulator: the two endpoints a runtime uses (`invocation/next` and
//! `invocation/{id}/response`, and the error one), to run a function's real binary as AWS runs
//! it. Included by the function crates' tests.
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::{serve, HttpResponse};

/// What the emulator saw from the runtime.
pub enum RuntimeCall {
    Next(Instant),
    Response(Value),
    Error(String),
}

/// Serves `event` once on `invocation/next`, then reports what the runtime posts back.
pub fn runtime_api(event: Value) -> (String, mpsc::Receiver<RuntimeCall>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let served = std::sync::atomic::AtomicBool::new(false);
    let addr = serve(move |request| {
        let tx = tx.lock().unwrap().clone();
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/2018-06-01/runtime/invocation/next") => {
                let _ = tx.send(RuntimeCall::Next(Instant::now()));
                if served.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    // The next invocation never comes: the test ends the process.
                    std::thread::sleep(Duration::from_secs(600));
                }
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + 30_000;
                let mut response = HttpResponse::json(200, &event);
                response.headers.extend([
                    ("Lambda-Runtime-Aws-Request-Id".into(), "req-1".into()),
                    ("Lambda-Runtime-Deadline-Ms".into(), deadline.to_string()),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn".into(),
                        "arn:aws:lambda:us-east-1:123456789012:function:loglake".into(),
                    ),
                ]);
                response
            }
            ("POST", "/2018-06-01/runtime/invocation/req-1/response") => {
                let _ = tx.send(RuntimeCall::Response(
                    serde_json::from_slice(&request.body).unwrap(),
                ));
                HttpResponse::json(202, &serde_json::json!({}))
            }
            (_, path) => {
                let _ = tx.send(RuntimeCall::Error(format!(
                    "{path}: {}",
                    String::from_utf8_lossy(&request.body)
                )));
                HttpResponse::json(202, &serde_json::json!({}))
            }
        }
    });
    (addr.to_string(), rx)
}

/// The process a function's `bootstrap` runs as on Lambda: only the environment Lambda sets,
/// pointed at the emulator, with AWS calls going to `endpoint` (the local stand-in).
pub fn lambda_command(binary: &str, runtime_api: &str, endpoint: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", function_name(binary))
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// `loglake-NAME` for the binary `…/NAME`, as the template names the functions.
fn function_name(binary: &str) -> String {
    let name = std::path::Path::new(binary).file_name().unwrap();
    format!("loglake-{}", name.to_string_lossy())
}

/// Runs `command` (a [`lambda_command`]) for the one invocation `calls` serves and returns the
/// function's answer; an error it reported fails the test with everything the process printed.
pub fn invoke_once(mut command: Command, calls: &mpsc::Receiver<RuntimeCall>) -> Value {
    let mut child = command.spawn().unwrap();
    let response = next_response(calls);
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    response.unwrap_or_else(|error| {
        panic!(
            "{error}\n{}",
            String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The function's answer to the served invocation, or the error it reported.
pub fn next_response(calls: &mpsc::Receiver<RuntimeCall>) -> Result<Value, String> {
    loop {
        match calls.recv_timeout(Duration::from_secs(60)).unwrap() {
            RuntimeCall::Next(_) => continue,
            RuntimeCall::Response(body) => return Ok(body),
            RuntimeCall::Error(error) => return Err(error),
        }
    }
}

/// Gives the binary the enrichment data (`LOGLAKE_ENRICHMENT_DIR`) as scripts/test fetches it;
/// returns whether it did. Without the data a test fails when `LOGLAKE_REQUIRE_ENRICHMENT_DATA`
/// is set, else skips what needs it.
pub fn pass_enrichment(command: &mut Command) -> bool {
    let dir = std::env::var("LOGLAKE_ENRICHMENT_DIR")
        .ok()
        .filter(|d| !d.is_empty());
    assert!(
        dir.is_some() || std::env::var_os("LOGLAKE_REQUIRE_ENRICHMENT_DATA").is_none(),
        "LOGLAKE_REQUIRE_ENRICHMENT_DATA is set but LOGLAKE_ENRICHMENT_DIR is not"
    );
    if let Some(dir) = &dir {
        command.env("LOGLAKE_ENRICHMENT_DIR", dir);
    }
    dir.is_some()
}

/// An IPv4 address as `ANONYMIZE_IP=truncate` stores it: the last byte zeroed.
pub fn truncated(address: &str) -> String {
    let (network, _) = address.rsplit_once('.').expect("an IPv4 address");
    format!("{network}.0")
}
