//! `loglake query`: a shipped report, on the local lake with DataFusion or on Athena.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::compute::{cast, filter_record_batch, BatchCoalescer};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::datatypes::{self, DataType};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::{collect, ExecutionPlan};
use datafusion::prelude::{col, lit, SessionConfig, SessionContext};
use futures::StreamExt;
use loglake_backfill::Location;
use loglake_queries::athena::{self, AthenaTarget, PollPolicy};
use loglake_queries::dashboard::{Period, OVERVIEW_REPORTS};
use loglake_queries::{
    for_datafusion, Cell, DateRange, QueryError, Report, ResultTable, SqlSettings, DDL, UNIQUE_VIEW,
};

use crate::s3_store::S3Store;

/// Where a report runs.
#[derive(Clone)]
pub enum Engine {
    /// DataFusion over `LAKE/access_logs/dt=…/hour=…/*.parquet`; with a `zone` (an IANA name),
    /// the reports' days and hours are that zone's ([`Clock::Zoned`]).
    Local {
        lake: PathBuf,
        zone: Option<String>,
    },
    Athena(AthenaTarget),
}

/// What a run produced, and what to tell the user about it on stderr.
pub struct QueryOutcome {
    pub table: ResultTable,
    pub note: String,
}

/// Runs `report` over `range` with `settings`.
pub fn run(
    report: &Report,
    range: &DateRange,
    engine: &Engine,
    settings: &SqlSettings,
) -> anyhow::Result<QueryOutcome> {
    let sql = settings.sql(report);
    block_on(async {
        match engine {
            Engine::Local { lake, zone } => {
                let clock = Clock::for_reports(zone.as_deref(), range)?;
                let context = listing_context(lake, SessionConfig::new(), clock).await?;
                run_on(&context, report, &sql, range, lake).await
            }
            Engine::Athena(target) => {
                let client = athena::client_from_env().await;
                run_athena(&client, report, &sql, range, target).await
            }
        }
    })
}

/// Runs a report's `sql` over `range` on a session with the lake registered.
async fn run_on(
    context: &SessionContext,
    report: &Report,
    sql: &str,
    range: &DateRange,
    lake: &Path,
) -> anyhow::Result<QueryOutcome> {
    let started = Instant::now();
    let sql = for_datafusion(sql, range)?;
    let (plan, batches) = collect_sql(context, &sql)
        .await
        .with_context(|| format!("running {}", report.name))?;
    let table = to_result_table(&batches)?;
    let mut note = format!(
        "{}: {} rows in {} ms; read {:.3} MB of Parquet (DataFusion, {})",
        report.name,
        table.rows.len(),
        started.elapsed().as_millis(),
        bytes_scanned(plan.as_ref()) as f64 / 1e6,
        lake.display()
    );
    if let Some(fetched) = crate::s3_store::fetched() {
        note.push_str(&format!("; {fetched}"));
    }
    Ok(QueryOutcome { table, note })
}

/// A report to run over a range: on a session holding the range's rows (the local lake), or on
/// Athena (`None`).
struct Job {
    report: &'static Report,
    range: DateRange,
    session: Option<SessionContext>,
}

