//! One dictionary-encoded column of a Parquet row group (the strings, and the numbers that
//! repeat: status codes, byte counts, request times), encoded here rather than by parquet-rs.
//!
//! Why: the lake's files are small (an hour each) and 19 of the 22 columns are of this kind. For
//! those, parquet-rs's Arrow writer interns every value through a general-purpose hash table and
//! compares every value for min/max statistics, most of its time on hourly files. It also
//! creates a zstd compressor and decompressor for every compressed column chunk, and each
//! creation traps to this VM's hypervisor (`cpuid`). Here a value equal to the row before it
//! (runs of one source, method or browser are common in a file sorted by time) costs one
//! comparison, other values one hash lookup, statistics are taken over the dictionary, not the
//! rows, and one zstd context per thread serves every chunk. The pages go through parquet-rs's
//! own page writer (headers, offsets), and the chunk is spliced into the row group it writes.
//! The figures are in benches/README.md, "Measurements behind the code".
//!
//! Encoding: a PLAIN dictionary page and RLE_DICTIONARY data pages, as parquet-rs and
//! parquet-mr write them; when the dictionary would pass [`DICTIONARY_PAGE_LIMIT`], PLAIN data
//! pages instead. Data pages hold at most [`PAGE_ROWS`] rows and about [`PAGE_BYTES`].

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::ops::Range;

use arrow::array::{Array, AsArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Float64Type, Int16Type, Int64Type};
use bytes::Bytes;
use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};
use parquet::basic::{Compression, Encoding, EncodingMask, PageType, Type as PhysicalType};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ColumnChunkMetaData, PageEncodingStats};
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

/// parquet-rs's default: a bigger dictionary is written as PLAIN pages instead.
pub const DICTIONARY_PAGE_LIMIT: usize = 1 << 20;
/// parquet-rs's default row limit per data page.
pub const PAGE_ROWS: usize = 20_000;
/// A data page ends once its encoded values pass this.
pub const PAGE_BYTES: usize = 1 << 20;
/// Statistics keep exact bounds up to this length; a longer bound is left out (parquet-rs would
/// truncate it), so a few huge values never bloat every file's footer.
const STATISTICS_MAX_BYTES: usize = 256;

/// The Arrow types this writer takes: strings, and the numbers it dictionary-encodes.
pub fn is_dictionary_type(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::Int16 | DataType::Int64 | DataType::Float64
    )
}

/// How a column chunk is written.
#[derive(Debug, Clone, Copy)]
pub struct ChunkSettings {
    /// `ZSTD` (at its level) or `UNCOMPRESSED`.
    pub compression: Compression,
    /// Chunk min/max and null count.
    pub statistics: bool,
}

/// Collects one column's values for a row group, then [`DictionaryChunkWriter::close`] encodes
/// them.
pub struct DictionaryChunkWriter {
    descr: ColumnDescPtr,
    settings: ChunkSettings,
    hasher: DefaultHashBuilder,
    /// Dictionary keys, looked up by the bytes of the entry they name.
    dedup: HashTable<u32>,
    /// The dictionary page's body as it is written: PLAIN, so each string entry has its 4-byte
    /// length before it, and numbers are their little-endian bytes.
    dictionary: Vec<u8>,
    /// Where each entry's bytes (without a length) lie in `dictionary`.
    entries: Vec<Range<usize>>,
    /// One key per non-null value, in row order.
    keys: Vec<u32>,
    /// One definition level per row (1 = value, 0 = null), for a nullable column.
    levels: Vec<u8>,
    rows: usize,
    nulls: u64,
}

impl DictionaryChunkWriter {
    /// A writer for a chunk of about `expected_rows` rows (which sizes the dictionary's hash
    /// table, so it is not rebuilt as it grows).
    pub fn new(descr: ColumnDescPtr, settings: ChunkSettings, expected_rows: usize) -> Self {
        Self {
            descr,
            settings,
            hasher: DefaultHashBuilder::default(),
            dedup: HashTable::with_capacity(expected_rows.min(1 << 16)),
            dictionary: Vec::new(),
            entries: Vec::new(),
            keys: Vec::new(),
            levels: Vec::new(),
            rows: 0,
            nulls: 0,
        }
    }

