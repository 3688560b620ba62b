//! Test support of the root package's integration tests: the template as a deployed stack reads
//! it, the Firehose stand-in, and the HTTP pieces the function crates' tests use too.
#![allow(dead_code)]

pub mod cfn;
pub mod firehose;
/// The function crates' support: records and events as shippers and Lambda make them, the
/// shared data, the HTTP pieces.
#[path = "../../functions/ingest/tests/support/mod.rs"]
pub mod functions;

/// scripts/test's Python, when it has PyPI `jq`. CI sets `LOGLAKE_REQUIRE_AWS_STANDIN`, and then
/// it must be there; elsewhere the jq half of the test is skipped with a note.
pub fn jq_python() -> Option<std::path::PathBuf> {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let has_jq = std::process::Command::new(&python)
        .args(["-c", "import jq"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_jq {
        return Some(python);
    }
    assert!(
        std::env::var_os("LOGLAKE_REQUIRE_AWS_STANDIN").is_none(),
        "scripts/test's .venv has no jq"
    );
    eprintln!("skipping the jq run: no .venv with PyPI jq (scripts/test makes it)");
    None
}
