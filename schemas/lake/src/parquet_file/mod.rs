//! One Parquet file of the lake, written from batches already in `ts` order, in row groups of
//! about [`FileOptions::row_group_bytes`], each column as the column declaration's storage words
//! say.
//!
//! Two encoders write the dictionary-encoded columns (strings, and the numbers that repeat),
//! chosen by [`FileOptions::encoder`]: our own (the private `dictionary_chunk` module), the
//! default, or parquet-rs's stock `ArrowWriter` columns. Ours exists for speed only (benches/README.md has
//! the measurements): a test holds the two to the same rows and statistics, so the stock path
//! stays a drop-in fallback. The other columns (timestamps, line numbers, `is_bot`) always go
//! through parquet-rs.

mod dictionary_chunk;

use std::io::Write;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;

use self::dictionary_chunk::{is_dictionary_type, ChunkSettings, DictionaryChunkWriter};
use loglake_schema::{file_schema, COLUMNS};

/// Which code encodes the dictionary-encoded columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParquetEncoder {
    /// Our own dictionary chunk writer: faster, same rows and statistics.
    #[default]
    Loglake,
    /// parquet-rs's stock Arrow column writers.
    Arrow,
}

impl std::str::FromStr for ParquetEncoder {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "loglake" => Ok(Self::Loglake),
            "arrow" => Ok(Self::Arrow),
            other => Err(format!(
                "unknown Parquet encoder {other:?} (expected loglake or arrow)"
            )),
        }
    }
}

/// How one Parquet file is written.
#[derive(Debug, Clone, Copy)]
pub struct FileOptions {
    /// Target encoded row-group size (Athena splits work by row group; ~128 MB is its sweet
    /// spot). Files smaller than this are one row group.
    pub row_group_bytes: usize,
    pub zstd_level: i32,
    pub encoder: ParquetEncoder,
}

impl Default for FileOptions {
    fn default() -> Self {
        Self {
            row_group_bytes: 128 << 20,
            zstd_level: 1,
            encoder: ParquetEncoder::default(),
        }
    }
}

/// A zstd column chunk holding less than this (before encoding) stays uncompressed: it would
/// save at most a few KiB, for a fixed cost per compressed page (tables built and cleared).
const ZSTD_MIN_COLUMN_BYTES: usize = 4 * 1024;

/// Writes one sorted file: [`SortedFileWriter::write`] the batches in order, then
/// [`SortedFileWriter::close`].
pub struct SortedFileWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    arrow_writers: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Per column: how this file writes it when it is dictionary-encoded here.
    dictionary_columns: Vec<Option<ChunkSettings>>,
    rows_per_group: usize,
    /// Rows in the file's first row group, the most any group holds.
    first_group_rows: usize,
    group: Option<RowGroup>,
    groups_written: usize,
}

struct RowGroup {
    columns: Vec<ColumnChunk>,
    rows: usize,
}

enum ColumnChunk {
    Dictionary(DictionaryChunkWriter),
    Arrow(Box<ArrowColumnWriter>),
}

impl<W: Write + Send> SortedFileWriter<W> {
    /// A writer for a file of `shape` (it chooses compression and row-group size).
    pub fn new(sink: W, options: &FileOptions, shape: &FileShape) -> Result<Self, ParquetError> {
        let schema = file_schema();
        let (props, dictionary_columns) = writer_properties(options, shape);
        let (file, arrow_writers) =
            ArrowWriter::try_new(sink, schema.clone(), Some(props))?.into_serialized_writer()?;
        let rows_per_group = rows_per_row_group(options.row_group_bytes, shape);
        Ok(Self {
            file,
            arrow_writers,
            schema,
            dictionary_columns,
            rows_per_group,
            first_group_rows: rows_per_group.min(shape.rows),
            group: None,
            groups_written: 0,
        })
    }

