//! Files followed as `tail -F` does, read as whole lines.
//!
//! A file is known by a fingerprint of its first bytes (up to the end of its first line that is
//! not a `#` header: W3C and ELB headers are alike across files), as Vector's file source and
//! Fluent Bit's tail know them, not by its name or inode alone:
//! - rotation by rename (`access.log` → `access.log.1`, a new `access.log`): the renamed file is
//!   the same open file, read to its end; the new one is a new fingerprint, read from its start;
//! - rotation by copy and truncate: the followed file shrinks below the position read, so it is
//!   read again from its start as a new file; the copy (when the globs match it) has the old
//!   fingerprint, so only the lines after the shipped position are read from it;
//! - compressed rotated files (`.gz`, `.bz2`, `.xz`, `.zst`, `.zip`) are never read;
//! - a file that disappears is read to its end and closed; when it comes back, its fingerprint
//!   says whether it is the same one (resumed where it was) or a new one.
//!
//! A file's rows are named (`source`) by the host, the pattern that found it and its
//! fingerprint (`web-1:/var/log/nginx/access.log*#9583d9aa14c1`): the same before and after a
//! rotation renames it, so that lines sent again by a run that restarted after one are the same
//! rows.
//!
//! Only whole lines are read; a line longer than [`FollowOptions::max_line_bytes`] is passed on
//! cut to that length (the ingest function then rejects it as `line_too_long`, with its start
//! kept) and the rest up to its newline is skipped.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;

use crate::checkpoint::{Checkpoints, Position};

/// Endings of compressed rotated files, which are never read again.
const COMPRESSED: [&str; 6] = [".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4"];
/// A fingerprint covers at most this many first bytes.
const FINGERPRINT_MAX_BYTES: usize = 8 * 1024;
/// Bytes read from one file at a time.
const READ_BYTES: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Paths or globs (`/var/log/nginx/access.log*`).
    pub patterns: Vec<String>,
    /// The host named in each file's `source`.
    pub host: String,
    /// Longer lines are passed on cut to this length.
    pub max_line_bytes: usize,
    /// Files found by the first scan that no checkpoint knows are read from their end (only
    /// what is written from now on) rather than from their start.
    pub from_end: bool,
}

/// Whole lines read from one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub fingerprint: String,
    pub source: String,
    /// The number of the first line in the file.
    pub first_line: i64,
    /// The lines, each ending with `\n`.
    pub lines: Vec<u8>,
    pub line_count: usize,
    /// Where the file's lines end after these: what its checkpoint becomes once they are
    /// acknowledged.
    pub end: Position,
}

/// What one scan found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScanReport {
    pub opened: usize,
    pub truncated: usize,
    pub closed: usize,
}

struct Followed {
    file: File,
    dev: u64,
    ino: u64,
    path: PathBuf,
    /// The first of the patterns that matches it.
    pattern: String,
    /// `None` until its first line is whole.
    fingerprint: Option<String>,
    /// A copy of a file followed already (the same fingerprint): not read.
    duplicate: bool,
    source: String,
    offset: u64,
    next_line: i64,
    skipping: bool,
    /// Found at a matching path by the last scan.
    matched: bool,
    /// The size at the last scan, and how many scans in a row it has not grown.
    size: u64,
    still_scans: u32,
}

/// The followed files.
pub struct Follower {
    options: FollowOptions,
    followed: Vec<Followed>,
    /// The furthest position read of each fingerprint this run, acknowledged or not: a file
    /// closed and opened again is not read twice.
    read_to: HashMap<String, Position>,
    scans: u64,
}

impl Follower {
    pub fn new(options: FollowOptions) -> Self {
        Self {
            options,
            followed: Vec::new(),
            read_to: HashMap::new(),
            scans: 0,
        }
    }

    /// Files followed now.
    pub fn files(&self) -> usize {
        self.followed.len()
    }

    /// Bytes written to the followed files and not read yet.
    pub fn lag_bytes(&self) -> u64 {
        (self.followed.iter())
            .filter(|f| !f.duplicate)
            .map(|f| f.size.saturating_sub(f.offset))
            .sum()
    }

