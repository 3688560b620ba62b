//! Merging lake files: several Parquet files of one partition into one file sorted by `ts`, what
//! compaction does to an hour's small files.
//!
//! Streaming: a k-way merge holds one batch per input, not the inputs. It needs sorted inputs;
//! our own files say they are sorted in their metadata, files written by others (Firehose's
//! format conversion writes rows in arrival order) are sorted one at a time into a hidden file
//! beside the output first. Inputs are read by column name and cast to the lake's types, so
//! Firehose's files (INT96 timestamps, its column order) merge with ours.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, AsArray, RecordBatch, TimestampMicrosecondArray};
use arrow::compute::{cast, interleave_record_batch};
use arrow::datatypes::{
    DataType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow::datatypes::{Field, Schema};
use arrow::error::ArrowError;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use crate::lake::{io_error, is_stream_record, write_sorted_parquet, LakeError, LakeOptions};
use crate::parquet_file::{FileShape, SortedFileWriter};
use loglake_schema::file_schema;

/// Rows read from an input at a time, at most; with many inputs, fewer, so that the batches held
/// at once stay near [`MERGE_ROWS_IN_MEMORY`].
const READ_BATCH_ROWS: usize = 8192;
const MERGE_ROWS_IN_MEMORY: usize = 1 << 20;

/// What [`merge_files`] wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MergeSummary {
    /// Rows read from the inputs, and rows written (fewer when `keep` dropped some).
    pub rows_in: u64,
    pub rows_out: u64,
    /// The distinct `source` values of the rows written that name files (see
    /// [`is_stream_record`]): what a replay of a source needs to find.
    pub sources: BTreeSet<String>,
    /// Where the rows written of each input came from, in the order of the inputs.
    pub inputs: Vec<RowOrigins>,
}

/// Each Kinesis shard's first and last sequence numbers among some rows:
/// `kinesis:STREAM/SHARD` to `(first, last)`.
pub type StreamHulls = BTreeMap<String, (String, String)>;

/// Where some rows came from, as compaction compares files: the files among their sources by
/// name, and their Kinesis records as each shard's first and last sequence numbers (an hour
/// holds millions of records; a batch is a run of one shard's).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RowOrigins {
    pub files: BTreeSet<String>,
    pub streams: StreamHulls,
}

impl RowOrigins {
    pub fn add(&mut self, source: &str) {
        match shard_and_sequence(source) {
            Some((shard, sequence)) => match self.streams.get_mut(shard) {
                None => {
                    self.streams
                        .insert(shard.into(), (sequence.into(), sequence.into()));
                }
                Some((first, last)) => {
                    if sequence_cmp(sequence, first).is_lt() {
                        *first = sequence.into();
                    } else if sequence_cmp(sequence, last).is_gt() {
                        *last = sequence.into();
                    }
                }
            },
            // Looked up before the insert: no string made for a source already there.
            None if !is_stream_record(source) && !self.files.contains(source) => {
                self.files.insert(source.into());
            }
            None => {}
        }
    }

    /// Adds the sources of a batch's rows.
    fn add_batch(&mut self, batch: &RecordBatch) {
        let Some(strings) = (batch.column_by_name("source")).and_then(|c| c.as_string_opt::<i32>())
        else {
            return;
        };
        let mut previous: Option<&str> = None;
        for source in strings.iter().flatten() {
            // Rows of one source come in runs: one look-up a run.
            if previous != Some(source) {
                self.add(source);
            }
            previous = Some(source);
        }
    }
}

/// Kinesis sequence numbers are decimal strings without leading zeros: the longer is larger.
pub fn sequence_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The shard (`kinesis:STREAM/SHARD`) and sequence number of a Kinesis record's source.
pub fn shard_and_sequence(source: &str) -> Option<(&str, &str)> {
    source
        .starts_with("kinesis:")
        .then(|| source.rsplit_once('/'))
        .flatten()
}