    /// Appends `batch` (in the file schema, sorted after the batches before it).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.group.is_none() {
                self.group = Some(self.start_group()?);
            }
            let group = self.group.as_mut().expect("started above");
            let rows = (self.rows_per_group - group.rows).min(batch.num_rows() - offset);
            let piece = batch.slice(offset, rows);
            for (index, chunk) in group.columns.iter_mut().enumerate() {
                let column = piece.column(index);
                match chunk {
                    ColumnChunk::Dictionary(writer) => writer.write(column.as_ref())?,
                    ColumnChunk::Arrow(writer) => {
                        for leaf in compute_leaves(self.schema.field(index), column)? {
                            writer.write(&leaf)?;
                        }
                    }
                }
            }
            group.rows += rows;
            offset += rows;
            if group.rows == self.rows_per_group {
                self.finish_group()?;
            }
        }
        Ok(())
    }

    /// Writes the last row group and the footer.
    pub fn close(mut self) -> Result<(), ParquetError> {
        if self.group.is_some() {
            self.finish_group()?;
        }
        self.file.close()?;
        Ok(())
    }

    fn start_group(&self) -> Result<RowGroup, ParquetError> {
        let arrow_writers = self
            .arrow_writers
            .create_column_writers(self.groups_written)?;
        let descriptors = self.file.schema_descr().columns();
        let columns = arrow_writers
            .into_iter()
            .zip(&self.dictionary_columns)
            .zip(descriptors)
            .map(|((arrow, dictionary), descr)| match dictionary {
                Some(settings) => ColumnChunk::Dictionary(DictionaryChunkWriter::new(
                    descr.clone(),
                    *settings,
                    self.first_group_rows,
                )),
                None => ColumnChunk::Arrow(Box::new(arrow)),
            })
            .collect();
        Ok(RowGroup { columns, rows: 0 })
    }

    fn finish_group(&mut self) -> Result<(), ParquetError> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        let mut row_group = self.file.next_row_group()?;
        for chunk in group.columns {
            match chunk {
                ColumnChunk::Dictionary(writer) => {
                    let (bytes, close) = writer.close()?;
                    row_group.append_column(&bytes, close)?;
                }
                ColumnChunk::Arrow(writer) => {
                    writer.close()?.append_to_row_group(&mut row_group)?
                }
            }
        }
        row_group.close()?;
        self.groups_written += 1;
        Ok(())
    }
}

/// What a writer needs to know of a file before its rows: how many, and the bytes of each
/// column's values (see [`value_bytes`]), in the file schema's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileShape {
    pub rows: usize,
    pub column_bytes: Vec<usize>,
}

impl FileShape {
    /// The shape of a file of exactly these batches.
    pub fn of(batches: &[RecordBatch]) -> Self {
        let column_bytes = (0..file_schema().fields().len())
            .map(|i| {
                batches
                    .iter()
                    .map(|b| value_bytes(b.column(i).as_ref()))
                    .sum()
            })
            .collect();
        Self {
            rows: batches.iter().map(RecordBatch::num_rows).sum(),
            column_bytes,
        }
    }

    /// The shape of a file of `rows` rows like the `sample` (a file whose rows are not all in
    /// memory at once, such as a merge of several files).
    pub fn scaled(sample: &[RecordBatch], rows: usize) -> Self {
        let of_sample = Self::of(sample);
        let scale =
            |bytes: usize| (bytes as u128 * rows as u128 / of_sample.rows.max(1) as u128) as usize;
        Self {
            rows,
            column_bytes: of_sample.column_bytes.into_iter().map(scale).collect(),
        }
    }
}

/// Parquet settings for a file of `shape`, and per column the settings of the columns this
/// module dictionary-encodes itself: zstd where it pays (the columns declared `zstd` holding
/// enough bytes in this file), dictionaries for strings and repeating numbers, delta encoding
/// for timestamps and line numbers, page statistics, and the file declared sorted by `ts`.
fn writer_properties(
    options: &FileOptions,
    shape: &FileShape,
) -> (WriterProperties, Vec<Option<ChunkSettings>>) {
    let zstd_level = ZstdLevel::try_new(options.zstd_level).unwrap_or_default();
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(None)
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: 0,
            descending: false,
            nulls_first: false,
        }]))
        .set_created_by(concat!("loglake ", env!("CARGO_PKG_VERSION")).into());
    let mut dictionary_columns = Vec::new();
    // The file schema is the data columns of `COLUMNS`, in the same order.
    for ((field, column), &bytes) in file_schema()
        .fields()
        .iter()
        .zip(COLUMNS)
        .zip(&shape.column_bytes)
    {
        let name = column.name;
        debug_assert_eq!(field.name(), name);
        let path = ColumnPath::from(name);
        let compress = column.storage.compressed && bytes >= ZSTD_MIN_COLUMN_BYTES;
        let ours = options.encoder == ParquetEncoder::Loglake;
        if ours && is_dictionary_type(field.data_type()) && !column.storage.delta {
            dictionary_columns.push(Some(ChunkSettings {
                compression: match compress {
                    true => Compression::ZSTD(zstd_level),
                    false => Compression::UNCOMPRESSED,
                },
                statistics: column.storage.statistics,
            }));
            // parquet-rs's writer for this column is made and dropped unused: keep it cheap.
            builder = builder
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_statistics_enabled(path, EnabledStatistics::None);
            continue;
        }
        dictionary_columns.push(None);
        if compress {
            builder = builder.set_column_compression(path.clone(), Compression::ZSTD(zstd_level));
        }
        if column.storage.delta {
            builder = builder
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_encoding(path.clone(), parquet::basic::Encoding::DELTA_BINARY_PACKED);
        }
        if !column.storage.statistics {
            builder = builder.set_column_statistics_enabled(path, EnabledStatistics::None);
        }
    }
    (builder.build(), dictionary_columns)
}

