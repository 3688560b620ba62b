//! Running a report on Athena: `StartQueryExecution` with the date range as execution
//! parameters, `GetQueryExecution` polled with backoff until the query ends, then
//! `GetQueryResults` page by page into a [`ResultTable`].

use std::time::Duration;

use aws_sdk_athena::error::DisplayErrorContext;
use aws_sdk_athena::types::{
    ColumnInfo, QueryExecutionContext, QueryExecutionState, ResultConfiguration, Row,
};
/// The Athena client the functions here take (one for many queries: each client resolves its
/// credentials once).
pub use aws_sdk_athena::Client;

use crate::table::{Cell, ResultTable};

/// Athena's list price: $5 per TB scanned, at least 10 MB per query.
pub const USD_PER_TB_SCANNED: f64 = 5.0;
const MIN_BILLED_BYTES: i64 = 10 * 1_000_000;

/// Where a report runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AthenaTarget {
    pub workgroup: String,
    pub database: String,
    /// `s3://…` for the results, when the workgroup does not set one.
    pub output: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AthenaResult {
    pub table: ResultTable,
    pub query_execution_id: String,
    pub data_scanned_bytes: i64,
    pub engine_ms: i64,
    /// Where Athena wrote the CSV of the results.
    pub output_location: Option<String>,
}

impl AthenaResult {
    /// What the query cost at the list price (Athena bills at least 10 MB).
    pub fn cost_usd(&self) -> f64 {
        self.data_scanned_bytes.max(MIN_BILLED_BYTES) as f64 / 1e12 * USD_PER_TB_SCANNED
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AthenaError {
    #[error("Athena request failed: {0}")]
    Request(String),
    #[error("the query {state}: {reason}")]
    QueryFailed { state: String, reason: String },
    #[error("the query was still running after {0:?}")]
    Timeout(Duration),
}

/// How to wait for a query.
#[derive(Debug, Clone, Copy)]
pub struct PollPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub timeout: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// A client configured the usual AWS way (environment, profile, instance role; `AWS_REGION`,
/// `AWS_ENDPOINT_URL`).
pub async fn client_from_env() -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    Client::new(&config)
}

fn request_error(error: impl std::error::Error) -> AthenaError {
    AthenaError::Request(DisplayErrorContext(&error).to_string())
}

/// Runs `sql` with `parameters` (SQL literals, e.g. `'2026-11-01'`) and reads all its results.
pub async fn run_query(
    client: &Client,
    target: &AthenaTarget,
    sql: &str,
    parameters: &[String],
    poll: PollPolicy,
) -> Result<AthenaResult, AthenaError> {
    let started = client
        .start_query_execution()
        .query_string(sql)
        .work_group(&target.workgroup)
        .query_execution_context(
            QueryExecutionContext::builder()
                .database(&target.database)
                .build(),
        )
        .set_execution_parameters((!parameters.is_empty()).then(|| parameters.to_vec()))
        .set_result_configuration(
            target
                .output
                .as_ref()
                .map(|o| ResultConfiguration::builder().output_location(o).build()),
        )
        .send()
        .await
        .map_err(request_error)?;
    let id = started
        .query_execution_id()
        .ok_or_else(|| AthenaError::Request("no query execution id".into()))?
        .to_string();

    let begun = tokio::time::Instant::now();
    let mut delay = poll.first_delay;
    let execution = loop {
        let response = client
            .get_query_execution()
            .query_execution_id(&id)
            .send()
            .await
            .map_err(request_error)?;
        let execution = response
            .query_execution()
            .cloned()
            .ok_or_else(|| AthenaError::Request("no query execution in the answer".into()))?;
        let status = execution.status();
        match status.and_then(|s| s.state()) {
            Some(QueryExecutionState::Succeeded) => break execution,
            Some(state @ (QueryExecutionState::Failed | QueryExecutionState::Cancelled)) => {
                let reason = status
                    .and_then(|s| {
                        s.athena_error()
                            .and_then(|e| e.error_message())
                            .or(s.state_change_reason())
                    })
                    .unwrap_or("no reason given");
                return Err(AthenaError::QueryFailed {
                    state: state.as_str().to_lowercase(),
                    reason: reason.to_string(),
                });
            }
            _ => {}
        }
        if begun.elapsed() + delay > poll.timeout {
            return Err(AthenaError::Timeout(poll.timeout));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(poll.max_delay);
    };

    let table = read_results(client, &id).await?;
    let statistics = execution.statistics();
    Ok(AthenaResult {
        table,
        query_execution_id: id,
        data_scanned_bytes: statistics
            .and_then(|s| s.data_scanned_in_bytes())
            .unwrap_or(0),
        engine_ms: statistics
            .and_then(|s| s.engine_execution_time_in_millis())
            .unwrap_or(0),
        output_location: execution
            .result_configuration()
            .and_then(|r| r.output_location())
            .map(str::to_owned),
    })
}

/// All pages of a finished query's results. Athena repeats the column names as the first row
/// of the first page of a `SELECT`; that row is dropped.
async fn read_results(client: &Client, id: &str) -> Result<ResultTable, AthenaError> {
    let mut table = ResultTable::default();
    let mut types: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    let mut first_page = true;
    loop {
        let page = client
            .get_query_results()
            .query_execution_id(id)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(request_error)?;
        let Some(result_set) = page.result_set() else {
            break;
        };
        if first_page {
            let info: &[ColumnInfo] = result_set
                .result_set_metadata()
                .map(|m| m.column_info())
                .unwrap_or_default();
            table.columns = info.iter().map(|c| c.name().to_string()).collect();
            types = info.iter().map(|c| c.r#type().to_lowercase()).collect();
        }
        let mut rows = result_set.rows().iter();
        if first_page && !table.columns.is_empty() {
            let header: Vec<Option<&str>> = result_set
                .rows()
                .first()
                .map(|r| r.data().iter().map(|d| d.var_char_value()).collect())
                .unwrap_or_default();
            let names: Vec<Option<&str>> = table.columns.iter().map(|c| Some(c.as_str())).collect();
            if header == names {
                rows.next();
            }
        }
        for row in rows {
            table.rows.push(convert_row(row, &types));
        }
        first_page = false;
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok(table)
}

/// Athena returns every value as text; its column type says how to read it.
fn convert_row(row: &Row, types: &[String]) -> Vec<Cell> {
    row.data()
        .iter()
        .enumerate()
        .map(|(i, datum)| {
            let Some(text) = datum.var_char_value() else {
                return Cell::Null;
            };
            match types.get(i).map(String::as_str) {
                Some("tinyint" | "smallint" | "integer" | "bigint") => text
                    .parse()
                    .map_or_else(|_| Cell::Text(text.into()), Cell::Int),
                Some("real" | "float" | "double" | "decimal") => text
                    .parse()
                    .map_or_else(|_| Cell::Text(text.into()), Cell::Float),
                Some("boolean") => Cell::Bool(text == "true"),
                _ => Cell::Text(text.into()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_billed_per_byte_with_a_10_mb_minimum() {
        let result = |bytes| AthenaResult {
            table: ResultTable::default(),
            query_execution_id: "q".into(),
            data_scanned_bytes: bytes,
            engine_ms: 0,
            output_location: None,
        };
        assert_eq!(result(1_000_000_000_000).cost_usd(), 5.0);
        assert_eq!(result(0).cost_usd(), result(10_000_000).cost_usd());
        assert!((result(10_000_000).cost_usd() - 0.00005).abs() < 1e-12);
    }
}