    /// Looks at the globs and the followed files: opens new files, notices truncated and
    /// replaced ones, closes those gone and read to their end.
    pub fn scan(&mut self, checkpoints: &Checkpoints) -> io::Result<ScanReport> {
        let mut report = ScanReport::default();
        for followed in &mut self.followed {
            followed.matched = false;
            let size = followed.file.metadata()?.len();
            let replaced = match &followed.fingerprint {
                Some(known) => fingerprint(&followed.file)?.as_ref() != Some(known),
                None => false,
            };
            if size < followed.offset || replaced {
                report.truncated += 1;
                followed.fingerprint = None;
                followed.duplicate = false;
                (followed.offset, followed.next_line, followed.skipping) = (0, 1, false);
            }
            followed.still_scans = if size == followed.size {
                followed.still_scans + 1
            } else {
                0
            };
            followed.size = size;
        }
        for (path, pattern) in self.matching_paths() {
            let Ok(metadata) = std::fs::metadata(&path) else {
                continue; // gone since the glob listed it
            };
            if !metadata.is_file() {
                continue;
            }
            let (dev, ino) = (metadata.dev(), metadata.ino());
            if let Some(known) = (self.followed.iter_mut()).find(|f| (f.dev, f.ino) == (dev, ino)) {
                known.matched = true;
                known.path = path;
                continue;
            }
            let Ok(file) = File::open(&path) else {
                continue;
            };
            report.opened += 1;
            self.followed.push(Followed {
                file,
                dev,
                ino,
                path,
                pattern,
                fingerprint: None,
                duplicate: false,
                source: String::new(),
                offset: 0,
                next_line: 1,
                skipping: false,
                matched: true,
                size: metadata.len(),
                still_scans: 0,
            });
        }
        // gone from the globs (deleted, or renamed to a compressed name) and read to the end,
        // with nothing written for a scan: closed
        let before = self.followed.len();
        self.followed.retain(|f| {
            let unread = f.offset < f.size && f.fingerprint.is_some() && !f.duplicate;
            f.matched || unread || f.still_scans == 0
        });
        report.closed = before - self.followed.len();
        self.identify(checkpoints)?;
        self.scans += 1;
        Ok(report)
    }

    /// Each pattern's files (a plain path is its own pattern), compressed ones left out, with
    /// the first pattern that matches each.
    fn matching_paths(&self) -> Vec<(PathBuf, String)> {
        let mut paths: Vec<(PathBuf, String)> = Vec::new();
        for pattern in &self.options.patterns {
            let Ok(found) = glob::glob(pattern) else {
                continue;
            };
            for path in found.flatten() {
                let name = path.to_string_lossy();
                let known = paths.iter().any(|(known, _)| *known == path);
                if known || COMPRESSED.iter().any(|ending| name.ends_with(ending)) {
                    continue;
                }
                paths.push((path, pattern.clone()));
            }
        }
        paths
    }

    /// Fingerprints the files whose first line has become whole, and places each where its
    /// lines were last read or shipped.
    fn identify(&mut self, checkpoints: &Checkpoints) -> io::Result<()> {
        for at in 0..self.followed.len() {
            let followed = &self.followed[at];
            if followed.fingerprint.is_some() && !followed.duplicate {
                continue;
            }
            let Some(print) = fingerprint(&followed.file)? else {
                continue;
            };
            let taken = (self.followed.iter().enumerate()).any(|(other, f)| {
                other != at && !f.duplicate && f.fingerprint.as_ref() == Some(&print)
            });
            let first_scan = self.scans == 0;
            let (options, read_to) = (&self.options, &self.read_to);
            let followed = &mut self.followed[at];
            followed.duplicate = taken;
            if taken {
                followed.fingerprint = Some(print);
                continue;
            }
            let known = [read_to.get(&print), checkpoints.get(&print)]
                .into_iter()
                .flatten()
                .max_by_key(|p| p.offset);
            match known {
                Some(position) => {
                    followed.offset = position.offset;
                    followed.next_line = position.next_line;
                    followed.skipping = position.skipping;
                    followed.source = position.source.clone();
                }
                None => {
                    // (named by the pattern, not the path: a file first seen before a rotation
                    // by one run and after it by the next is one source to both)
                    followed.source =
                        format!("{}:{}#{}", options.host, followed.pattern, &print[..12]);
                    if first_scan && options.from_end {
                        let (offset, lines) = whole_lines_in(&followed.file)?;
                        followed.offset = offset;
                        followed.next_line = 1 + lines as i64;
                    }
                }
            }
            followed.fingerprint = Some(print);
        }
        Ok(())
    }

