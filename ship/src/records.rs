//! Lines packed into Kinesis records the ingest function reads, and records into `PutRecords`
//! batches within Kinesis's limits.
//!
//! A record holds sections: each a [`ship_header`] (the file's `source` and the number of its
//! first line) and that file's lines, so the rows are named by where the lines were read, and a
//! line sent again after a crash is the same row (the unique view keeps one). Lines that follow
//! on from the section before them (the same file, the next line) extend it. As
//! [`RecordFormat::Lines`], the sections follow one another in the record's data; as
//! [`RecordFormat::Kpl`], each is a user record of a KPL aggregate (at most
//! [`MAX_KPL_USER_RECORDS`] of them, the most Firehose deaggregates from one record).

use std::borrow::Cow;
use std::collections::VecDeque;

use loglake_parser::payload::{kpl_aggregate, kpl_overhead, ship_header};

use crate::checkpoint::Position;
use crate::follow::Chunk;

/// "The maximum size of the data payload of a record before base64-encoding is up to 1 MiB",
/// partition key included in the record's size (Kinesis Data Streams API Reference,
/// PutRecords; Kinesis Developer Guide, "Quotas and limits").
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// "Each PutRecords request can support up to 500 records … up to a limit of 5 MiB for the
/// entire request, including partition keys." (Kinesis Data Streams API Reference, PutRecords.)
pub const MAX_BATCH_RECORDS: usize = 500;
pub const MAX_BATCH_BYTES: usize = 5 << 20;
/// "Record deaggregation … is capped at 500 per record" (Firehose Developer Guide): a stream
/// read by Firehose gets aggregates it can open whole.
pub const MAX_KPL_USER_RECORDS: usize = 500;
/// A record's partition key: 32 hexadecimal digits (Kinesis allows 256 characters).
const PARTITION_KEY_BYTES: usize = 32;

/// How lines travel in a Kinesis record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    /// Sections of newline-separated lines, one after another.
    Lines,
    /// A KPL aggregate, a section a user record.
    Kpl,
}

/// One Kinesis record, ready to put.
#[derive(Debug, Clone)]
pub struct PackedRecord {
    pub partition_key: String,
    pub data: Vec<u8>,
    pub lines: usize,
    /// The files whose last read lines are in this record, and where they end: checkpoints to
    /// save once it (and every record before it) is acknowledged.
    pub positions: Vec<(String, Position)>,
}

impl PackedRecord {
    /// Its size as Kinesis counts it against the limits.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// Records to put in one `PutRecords` call.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: Vec<PackedRecord>,
}

impl Batch {
    pub fn lines(&self) -> usize {
        self.records.iter().map(|r| r.lines).sum()
    }

    pub fn bytes(&self) -> usize {
        self.records.iter().map(PackedRecord::size).sum()
    }

    /// Every record's checkpoints, in order.
    pub fn positions(&self) -> impl Iterator<Item = &(String, Position)> {
        self.records.iter().flat_map(|r| &r.positions)
    }
}

/// The record being filled.
#[derive(Default)]
struct OpenRecord {
    sections: Vec<Vec<u8>>,
    bytes: usize,
    lines: usize,
    positions: Vec<(String, Position)>,
    /// The file and next line number of the last section, which lines that follow on extend.
    last: Option<(String, i64)>,
}

/// Packs chunks of lines into records, and records into batches.
pub struct RecordPacker {
    format: RecordFormat,
    open: OpenRecord,
    closed: VecDeque<PackedRecord>,
    closed_bytes: usize,
}

impl RecordPacker {
    pub fn new(format: RecordFormat) -> Self {
        Self {
            format,
            open: OpenRecord::default(),
            closed: VecDeque::new(),
            closed_bytes: 0,
        }
    }

    /// Bytes held, packed or not: what the memory cap counts.
    pub fn pending_bytes(&self) -> usize {
        self.closed_bytes + self.open.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.closed.is_empty() && self.open.lines == 0
    }

    /// Whether a whole batch is packed (500 records, or 5 MiB).
    pub fn has_full_batch(&self) -> bool {
        self.closed.len() >= MAX_BATCH_RECORDS
            || self.closed_bytes + MAX_RECORD_BYTES > MAX_BATCH_BYTES
    }

