//! Opening inputs: a plain file, a gzip file (recognised by its magic bytes, not its name), or
//! standard input as `-`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;

use flate2::bufread::MultiGzDecoder;

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

    /// A reader of the log text, decompressing gzip (including concatenated members).
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
        let counted = ProgressReader {
            inner: raw,
            progress,
        };
        let mut buffered = BufReader::with_capacity(256 * 1024, counted);
        let is_gzip = buffered.fill_buf()?.starts_with(&[0x1f, 0x8b]);
        Ok(if is_gzip {
            Box::new(MultiGzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        })
    }
}

/// Reports the bytes that pass through it.
struct ProgressReader<'p, R> {
    inner: R,
    progress: &'p (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.progress)(n as u64);
        Ok(n)
    }
}