/// Merges `inputs` (Parquet files of one partition) into `output`, sorted by `ts`, keeping the
/// rows `keep` returns of each batch read. `output` appears whole or not at all (written to a
/// hidden file and renamed), and may be one of the inputs.
pub fn merge_files(
    inputs: &[PathBuf],
    output: &Path,
    options: &LakeOptions,
    keep: &dyn Fn(RecordBatch) -> Result<RecordBatch, ArrowError>,
) -> Result<MergeSummary, LakeError> {
    let file_name = output.file_name().unwrap_or_default().to_string_lossy();
    let hidden = |what: &str| output.with_file_name(format!(".{file_name}.{what}.tmp"));
    let mut sorted_copies = Vec::new();
    let result = (|| {
        let mut summary = MergeSummary {
            inputs: vec![RowOrigins::default(); inputs.len()],
            ..MergeSummary::default()
        };
        let mut cursors = Vec::new();
        let batch_rows = (MERGE_ROWS_IN_MEMORY / inputs.len().max(1)).clamp(1024, READ_BATCH_ROWS);
        for (i, input) in inputs.iter().enumerate() {
            let (declared_sorted, rows) = describe(input)?;
            summary.rows_in += rows;
            let path = if declared_sorted {
                input.clone()
            } else {
                // One unsorted input in memory at a time, sorted into a file of our own
                // (its cursor applies `keep`).
                let copy = hidden(&format!("sorted-{i}"));
                let batches = read_all(input)?;
                write_sorted_parquet(&copy, &batches, options)?;
                sorted_copies.push(copy.clone());
                copy
            };
            if let Some(cursor) = Cursor::open(&path, i, batch_rows, keep)? {
                cursors.push(cursor);
            }
        }
        let samples: Vec<RecordBatch> = cursors.iter().map(|c| c.batch.clone()).collect();
        let tmp = hidden("merge");
        let file = fs::File::create(&tmp).map_err(io_error(&tmp))?;
        let parquet_error = |source| LakeError::Parquet {
            path: output.to_path_buf(),
            source,
        };
        let shape = FileShape::scaled(&samples, summary.rows_in as usize);
        let mut writer =
            SortedFileWriter::new(file, &options.file, &shape).map_err(parquet_error)?;
        let mut finished = Vec::new();
        while let Some(batch) = next_merged(&mut cursors, keep, &mut finished)? {
            summary.rows_out += batch.num_rows() as u64;
            writer.write(&batch).map_err(parquet_error)?;
        }
        writer.close().map_err(parquet_error)?;
        for cursor in finished {
            summary.sources.extend(cursor.origins.files.iter().cloned());
            summary.inputs[cursor.input] = cursor.origins;
        }
        fs::rename(&tmp, output).map_err(io_error(output))?;
        Ok(summary)
    })();
    for copy in sorted_copies {
        let _ = fs::remove_file(copy);
    }
    if result.is_err() {
        let _ = fs::remove_file(hidden("merge"));
    }
    result
}

/// Whether a file says it is sorted by `ts` (as the lake writer's files do), and its rows.
fn describe(path: &Path) -> Result<(bool, u64), LakeError> {
    let builder = open(path)?;
    let metadata = builder.metadata();
    let ts_first = builder
        .schema()
        .fields()
        .first()
        .is_some_and(|f| f.name() == "ts");
    let sorted = ts_first
        && metadata.row_groups().iter().all(|group| {
            group
                .sorting_columns()
                .and_then(|columns| columns.first())
                .is_some_and(|c| c.column_idx == 0 && !c.descending)
        });
    Ok((sorted, metadata.file_metadata().num_rows().max(0) as u64))
}

