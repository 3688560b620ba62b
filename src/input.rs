//! Opening inputs: a plain, gzip or zstd file (recognised by its magic bytes, not its name), or
//! standard input as `-`.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use loglake_lake::{decompressing_reader, ProgressReader};

/// One thing to ingest.
#[derive(Debug, Clone)]
pub enum InputSource {
    Stdin,
    File(PathBuf),
}

impl InputSource {
    pub fn from_arg(arg: &str) -> Self {
        if arg == "-" {
            InputSource::Stdin
        } else {
            InputSource::File(PathBuf::from(arg))
        }
    }

    /// The name stored in the `source` column and used to name output files.
    pub fn name(&self) -> String {
        match self {
            InputSource::Stdin => "-".into(),
            InputSource::File(path) => path.display().to_string(),
        }
    }

    /// Size on disk, when known (for progress).
    pub fn size_hint(&self) -> Option<u64> {
        match self {
            InputSource::Stdin => None,
            InputSource::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
        }
    }

    /// A reader of the log text, decompressing gzip (including concatenated members) and zstd.
    /// `progress` is told how many bytes were read from the input as stored (compressed or not),
    /// to match [`InputSource::size_hint`].
    pub fn open<'p>(
        &self,
        progress: &'p (dyn Fn(u64) + Sync),
    ) -> io::Result<Box<dyn Read + Send + 'p>> {
        let raw: Box<dyn Read + Send> = match self {
            InputSource::Stdin => Box::new(io::stdin()),
            InputSource::File(path) => Box::new(File::open(path)?),
        };
        decompressing_reader(ProgressReader {
            inner: raw,
            progress,
        })
    }
}