    fn nullable(&self) -> bool {
        self.descr.max_def_level() > 0
    }

    /// PLAIN strings carry their length; numbers have a fixed width.
    fn length_prefixed(&self) -> bool {
        self.descr.physical_type() == PhysicalType::BYTE_ARRAY
    }

    /// Appends the rows of `values`, an array of one of the [`is_dictionary_type`] types.
    pub fn write(&mut self, values: &dyn Array) -> Result<(), ParquetError> {
        if !self.nullable() && values.null_count() > 0 {
            return Err(ParquetError::General(format!(
                "column {} is required but has nulls",
                self.descr.path()
            )));
        }
        let nulls = values.nulls().filter(|nulls| nulls.null_count() > 0);
        // Numbers as the bytes of their Parquet type (INT32 for Int16), little-endian.
        match values.data_type() {
            DataType::Utf8 => {
                let strings = values.as_string::<i32>();
                let data = strings.value_data();
                let bounds = strings.value_offsets().windows(2);
                self.append(nulls, bounds.map(|b| &data[b[0] as usize..b[1] as usize]));
            }
            DataType::Int16 => {
                let numbers = values.as_primitive::<Int16Type>().values().iter();
                self.append(nulls, numbers.map(|&v| i32::from(v).to_le_bytes()));
            }
            DataType::Int64 => {
                let numbers = values.as_primitive::<Int64Type>().values().iter();
                self.append(nulls, numbers.map(|v| v.to_le_bytes()));
            }
            DataType::Float64 => {
                let numbers = values.as_primitive::<Float64Type>().values().iter();
                self.append(nulls, numbers.map(|v| v.to_le_bytes()));
            }
            other => {
                return Err(ParquetError::General(format!(
                    "column {}: {other} is not dictionary-encoded here",
                    self.descr.path()
                )))
            }
        }
        Ok(())
    }

    /// Appends one value per row (ignored where `nulls` says the row is null).
    fn append<V: Value>(
        &mut self,
        nulls: Option<&NullBuffer>,
        values: impl ExactSizeIterator<Item = V>,
    ) {
        let rows = values.len();
        self.keys
            .reserve(rows - nulls.map_or(0, NullBuffer::null_count));
        // Rows next to each other often repeat a value: compare with the last one before hashing.
        let mut last: Option<(V, u32)> = None;
        match nulls {
            None => {
                if self.nullable() {
                    self.levels.resize(self.levels.len() + rows, 1);
                }
                for value in values {
                    let key = self.key_of(value, &mut last);
                    self.keys.push(key);
                }
            }
            Some(nulls) => {
                for (row, value) in values.enumerate() {
                    if nulls.is_null(row) {
                        self.levels.push(0);
                        self.nulls += 1;
                    } else {
                        self.levels.push(1);
                        let key = self.key_of(value, &mut last);
                        self.keys.push(key);
                    }
                }
            }
        }
        self.rows += rows;
    }

    // Runs once per value of every dictionary column: the check against the previous value must
    // not pay for a call, while the hash-table path stays out of line so the loops calling this
    // stay small.
    #[inline(always)]
    fn key_of<V: Value>(&mut self, value: V, last: &mut Option<(V, u32)>) -> u32 {
        let key = match *last {
            Some((previous, key)) if previous.same(&value) => key,
            _ => self.intern(value.bytes()),
        };
        *last = Some((value, key));
        key
    }

    #[inline(never)]
    fn intern(&mut self, value: &[u8]) -> u32 {
        let length_prefixed = self.length_prefixed();
        let Self {
            hasher,
            dedup,
            dictionary,
            entries,
            ..
        } = self;
        let hash = hasher.hash_one(value);
        let entry = dedup.entry(
            hash,
            |&key| same_bytes(&dictionary[entries[key as usize].clone()], value),
            |&key| hasher.hash_one(&dictionary[entries[key as usize].clone()]),
        );
        match entry {
            Entry::Occupied(found) => *found.get(),
            Entry::Vacant(slot) => {
                let key = entries.len() as u32;
                if length_prefixed {
                    dictionary.extend_from_slice(&(value.len() as u32).to_le_bytes());
                }
                let start = dictionary.len();
                dictionary.extend_from_slice(value);
                entries.push(start..dictionary.len());
                slot.insert(key);
                key
            }
        }
    }