/// Runs each job and returns the tables in the same order, a few at a time (on the local lake,
/// or as concurrent Athena queries).
async fn run_each(
    jobs: Vec<Job>,
    engine: &Engine,
    settings: &SqlSettings,
) -> anyhow::Result<Vec<ResultTable>> {
    /// Reports in flight at once: enough to keep two cores (or Athena) busy while another is
    /// planned, few enough to bound memory, and well under Athena's concurrent-query quota.
    /// (Starting the next as soon as one ends, rather than six by six, was no faster on the
    /// page and put more of the heaviest reports in memory at once: 1.5 GB against 1.2 GB.)
    const AT_ONCE: usize = 6;
    // One client for all the queries: each new one would resolve the credentials again (on AWS,
    // a call to the instance's or the task's credential endpoint a query).
    let athena = match engine {
        Engine::Athena(_) => Some(athena::client_from_env().await),
        Engine::Local { .. } => None,
    };
    let mut tables = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter().peekable();
    while jobs.peek().is_some() {
        let mut running = tokio::task::JoinSet::new();
        for (at, job) in jobs.by_ref().take(AT_ONCE).enumerate() {
            let (sql, engine, athena) = (settings.sql(job.report), engine.clone(), athena.clone());
            running.spawn(async move {
                let outcome = match (&engine, &job.session, &athena) {
                    (Engine::Local { lake, .. }, Some(session), _) => {
                        run_on(session, job.report, &sql, &job.range, lake).await
                    }
                    (Engine::Athena(target), _, Some(client)) => {
                        run_athena(client, job.report, &sql, &job.range, target).await
                    }
                    _ => unreachable!("a local job has a session, an Athena one a client"),
                };
                (at, outcome)
            });
        }
        let mut done: Vec<Option<ResultTable>> = vec![None; running.len()];
        while let Some(finished) = running.join_next().await {
            let (at, outcome) = finished.context("a report's task")?;
            done[at] = Some(outcome?.table);
        }
        tables.extend(done.into_iter().flatten());
    }
    Ok(tables)
}

/// Plans `sql` on `context` over the lake's files as they are now and runs it to its end,
/// planning it again (twice at most) when a file it listed was gone when it came to read it: a
/// compaction (`loglake compact`, or `loglake ship`'s as an hour closes) replaces an hour's
/// files while the lake is queried.
pub async fn collect_sql(
    context: &SessionContext,
    sql: &str,
) -> datafusion::error::Result<(Arc<dyn ExecutionPlan>, Vec<RecordBatch>)> {
    let mut tries = 0;
    loop {
        // DataFusion keeps each table's listing for the session's life: files written since
        // (by `loglake ship`, say) would never be seen, and files compacted away would be read.
        if let Some(listings) = context.runtime_env().cache_manager.get_list_files_cache() {
            listings.clear();
        }
        // (planning reads the files' footers too)
        let run = async {
            let plan = context.sql(sql).await?.create_physical_plan().await?;
            let batches = collect(Arc::clone(&plan), context.task_ctx()).await?;
            Ok((plan, batches))
        };
        match run.await {
            Err(error) if tries < 2 && is_vanished_file(&error) => tries += 1,
            result => return result,
        }
    }
}

fn is_vanished_file(error: &DataFusionError) -> bool {
    match error.find_root() {
        DataFusionError::ObjectStore(error) => {
            matches!(**error, object_store::Error::NotFound { .. })
        }
        _ => false,
    }
}

/// The Parquet bytes a finished plan read (after row-group and column pruning): what the same
/// query would scan on Athena, give or take its own pruning.
fn bytes_scanned(plan: &dyn ExecutionPlan) -> usize {
    let own = plan
        .metrics()
        .and_then(|m| m.sum_by_name("bytes_scanned"))
        .map_or(0, |v| v.as_usize());
    own + plan
        .children()
        .into_iter()
        .map(|child| bytes_scanned(child.as_ref()))
        .sum::<usize>()
}

/// A DataFusion session with the lake as `access_logs`: a view over the Hive-partitioned listing
/// of its Parquet files ([`LAKE_FILES`]), the lake's file schema plus `dt` (string) and `hour`
/// (int); and the `access_logs_unique` view over it, from the same DDL as Athena's.
pub async fn local_context(lake: &Path) -> anyhow::Result<SessionContext> {
    listing_context(lake, SessionConfig::new(), Clock::Utc).await
}

/// [`local_context`] with `ts` in the time zone `zone` (an IANA name, `Europe/Paris`): the same
/// instants, shown and truncated (`date_trunc`, `date_part`) in that zone; `dt` and `hour` stay
/// the UTC folders, which filters on them still prune.
pub async fn zoned_context(lake: &Path, zone: &str) -> anyhow::Result<SessionContext> {
    let clock = Clock::ZonedTs(checked_zone(zone)?);
    listing_context(lake, SessionConfig::new(), clock).await
}