    /// Adds a chunk's lines, splitting them at line ends where a record fills.
    pub fn push(&mut self, chunk: Chunk) {
        let mut rest: &[u8] = &chunk.lines;
        let mut line = chunk.first_line;
        while !rest.is_empty() {
            let follows = self.open.last.as_ref() == Some(&(chunk.fingerprint.clone(), line));
            let header = match follows {
                true => Vec::new(),
                false => ship_header(&chunk.source, line),
            };
            let room = self.room(follows).saturating_sub(header.len());
            let (part, after): (Cow<[u8]>, &[u8]) = match whole_lines_within(rest, room) {
                0 if self.open.lines > 0 => {
                    self.close();
                    continue;
                }
                // A line longer than a record (the follower cuts lines far shorter): its start,
                // which the ingest function rejects as too long; the rest of it is dropped.
                0 => {
                    let end = rest
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(rest.len(), |i| i + 1);
                    let cut = [&rest[..room.saturating_sub(1).min(end)], b"\n"].concat();
                    (Cow::Owned(cut), &rest[end..])
                }
                take => (Cow::Borrowed(&rest[..take]), &rest[take..]),
            };
            let count = part.iter().filter(|&&b| b == b'\n').count();
            match follows {
                true => self
                    .open
                    .sections
                    .last_mut()
                    .expect("a section")
                    .extend_from_slice(&part),
                false => self.open.sections.push([header.as_slice(), &part].concat()),
            }
            self.open.bytes += header.len() + part.len();
            self.open.lines += count;
            line += count as i64;
            self.open.last = Some((chunk.fingerprint.clone(), line));
            rest = after;
        }
        self.open.positions.push((chunk.fingerprint, chunk.end));
    }

    /// The bytes the open record can still take, for a section that `follows` the last one or
    /// a new one.
    fn room(&self, follows: bool) -> usize {
        let used = match self.format {
            RecordFormat::Lines => self.open.bytes,
            RecordFormat::Kpl => {
                let sections = self.open.sections.len() + usize::from(!follows);
                if sections > MAX_KPL_USER_RECORDS {
                    return 0;
                }
                self.open.bytes + kpl_overhead(&"0".repeat(PARTITION_KEY_BYTES), sections)
            }
        };
        (MAX_RECORD_BYTES - PARTITION_KEY_BYTES).saturating_sub(used)
    }

    /// Closes the open record.
    fn close(&mut self) {
        let open = std::mem::take(&mut self.open);
        if open.lines == 0 && open.positions.is_empty() {
            return;
        }
        // spread over the shards, the same key for the same lines when they are sent again
        let partition_key = format!(
            "{:x}",
            md5::compute(
                open.sections
                    .first()
                    .map_or(&[][..], |s| &s[..s.len().min(256)])
            )
        );
        let data = match self.format {
            RecordFormat::Lines => open.sections.concat(),
            RecordFormat::Kpl => {
                let sections: Vec<&[u8]> = open.sections.iter().map(Vec::as_slice).collect();
                kpl_aggregate(&partition_key, &sections)
            }
        };
        let record = PackedRecord {
            partition_key,
            data,
            lines: open.lines,
            positions: open.positions,
        };
        debug_assert!(record.size() <= MAX_RECORD_BYTES);
        self.closed_bytes += record.size();
        self.closed.push_back(record);
    }

    /// The next batch to put: a full one, or with `flush` whatever is held; `None` if there is
    /// nothing to put.
    pub fn take_batch(&mut self, flush: bool) -> Option<Batch> {
        if flush {
            self.close();
        }
        if self.closed.is_empty() || !(flush || self.has_full_batch()) {
            return None;
        }
        let mut batch = Batch::default();
        let mut bytes = 0;
        while let Some(record) = self.closed.front() {
            if batch.records.len() == MAX_BATCH_RECORDS || bytes + record.size() > MAX_BATCH_BYTES {
                break;
            }
            bytes += record.size();
            let record = self.closed.pop_front().expect("a record");
            self.closed_bytes -= record.size();
            batch.records.push(record);
        }
        Some(batch)
    }
}