    fn entry(&self, key: u32) -> &[u8] {
        &self.dictionary[self.entries[key as usize].clone()]
    }

    /// Encodes the chunk: its bytes (pages with their headers) and what the row group needs to
    /// splice them in (`SerializedRowGroupWriter::append_column`).
    pub fn close(mut self) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        let use_dictionary = self.dictionary.len() <= DICTIONARY_PAGE_LIMIT;
        let statistics = self.settings.statistics.then(|| self.statistics());
        let mut sink = TrackedWrite::new(Vec::new());
        let mut pages = SerializedPageWriter::new(&mut sink);
        let compress = |buf: Vec<u8>| -> Result<(Bytes, usize), ParquetError> {
            let uncompressed = buf.len();
            Ok(match self.settings.compression {
                Compression::ZSTD(level) => (
                    zstd_compress(&buf, level.compression_level())?.into(),
                    uncompressed,
                ),
                _ => (buf.into(), uncompressed),
            })
        };

        let mut totals = ChunkTotals::default();
        let mut dictionary_page_offset = None;
        if use_dictionary {
            let (buf, uncompressed) = compress(std::mem::take(&mut self.dictionary))?;
            let page = Page::DictionaryPage {
                buf,
                num_values: self.entries.len() as u32,
                encoding: Encoding::PLAIN,
                is_sorted: false,
            };
            let spec = pages.write_page(CompressedPage::new(page, uncompressed))?;
            dictionary_page_offset = Some(spec.offset as i64);
            totals.add(spec.compressed_size, spec.uncompressed_size);
        }

        let value_encoding = if use_dictionary {
            Encoding::RLE_DICTIONARY
        } else {
            Encoding::PLAIN
        };
        let mut locations = Vec::new();
        let mut page = self.page_after(0, 0, use_dictionary);
        loop {
            let (buf, uncompressed) = compress(self.data_page_body(&page, use_dictionary))?;
            let data_page = Page::DataPage {
                buf,
                num_values: page.rows.len() as u32,
                encoding: value_encoding,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            };
            let spec = pages.write_page(CompressedPage::new(data_page, uncompressed))?;
            locations.push(PageLocation {
                offset: spec.offset as i64,
                compressed_page_size: spec.compressed_size as i32,
                first_row_index: page.rows.start as i64,
            });
            totals.add(spec.compressed_size, spec.uncompressed_size);
            if page.rows.end >= self.rows {
                break;
            }
            page = self.page_after(page.rows.end, page.values.end, use_dictionary);
        }
        pages.close()?;