/// How the `access_logs` view tells time.
#[derive(Clone, Copy)]
enum Clock<'a> {
    /// `ts` in UTC; `dt` and `hour` the lake's UTC folders.
    Utc,
    /// `ts` in the zone; `dt` and `hour` still the UTC folders (`loglake sql --tz`).
    ZonedTs(&'a str),
    /// `ts`, `dt` and `hour` all in the zone, so that the reports, which filter and group by
    /// `dt` and `hour`, count the zone's days and hours (`loglake query|report --tz`); only the
    /// UTC folders that can hold one of the range's days there are listed.
    Zoned(&'a str, &'a DateRange),
}

impl<'a> Clock<'a> {
    /// The clock of the reports over `range`: the zone's days, or UTC's.
    fn for_reports(zone: Option<&'a str>, range: &'a DateRange) -> anyhow::Result<Self> {
        Ok(match zone {
            Some(zone) => Clock::Zoned(checked_zone(zone)?, range),
            None => Clock::Utc,
        })
    }

    /// The view's columns: the lake's file columns, then `dt` and `hour`; and the filter on the
    /// folders, if any.
    fn view_columns(self) -> (Vec<String>, Option<String>) {
        let zone = match self {
            Clock::Utc => None,
            Clock::ZonedTs(zone) | Clock::Zoned(zone, _) => Some(zone),
        };
        // `hour` is read as the folder's text (`hour=03`) and cast here: DataFusion turns
        // `hour = 3` on an integer partition column into the folder `hour=3/`, which does not
        // exist, and answered no rows for the hours 0-9; a filter on the cast is evaluated on
        // each folder's value instead, and still prunes.
        let mut columns: Vec<String> = (loglake_schema::file_schema().fields().iter())
            .map(|field| match (field.name().as_str(), zone) {
                ("ts", Some(zone)) => format!("{} AS ts", zoned_ts(zone)),
                (name, _) => format!("\"{name}\""),
            })
            .collect();
        match self {
            Clock::Utc | Clock::ZonedTs(_) => {
                columns.extend(["dt".into(), "CAST(hour AS INT) AS hour".into()]);
                (columns, None)
            }
            Clock::Zoned(zone, range) => {
                let ts = zoned_ts(zone);
                columns.push(format!("CAST(CAST({ts} AS DATE) AS VARCHAR) AS dt"));
                columns.push(format!("CAST(date_part('hour', {ts}) AS INT) AS hour"));
                let utc = range.widened_by_a_day();
                let folders = format!("{LAKE_FILES}.dt BETWEEN '{}' AND '{}'", utc.from, utc.to);
                (columns, Some(folders))
            }
        }
    }
}

/// `zone` if it is a time zone arrow knows (an IANA name or an offset), else an error naming it;
/// checked before any query, so that only a real zone goes into the view's SQL.
fn checked_zone(zone: &str) -> anyhow::Result<&str> {
    zone.parse::<Tz>()
        .map_err(|e| anyhow::anyhow!("--tz {zone:?}: {e}"))?;
    Ok(zone)
}

/// `ts` as an expression in `zone`.
fn zoned_ts(zone: &str) -> String {
    format!("arrow_cast(ts, 'Timestamp(Microsecond, Some(\"{zone}\"))')")
}

/// The listing of the lake's Parquet files under the `access_logs` view ([`listing_context`]).
pub const LAKE_FILES: &str = "lake_files";

