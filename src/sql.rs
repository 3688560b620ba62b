//! `loglake sql`: any SQL over the lake's tables, named as on Athena: `access_logs`, the
//! `access_logs_unique` view and `rejects`. One statement printed (table, CSV, JSON, NDJSON) or
//! written as Parquet; with no statement, a shell: line editing, history, statements over several
//! lines up to their `;`, dot commands, each statement timed, Ctrl-C cancelling the running query
//! and not the shell.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::SessionContext;
use loglake_lake::REJECTS_DIR;
use loglake_queries::OutputFormat;
use loglake_schema::REJECT_FIELDS;
use rustyline::error::ReadlineError;

use crate::query::{
    collect_sql, local_context, table_url, to_result_table, zoned_context, LAKE_FILES,
};

/// Where a statement's rows go.
pub enum Destination {
    Print(OutputFormat),
    /// A Parquet file, written whole.
    Parquet(PathBuf),
}

/// A session over the lake at `lake` (a directory or `s3://…`): [`local_context`]'s
/// `access_logs` and its view (with `ts` in `zone`, if given), and `rejects` over the lake's
/// `rejects/**/*.ndjson` (the rejects output of `loglake ingest`, `backfill` and the function).
pub async fn session(lake: &Path, zone: Option<&str>) -> anyhow::Result<SessionContext> {
    let context = match zone {
        Some(zone) => zoned_context(lake, zone).await?,
        None => local_context(lake).await?,
    };
    let schema = rejects_schema();
    // In S3 the `.ndjson` objects under `rejects/`: `loglake backfill`'s one a source and the
    // ingest function's under `rejects/dt=…/` (Firehose's gzip objects are Athena's to read).
    let table: Arc<dyn datafusion::catalog::TableProvider> =
        match table_url(&context, lake, REJECTS_DIR).await? {
            Some(url) => {
                let options = ListingOptions::new(Arc::new(JsonFormat::default()))
                    .with_file_extension(".ndjson");
                let config = ListingTableConfig::new(url)
                    .with_listing_options(options)
                    .with_schema(schema);
                Arc::new(ListingTable::try_new(config)?)
            }
            None => Arc::new(MemTable::try_new(schema, vec![Vec::new()])?),
        };
    context.register_table("rejects", table)?;
    Ok(context)
}

/// The `rejects` table's columns, as the rejects output writes them (queries/ddl/rejects.sql;
/// the local lake keeps them in one folder, without Athena's `dt` partition).
fn rejects_schema() -> SchemaRef {
    let fields = REJECT_FIELDS.iter().map(|name| {
        let kind = match *name {
            "source_line" | "raw_len" => DataType::Int64,
            _ => DataType::Utf8,
        };
        Field::new(*name, kind, true)
    });
    Arc::new(Schema::new(fields.collect::<Vec<_>>()))
}

/// Runs `sql` on `context` and delivers its rows to `destination`; returns what to tell the user
/// (rows and time) on stderr.
pub async fn run(
    context: &SessionContext,
    sql: &str,
    destination: &Destination,
) -> anyhow::Result<String> {
    let started = Instant::now();
    let (plan, batches) = collect_sql(context, sql).await.map_err(said_once)?;
    let schema: SchemaRef = plan.schema();
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    match destination {
        Destination::Print(format) => print!("{}", to_result_table(&batches)?.render(*format)),
        Destination::Parquet(path) => write_parquet(path, schema, &batches)?,
    }
    let mut note = format!("{rows} rows in {} ms", started.elapsed().as_millis());
    if let Some(fetched) = crate::s3_store::fetched() {
        note.push_str(&format!("; {fetched}"));
    }
    Ok(note)
}

/// DataFusion's error as its message alone: its wrapped causes repeat the same text, which
/// `{:#}` would print once for each.
fn said_once(error: DataFusionError) -> anyhow::Error {
    anyhow::anyhow!("{}", error.strip_backtrace())
}

fn write_parquet(path: &Path, schema: SchemaRef, batches: &[RecordBatch]) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut writer = ArrowWriter::try_new(file, schema, None)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.close()?;
    Ok(())
}

/// The shell: statements from the terminal (with line editing and a history file,
/// `~/.loglake_history`) or, when standard input is not one, from it as a script, without
/// prompts. A statement ends with `;` (or the input's end); an error is printed and the shell
/// goes on; Ctrl-C cancels the running query, or drops the statement being typed.
pub fn shell(lake: &Path, zone: Option<&str>, format: OutputFormat) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let context = runtime.block_on(session(lake, zone))?;
    let mut input = Input::new()?;
    if input.is_terminal() {
        eprintln!(
            "loglake sql over {}: tables access_logs, access_logs_unique, rejects. \
             End a statement with `;`; `.help` for more.",
            lake.display()
        );
    }
    let mut statement = String::new();
    loop {
        let prompt = if statement.is_empty() {
            "loglake> "
        } else {
            "    ...> "
        };
        let line = match input.line(prompt)? {
            Line::Text(line) => line,
            Line::Interrupted => {
                statement.clear();
                continue;
            }
            Line::End => break,
        };
        if statement.is_empty() && line.trim_start().starts_with('.') {
            input.remember(line.trim());
            match runtime.block_on(dot_command(&context, line.trim())) {
                Ok(Some(text)) => print!("{text}"),
                Ok(None) => return Ok(()),
                Err(error) => eprintln!("error: {error:#}"),
            }
            continue;
        }
        statement.push_str(&line);
        statement.push('\n');
        if line.trim_end().ends_with(';') {
            input.remember(statement.trim());
            runtime.block_on(run_cancellable(&context, &statement, format));
            statement.clear();
        }
    }
    if !statement.trim().is_empty() {
        runtime.block_on(run_cancellable(&context, &statement, format));
    }
    // (a cancelled query that has not reached its next yield is not waited for)
    runtime.shutdown_background();
    Ok(())
}