        let mut encodings = vec![Encoding::PLAIN, Encoding::RLE, value_encoding];
        let mut encoding_stats = vec![PageEncodingStats {
            page_type: PageType::DATA_PAGE,
            encoding: value_encoding,
            count: locations.len() as i32,
        }];
        if use_dictionary {
            encoding_stats.insert(
                0,
                PageEncodingStats {
                    page_type: PageType::DICTIONARY_PAGE,
                    encoding: Encoding::PLAIN,
                    count: 1,
                },
            );
        } else {
            encodings.pop();
        }
        let mut metadata = ColumnChunkMetaData::builder(self.descr.clone())
            .set_compression(self.settings.compression)
            .set_encodings_mask(EncodingMask::new_from_encodings(encodings.iter()))
            .set_page_encoding_stats(encoding_stats)
            .set_total_compressed_size(totals.compressed)
            .set_total_uncompressed_size(totals.uncompressed)
            .set_num_values(self.rows as i64)
            .set_data_page_offset(locations[0].offset)
            .set_dictionary_page_offset(dictionary_page_offset);
        if let Some(statistics) = statistics {
            metadata = metadata.set_statistics(statistics);
        }
        let bytes = Bytes::from(sink.into_inner()?);
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: self.rows as u64,
            metadata: metadata.build()?,
            bloom_filter: None,
            column_index: None,
            offset_index: Some(OffsetIndexMetaData {
                page_locations: locations,
                unencoded_byte_array_data_bytes: None,
            }),
        };
        Ok((bytes, close))
    }

    /// A data page's body (before compression): definition levels when the column is nullable,
    /// then the values, as dictionary keys or PLAIN values.
    fn data_page_body(&self, page: &PageExtent, use_dictionary: bool) -> Vec<u8> {
        let mut body = Vec::new();
        if self.nullable() {
            let mut levels = Vec::new();
            encode_hybrid(&self.levels[page.rows.clone()], 1, &mut levels);
            body.extend_from_slice(&(levels.len() as u32).to_le_bytes());
            body.extend_from_slice(&levels);
        }
        let keys = &self.keys[page.values.clone()];
        if use_dictionary {
            let key_width = bit_width(self.entries.len().saturating_sub(1) as u32);
            body.push(key_width);
            encode_hybrid(keys, key_width, &mut body);
        } else {
            let length_prefixed = self.length_prefixed();
            for &key in keys {
                let value = self.entry(key);
                if length_prefixed {
                    body.extend_from_slice(&(value.len() as u32).to_le_bytes());
                }
                body.extend_from_slice(value);
            }
        }
        body
    }

    /// The data page starting at row `row`, whose first non-null value is `keys[key]`.
    fn page_after(&self, row: usize, key: usize, use_dictionary: bool) -> PageExtent {
        let mut rows = (self.rows - row).min(PAGE_ROWS);
        let defined = |row: usize| !self.nullable() || self.levels[row] == 1;
        if !use_dictionary {
            // PLAIN values are the values themselves: end the page once they pass PAGE_BYTES.
            let length_bytes = if self.length_prefixed() { 4 } else { 0 };
            let (mut bytes, mut next_key) = (0, key);
            for offset in 0..rows {
                if bytes >= PAGE_BYTES {
                    rows = offset;
                    break;
                }
                if defined(row + offset) {
                    bytes += length_bytes + self.entries[self.keys[next_key] as usize].len();
                    next_key += 1;
                }
            }
        }
        let values = (row..row + rows).filter(|&r| defined(r)).count();
        PageExtent {
            rows: row..row + rows,
            values: key..key + values,
        }
    }

    /// Min and max over the dictionary (every entry is some row's value) and the null count,
    /// as parquet-rs writes them: NaN never a bound, a zero minimum written as -0.0 and a zero
    /// maximum as +0.0, and the deprecated min/max fields too for numbers (signed order).
    fn statistics(&self) -> Statistics {
        let entries = self
            .entries
            .iter()
            .map(|range| &self.dictionary[range.clone()]);
        let nulls = Some(self.nulls);
        let signed = self.descr.sort_order().is_signed();
        fn bytes<const N: usize>(entry: &[u8]) -> [u8; N] {
            entry
                .try_into()
                .expect("a number's entry has its type's width")
        }
        match self.descr.physical_type() {
            PhysicalType::INT32 => {
                let numbers = entries.map(|e| i32::from_le_bytes(bytes(e)));
                Statistics::Int32(
                    ValueStatistics::new(numbers.clone().min(), numbers.max(), None, nulls, false)
                        .with_backwards_compatible_min_max(signed),
                )
            }
            PhysicalType::INT64 => {
                let numbers = entries.map(|e| i64::from_le_bytes(bytes(e)));
                Statistics::Int64(
                    ValueStatistics::new(numbers.clone().min(), numbers.max(), None, nulls, false)
                        .with_backwards_compatible_min_max(signed),
                )
            }
            PhysicalType::DOUBLE => {
                let numbers = entries
                    .map(|e| f64::from_le_bytes(bytes(e)))
                    .filter(|v| !v.is_nan());
                let min = numbers
                    .clone()
                    .reduce(f64::min)
                    .map(|v| if v == 0.0 { -0.0 } else { v });
                let max = numbers
                    .reduce(f64::max)
                    .map(|v| if v == 0.0 { 0.0 } else { v });
                Statistics::Double(
                    ValueStatistics::new(min, max, None, nulls, false)
                        .with_backwards_compatible_min_max(signed),
                )
            }
            _ => {
                let (min, max) = (entries.clone().min(), entries.max());
                let bound = |value: &[u8]| {
                    (value.len() <= STATISTICS_MAX_BYTES).then(|| ByteArray::from(value.to_vec()))
                };
                Statistics::ByteArray(
                    ValueStatistics::new(
                        min.and_then(bound),
                        max.and_then(bound),
                        None,
                        nulls,
                        false,
                    )
                    .with_backwards_compatible_min_max(signed),
                )
            }
        }
    }
}