/// [`local_context`] with `config`. `lake` may be `s3://bucket/prefix`: the lake in S3, read
/// through [`S3Store`] with the usual AWS settings.
async fn listing_context(
    lake: &Path,
    config: SessionConfig,
    clock: Clock<'_>,
) -> anyhow::Result<SessionContext> {
    // Statistics gathered from every file's footer at each plan: a third of a cheap report's
    // time over a month's 720 files (~120 ms against ~80 ms), for nothing the reports use (files
    // and row groups are still pruned by their statistics as they are opened).
    let config = config.with_collect_statistics(false);
    let context = SessionContext::new_with_config(config);
    let url = table_url(&context, lake, "access_logs")
        .await?
        .with_context(|| {
            format!(
                "no lake at {}: run `loglake ingest LOG --out {}` first",
                lake.join("access_logs").display(),
                lake.display()
            )
        })?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        // also keeps out the hidden `.NAME.parquet.tmp` files of a write in progress
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![
            ("dt".to_string(), DataType::Utf8),
            ("hour".to_string(), DataType::Utf8),
        ]);
    let table = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(loglake_schema::file_schema());
    register_functions(&context);
    context.register_table(LAKE_FILES, Arc::new(ListingTable::try_new(table)?))?;
    let (columns, folders) = clock.view_columns();
    let mut view = format!(
        "CREATE VIEW access_logs AS SELECT {} FROM {LAKE_FILES}",
        columns.join(", ")
    );
    if let Some(folders) = folders {
        view.push_str(&format!(" WHERE {folders}"));
    }
    context.sql(&view).await.context("creating access_logs")?;
    context
        .sql(unique_view_ddl())
        .await
        .context("creating the view")?;
    Ok(context)
}

/// The functions the local engine has beyond DataFusion's, or in place of them: Athena's
/// `json_extract_scalar`, and a `regexp_like` that compiles a pattern once.
fn register_functions(context: &SessionContext) {
    context.register_udf(crate::json_udf::json_extract_scalar());
    context.register_udf(crate::regex_udf::regexp_like());
}

/// Where the lake's folder `name` (`access_logs`, `rejects`) is, for a listing table on
/// `context`: in S3 (the bucket's [`S3Store`] registered on `context`, with the usual AWS
/// settings), or a local directory; `None` for a local folder that does not exist.
pub async fn table_url(
    context: &SessionContext,
    lake: &Path,
    name: &str,
) -> anyhow::Result<Option<ListingTableUrl>> {
    Ok(match Location::parse(&lake.to_string_lossy())? {
        Location::S3 { bucket, prefix } => {
            let root = match prefix.trim_matches('/') {
                "" => String::new(),
                prefix => format!("{prefix}/"),
            };
            let url = ListingTableUrl::parse(format!("s3://{bucket}/{root}{name}/"))?;
            if context.runtime_env().object_store(&url).is_err() {
                let client = loglake_backfill::s3::S3::client_from_env().await;
                let store = Arc::new(S3Store::new(client, &bucket));
                context.register_object_store(url.object_store().as_ref(), store);
            }
            Some(url)
        }
        Location::Local(_) => match lake.join(name).canonicalize() {
            Ok(dir) if dir.is_dir() => Some(ListingTableUrl::parse(format!("{}/", dir.display()))?),
            _ => None,
        },
    })
}

/// The rows of the lake that the page's reports read, in memory: only the columns their SQL
/// names and only the days of the page's periods, read once, so that its reports (35 for each
/// period) share one scan of the lake instead of each decoding its files again.
struct MemoryLake {
    schema: SchemaRef,
    /// The rows by day (`dt`), as full batches: a period's session takes its days' batches
    /// as they are, without copying or filtering the month's rows.
    days: BTreeMap<String, Vec<RecordBatch>>,
    config: SessionConfig,
    unique_view: bool,
}