/// Rows per row group so that a group holds about `row_group_bytes` of values (at least one
/// row): Athena splits its work by row group, and ~128 MB is its sweet spot.
fn rows_per_row_group(row_group_bytes: usize, shape: &FileShape) -> usize {
    let bytes: usize = shape.column_bytes.iter().sum();
    let bytes_per_row = bytes.div_ceil(shape.rows.max(1)).max(1);
    (row_group_bytes / bytes_per_row).max(1)
}

/// The bytes of a column's non-null values: string bytes, or the width of fixed-size values.
/// Counted on the values a slice covers, not on the buffers it shares with its parent.
fn value_bytes(column: &dyn arrow::array::Array) -> usize {
    let values = column.len() - column.null_count();
    match column.as_string_opt::<i32>() {
        Some(strings) => {
            let offsets = strings.value_offsets();
            (offsets[offsets.len() - 1] - offsets[0]) as usize
        }
        None => values * column.data_type().primitive_width().unwrap_or(1),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use arrow::array::{Array, ArrayRef, Float64Array, Int16Array, Int64Array, StringArray};
    use arrow::compute::concat_batches;
    use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
    use parquet::file::metadata::PageIndexPolicy;
    use parquet::file::statistics::Statistics;

    use loglake_decode::{Decoder, DecoderOptions};

    /// Batches of the bundled sample, with string columns replaced by `replace` (column name,
    /// row → value), so odd shapes reach every string column.
    fn sample_with(
        rows: usize,
        replace: &dyn Fn(&str, usize) -> Option<Option<String>>,
    ) -> RecordBatch {
        let sample = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../sample/access.log"
        ))
        .unwrap();
        let mut decoder = Decoder::new("sample", DecoderOptions::default());
        let mut batches = Vec::new();
        while batches.iter().map(RecordBatch::num_rows).sum::<usize>() < rows {
            let mut rest = sample.as_slice();
            while !rest.is_empty() {
                rest = &rest[decoder.decode(rest)..];
                batches.extend(decoder.flush().map(|b| b.rows));
            }
        }
        let batch = concat_batches(&file_schema(), &batches)
            .unwrap()
            .slice(0, rows);
        let columns: Vec<ArrayRef> = file_schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(field, column)| match replace(field.name(), 0) {
                Some(_) => Arc::new(
                    (0..rows)
                        .map(|row| replace(field.name(), row).unwrap())
                        .collect::<StringArray>(),
                ) as ArrayRef,
                None => column.clone(),
            })
            .collect();
        RecordBatch::try_new(file_schema(), columns).unwrap()
    }

    fn write(batches: &[RecordBatch], options: &FileOptions) -> bytes::Bytes {
        let mut out = Vec::new();
        let mut writer = SortedFileWriter::new(&mut out, options, &FileShape::of(batches)).unwrap();
        for batch in batches {
            writer.write(batch).unwrap();
        }
        writer.close().unwrap();
        out.into()
    }

    fn read(file: bytes::Bytes) -> (RecordBatch, parquet::file::metadata::ParquetMetaData) {
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
        let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(file, options).unwrap();
        let metadata = reader.metadata().as_ref().clone();
        let batches: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
        (concat_batches(&file_schema(), &batches).unwrap(), metadata)
    }

    /// Writes `batch` as one file, handed over in slices of `piece_rows` rows, and reads it back.
    fn round_trip_in_pieces(
        batch: &RecordBatch,
        piece_rows: usize,
    ) -> (RecordBatch, parquet::file::metadata::ParquetMetaData) {
        let rows = batch.num_rows();
        let pieces: Vec<RecordBatch> = (0..rows)
            .step_by(piece_rows)
            .map(|start| batch.slice(start, piece_rows.min(rows - start)))
            .collect();
        read(write(&pieces, &FileOptions::default()))
    }

    /// Each column chunk's (name, codec, min, max, null count), row group by row group.
    type ChunkFacts = (
        String,
        Compression,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<u64>,
    );

    fn chunk_facts(metadata: &parquet::file::metadata::ParquetMetaData) -> Vec<ChunkFacts> {
        metadata
            .row_groups()
            .iter()
            .flat_map(|group| group.columns())
            .map(|chunk| {
                let statistics = chunk.statistics();
                (
                    chunk.column_path().string(),
                    chunk.compression(),
                    statistics.and_then(|s| s.min_bytes_opt().map(<[u8]>::to_vec)),
                    statistics.and_then(|s| s.max_bytes_opt().map(<[u8]>::to_vec)),
                    statistics.and_then(Statistics::null_count_opt),
                )
            })
            .collect()
    }

    #[test]
    fn both_encoders_write_the_same_rows_and_statistics() {
        // Unique long paths pass the dictionary limit; user names have nulls and non-ASCII text.
        let batch = sample_with(12_000, &|name, row| match name {
            "path" => Some(Some(format!("/{row:08}/{}", "x".repeat(60)))),
            "remote_user" => Some((row % 3 == 0).then(|| ["Größe", "a", "z"][row % 9 / 3].into())),
            _ => None,
        });
        let stock = FileOptions {
            encoder: ParquetEncoder::Arrow,
            ..FileOptions::default()
        };
        for piece_rows in [batch.num_rows(), 777] {
            let pieces: Vec<RecordBatch> = (0..batch.num_rows())
                .step_by(piece_rows)
                .map(|start| batch.slice(start, piece_rows.min(batch.num_rows() - start)))
                .collect();
            let (ours_rows, ours) = read(write(&pieces, &FileOptions::default()));
            let (stock_rows, stock) = read(write(&pieces, &stock));
            assert_eq!(ours_rows, batch);
            assert_eq!(stock_rows, batch);
            let (ours, stock) = (chunk_facts(&ours), chunk_facts(&stock));
            assert_eq!(ours.len(), file_schema().fields().len());
            for (ours, stock) in ours.iter().zip(&stock) {
                assert_eq!(ours, stock, "pieces of {piece_rows} rows");
            }
        }
        assert_eq!("arrow".parse(), Ok(ParquetEncoder::Arrow));
        assert_eq!("loglake".parse(), Ok(ParquetEncoder::Loglake));
        assert!("fast".parse::<ParquetEncoder>().is_err());
    }

    #[test]
    fn string_columns_of_every_shape_read_back_as_written() {
        // path: unique and long enough to pass the dictionary limit (PLAIN pages); remote_user:
        // nulls and runs; query: all null; vhost: one value (keys of zero bits); referrer:
        // runs longer than a page; method: runs of every length (1, 3, 5, ... rows), so RLE runs
        // start at every offset within a bit-packed group; ua_name: empty strings and non-ASCII.
        let rows = 3 * dictionary_chunk::PAGE_ROWS / 2;
        let shapes = |column: &str, row: usize| -> Option<Option<String>> {
            Some(match column {
                "path" => Some(format!("/{row:08}/{}", "x".repeat(60))),
                "remote_user" => (row % 3 != 0).then(|| format!("user{}", row / 10)),
                "query" => None,
                "vhost" => Some("example.org".into()),
                "referrer" => Some(format!("https://r/{}", row / 25_000)),
                "method" => Some(format!("M{}", row.isqrt() % 50)),
                "ua_name" => Some(["", "Größe", "x"][row % 3].into()),
                _ => return None,
            })
        };
        let batch = sample_with(rows, &shapes);
        let (read_back, metadata) = round_trip_in_pieces(&batch, 7_000);
        assert_eq!(read_back, batch);
        assert!(metadata.offset_index().is_some());

        let row_group = metadata.row_group(0);
        let chunk = |name: &str| row_group.column(file_schema().index_of(name).unwrap());
        let path = chunk("path");
        assert!(
            path.dictionary_page_offset().is_none(),
            "PLAIN past the dictionary limit"
        );
        assert!(matches!(path.compression(), Compression::ZSTD(_)));
        assert!(chunk("referrer").dictionary_page_offset().is_some());
        let Some(Statistics::ByteArray(stats)) = chunk("remote_user").statistics().cloned() else {
            panic!("remote_user has no statistics");
        };
        let users = batch["remote_user"].as_string::<i32>();
        let values = || users.iter().flatten();
        assert_eq!(
            stats.min_opt().unwrap().data(),
            values().min().unwrap().as_bytes()
        );
        assert_eq!(
            stats.max_opt().unwrap().data(),
            values().max().unwrap().as_bytes()
        );
        assert_eq!(stats.null_count_opt(), Some(users.null_count() as u64));
    }

    #[test]
    fn numbers_of_every_shape_read_back_as_written() {
        // bytes_sent: unique past the dictionary limit (PLAIN pages), with nulls and the extreme
        // values; request_time_ms: a dictionary with nulls, NaN, -0.0 and 0.0; status: runs of
        // every length.
        let rows = dictionary_chunk::DICTIONARY_PAGE_LIMIT / 8 + 9_000;
        let bytes_sent: Int64Array = (0..rows)
            .map(|row| match row {
                7 => Some(i64::MIN),
                8 => Some(i64::MAX),
                _ if row % 50 == 0 => None,
                _ => Some(row as i64 * 7 - 100_000),
            })
            .collect();
        let request_time_ms: Float64Array = (0..rows)
            .map(|row| match row % 13 {
                0 => None,
                1 => Some(f64::NAN),
                2 => Some(-0.0),
                3 => Some(0.0),
                _ => Some((row % 997) as f64 * 0.25 - 10.0),
            })
            .collect();
        let status: Int16Array = (0..rows)
            .map(|row| [200, 304, 404, 500][row.isqrt() % 4])
            .collect();
        let mut batch = sample_with(rows, &|_, _| None);
        for (name, column) in [
            ("bytes_sent", Arc::new(bytes_sent) as ArrayRef),
            ("request_time_ms", Arc::new(request_time_ms)),
            ("status", Arc::new(status)),
        ] {
            let mut columns = batch.columns().to_vec();
            columns[file_schema().index_of(name).unwrap()] = column;
            batch = RecordBatch::try_new(file_schema(), columns).unwrap();
        }
        let (read_back, metadata) = round_trip_in_pieces(&batch, 30_000);
        assert_eq!(read_back, batch);

        let row_group = metadata.row_group(0);
        let chunk = |name: &str| row_group.column(file_schema().index_of(name).unwrap());
        assert!(
            chunk("bytes_sent").dictionary_page_offset().is_none(),
            "PLAIN past the dictionary limit"
        );
        assert!(chunk("request_time_ms").dictionary_page_offset().is_some());
        assert!(chunk("status").dictionary_page_offset().is_some());
        let Some(Statistics::Int64(bytes)) = chunk("bytes_sent").statistics() else {
            panic!("bytes_sent has no statistics");
        };
        assert_eq!(bytes.min_opt(), Some(&i64::MIN));
        assert_eq!(bytes.max_opt(), Some(&i64::MAX));
        assert_eq!(
            bytes.null_count_opt(),
            Some(batch["bytes_sent"].null_count() as u64)
        );
        let Some(Statistics::Double(times)) = chunk("request_time_ms").statistics() else {
            panic!("request_time_ms has no statistics");
        };
        assert_eq!(times.min_opt(), Some(&-10.0));
        assert_eq!(times.max_opt(), Some(&(996.0 * 0.25 - 10.0)));
        let Some(Statistics::Int32(codes)) = chunk("status").statistics() else {
            panic!("status has no statistics");
        };
        assert_eq!((codes.min_opt(), codes.max_opt()), (Some(&200), Some(&500)));
    }

    #[test]
    fn row_groups_hold_about_the_bytes_asked_for() {
        let batch = sample_with(1_000, &|_, _| None);
        let options = FileOptions {
            row_group_bytes: 64 << 10,
            ..FileOptions::default()
        };
        let (read_back, metadata) = read(write(std::slice::from_ref(&batch), &options));
        assert_eq!(read_back, batch);
        assert!(metadata.num_row_groups() > 1);
        let rows: i64 = metadata.row_groups().iter().map(|g| g.num_rows()).sum();
        assert_eq!(rows, 1_000);
    }
}