    /// Whole lines from the followed files, about `budget` bytes in all at most (one cut long
    /// line may go over), each file's in order.
    pub fn read(&mut self, budget: usize) -> io::Result<Vec<Chunk>> {
        let mut chunks = Vec::new();
        let mut left = budget;
        let max_line = self.options.max_line_bytes;
        for followed in &mut self.followed {
            if left == 0 {
                break;
            }
            let Some(print) = followed.fingerprint.clone() else {
                continue;
            };
            if followed.duplicate {
                continue;
            }
            // (a file with nothing new costs an fstat, not a buffer)
            let new_bytes = followed
                .file
                .metadata()?
                .len()
                .saturating_sub(followed.offset);
            if new_bytes == 0 {
                continue;
            }
            let want = left.min(READ_BYTES).max(max_line + 1);
            let mut buffer = vec![0; want.min(new_bytes as usize)];
            let n = read_at(&followed.file, &mut buffer, followed.offset)?;
            buffer.truncate(n);
            let mut start = 0;
            if followed.skipping {
                match memchr_newline(&buffer) {
                    Some(end) => {
                        start = end + 1;
                        followed.skipping = false;
                    }
                    None => {
                        followed.offset += n as u64;
                        continue;
                    }
                }
            }
            let data = &buffer[start..];
            let (lines, consumed, count, cut) = whole_lines(data, max_line);
            followed.offset += (start + consumed) as u64;
            followed.skipping = cut;
            if count == 0 {
                continue;
            }
            let first_line = followed.next_line;
            followed.next_line += count as i64;
            left = left.saturating_sub(lines.len());
            let end = Position {
                offset: followed.offset,
                next_line: followed.next_line,
                skipping: followed.skipping,
                source: followed.source.clone(),
                path: followed.path.display().to_string(),
                device: followed.dev,
                inode: followed.ino,
                updated: 0,
            };
            self.read_to.insert(print.clone(), end.clone());
            chunks.push(Chunk {
                fingerprint: print,
                source: followed.source.clone(),
                first_line,
                lines,
                line_count: count,
                end,
            });
        }
        Ok(chunks)
    }
}

/// The whole lines at the start of `data`: `(lines, bytes consumed, count, cut)`. A line longer
/// than `max_line` is given cut to `max_line` bytes; when its newline is not in `data`, all of
/// `data` is consumed and `cut` says the rest of the line is still to skip.
fn whole_lines(data: &[u8], max_line: usize) -> (Vec<u8>, usize, usize, bool) {
    let mut lines = Vec::with_capacity(data.len());
    let (mut at, mut count) = (0, 0);
    while at < data.len() {
        match memchr_newline(&data[at..]) {
            Some(length) => {
                let line = &data[at..at + length];
                lines.extend_from_slice(&line[..line.len().min(max_line)]);
                lines.push(b'\n');
                at += length + 1;
                count += 1;
            }
            None if data.len() - at > max_line => {
                lines.extend_from_slice(&data[at..at + max_line]);
                lines.push(b'\n');
                return (lines, data.len(), count + 1, true);
            }
            None => break,
        }
    }
    (lines, at, count, false)
}

fn memchr_newline(data: &[u8]) -> Option<usize> {
    data.iter().position(|&b| b == b'\n')
}