impl MemoryLake {
    /// Reads the days of `days` (with `clock`'s days) of `lake` in the columns `sqls` name.
    async fn read(
        lake: &Path,
        clock: Clock<'_>,
        days: &DateRange,
        sqls: &[String],
    ) -> anyhow::Result<Self> {
        /// Files read at once: a lake's hourly files are small (a month of 1 M requests is 720
        /// files of ~50 KB), so reading waits on opening them more than on decoding; with only
        /// one file a core in flight, reading the month took 2.3–2.8 s, with eight 0.9–1.6 s.
        const FILES_AT_ONCE: usize = 8;
        let mut words: HashSet<&str> = sqls.iter().flat_map(|sql| sql_words(sql)).collect();
        let unique_view = words.contains(UNIQUE_VIEW);
        if unique_view {
            words.extend(sql_words(unique_view_ddl()));
        }
        let config = SessionConfig::new();
        let on_disk = listing_context(
            lake,
            config.clone().with_target_partitions(FILES_AT_ONCE),
            clock,
        )
        .await?;
        let table = on_disk.table("access_logs").await?;
        let columns: Vec<String> = (table.schema().fields().iter())
            .map(|field| field.name().clone())
            .filter(|name| words.contains(name.as_str()))
            .collect();
        let read = table
            .select_columns(&columns.iter().map(String::as_str).collect::<Vec<_>>())?
            .filter(col("dt").between(lit(days.from.as_str()), lit(days.to.as_str())))?;
        let schema = Arc::new(read.schema().as_arrow().clone());
        // Each day's rows regrouped into full batches as they are read (an hourly file is a
        // batch of ~1,400 rows, and each operator pays per batch), so that the files' batches
        // are freed, and their memory reused, as they come.
        let by_day = Arc::new(Mutex::new(BTreeMap::<String, BatchCoalescer>::new()));
        let mut reading = tokio::task::JoinSet::new();
        for mut files in read.execute_stream_partitioned().await? {
            let (by_day, schema) = (Arc::clone(&by_day), Arc::clone(&schema));
            let batch_size = config.batch_size();
            reading.spawn(async move {
                while let Some(batch) = files.next().await {
                    for (day, rows) in split_by_day(&batch?)? {
                        let mut by_day = by_day.lock().unwrap_or_else(|e| e.into_inner());
                        (by_day.entry(day))
                            .or_insert_with(|| BatchCoalescer::new(Arc::clone(&schema), batch_size))
                            .push_batch(rows)?;
                    }
                }
                anyhow::Ok(())
            });
        }
        while let Some(read) = reading.join_next().await {
            read.context("reading the lake")??;
        }
        let by_day = std::mem::take(&mut *by_day.lock().unwrap_or_else(|e| e.into_inner()));
        let mut days = BTreeMap::new();
        for (day, mut rows) in by_day {
            rows.finish_buffered_batch()?;
            days.insert(
                day,
                std::iter::from_fn(|| rows.next_completed_batch()).collect(),
            );
        }
        Ok(MemoryLake {
            schema,
            days,
            config,
            unique_view,
        })
    }

    /// A session whose `access_logs` (and `access_logs_unique`) hold the rows of `days`: a
    /// day's reports then go through a day's rows, not the month's.
    async fn session(&self, days: &DateRange) -> anyhow::Result<SessionContext> {
        let batches = (self.days.range(days.from.clone()..=days.to.clone()))
            .flat_map(|(_, batches)| batches.iter().cloned())
            .collect();
        let context = SessionContext::new_with_config(self.config.clone());
        register_functions(&context);
        let partitions = dealt(batches, &self.config);
        let table = MemTable::try_new(Arc::clone(&self.schema), partitions)?;
        context.register_table("access_logs", Arc::new(table))?;
        if self.unique_view {
            context
                .sql(unique_view_ddl())
                .await
                .context("creating the view")?;
        }
        Ok(context)
    }

    /// [`session`](Self::session) of the lake in memory, if there is one.
    async fn session_of(
        lake: Option<&MemoryLake>,
        days: &DateRange,
    ) -> anyhow::Result<Option<SessionContext>> {
        Ok(match lake {
            Some(lake) => Some(lake.session(days).await?),
            None => None,
        })
    }
}

