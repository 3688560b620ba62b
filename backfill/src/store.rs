//! Where a backfill reads its sources and writes its lake: a local path or an S3 prefix. Every
//! difference between the two is here; the rest of the backfill is written once, against
//! [`Lake`] and [`list_sources`]/[`open_source`].

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use loglake_lake::ExistingFiles;
use tempfile::TempDir;

use crate::s3::{self, S3};
use crate::{io_error, BackfillError};

/// Where sources are read from or the lake is written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    /// `prefix` as given: a source prefix may name a single object.
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl Location {
    pub fn parse(text: &str) -> Result<Self, BackfillError> {
        match text.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(BackfillError::BadLocation(text.into()));
                }
                Ok(Location::S3 {
                    bucket: bucket.into(),
                    prefix: prefix.into(),
                })
            }
            None if text.is_empty() => Err(BackfillError::BadLocation(text.into())),
            None => Ok(Location::Local(PathBuf::from(text))),
        }
    }

    pub fn is_s3(&self) -> bool {
        matches!(self, Location::S3 { .. })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(path) => write!(f, "{}", path.display()),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// One stored log to replay.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Source {
    /// The `source` column's value and the basis of output names: the path, or `s3://bucket/key`.
    pub name: String,
    #[serde(skip)]
    pub at: SourceAt,
    /// Bytes as stored (compressed or not).
    pub size: u64,
    /// S3 ETag, or a local file's size and modification time.
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceAt {
    Local(PathBuf),
    S3 { bucket: String, key: String },
}

impl Source {
    pub fn s3_object(bucket: &str, key: &str, size: u64, etag: &str) -> Self {
        Source {
            name: format!("s3://{bucket}/{key}"),
            at: SourceAt::S3 {
                bucket: bucket.into(),
                key: key.into(),
            },
            size,
            version: s3::bare_etag(etag),
        }
    }
}

fn client(s3: Option<&S3>) -> Result<&S3, BackfillError> {
    s3.ok_or(BackfillError::NoS3Client)
}

/// Every source under `src` (a file, a directory read recursively, or an S3 prefix).
pub(crate) fn list_sources(src: &Location, s3: Option<&S3>) -> Result<Vec<Source>, BackfillError> {
    Ok(match src {
        Location::Local(path) => list_local(path)?,
        Location::S3 { bucket, prefix } => client(s3)?
            .list(bucket, prefix)?
            .into_iter()
            .map(|o| Source::s3_object(bucket, &o.key, o.size, &o.etag))
            .collect(),
    })
}

/// A source's bytes as stored.
pub(crate) fn open_source(
    at: &SourceAt,
    s3: Option<&S3>,
) -> Result<Box<dyn Read + Send>, BackfillError> {
    Ok(match at {
        SourceAt::Local(path) => Box::new(fs::File::open(path).map_err(io_error(path))?),
        SourceAt::S3 { bucket, key } => Box::new(client(s3)?.open(bucket, key)?),
    })
}

/// The lake a backfill writes: a local directory, or an S3 prefix that a source's files reach
/// through a local staging directory once they are complete (memory stays bounded and readers
/// never see half a file). Paths in it are `/`-separated, relative to its root.
pub(crate) enum Lake {
    Local(PathBuf),
    S3 {
        s3: S3,
        bucket: String,
        prefix: String,
    },
}

impl Lake {
    pub(crate) fn new(dest: Location, s3: Option<&S3>) -> Result<Self, BackfillError> {
        Ok(match dest {
            Location::Local(root) => Lake::Local(root),
            Location::S3 { bucket, prefix } => Lake::S3 {
                s3: client(s3)?.clone(),
                bucket,
                prefix,
            },
        })
    }

    /// The lake's files, listed once for a run: a local lake's earlier files of a source are
    /// found there. (An S3 lake's are named by the source's manifest.)
    pub(crate) fn existing_files(&self) -> Option<Arc<ExistingFiles>> {
        match self {
            Lake::Local(root) => ExistingFiles::list(root).ok().map(Arc::new),
            Lake::S3 { .. } => None,
        }
    }

    /// The directory a source's files are written to, and the staging directory to remove once
    /// they are published (none for a local lake, written in place).
    pub(crate) fn write_root(&self) -> Result<(PathBuf, Option<TempDir>), BackfillError> {
        match self {
            Lake::Local(root) => Ok((root.clone(), None)),
            Lake::S3 { .. } => {
                let dir = tempfile::Builder::new()
                    .prefix("loglake-backfill-")
                    .tempdir()
                    .map_err(io_error(&std::env::temp_dir()))?;
                Ok((dir.path().to_path_buf(), Some(dir)))
            }
        }
    }

    /// A directory for files to publish later: in a local lake, a hidden one inside it (so
    /// publishing is a rename); for an S3 lake, a temporary directory. Removed when dropped.
    pub(crate) fn staging_dir(&self) -> Result<TempDir, BackfillError> {
        let mut builder = tempfile::Builder::new();
        builder.prefix(".loglake-staging-");
        match self {
            Lake::Local(root) => {
                fs::create_dir_all(root).map_err(io_error(root))?;
                builder.tempdir_in(root).map_err(io_error(root))
            }
            Lake::S3 { .. } => builder.tempdir().map_err(io_error(&std::env::temp_dir())),
        }
    }

    /// Makes files written under [`Lake::write_root`] or [`Lake::staging_dir`] part of the lake,
    /// each at its relative path: each appears whole (a rename, an S3 PUT).
    pub(crate) fn publish(
        &self,
        files: &[PathBuf],
        relative: &[String],
    ) -> Result<(), BackfillError> {
        for (path, relative) in files.iter().zip(relative) {
            match self {
                Lake::Local(root) => {
                    let dest = root.join(relative);
                    if *path != dest {
                        if let Some(dir) = dest.parent() {
                            fs::create_dir_all(dir).map_err(io_error(dir))?;
                        }
                        fs::rename(path, &dest).map_err(io_error(&dest))?;
                    }
                }
                Lake::S3 { s3, bucket, prefix } => {
                    s3.put_file(bucket, &key(prefix, relative), path)?
                }
            }
        }
        Ok(())
    }

    /// A small file's bytes, `None` when it does not exist.
    pub(crate) fn read(&self, relative: &str) -> Result<Option<Vec<u8>>, BackfillError> {
        match self {
            Lake::Local(root) => {
                let path = root.join(relative);
                match fs::read(&path) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(io_error(&path)(e)),
                }
            }
            Lake::S3 { s3, bucket, prefix } => Ok(s3.get_small(bucket, &key(prefix, relative))?),
        }
    }

    pub(crate) fn write(&self, relative: &str, bytes: Vec<u8>) -> Result<(), BackfillError> {
        match self {
            Lake::Local(root) => {
                let path = root.join(relative);
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir).map_err(io_error(dir))?;
                }
                fs::write(&path, bytes).map_err(io_error(&path))
            }
            Lake::S3 { s3, bucket, prefix } => {
                Ok(s3.put_bytes(bucket, &key(prefix, relative), bytes)?)
            }
        }
    }

    /// Removes a file; one already gone is not an error.
    pub(crate) fn delete(&self, relative: &str) -> Result<(), BackfillError> {
        match self {
            Lake::Local(root) => {
                let path = root.join(relative);
                match fs::remove_file(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(&path)(e)),
                    _ => Ok(()),
                }
            }
            Lake::S3 { s3, bucket, prefix } => Ok(s3.delete(bucket, &key(prefix, relative))?),
        }
    }

    /// The files under `relative` (a `/`-separated directory of the lake), at any depth, with
    /// their sizes: paths relative to the lake root, in order. Hidden files (`.` at the start of
    /// a name: the writers' temporary files) are left out.
    pub(crate) fn list(&self, relative: &str) -> Result<Vec<(String, u64)>, BackfillError> {
        let mut files = match self {
            Lake::Local(root) => {
                let mut files = Vec::new();
                let mut dirs = vec![relative.trim_end_matches('/').to_string()];
                while let Some(dir) = dirs.pop() {
                    let path = root.join(&dir);
                    let entries = match fs::read_dir(&path) {
                        Ok(entries) => entries,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(io_error(&path)(e)),
                    };
                    for entry in entries {
                        let entry = entry.map_err(io_error(&path))?;
                        let name = entry.file_name().to_string_lossy().into_owned();
                        let metadata = entry.metadata().map_err(io_error(&entry.path()))?;
                        if metadata.is_dir() {
                            dirs.push(format!("{dir}/{name}"));
                        } else if !name.starts_with('.') {
                            files.push((format!("{dir}/{name}"), metadata.len()));
                        }
                    }
                }
                files
            }
            Lake::S3 { s3, bucket, prefix } => {
                let root = key(prefix, "");
                s3.list(
                    bucket,
                    &key(prefix, &format!("{}/", relative.trim_end_matches('/'))),
                )?
                .into_iter()
                .filter_map(|o| {
                    let relative = o.key.strip_prefix(&root)?.to_string();
                    let hidden = relative.rsplit('/').next()?.starts_with('.');
                    (!hidden).then_some((relative, o.size))
                })
                .collect()
            }
        };
        files.sort();
        Ok(files)
    }

    /// A local path holding the file at `relative`, and the version read: the file itself and
    /// its size and modification time in a local lake, a copy under `staging` (at the same
    /// relative path) and its ETag for an S3 lake.
    pub(crate) fn fetch(
        &self,
        relative: &str,
        staging: &Path,
    ) -> Result<(PathBuf, String), BackfillError> {
        match self {
            Lake::Local(root) => {
                let path = root.join(relative);
                let metadata = fs::metadata(&path).map_err(io_error(&path))?;
                let version = local_version(&metadata);
                Ok((path, version))
            }
            Lake::S3 { s3, bucket, prefix } => {
                let path = staging.join(relative);
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir).map_err(io_error(dir))?;
                }
                let (mut object, etag) = s3.open_version(bucket, &key(prefix, relative))?;
                let mut file = fs::File::create(&path).map_err(io_error(&path))?;
                io::copy(&mut object, &mut file).map_err(io_error(&path))?;
                Ok((path, etag))
            }
        }
    }

    /// Removes a file only if it is still the `version` [`Lake::fetch`] gave; returns whether
    /// that version is gone (`false`: the file was rewritten since, and stays). In S3 this is
    /// one conditional request. A local lake compares, then removes: a writer that replaces the
    /// file between the two is not seen, a window of microseconds against the seconds a merge
    /// takes, for lakes that one `loglake` process writes at a time.
    pub(crate) fn delete_if_unchanged(
        &self,
        relative: &str,
        version: &str,
    ) -> Result<bool, BackfillError> {
        match self {
            Lake::Local(root) => {
                let path = root.join(relative);
                match fs::metadata(&path) {
                    Ok(metadata) if local_version(&metadata) != version => Ok(false),
                    Ok(_) => self.delete(relative).map(|()| true),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
                    Err(e) => Err(io_error(&path)(e)),
                }
            }
            Lake::S3 { s3, bucket, prefix } => {
                Ok(s3.delete_if_match(bucket, &key(prefix, relative), version)?)
            }
        }
    }
}

