//! The rejects output: one NDJSON object per rejected line ([`RejectRecord`]), at
//! `ROOT/rejects/<source-id>.ndjson`.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use loglake_decode::{Reject, RejectRecord};

use crate::lake::{source_id, LakeError};

/// The directory of the rejects output, relative to the lake root.
pub const REJECTS_DIR: &str = "rejects";

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
    use base64::Engine;
    use loglake_parser::RejectReason;

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
