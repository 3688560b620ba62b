//! Rows a partition may hold twice, found before compaction merges it, so that the merge keeps
//! one copy of each.
//!
//! Two files of one hour hold the same line when Lambda delivered a Kinesis batch again after
//! its first delivery's files were written (a timeout, a retry, a redelivery after a failed
//! upload), or when a compaction kept an input that was rewritten while it merged it (see
//! `compact.rs`). A line is `(source, source_line)`; a stream record's source is
//! `kinesis:STREAM/SHARD/SEQUENCE`. An hour holds millions of stream records, so a file's records
//! are described by ranges of each shard's sequence numbers: a batch is a run of consecutive
//! records of one shard, and sequence numbers only grow, so a batch delivered again falls inside
//! a range its first delivery left, and batches delivered once never share a range. Files named
//! as replayable sources (backfilled logs) are compared by name.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::Int64Type;
use arrow::error::ArrowError;
use loglake_lake::merge::{sequence_cmp, shard_and_sequence};
use loglake_lake::RowOrigins;
use serde::{Deserialize, Serialize};

/// Consecutive sequence numbers of one shard, first and last included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SequenceRange {
    pub first: String,
    pub last: String,
}

/// Each shard's ranges (`kinesis:STREAM/SHARD` to ranges in order, none overlapping). Ranges
/// that only touch are kept apart: sequence numbers are not dense, so nothing says no record of
/// another batch lies between two of them (a compaction record holds one range a batch merged).
pub(crate) type ShardRanges = BTreeMap<String, Vec<SequenceRange>>;

/// Where a file's rows came from: a merged file keeps the range of each batch it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Origins {
    pub files: BTreeSet<String>,
    pub shards: ShardRanges,
}

impl From<RowOrigins> for Origins {
    /// The origins of a file the ingest function wrote: part of one batch, so one range a
    /// shard.
    fn from(origins: RowOrigins) -> Self {
        let shards = (origins.streams.into_iter())
            .map(|(shard, (first, last))| (shard, vec![SequenceRange { first, last }]))
            .collect();
        Origins {
            files: origins.files,
            shards,
        }
    }
}

impl Origins {
    /// Adds `other`'s origins: what a merged file of both holds. Overlapping ranges join.
    pub fn extend(&mut self, other: &Origins) {
        self.files.extend(other.files.iter().cloned());
        for (shard, ranges) in &other.shards {
            let mine = self.shards.entry(shard.clone()).or_default();
            mine.extend(ranges.iter().cloned());
            mine.sort_by(|a, b| sequence_cmp(&a.first, &b.first));
            let mut joined: Vec<SequenceRange> = Vec::with_capacity(mine.len());
            for range in mine.drain(..) {
                match joined.last_mut() {
                    Some(last) if sequence_cmp(&range.first, &last.last) != Ordering::Greater => {
                        if sequence_cmp(&range.last, &last.last) == Ordering::Greater {
                            last.last = range.last;
                        }
                    }
                    _ => joined.push(range),
                }
            }
            *mine = joined;
        }
    }

    /// Whether a row of `source` may be one of these origins'.
    pub fn contains(&self, source: &str) -> bool {
        match shard_and_sequence(source) {
            Some((shard, sequence)) => self.shards.get(shard).is_some_and(|ranges| {
                ranges.iter().any(|r| {
                    sequence_cmp(sequence, &r.first) != Ordering::Less
                        && sequence_cmp(sequence, &r.last) != Ordering::Greater
                })
            }),
            None => self.files.contains(source),
        }
    }
}

/// Files that share origins, and what they share.
#[derive(Debug, Default)]
pub(crate) struct Overlaps {
    /// Sets of two or more files (indexes into the input) linked by shared origins: each set is
    /// to be merged as one.
    pub groups: Vec<Vec<usize>>,
    /// The origins two or more files share: the rows that may be there twice.
    pub shared: Origins,
}