/// Runs one statement of the shell, printing its rows or its error; Ctrl-C stops it and the
/// shell goes on. The query runs as a task of its own, so that the signal is heard while it
/// computes, and is aborted (its operators' tasks dropped with it) when the signal comes.
async fn run_cancellable(context: &SessionContext, statement: &str, format: OutputFormat) {
    let (context, statement) = (context.clone(), statement.to_string());
    let mut query =
        tokio::spawn(async move { run(&context, &statement, &Destination::Print(format)).await });
    tokio::select! {
        outcome = &mut query => match outcome {
            Ok(Ok(note)) => eprintln!("({note})"),
            Ok(Err(error)) => eprintln!("error: {error:#}"),
            Err(error) => eprintln!("error: the query's task: {error}"),
        },
        _ = tokio::signal::ctrl_c() => {
            query.abort();
            eprintln!("cancelled");
        }
    }
}

/// A shell command: `.tables`, `.schema [TABLE]`, `.help`, `.quit`; its text, or `None` to leave.
async fn dot_command(context: &SessionContext, line: &str) -> anyhow::Result<Option<String>> {
    let mut words = line.split_whitespace();
    let command = words.next().unwrap_or_default();
    let mut names: Vec<String> = match context.catalog("datafusion") {
        Some(catalog) => catalog
            .schema("public")
            .map(|schema| schema.table_names())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    names.retain(|name| name != LAKE_FILES);
    names.sort();
    let text = match command {
        ".tables" => names.iter().map(|name| format!("{name}\n")).collect(),
        ".schema" => {
            let wanted: Vec<String> = match words.next() {
                Some(name) if names.iter().any(|n| n == name) => vec![name.to_string()],
                Some(name) => anyhow::bail!("no table {name:?} (tables: {})", names.join(", ")),
                None => names,
            };
            let mut text = String::new();
            for name in wanted {
                let table = context.table(name.as_str()).await?;
                text.push_str(&format!("{name}\n"));
                for field in table.schema().fields() {
                    text.push_str(&format!("  {} {}\n", field.name(), field.data_type()));
                }
            }
            text
        }
        ".help" => "SQL over access_logs, access_logs_unique and rejects, ended by `;`\n\
             .tables          the tables\n\
             .schema [TABLE]  their columns and types\n\
             .quit            leave (or Ctrl-D)\n\
             Ctrl-C cancels the running query.\n"
            .to_string(),
        ".quit" | ".exit" => return Ok(None),
        other => anyhow::bail!("unknown command {other:?} (.help lists them)"),
    };
    Ok(Some(text))
}

/// One line of the shell's input.
enum Line {
    Text(String),
    /// Ctrl-C at the prompt.
    Interrupted,
    End,
}

/// The shell's input: the terminal through rustyline, or standard input read as it is.
enum Input {
    Terminal {
        editor: Box<rustyline::DefaultEditor>,
        history: Option<PathBuf>,
    },
    Script(std::io::StdinLock<'static>),
}

impl Input {
    fn new() -> anyhow::Result<Self> {
        if !std::io::stdin().is_terminal() {
            return Ok(Input::Script(std::io::stdin().lock()));
        }
        let mut editor = rustyline::DefaultEditor::new()?;
        let history =
            std::env::var_os("HOME").map(|home| Path::new(&home).join(".loglake_history"));
        if let Some(history) = &history {
            let _ = editor.load_history(history);
        }
        Ok(Input::Terminal {
            editor: Box::new(editor),
            history,
        })
    }

    fn is_terminal(&self) -> bool {
        matches!(self, Input::Terminal { .. })
    }

    fn line(&mut self, prompt: &str) -> anyhow::Result<Line> {
        match self {
            Input::Terminal { editor, .. } => match editor.readline(prompt) {
                Ok(line) => Ok(Line::Text(line)),
                Err(ReadlineError::Interrupted) => Ok(Line::Interrupted),
                Err(ReadlineError::Eof) => Ok(Line::End),
                Err(error) => Err(error.into()),
            },
            Input::Script(stdin) => {
                let mut line = String::new();
                match stdin
                    .read_line(&mut line)
                    .context("reading standard input")?
                {
                    0 => Ok(Line::End),
                    _ => Ok(Line::Text(line.trim_end_matches(['\n', '\r']).to_string())),
                }
            }
        }
    }

    /// Keeps `entry` in the history (saved at once, so a killed shell keeps it too).
    fn remember(&mut self, entry: &str) {
        if let Input::Terminal { editor, history } = self {
            let _ = editor.add_history_entry(entry);
            if let Some(history) = history {
                let _ = editor.save_history(history);
            }
        }
    }
}
