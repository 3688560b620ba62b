//! The rejects output: one NDJSON object per rejected line, at `ROOT/rejects/<source-id>.ndjson`.
//!
//! `raw` is lossless: the line as text when it is UTF-8, else base64 (`raw_encoding` says which).

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Serialize;

use crate::decoder::Reject;
use crate::lake::{source_id, LakeError};

/// The directory of the rejects output, relative to the lake root.
pub const REJECTS_DIR: &str = "rejects";

/// The keys of a reject's JSON form, in the order they are written: the `rejects` table's columns.
pub const REJECT_FIELDS: [&str; 6] = [
    "source",
    "source_line",
    "reason",
    "raw",
    "raw_encoding",
    "raw_len",
];

/// The JSON form of a reject.
#[derive(Debug, Serialize)]
pub struct RejectRecord<'a> {
    pub source: &'a str,
    pub source_line: i64,
    pub reason: &'static str,
    pub raw: std::borrow::Cow<'a, str>,
    /// `text` or `base64`.
    pub raw_encoding: &'static str,
    /// The line's full length in bytes; more than `raw` holds when the line was too long.
    pub raw_len: u64,
}

impl<'a> From<&'a Reject> for RejectRecord<'a> {
    fn from(reject: &'a Reject) -> Self {
        let (raw, raw_encoding) = match std::str::from_utf8(&reject.raw) {
            Ok(text) => (text.into(), "text"),
            Err(_) => (
                base64::engine::general_purpose::STANDARD
                    .encode(&reject.raw)
                    .into(),
                "base64",
            ),
        };
        RejectRecord {
            source: &reject.source,
            source_line: reject.source_line,
            reason: reject.reason.as_str(),
            raw,
            raw_encoding,
            raw_len: reject.raw_len,
        }
    }
}

impl RejectRecord<'_> {
    /// The rejects output as a structured log line (`WARN`, one field per key), for the
    /// functions when no rejects stream is configured: the raw data stays in the logs.
    pub fn log(&self) {
        tracing::warn!(
            source = self.source,
            source_line = self.source_line,
            reason = self.reason,
            raw = %self.raw,
            raw_encoding = self.raw_encoding,
            raw_len = self.raw_len,
            "rejected line"
        );
    }
}

/// Writes one source's rejects. The file is created on the first reject and replaced on a
/// re-run; a re-run with no rejects removes the old file.
pub struct RejectsWriter {
    path: PathBuf,
    out: Option<BufWriter<fs::File>>,
    written: u64,
}

impl RejectsWriter {
    pub fn new(root: &Path, source: &str) -> Self {
        Self {
            path: root
                .join(REJECTS_DIR)
                .join(format!("{}.ndjson", source_id(source))),
            out: None,
            written: 0,
        }
    }

    pub fn write(&mut self, rejects: &[Reject]) -> Result<(), LakeError> {
        let io = |source| LakeError::Io {
            path: self.path.clone(),
            source,
        };
        if rejects.is_empty() {
            return Ok(());
        }
        if self.out.is_none() {
            if let Some(dir) = self.path.parent() {
                fs::create_dir_all(dir).map_err(io)?;
            }
            self.out = Some(BufWriter::new(fs::File::create(&self.path).map_err(io)?));
        }
        let out = self.out.as_mut().expect("opened above");
        for reject in rejects {
            serde_json::to_writer(&mut *out, &RejectRecord::from(reject))
                .map_err(|e| io(e.into()))?;
            out.write_all(b"\n").map_err(io)?;
        }
        self.written += rejects.len() as u64;
        Ok(())
    }

    /// Flushes the file (or removes a stale one when there were no rejects); returns its path
    /// when it holds rejects.
    pub fn finish(self) -> Result<Option<PathBuf>, LakeError> {
        let io = |source| LakeError::Io {
            path: self.path.clone(),
            source,
        };
        match self.out {
            Some(mut out) => {
                out.flush().map_err(io)?;
                Ok(Some(self.path))
            }
            None => match fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
                _ => Ok(None),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loglake_parser::RejectReason;

    #[test]
    fn the_json_keys_are_the_reject_fields_in_order() {
        let reject = Reject {
            source: "s".into(),
            source_line: 1,
            reason: RejectReason::NoTimestamp,
            raw: b"x".to_vec(),
            raw_len: 1,
        };
        let json = serde_json::to_string(&RejectRecord::from(&reject)).unwrap();
        let positions: Vec<usize> = REJECT_FIELDS
            .iter()
            .map(|f| json.find(&format!("\"{f}\":")).expect(f))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{json}");
        assert_eq!(json.matches("\":").count(), REJECT_FIELDS.len());
    }

    #[test]
    fn raw_is_lossless() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = RejectsWriter::new(dir.path(), "in.log");
        let reject = |raw: &[u8]| Reject {
            source: "in.log".into(),
            source_line: 3,
            reason: RejectReason::NoTimestamp,
            raw: raw.to_vec(),
            raw_len: raw.len() as u64,
        };
        writer
            .write(&[reject(b"plain \"text\""), reject(b"\xff\x00bin")])
            .unwrap();
        let path = writer.finish().unwrap().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let rows: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows[0]["raw"], "plain \"text\"");
        assert_eq!(rows[0]["reason"], "no_timestamp");
        assert_eq!(rows[0]["source_line"], 3);
        assert_eq!(rows[1]["raw_encoding"], "base64");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rows[1]["raw"].as_str().unwrap())
            .unwrap();
        assert_eq!(decoded, b"\xff\x00bin");

        // a re-run without rejects removes the stale file
        RejectsWriter::new(dir.path(), "in.log").finish().unwrap();
        assert!(!path.exists());
    }
}