/// The overlaps among `files`' origins.
pub(crate) fn overlaps(files: &[&Origins]) -> Overlaps {
    let mut parent: Vec<usize> = (0..files.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut join = |a: usize, b: usize| {
        let (a, b) = (root(&mut parent, a), root(&mut parent, b));
        parent[a.max(b)] = a.min(b);
    };
    let mut shared = Origins::default();

    let mut first_holder: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, origins) in files.iter().enumerate() {
        for file in &origins.files {
            match first_holder.get(file.as_str()) {
                Some(&holder) => {
                    join(holder, i);
                    shared.files.insert(file.clone());
                }
                None => {
                    first_holder.insert(file, i);
                }
            }
        }
    }

    let mut by_shard: BTreeMap<&str, Vec<(&SequenceRange, usize)>> = BTreeMap::new();
    for (i, origins) in files.iter().enumerate() {
        for (shard, ranges) in &origins.shards {
            by_shard
                .entry(shard)
                .or_default()
                .extend(ranges.iter().map(|r| (r, i)));
        }
    }
    let mut intersections = ShardRanges::new();
    for (shard, mut ranges) in by_shard {
        ranges.sort_by(|a, b| sequence_cmp(&a.0.first, &b.0.first));
        // Sorted by first number: a range overlaps an earlier one exactly when it starts before
        // that one ends. A file's own ranges never overlap each other.
        let mut open: Vec<(&SequenceRange, usize)> = Vec::new();
        for (range, i) in ranges {
            open.retain(|(o, _)| sequence_cmp(&o.last, &range.first) != Ordering::Less);
            for (other, j) in &open {
                if *j == i {
                    continue;
                }
                join(*j, i);
                let last = match sequence_cmp(&other.last, &range.last) {
                    Ordering::Less => &other.last,
                    _ => &range.last,
                };
                intersections
                    .entry(shard.to_string())
                    .or_default()
                    .push(SequenceRange {
                        first: range.first.clone(),
                        last: last.clone(),
                    });
            }
            open.push((range, i));
        }
    }

    // Joined into ranges that do not overlap, as a file's are.
    shared.extend(&Origins {
        files: BTreeSet::new(),
        shards: intersections,
    });

    let mut sets: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..files.len() {
        sets.entry(root(&mut parent, i)).or_default().push(i);
    }
    Overlaps {
        groups: sets.into_values().filter(|set| set.len() > 1).collect(),
        shared,
    }
}

/// A merge's `keep`: the first copy of each line of the shared origins, every other row.
pub(crate) struct FirstCopies<'a> {
    shared: &'a Origins,
    seen: RefCell<HashSet<(String, i64)>>,
}

impl<'a> FirstCopies<'a> {
    pub fn new(shared: &'a Origins) -> Self {
        Self {
            shared,
            seen: RefCell::default(),
        }
    }

    pub fn keep(&self, batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
        let sources = batch["source"].as_string::<i32>();
        let lines = batch["source_line"].as_primitive::<Int64Type>();
        let mut seen = self.seen.borrow_mut();
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|row| {
                let source = sources.value(row);
                Some(
                    !self.shared.contains(source)
                        || seen.insert((source.to_string(), lines.value(row))),
                )
            })
            .collect();
        filter_record_batch(&batch, &keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(shard: u32, sequence: u64) -> String {
        format!("kinesis:web/shardId-{shard:012}/4959{sequence:052}")
    }

    fn origins(sources: &[String]) -> Origins {
        let mut origins = RowOrigins::default();
        sources.iter().for_each(|source| origins.add(source));
        origins.into()
    }

    #[test]
    fn a_file_of_one_batch_is_one_range_a_shard() {
        let mut sources = vec![record(0, 7), record(0, 3), record(1, 5), record(0, 5)];
        sources.extend(["/logs/a.log".to_string(), "firehose:s/1".to_string()]);
        let o = origins(&sources);
        assert_eq!(o.files, BTreeSet::from(["/logs/a.log".to_string()]));
        let shard0 = &o.shards["kinesis:web/shardId-000000000000"];
        assert_eq!(shard0.len(), 1);
        assert!(o.contains(&record(0, 4)) && !o.contains(&record(0, 8)));
        assert!(!o.contains(&record(2, 4)) && o.contains("/logs/a.log"));
    }

    #[test]
    fn a_redelivered_batch_overlaps_the_merged_file_that_holds_it() {
        // Three batches of shard 0, merged into one file; then the second batch again, and a
        // later batch, and another shard's batch whose numbers fall in between.
        let mut merged = origins(&[record(0, 1), record(0, 9)]);
        merged.extend(&origins(&[record(0, 10), record(0, 19)]));
        merged.extend(&origins(&[record(0, 40), record(0, 49)]));
        merged.extend(&origins(&[record(0, 45), record(0, 52)]));
        assert_eq!(merged.shards["kinesis:web/shardId-000000000000"].len(), 3);
        let again = origins(&[record(0, 10), record(0, 15)]);
        let later = origins(&[record(0, 60), record(0, 69)]);
        let gap = origins(&[record(0, 20), record(0, 39)]);
        let other_shard = origins(&[record(1, 10), record(1, 15)]);
        let found = overlaps(&[&merged, &later, &again, &gap, &other_shard]);
        assert_eq!(found.groups, [vec![0, 2]]);
        assert!(found.shared.contains(&record(0, 12)));
        assert!(!found.shared.contains(&record(0, 16)) && !found.shared.contains(&record(1, 12)));

        let file_twice = overlaps(&[
            &origins(&["/logs/a.log".into()]),
            &origins(&["/logs/b.log".into()]),
            &origins(&["/logs/a.log".into()]),
        ]);
        assert_eq!(file_twice.groups, [vec![0, 2]]);
        assert!(overlaps(&[&merged, &later]).groups.is_empty());
    }
}