thread_local! {
    /// One zstd context per thread, reused by every column chunk it compresses:
    /// creating a context costs more than compressing a small hour's column.
    static ZSTD: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
}

fn zstd_compress(data: &[u8], level: i32) -> Result<Vec<u8>, ParquetError> {
    ZSTD.with_borrow_mut(|slot| {
        let compressor = match slot {
            Some((current, compressor)) if *current == level => compressor,
            _ => &mut slot.insert((level, zstd::bulk::Compressor::new(level)?)).1,
        };
        Ok(compressor.compress(data)?)
    })
}

/// A row's value as this writer compares and stores it.
trait Value: Copy {
    fn same(&self, other: &Self) -> bool;
    /// As stored in a PLAIN dictionary entry (without a string's length).
    fn bytes(&self) -> &[u8];
}

impl Value for &[u8] {
    #[inline(always)]
    fn same(&self, other: &Self) -> bool {
        same_bytes(self, other)
    }

    fn bytes(&self) -> &[u8] {
        self
    }
}

/// A number's little-endian bytes: compared as one word.
impl<const N: usize> Value for [u8; N] {
    #[inline(always)]
    fn same(&self, other: &Self) -> bool {
        self == other
    }

    fn bytes(&self) -> &[u8] {
        self
    }
}

/// `a == b`. Most values compared here are short (methods, browser names, versions, addresses)
/// and of equal length; `==` on slices calls `memcmp` for them, which cost more than the
/// comparison itself.
/// Up to 16 bytes, two overlapping words of each side are compared instead.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let u64_at = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap());
    let u32_at = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().unwrap());
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => u32_at(a, 0) == u32_at(b, 0) && u32_at(a, n - 4) == u32_at(b, n - 4),
        8..=16 => u64_at(a, 0) == u64_at(b, 0) && u64_at(a, n - 8) == u64_at(b, n - 8),
        _ => a == b,
    }
}

/// The rows of one data page, and the range of `keys` holding its non-null values.
struct PageExtent {
    rows: Range<usize>,
    values: Range<usize>,
}

#[derive(Default)]
struct ChunkTotals {
    compressed: i64,
    uncompressed: i64,
}

impl ChunkTotals {
    fn add(&mut self, compressed: usize, uncompressed: usize) {
        self.compressed += compressed as i64;
        self.uncompressed += uncompressed as i64;
    }
}

/// Bits needed for values up to `max`.
fn bit_width(max: u32) -> u8 {
    (32 - max.leading_zeros()) as u8
}

/// Parquet's RLE / bit-packing hybrid: a run of 8 or more equal values is one RLE run, the rest
/// is bit-packed in groups of 8 (the last group padded with zeros; readers know the count).
fn encode_hybrid<T: Copy + PartialEq + Into<u32>>(values: &[T], width: u8, out: &mut Vec<u8>) {
    // values[packed_from..next] wait to be bit-packed.
    let (mut packed_from, mut next) = (0, 0);
    while next < values.len() {
        let value = values[next];
        let run = 1 + values[next + 1..]
            .iter()
            .take_while(|&&v| v == value)
            .count();
        // A run may only start on a group boundary: its first values complete the pending group.
        let fill = (8 - (next - packed_from) % 8) % 8;
        if run >= fill + 8 {
            bit_pack(&values[packed_from..next + fill], width, out);
            push_uleb128(((run - fill) as u64) << 1, out);
            let value: u32 = value.into();
            out.extend_from_slice(&value.to_le_bytes()[..usize::from(width).div_ceil(8)]);
            packed_from = next + run;
        }
        next += run;
    }
    bit_pack(&values[packed_from..], width, out);
}

