//! Where each followed file's shipped lines end: by file identity ([`crate::follow`]'s
//! fingerprint of its first bytes), the byte offset and number of the next line, and the
//! `source` its rows are named by. Saved as JSON, atomically (a temporary file, fsync, rename,
//! fsync of the folder), only for lines whose records were acknowledged.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a loglake ship state file: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Where a file's shipped lines end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The byte after the last shipped line.
    pub offset: u64,
    /// The number the next line gets (the first line is 1).
    pub next_line: i64,
    /// Inside a line longer than the limit, whose start was shipped cut: the rest up to its
    /// newline is skipped.
    #[serde(default)]
    pub skipping: bool,
    /// The rows' `source`: host, path where the file was first seen, fingerprint.
    pub source: String,
    /// Where the file was last seen (path, device, inode), for people reading the state file:
    /// the file is known by its fingerprint, which a copy keeps and a rename does not change.
    pub path: String,
    #[serde(default)]
    pub device: u64,
    #[serde(default)]
    pub inode: u64,
    /// Unix seconds of the last change, to forget files long gone.
    pub updated: u64,
}

/// The positions of every file, by fingerprint; the state file's contents.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Checkpoints {
    files: BTreeMap<String, Position>,
}

/// Files not shipped from for this long are forgotten when the state is saved.
const FORGET_AFTER_SECS: u64 = 30 * 24 * 3600;

impl Checkpoints {
    /// The state at `path`; empty if there is none yet.
    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| CheckpointError::Format {
                path: path.to_path_buf(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(CheckpointError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    pub fn get(&self, fingerprint: &str) -> Option<&Position> {
        self.files.get(fingerprint)
    }

    /// Moves the file `fingerprint` on to `position` (never backwards).
    pub fn advance(&mut self, fingerprint: &str, mut position: Position) {
        position.updated = now();
        match self.files.get_mut(fingerprint) {
            Some(known) if known.offset > position.offset => {}
            Some(known) => *known = position,
            None => {
                self.files.insert(fingerprint.to_string(), position);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Writes the state to `path` atomically: a crash leaves the old state or the new one.
    pub fn save(&mut self, path: &Path) -> Result<(), CheckpointError> {
        let horizon = now().saturating_sub(FORGET_AFTER_SECS);
        self.files.retain(|_, position| position.updated >= horizon);
        let io = |source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(io)?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let temporary = dir.join(format!(".{name}.tmp"));
        let mut file = fs::File::create(&temporary).map_err(io)?;
        let json = serde_json::to_vec_pretty(self).expect("positions serialise");
        file.write_all(&json).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&temporary, path).map_err(io)?;
        // (the rename itself is durable once the folder is synced)
        fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(offset: u64) -> Position {
        Position {
            offset,
            next_line: 1 + offset as i64 / 10,
            skipping: false,
            source: "h:/a.log#00".into(),
            path: "/a.log".into(),
            device: 1,
            inode: 2,
            updated: 0,
        }
    }

    #[test]
    fn positions_survive_a_save_and_never_go_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/ship.json");
        let mut checkpoints = Checkpoints::load(&path).unwrap();
        assert!(checkpoints.is_empty());
        checkpoints.advance("ab", position(100));
        checkpoints.advance("ab", position(50));
        checkpoints.save(&path).unwrap();
        let loaded = Checkpoints::load(&path).unwrap();
        assert_eq!(loaded.get("ab").unwrap().offset, 100);
        assert!(!dir.path().join("state/.ship.json.tmp").exists());
        std::fs::write(&path, b"{ not json").unwrap();
        assert!(matches!(
            Checkpoints::load(&path),
            Err(CheckpointError::Format { .. })
        ));
    }
}