/// `batch`'s rows by their day (`dt`, which the read's filter leaves on every row): an hourly
/// file's rows are of one day, or of two in a time zone whose midnight falls inside a UTC hour.
fn split_by_day(batch: &RecordBatch) -> anyhow::Result<Vec<(String, RecordBatch)>> {
    let dt = batch.column_by_name("dt").context("the rows' dt")?;
    let dt = cast(dt, &DataType::Utf8)?;
    let dt = dt.as_string::<i32>();
    let days: BTreeSet<&str> = dt.iter().flatten().collect();
    if days.len() <= 1 {
        return Ok(days
            .into_iter()
            .map(|day| (day.to_string(), batch.clone()))
            .collect());
    }
    days.into_iter()
        .map(|day| {
            let rows = filter_record_batch(batch, &eq(dt, &StringArray::new_scalar(day))?)?;
            Ok((day.to_string(), rows))
        })
        .collect()
}

/// `batches` dealt over one partition a core of `config`. (They are full batches: each operator
/// pays per batch, and an hourly file makes a batch of ~1,400 rows.)
fn dealt(batches: Vec<RecordBatch>, config: &SessionConfig) -> Vec<Vec<RecordBatch>> {
    let cores = config.target_partitions();
    let mut partitions = vec![Vec::new(); cores];
    for (at, batch) in batches.into_iter().enumerate() {
        partitions[at % cores].push(batch);
    }
    partitions
}

/// The identifiers and keywords of `sql`: what [`memory_context`] matches column names against.
fn sql_words(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
}

/// The `access_logs_unique` view, from the same DDL as Athena's.
fn unique_view_ddl() -> &'static str {
    let (_, view) = DDL
        .iter()
        .find(|(name, _)| *name == UNIQUE_VIEW)
        .expect("shipped");
    view
}

async fn run_athena(
    client: &athena::Client,
    report: &Report,
    sql: &str,
    range: &DateRange,
    target: &AthenaTarget,
) -> anyhow::Result<QueryOutcome> {
    let result = athena::run_query(
        client,
        target,
        sql,
        &range.parameters(),
        PollPolicy::default(),
    )
    .await?;
    let note = format!(
        "{}: {} rows; scanned {:.1} MB, ${:.6} at $5/TB; engine {} ms; query {}",
        report.name,
        result.table.rows.len(),
        result.data_scanned_bytes as f64 / 1e6,
        result.cost_usd(),
        result.engine_ms,
        result.query_execution_id
    );
    Ok(QueryOutcome {
        table: result.table,
        note,
    })
}

/// DataFusion's batches as a result table: integers, floats and booleans typed, the rest as
/// Arrow displays it.
pub fn to_result_table(batches: &[RecordBatch]) -> Result<ResultTable, anyhow::Error> {
    let mut table = ResultTable::default();
    let Some(first) = batches.first() else {
        return Ok(table);
    };
    table.columns = first
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    for batch in batches {
        let mut rows: Vec<Vec<Cell>> =
            vec![Vec::with_capacity(batch.num_columns()); batch.num_rows()];
        for column in batch.columns() {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())?;
            for (i, row) in rows.iter_mut().enumerate() {
                row.push(cell(column.as_ref(), i, &formatter));
            }
        }
        table.rows.extend(rows);
    }
    Ok(table)
}