fn bit_pack<T: Copy + Into<u32>>(values: &[T], width: u8, out: &mut Vec<u8>) {
    if values.is_empty() {
        return;
    }
    let groups = values.len().div_ceil(8);
    push_uleb128(((groups as u64) << 1) | 1, out);
    let padding = std::iter::repeat_n(0, groups * 8 - values.len());
    let (mut bits, mut filled) = (0u64, 0u32);
    for value in values.iter().map(|&v| v.into()).chain(padding) {
        bits |= u64::from(value) << filled;
        filled += u32::from(width);
        while filled >= 8 {
            out.push(bits as u8);
            bits >>= 8;
            filled -= 8;
        }
    }
}

fn push_uleb128(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::arrow::ArrowSchemaConverter;

    use loglake_schema::file_schema;

    fn column(name: &str) -> ColumnDescPtr {
        let schema = ArrowSchemaConverter::new().convert(&file_schema()).unwrap();
        let index = schema
            .columns()
            .iter()
            .position(|c| c.name() == name)
            .unwrap();
        schema.column(index)
    }

    #[test]
    fn same_bytes_finds_a_difference_at_any_position_of_any_length() {
        for len in 0..40 {
            let value: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37)).collect();
            assert!(same_bytes(&value, &value.clone()), "len {len}");
            for at in 0..len {
                let mut other = value.clone();
                other[at] ^= 0x80;
                assert!(!same_bytes(&value, &other), "len {len}, byte {at}");
            }
            assert!(!same_bytes(&value, &[value.as_slice(), b"x"].concat()));
        }
    }

    #[test]
    fn the_hybrid_encoding_is_the_spec_s() {
        // Ten equal values: one RLE run, header 10 << 1, then the value in one byte.
        let mut out = Vec::new();
        encode_hybrid(&[1u8; 10], 1, &mut out);
        assert_eq!(out, [0x14, 0x01]);
        // Nine varied values: two bit-packed groups (header 2 << 1 | 1), LSB first, the last
        // group padded with zeros.
        let mut out = Vec::new();
        encode_hybrid(&[1u32, 0, 1, 0, 1, 0, 1, 0, 1], 1, &mut out);
        assert_eq!(out, [0x05, 0b0101_0101, 0b0000_0001]);
        // Three values, then a run of ten: the run's first five values complete the group, the
        // other five are too few for an RLE run and are bit-packed too (3 bits each).
        let mut out = Vec::new();
        let values: Vec<u32> = [5, 6, 7].into_iter().chain([2; 10]).collect();
        encode_hybrid(&values, 3, &mut out);
        assert_eq!(out[0], (2 << 1) | 1);
        assert_eq!(out.len(), 1 + 2 * 3);
        // A run of 16 after 3 values: 5 complete the group, an RLE run of 11 follows.
        let mut out = Vec::new();
        let values: Vec<u32> = [5, 6, 7].into_iter().chain([2; 16]).collect();
        encode_hybrid(&values, 3, &mut out);
        assert_eq!(&out[..1], [(1 << 1) | 1]);
        assert_eq!(&out[4..], [11 << 1, 2]);
    }

    #[test]
    fn nulls_in_a_required_column_are_an_error_not_a_corrupt_file() {
        let settings = ChunkSettings {
            compression: Compression::UNCOMPRESSED,
            statistics: true,
        };
        let mut writer = DictionaryChunkWriter::new(column("client_ip"), settings, 2);
        let values = arrow::array::StringArray::from(vec![Some("1.2.3.4"), None]);
        assert!(writer.write(&values).is_err());
    }
}