/// Where a file's rows came from; only the `source` column is read, as a dictionary: values are
/// looked at once per dictionary, not once a row.
pub fn read_origins(path: &Path) -> Result<RowOrigins, LakeError> {
    let parquet_error = |source| LakeError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    // The footer is read once: for the column's place, then for the reader.
    let file = fs::File::open(path).map_err(io_error(path))?;
    let metadata =
        ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(parquet_error)?;
    let Some(column) = metadata
        .parquet_schema()
        .columns()
        .iter()
        .position(|c| c.name() == "source")
    else {
        return Ok(RowOrigins::default());
    };
    let as_dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let fields: Vec<Field> = (metadata.schema().fields().iter())
        .map(
            |f| match f.name() == "source" && f.data_type() == &DataType::Utf8 {
                true => f.as_ref().clone().with_data_type(as_dictionary.clone()),
                false => f.as_ref().clone(),
            },
        )
        .collect();
    let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(fields)));
    let metadata = ArrowReaderMetadata::try_new(metadata.metadata().clone(), options)
        .map_err(parquet_error)?;
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata);
    let mask = ProjectionMask::leaves(builder.parquet_schema(), [column]);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(READ_BATCH_ROWS)
        .build()
        .map_err(parquet_error)?;
    let mut origins = RowOrigins::default();
    let mut last_values: Option<ArrayRef> = None;
    for batch in reader {
        let batch = batch?;
        let values = match batch.column(0).as_any_dictionary_opt() {
            Some(dictionary) => dictionary.values().clone(),
            None => batch.column(0).clone(),
        };
        // Batches of one column chunk share its dictionary.
        if last_values
            .as_ref()
            .is_some_and(|v| Arc::ptr_eq(v, &values))
        {
            continue;
        }
        if let Some(strings) = values.as_string_opt::<i32>() {
            strings
                .iter()
                .flatten()
                .for_each(|source| origins.add(source));
        }
        last_values = Some(values);
    }
    Ok(origins)
}

fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<fs::File>, LakeError> {
    let file = fs::File::open(path).map_err(io_error(path))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| LakeError::Parquet {
        path: path.to_path_buf(),
        source,
    })
}

fn reader(path: &Path, batch_rows: usize) -> Result<ParquetRecordBatchReader, LakeError> {
    open(path)?
        .with_batch_size(batch_rows)
        .build()
        .map_err(|source| LakeError::Parquet {
            path: path.to_path_buf(),
            source,
        })
}

fn read_all(path: &Path) -> Result<Vec<RecordBatch>, LakeError> {
    let mut batches = Vec::new();
    for batch in reader(path, READ_BATCH_ROWS)? {
        batches.push(to_file_schema(batch?)?);
    }
    Ok(batches)
}