/// The length of the whole lines at the start of `data` that fit in `room` bytes.
fn whole_lines_within(data: &[u8], room: usize) -> usize {
    if data.len() <= room {
        return data.len();
    }
    data[..room]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use loglake_parser::payload::{decode_payload, LogText};

    use super::*;

    fn chunk(file: &str, first_line: i64, lines: usize, width: usize) -> Chunk {
        let mut text = Vec::new();
        for i in 0..lines {
            let line = format!("{file} line {}", first_line + i as i64);
            text.extend_from_slice(format!("{line:<width$}\n").as_bytes());
        }
        Chunk {
            fingerprint: file.into(),
            source: format!("h:/{file}#0"),
            first_line,
            lines: text,
            line_count: lines,
            end: Position {
                offset: 0,
                next_line: first_line + lines as i64,
                skipping: false,
                source: format!("h:/{file}#0"),
                path: file.into(),
                device: 0,
                inode: 0,
                updated: 0,
            },
        }
    }

    /// Every `(source, line number, text)` the records hold, as the ingest function reads them.
    fn read_back(batches: &[Batch]) -> Vec<(String, i64, String)> {
        let mut out = Vec::new();
        for record in batches.iter().flat_map(|b| &b.records) {
            assert!(record.size() <= MAX_RECORD_BYTES);
            for text in decode_payload(&record.data).unwrap().texts {
                let LogText::Shipped {
                    source,
                    first_line,
                    lines,
                } = text
                else {
                    panic!("not shipped lines");
                };
                for (i, line) in String::from_utf8_lossy(&lines).lines().enumerate() {
                    out.push((
                        source.clone(),
                        first_line + i as i64,
                        line.trim_end().to_string(),
                    ));
                }
            }
        }
        out
    }

    #[test]
    fn lines_keep_their_file_and_number_across_records_and_batches() {
        for format in [RecordFormat::Lines, RecordFormat::Kpl] {
            let mut packer = RecordPacker::new(format);
            let mut batches = Vec::new();
            // 3 files interleaved, 13 MiB in all: records fill, batches fill
            for round in 0..40 {
                for file in ["a.log", "b.log", "c.log"] {
                    packer.push(chunk(file, 1 + round * 1000, 1000, 110));
                    while let Some(batch) = packer.take_batch(false) {
                        assert!(batch.records.len() <= MAX_BATCH_RECORDS);
                        assert!(batch.bytes() <= MAX_BATCH_BYTES);
                        batches.push(batch);
                    }
                }
            }
            batches.extend(packer.take_batch(true));
            assert!(packer.take_batch(true).is_none() && packer.is_empty());
            let lines = read_back(&batches);
            assert_eq!(lines.len(), 120_000, "{format:?}");
            for (source, number, text) in &lines {
                let file = &source[3..8];
                assert_eq!(text, &format!("{file} line {number}"));
            }
            let records: usize = batches.iter().map(|b| b.records.len()).sum();
            assert!(records <= 14, "{format:?}: {records} records for 13 MiB");
            // each file's last chunk's position is in the last batch holding its lines
            let positions: Vec<&(String, Position)> =
                batches.iter().flat_map(|b| b.positions()).collect();
            assert_eq!(positions.len(), 120);
            assert_eq!(positions.last().unwrap().1.next_line, 40_001);
        }
    }

    #[test]
    fn a_line_longer_than_a_record_is_sent_cut() {
        let mut long = chunk("a.log", 1, 0, 0);
        long.lines = [&vec![b'x'; MAX_RECORD_BYTES * 2][..], b"\nnext\n"].concat();
        long.line_count = 2;
        let mut packer = RecordPacker::new(RecordFormat::Lines);
        packer.push(long);
        let lines = read_back(&[packer.take_batch(true).unwrap()]);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].2.len() < MAX_RECORD_BYTES && lines[0].1 == 1);
        assert_eq!((lines[1].1, lines[1].2.as_str()), (2, "next"));
    }

    #[test]
    fn many_small_files_make_few_records_and_kpl_keeps_firehoses_cap() {
        let mut packer = RecordPacker::new(RecordFormat::Kpl);
        for file in 0..1200 {
            packer.push(chunk(&format!("{file:05}"), 1, 1, 50));
        }
        let batch = packer.take_batch(true).unwrap();
        assert_eq!(batch.lines(), 1200);
        assert_eq!(
            batch.records.len(),
            3,
            "at most 500 user records an aggregate"
        );
        let mut lines = RecordPacker::new(RecordFormat::Lines);
        for file in 0..1200 {
            lines.push(chunk(&format!("{file:05}"), 1, 1, 50));
        }
        assert_eq!(lines.take_batch(true).unwrap().records.len(), 1);
    }
}