/// Reads into `buffer` from `offset` as much as there is, up to its length.
fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read_at(&mut buffer[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The fingerprint of `file`: the MD5 of its bytes up to the end of the first line that is not
/// a `#` header (at most [`FINGERPRINT_MAX_BYTES`]); `None` while that line is not whole.
fn fingerprint(file: &File) -> io::Result<Option<String>> {
    let mut first = vec![0; FINGERPRINT_MAX_BYTES];
    let n = read_at(file, &mut first, 0)?;
    let mut at = 0;
    let end = loop {
        match memchr_newline(&first[at..n]) {
            Some(length) if first[at] == b'#' => at += length + 1,
            Some(length) => break Some(at + length + 1),
            None if n == FINGERPRINT_MAX_BYTES => break Some(n),
            None => break None,
        }
    };
    Ok(end.map(|end| format!("{:x}", md5::compute(&first[..end]))))
}

/// The end of the last whole line of `file` and the number of lines before it.
fn whole_lines_in(file: &File) -> io::Result<(u64, usize)> {
    let (mut offset, mut lines, mut end) = (0u64, 0, 0u64);
    let mut buffer = vec![0; READ_BYTES];
    loop {
        let n = read_at(file, &mut buffer, offset)?;
        if n == 0 {
            return Ok((end, lines));
        }
        for (i, &byte) in buffer[..n].iter().enumerate() {
            if byte == b'\n' {
                lines += 1;
                end = offset + i as u64 + 1;
            }
        }
        offset += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{self, OpenOptions};
    use std::io::Write;

    use super::*;

    struct Setup {
        dir: tempfile::TempDir,
        follower: Follower,
        checkpoints: Checkpoints,
    }

    impl Setup {
        fn new(pattern: &str) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let pattern = dir.path().join(pattern).display().to_string();
            let follower = Follower::new(FollowOptions {
                patterns: vec![pattern],
                host: "web-1".into(),
                max_line_bytes: 64,
                from_end: false,
            });
            Self {
                dir,
                follower,
                checkpoints: Checkpoints::default(),
            }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.dir.path().join(name)
        }

        fn append(&self, name: &str, text: &str) {
            let mut file = (OpenOptions::new().create(true).append(true))
                .open(self.path(name))
                .unwrap();
            file.write_all(text.as_bytes()).unwrap();
        }

        /// A scan and a read; the chunks' lines acknowledged. Returns `(source, line, text)`.
        fn poll(&mut self) -> Vec<(String, i64, String)> {
            self.follower.scan(&self.checkpoints).unwrap();
            let mut out = Vec::new();
            for chunk in self.follower.read(1 << 20).unwrap() {
                let text = String::from_utf8(chunk.lines.clone()).unwrap();
                for (i, line) in text.lines().enumerate() {
                    out.push((
                        chunk.source.clone(),
                        chunk.first_line + i as i64,
                        line.into(),
                    ));
                }
                self.checkpoints.advance(&chunk.fingerprint, chunk.end);
            }
            out
        }
    }

    fn texts(lines: &[(String, i64, String)]) -> Vec<&str> {
        lines.iter().map(|(_, _, text)| text.as_str()).collect()
    }

    #[test]
    fn only_whole_lines_are_read_each_once() {
        let mut s = Setup::new("access.log*");
        s.append("access.log", "one\ntw");
        let first = s.poll();
        assert_eq!(texts(&first), ["one"]);
        assert!(first[0].0.starts_with("web-1:") && first[0].0.contains("access.log*#"));
        s.append("access.log", "o\nthree\n");
        let next = s.poll();
        assert_eq!(texts(&next), ["two", "three"]);
        assert_eq!((next[0].1, next[1].1), (2, 3));
        assert!(s.poll().is_empty());
    }

    #[test]
    fn rotation_by_rename_reads_the_old_file_to_its_end_then_the_new_one() {
        let mut s = Setup::new("access.log*");
        s.append("access.log", "a1\n");
        assert_eq!(texts(&s.poll()), ["a1"]);
        s.append("access.log", "a2\n");
        fs::rename(s.path("access.log"), s.path("access.log.1")).unwrap();
        s.append("access.log", "b1\n");
        let lines = s.poll();
        assert_eq!(texts(&lines), ["a2", "b1"]);
        assert_eq!(lines[0].1, 2);
        assert_ne!(lines[0].0, lines[1].0, "two files, two sources");
        // a new run sees the renamed file under another name: still the same source
        let mut again = Follower::new(s.follower.options.clone());
        again.scan(&Checkpoints::default()).unwrap();
        let sources: Vec<String> = again
            .read(1 << 20)
            .unwrap()
            .into_iter()
            .map(|c| c.source)
            .collect();
        assert!(sources.contains(&lines[0].0), "{sources:?}");
        // compressed, the old file is gone from the globs and closed once read
        fs::rename(s.path("access.log.1"), s.path("access.log.1.gz")).unwrap();
        s.poll();
        s.poll();
        assert_eq!(s.follower.files(), 1);
    }

    #[test]
    fn rotation_by_copy_and_truncate_loses_and_repeats_nothing() {
        let mut s = Setup::new("access.log*");
        s.append("access.log", "a1\na2\n");
        assert_eq!(texts(&s.poll()), ["a1", "a2"]);
        // written after the last read, then copied and truncated (logrotate's copytruncate)
        s.append("access.log", "a3\n");
        fs::copy(s.path("access.log"), s.path("access.log.1")).unwrap();
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(s.path("access.log"))
            .unwrap();
        s.append("access.log", "b1\n");
        let lines = s.poll();
        let mut got = texts(&lines);
        got.sort();
        assert_eq!(got, ["a3", "b1"]);
        let a3 = lines.iter().find(|l| l.2 == "a3").unwrap();
        assert_eq!(a3.1, 3, "the copy goes on with the original's numbers");
        assert!(s.poll().is_empty());
    }

    #[test]
    fn a_file_that_goes_and_comes_back_is_resumed_or_read_anew() {
        let mut s = Setup::new("*.log");
        s.append("app.log", "x1\nx2\n");
        assert_eq!(texts(&s.poll()), ["x1", "x2"]);
        let saved = fs::read(s.path("app.log")).unwrap();
        fs::remove_file(s.path("app.log")).unwrap();
        s.poll();
        s.poll();
        assert_eq!(s.follower.files(), 0);
        // the same file back (restored), with a line more: only that line
        fs::write(s.path("app.log"), [&saved[..], b"x3\n"].concat()).unwrap();
        assert_eq!(texts(&s.poll()), ["x3"]);
        fs::remove_file(s.path("app.log")).unwrap();
        s.poll();
        s.poll();
        // another file under the same name: all of it
        s.append("app.log", "y1\n");
        assert_eq!(texts(&s.poll()), ["y1"]);
    }

    #[test]
    fn a_new_follower_resumes_from_the_checkpoints() {
        let mut s = Setup::new("access.log");
        s.append("access.log", "1\n2\n");
        s.poll();
        s.append("access.log", "3\n");
        s.follower = Follower::new(s.follower.options.clone());
        let lines = s.poll();
        assert_eq!(texts(&lines), ["3"]);
        assert_eq!(lines[0].1, 3);
        // from the end: a file no checkpoint knows is read from what is written next
        s.append("other.log", "old\n");
        let mut options = s.follower.options.clone();
        options.patterns = vec![s.path("other.log").display().to_string()];
        options.from_end = true;
        s.follower = Follower::new(options);
        assert!(s.poll().is_empty());
        s.append("other.log", "new\n");
        let lines = s.poll();
        assert_eq!((texts(&lines), lines[0].1), (vec!["new"], 2));
    }

    #[test]
    fn long_lines_are_cut_and_headers_do_not_make_files_alike() {
        let mut s = Setup::new("*.log");
        let long = "x".repeat(200);
        s.append("a.log", &format!("short\n{long}\nafter\n"));
        let lines = s.poll();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1].2.len(), 64);
        assert_eq!((lines[2].1, lines[2].2.as_str()), (3, "after"));
        // a long line whose newline comes later
        s.append("a.log", &long[..100]);
        assert_eq!(s.poll()[0].2.len(), 64);
        s.append("a.log", &format!("{}\nlast\n", &long[..100]));
        let lines = s.poll();
        assert_eq!((texts(&lines), lines[0].1), (vec!["last"], 5));
        // two W3C files with the same header lines are two files
        s.append("b.log", "#Version: 1.0\n#Fields: date\n2026-11-01\n");
        s.append("c.log", "#Version: 1.0\n#Fields: date\n2026-11-02\n");
        let lines = s.poll();
        assert_eq!(lines.len(), 6, "{lines:?}");
        assert_ne!(lines[0].0, lines[3].0);
    }
}