fn cell(column: &dyn Array, i: usize, formatter: &ArrayFormatter<'_>) -> Cell {
    if column.is_null(i) {
        return Cell::Null;
    }
    match column.data_type() {
        DataType::Int8 => Cell::Int(column.as_primitive::<datatypes::Int8Type>().value(i).into()),
        DataType::Int16 => Cell::Int(
            column
                .as_primitive::<datatypes::Int16Type>()
                .value(i)
                .into(),
        ),
        DataType::Int32 => Cell::Int(
            column
                .as_primitive::<datatypes::Int32Type>()
                .value(i)
                .into(),
        ),
        DataType::Int64 => Cell::Int(column.as_primitive::<datatypes::Int64Type>().value(i)),
        DataType::UInt32 => Cell::Int(
            column
                .as_primitive::<datatypes::UInt32Type>()
                .value(i)
                .into(),
        ),
        DataType::UInt64 => {
            let value = column.as_primitive::<datatypes::UInt64Type>().value(i);
            i64::try_from(value).map_or(Cell::Float(value as f64), Cell::Int)
        }
        DataType::Float32 => Cell::Float(
            column
                .as_primitive::<datatypes::Float32Type>()
                .value(i)
                .into(),
        ),
        DataType::Float64 => Cell::Float(column.as_primitive::<datatypes::Float64Type>().value(i)),
        DataType::Boolean => Cell::Bool(column.as_boolean().value(i)),
        _ => Cell::Text(formatter.value(i).to_string()),
    }
}

/// `loglake query --list`: each report with its description.
pub fn list() -> String {
    let width = loglake_queries::REPORTS
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0);
    loglake_queries::REPORTS
        .iter()
        .map(|r| format!("{:width$}  {}\n", r.name, r.description()))
        .collect()
}

/// Runs every shipped report on `engine` (the local lake or Athena) and writes them to `output`
/// as one HTML page ([`loglake_queries::dashboard`]); returns what to tell the user. The page
/// also holds, for its range picker, the last week and days of the range (each with every
/// report, and compared with the period before it). Locally the lake is read into memory once
/// ([`MemoryLake`]); on Athena a picked period's queries scan only its days' partitions (each
/// billed at least Athena's 10 MB a query).
pub fn write_dashboard(
    engine: &Engine,
    range: &DateRange,
    settings: &SqlSettings,
    output: &Path,
) -> anyhow::Result<String> {
    let started = Instant::now();
    let (ranges, tables) = block_on(async {
        let in_memory = match engine {
            Engine::Local { lake, zone } => {
                let sqls: Vec<String> = loglake_queries::REPORTS
                    .iter()
                    .map(|report| settings.sql(report))
                    .collect();
                // (the page's other periods and theirs before are inside these days)
                let days = range.with_previous();
                let clock = Clock::for_reports(zone.as_deref(), &days)?;
                Some(MemoryLake::read(lake, clock, &days, &sqls).await?)
            }
            Engine::Athena(_) => None,
        };
        // Each period's reports run on a session holding its days and the previous period's.
        let jobs = async |range: &DateRange| -> anyhow::Result<Vec<Job>> {
            let days = range.with_previous();
            let session = MemoryLake::session_of(in_memory.as_ref(), &days).await?;
            Ok(period_jobs(range, session))
        };
        let mut tables = run_each(jobs(range).await?, engine, settings).await?;
        let mut ranges = vec![("all".into(), "the whole range".into(), range.clone())];
        ranges.extend(picked_periods(&tables[..loglake_queries::REPORTS.len()])?);
        let mut later = Vec::new();
        for (_, _, range) in &ranges[1..] {
            later.extend(jobs(range).await?);
        }
        tables.extend(run_each(later, engine, settings).await?);
        Ok((ranges, tables))
    })?;

    let mut periods = Vec::new();
    let mut rest = &tables[..];
    for (id, label, range) in &ranges {
        let jobs = period_jobs(range, None);
        let (these, after) = rest.split_at(jobs.len());
        rest = after;
        let count = loglake_queries::REPORTS.len();
        let reports = jobs.iter().map(|job| job.report);
        let mut pairs: Vec<(&Report, &ResultTable)> = reports.zip(these).collect();
        let previous = pairs.split_off(count);
        periods.push(Period {
            id: id.clone(),
            label: label.clone(),
            panels: pairs,
            previous,
        });
    }
    let mut days = match (range.from.as_str(), range.to.as_str()) {
        ("1970-01-01", "9999-12-31") => "every day".to_string(),
        (from, to) => format!("{from} to {to}"),
    };
    if let Engine::Local {
        zone: Some(zone), ..
    } = engine
    {
        days.push_str(&format!(", {zone}"));
    }
    let source = match engine {
        Engine::Local { lake, .. } => lake.display().to_string(),
        Engine::Athena(target) => format!("Athena {}.access_logs", target.database),
    };
    let title = format!("loglake: {source} ({days})");
    let page = loglake_queries::dashboard::render_periods(&title, &periods);
    std::fs::write(output, &page).with_context(|| format!("writing {}", output.display()))?;
    Ok(format!(
        "{} reports for {} periods ({} queries) in {} KB of HTML, {} ms: {}",
        loglake_queries::REPORTS.len(),
        periods.len(),
        tables.len(),
        page.len() / 1024,
        started.elapsed().as_millis(),
        output.display()
    ))
}