/// A batch of any lake-like file in the lake's file schema: columns found by name and cast to
/// the lake's types; a nullable column the file lacks is null.
pub fn to_file_schema(batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = file_schema();
    if batch.schema() == schema {
        return Ok(batch);
    }
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) if column.data_type() == field.data_type() => Ok(column.clone()),
            Some(column) => match (column.data_type(), field.data_type()) {
                (
                    DataType::Timestamp(unit, _),
                    DataType::Timestamp(TimeUnit::Microsecond, zone),
                ) => Ok(micros(column, *unit, zone.clone())),
                (_, to) => cast(column, to),
            },
            None if field.is_nullable() => Ok(new_null_array(field.data_type(), batch.num_rows())),
            None => Err(ArrowError::SchemaError(format!(
                "the file has no column {}",
                field.name()
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema, columns)
}

/// A timestamp column in microseconds in `zone`. By hand, not `cast`: arrow casts to a named
/// zone only with the tz database built in, and every unit is a plain multiple of another.
fn micros(column: &ArrayRef, unit: TimeUnit, zone: Option<Arc<str>>) -> ArrayRef {
    let values = |scale: &dyn Fn(i64) -> i64| -> TimestampMicrosecondArray {
        let ticks = match unit {
            TimeUnit::Second => column.as_primitive::<TimestampSecondType>().unary(scale),
            TimeUnit::Millisecond => column
                .as_primitive::<TimestampMillisecondType>()
                .unary(scale),
            TimeUnit::Microsecond => column
                .as_primitive::<TimestampMicrosecondType>()
                .unary(scale),
            TimeUnit::Nanosecond => column
                .as_primitive::<TimestampNanosecondType>()
                .unary(scale),
        };
        ticks.with_timezone_opt(zone.clone())
    };
    Arc::new(match unit {
        TimeUnit::Second => values(&|t| t.saturating_mul(1_000_000)),
        TimeUnit::Millisecond => values(&|t| t.saturating_mul(1_000)),
        TimeUnit::Microsecond => values(&|t| t),
        TimeUnit::Nanosecond => values(&|t| t.div_euclid(1_000)),
    })
}

/// One sorted input being merged: its reader, the rows of its current batch not yet taken, and
/// where the rows it gave came from.
struct Cursor {
    reader: ParquetRecordBatchReader,
    batch: RecordBatch,
    offset: usize,
    /// Which input this is.
    input: usize,
    origins: RowOrigins,
}

impl Cursor {
    /// `None` for an input with no rows left after `keep`.
    fn open(
        path: &Path,
        input: usize,
        batch_rows: usize,
        keep: &dyn Fn(RecordBatch) -> Result<RecordBatch, ArrowError>,
    ) -> Result<Option<Self>, LakeError> {
        let mut cursor = Cursor {
            reader: reader(path, batch_rows)?,
            batch: RecordBatch::new_empty(file_schema()),
            offset: 0,
            input,
            origins: RowOrigins::default(),
        };
        Ok(cursor.refill(keep)?.then_some(cursor))
    }

    /// Moves to the next batch with rows when this one is used up; `false` at the end.
    fn refill(
        &mut self,
        keep: &dyn Fn(RecordBatch) -> Result<RecordBatch, ArrowError>,
    ) -> Result<bool, LakeError> {
        while self.offset == self.batch.num_rows() {
            match self.reader.next() {
                None => return Ok(false),
                Some(batch) => {
                    self.batch = keep(to_file_schema(batch?)?)?;
                    self.origins.add_batch(&self.batch);
                    self.offset = 0;
                }
            }
        }
        Ok(true)
    }

    fn ts(&self) -> &[i64] {
        &self
            .batch
            .column(0)
            .as_primitive::<TimestampMicrosecondType>()
            .values()[self.offset..]
    }
}

/// The next rows in `ts` order: every row of the current batches up to the earliest of their
/// last timestamps (no row still unread can come before those). `None` when all are read.
/// Cursors at their input's end move to `finished`.
fn next_merged(
    cursors: &mut Vec<Cursor>,
    keep: &dyn Fn(RecordBatch) -> Result<RecordBatch, ArrowError>,
    finished: &mut Vec<Cursor>,
) -> Result<Option<RecordBatch>, LakeError> {
    let mut live = Vec::with_capacity(cursors.len());
    for mut cursor in cursors.drain(..) {
        if cursor.refill(keep)? {
            live.push(cursor);
        } else {
            finished.push(cursor);
        }
    }
    *cursors = live;
    let Some(bound) = cursors.iter().filter_map(|c| c.ts().last().copied()).min() else {
        return Ok(None);
    };
    let mut slices = Vec::new();
    for cursor in cursors.iter_mut() {
        let take = cursor.ts().partition_point(|&t| t <= bound);
        if take > 0 {
            slices.push(cursor.batch.slice(cursor.offset, take));
            cursor.offset += take;
        }
    }
    if slices.len() == 1 {
        return Ok(slices.pop());
    }
    let mut order: Vec<(i64, usize, usize)> = Vec::new();
    for (s, slice) in slices.iter().enumerate() {
        let ts = slice.column(0).as_primitive::<TimestampMicrosecondType>();
        order.extend(ts.values().iter().enumerate().map(|(r, &t)| (t, s, r)));
    }
    order.sort_by_key(|&(t, _, _)| t);
    let indices: Vec<(usize, usize)> = order.iter().map(|&(_, s, r)| (s, r)).collect();
    let refs: Vec<&RecordBatch> = slices.iter().collect();
    Ok(Some(interleave_record_batch(&refs, &indices)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::{LakeWriter, TimeRange};
    use arrow::array::BooleanArray;
    use arrow::compute::filter_record_batch;
    use arrow::datatypes::{Field, Schema};
    use loglake_decode::{Decoder, DecoderOptions};
    use parquet::arrow::ArrowWriter;

    fn decode(source: &str, input: &str) -> Vec<RecordBatch> {
        let mut decoder = Decoder::new(source, DecoderOptions::default());
        let mut rest = input.as_bytes();
        let mut out = Vec::new();
        while !rest.is_empty() {
            rest = &rest[decoder.decode(rest)..];
            out.extend(decoder.flush().map(|b| b.rows));
        }
        out
    }

    fn lines(minutes: &[u32]) -> String {
        minutes
            .iter()
            .map(|m| {
                format!("1.2.3.4 - - [10/Oct/2020:10:{m:02}:00 +0000] \"GET /m{m} HTTP/1.1\" 200 1 \"-\" \"curl/8\"\n")
            })
            .collect()
    }

    /// (ts, source, source_line) of every row of a file, in file order.
    fn rows_of(path: &Path) -> Vec<(i64, String, i64)> {
        let mut rows = Vec::new();
        for batch in reader(path, READ_BATCH_ROWS).unwrap() {
            let batch = to_file_schema(batch.unwrap()).unwrap();
            let ts = batch.column(0).as_primitive::<TimestampMicrosecondType>();
            let source = batch["source"].as_string::<i32>();
            let line = batch["source_line"].as_primitive::<arrow::datatypes::Int64Type>();
            for r in 0..batch.num_rows() {
                rows.push((ts.value(r), source.value(r).to_string(), line.value(r)));
            }
        }
        rows
    }

    /// A file as another writer would make it: rows in arrival order, nanosecond timestamps
    /// without a zone, columns in another order, a nullable column left out, nothing declared.
    fn write_foreign(path: &Path, batches: &[RecordBatch]) {
        let mut fields: Vec<Field> = Vec::new();
        let mut columns = Vec::new();
        for (i, field) in file_schema().fields().iter().enumerate().rev() {
            if field.name() == "referrer" {
                continue;
            }
            let column: Vec<_> = batches.iter().map(|b| b.column(i).clone()).collect();
            let column =
                arrow::compute::concat(&column.iter().map(|c| c.as_ref()).collect::<Vec<_>>())
                    .unwrap();
            if field.name() == "ts" {
                let ns = DataType::Timestamp(TimeUnit::Nanosecond, None);
                columns.push(cast(&column, &ns).unwrap());
                fields.push(Field::new("ts", ns, false));
            } else {
                columns.push(column);
                fields.push(field.as_ref().clone());
            }
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        // Reversed: out of time order.
        let reversed = arrow::compute::take_record_batch(
            &batch,
            &arrow::array::UInt32Array::from_iter_values((0..batch.num_rows() as u32).rev()),
        )
        .unwrap();
        let mut writer =
            ArrowWriter::try_new(fs::File::create(path).unwrap(), reversed.schema(), None).unwrap();
        writer.write(&reversed).unwrap();
        writer.close().unwrap();
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert!(sequence_cmp("9", "10").is_lt());
        assert!(sequence_cmp("4959", "4960").is_lt());
        assert!(sequence_cmp("11", "11").is_eq());
        let mut origins = RowOrigins::default();
        for sequence in ["120", "99", "1000", "101"] {
            origins.add(&format!("kinesis:web/shardId-000000000000/{sequence}"));
        }
        let hull = &origins.streams["kinesis:web/shardId-000000000000"];
        assert_eq!(hull, &("99".to_string(), "1000".to_string()));
    }

    fn origins_of(files: &[&str]) -> RowOrigins {
        RowOrigins {
            files: files.iter().map(|f| f.to_string()).collect(),
            ..RowOrigins::default()
        }
    }

    fn write_lake_file(root: &Path, source: &str, input: &str) -> PathBuf {
        let mut writer = LakeWriter::new(root, source, LakeOptions::default())
            .with_cleanup_range(TimeRange::default());
        for batch in decode(source, input) {
            writer.write(&batch).unwrap();
        }
        let files = writer.finish().unwrap().files;
        assert_eq!(files.len(), 1);
        files[0].clone()
    }

    #[test]
    fn merges_sorted_and_foreign_files_into_one_sorted_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_lake_file(dir.path(), "/logs/a.log", &lines(&[1, 5, 5, 9, 30]));
        let b = write_lake_file(dir.path(), "/logs/b.log", &lines(&[0, 5, 7, 59]));
        let foreign = dir.path().join("firehose-1");
        write_foreign(
            &foreign,
            &decode("kinesis:stream/shard-1", &lines(&[3, 40, 2, 8])),
        );
        let output = a.with_file_name("compacted-test.parquet");
        let inputs = [a.clone(), b.clone(), foreign.clone()];
        let summary = merge_files(&inputs, &output, &LakeOptions::default(), &Ok).unwrap();

        let mut expected: Vec<(i64, String, i64)> =
            inputs.iter().flat_map(|p| rows_of(p)).collect();
        let merged = rows_of(&output);
        assert_eq!(summary.rows_in, 13);
        assert_eq!(summary.rows_out, 13);
        assert!(merged.windows(2).all(|w| w[0].0 <= w[1].0), "sorted");
        expected.sort();
        let mut sorted_merged = merged.clone();
        sorted_merged.sort();
        assert_eq!(sorted_merged, expected, "the same rows");
        assert_eq!(
            summary.sources.iter().collect::<Vec<_>>(),
            ["/logs/a.log", "/logs/b.log"],
            "a stream record's rows are not a replayable source"
        );
        // Where each input's rows came from, and the output's, read back from it.
        let origins = read_origins(&output).unwrap();
        assert_eq!(origins.files, summary.sources);
        let shard = (
            "kinesis:stream".to_string(),
            ("shard-1".into(), "shard-1".into()),
        );
        assert_eq!(origins.streams, StreamHulls::from([shard]));
        assert_eq!(summary.inputs[0], origins_of(&["/logs/a.log"]));
        assert_eq!(summary.inputs[1], origins_of(&["/logs/b.log"]));
        assert_eq!(summary.inputs[2].streams, origins.streams);
        // The output says it is sorted, so merging it again streams it; no hidden file is left.
        assert_eq!(describe(&output).unwrap(), (true, 13));
        let leftovers: Vec<_> = fs::read_dir(output.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn keep_drops_rows_and_an_output_may_replace_its_input() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_lake_file(dir.path(), "/logs/a.log", &lines(&[1, 2]));
        let b = write_lake_file(dir.path(), "/logs/b.log", &lines(&[3]));
        let merged = a.with_file_name("compacted-x.parquet");
        merge_files(&[a, b], &merged, &LakeOptions::default(), &Ok).unwrap();
        let without_a = |batch: RecordBatch| {
            let source = batch["source"].as_string::<i32>();
            let keep: BooleanArray = source
                .iter()
                .map(|s| Some(s != Some("/logs/a.log")))
                .collect();
            filter_record_batch(&batch, &keep)
        };
        let summary = merge_files(
            std::slice::from_ref(&merged),
            &merged,
            &LakeOptions::default(),
            &without_a,
        )
        .unwrap();
        assert_eq!((summary.rows_in, summary.rows_out), (3, 1));
        assert_eq!(rows_of(&merged).len(), 1);
        assert_eq!(rows_of(&merged)[0].1, "/logs/b.log");
    }
}