/// The key of `relative` (a `/`-separated lake path) under a destination prefix.
fn key(prefix: &str, relative: &str) -> String {
    match prefix.trim_end_matches('/') {
        "" => relative.to_string(),
        prefix => format!("{prefix}/{relative}"),
    }
}

/// Files under `path` (or `path` itself), skipping hidden ones.
fn list_local(path: &Path) -> Result<Vec<Source>, BackfillError> {
    let metadata = fs::metadata(path).map_err(io_error(path))?;
    if metadata.is_file() {
        return Ok(vec![local_source(path, &metadata)]);
    }
    let mut sources = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let entry = entry.map_err(io_error(&dir))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            let metadata = entry.metadata().map_err(io_error(&path))?;
            if metadata.is_dir() {
                dirs.push(path);
            } else if metadata.is_file() {
                sources.push(local_source(&path, &metadata));
            }
        }
    }
    Ok(sources)
}

fn local_source(path: &Path, metadata: &fs::Metadata) -> Source {
    Source {
        name: path.display().to_string(),
        at: SourceAt::Local(path.to_path_buf()),
        size: metadata.len(),
        version: local_version(metadata),
    }
}

/// A local file's version: its size and modification time.
fn local_version(metadata: &fs::Metadata) -> String {
    let modified = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{}-{modified}", metadata.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_under_a_prefix() {
        assert_eq!(key("lake/", "a/b"), "lake/a/b");
        assert_eq!(key("lake", "a/b"), "lake/a/b");
        assert_eq!(key("", "a/b"), "a/b");
    }

    #[test]
    fn a_local_lake_reads_writes_and_deletes_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(Location::Local(dir.path().into()), None).unwrap();
        assert_eq!(lake.read("m/x.json").unwrap(), None);
        lake.write("m/x.json", b"{}".to_vec()).unwrap();
        assert_eq!(lake.read("m/x.json").unwrap(), Some(b"{}".to_vec()));
        lake.delete("m/x.json").unwrap();
        lake.delete("m/x.json").unwrap();
        assert_eq!(lake.read("m/x.json").unwrap(), None);
        lake.write(
            "access_logs/dt=2020-01-01/hour=00/a.parquet",
            b"ab".to_vec(),
        )
        .unwrap();
        lake.write("access_logs/dt=2020-01-01/hour=00/.a.tmp", b"ab".to_vec())
            .unwrap();
        lake.write("access_logs/dt=2020-01-01/hour=01/b.parquet", b"b".to_vec())
            .unwrap();
        assert_eq!(
            lake.list("access_logs").unwrap(),
            [
                ("access_logs/dt=2020-01-01/hour=00/a.parquet".to_string(), 2),
                ("access_logs/dt=2020-01-01/hour=01/b.parquet".to_string(), 1)
            ]
        );
        assert!(lake.list("nothing/here").unwrap().is_empty());
        assert!(lake.write_root().unwrap().1.is_none());
        let s3_lake = Lake::new(Location::parse("s3://b/p").unwrap(), None);
        assert!(matches!(s3_lake, Err(BackfillError::NoS3Client)));
    }
}