/// A period's jobs: every report over `range`, then the overview's reports over the period of
/// the same length just before (when there is one), for the change against it; on `session`.
fn period_jobs(range: &DateRange, session: Option<SessionContext>) -> Vec<Job> {
    let job = |report, range: &DateRange| Job {
        report,
        range: range.clone(),
        session: session.clone(),
    };
    let mut jobs: Vec<Job> = (loglake_queries::REPORTS.iter())
        .map(|report| job(report, range))
        .collect();
    if let Some(previous) = range.previous() {
        for name in OVERVIEW_REPORTS {
            jobs.push(job(
                loglake_queries::report(name).expect("a shipped report"),
                &previous,
            ));
        }
    }
    jobs
}

/// The range picker's other periods, from the days the range's `traffic_by_day` has rows for:
/// the last week (seven days ending on the last day, when the range is longer) and the last three
/// days with rows, each as `(id, label, range)`; none when the range has a single day. (More
/// periods cost their queries and page size: each is 35 queries and ~200 KB of a month's page.)
fn picked_periods(results: &[ResultTable]) -> anyhow::Result<Vec<(String, String, DateRange)>> {
    let at = loglake_queries::REPORTS
        .iter()
        .position(|r| r.name == "traffic_by_day")
        .expect("a shipped report");
    let days: Vec<String> = results[at]
        .rows
        .iter()
        .filter_map(|row| match row.first() {
            Some(Cell::Text(day)) => Some(day.clone()),
            _ => None,
        })
        .collect();
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Ok(Vec::new());
    };
    if first == last {
        return Ok(Vec::new());
    }
    let mut periods = Vec::new();
    let week = DateRange::ending(last, 7)?;
    if week.from.as_str() > first.as_str() {
        let label = format!("week {} – {}", &week.from[5..], &week.to[5..]);
        periods.push((format!("w-{}", week.to), label, week));
    }
    for day in days.iter().rev().take(3) {
        periods.push((format!("d-{day}"), day.clone(), DateRange::day(day)?));
    }
    Ok(periods)
}

/// The report named `name`, or a typed error naming it.
pub fn find(name: &str) -> Result<&'static Report, QueryError> {
    loglake_queries::report(name).ok_or_else(|| QueryError::UnknownReport(name.into()))
}

/// Runs `sql` as it is (no parameters) on `engine`: the alert window's counts, say.
pub fn run_sql(engine: &Engine, sql: &str) -> anyhow::Result<ResultTable> {
    block_on(async {
        match engine {
            Engine::Local { lake, .. } => {
                // (the alert windows are UTC hours)
                let context = local_context(lake).await?;
                let (_, batches) = collect_sql(&context, sql).await?;
                to_result_table(&batches)
            }
            Engine::Athena(target) => {
                let client = athena::client_from_env().await;
                let result =
                    athena::run_query(&client, target, sql, &[], PollPolicy::default()).await?;
                Ok(result.table)
            }
        }
    })
}

/// Runs `work` to its end on a runtime of its own (DataFusion's scans use its threads).
pub(crate) fn block_on<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(work)
}
