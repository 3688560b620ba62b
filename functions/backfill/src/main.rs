//! The Lambda entry point (`bootstrap`) of the backfill: a Step Functions Distributed Map worker,
//! the reader of S3 notifications of objects created, and the scheduled compaction of the lake. A batch brings its settings
//! (`BatchInput`); a notification's come from the environment. See README.md.

use lambda_runtime::tracing::subscriber::EnvFilter;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use loglake_backfill::compact::compact;
use loglake_backfill::s3::S3;
use loglake_backfill::{summarize, Backfill};
use loglake_backfill_function::{
    anonymize_ip_from_vars, BackfillEvent, FunctionResult, NotificationSettings, WorkerResult,
};
use loglake_lake::Progress;
use loglake_parser::Enrichment;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_target(false)
        .init();
    keep_freed_memory();
    let s3 = S3::new(
        S3::client_from_env().await,
        tokio::runtime::Handle::current(),
    );
    let s3 = &s3;
    // Only needed, and so only required, when notifications come.
    let notification_settings = NotificationSettings::from_vars(|name| std::env::var(name).ok());
    let notification_settings = &notification_settings;
    let anonymize_ip = anonymize_ip_from_vars(|name| std::env::var(name).ok())?;
    let enrichment = Enrichment::from_env(|warning| tracing::warn!(warning, "enrichment data"));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<BackfillEvent>| {
        let s3 = s3.clone();
        async move {
            let settings =
                || (notification_settings.as_ref()).map_err(|error| Error::from(error.to_string()));
            let mut plan = match event.payload {
                BackfillEvent::Batch(batch) => batch.plan()?,
                BackfillEvent::ObjectsCreated(notification) => notification.plan(settings()?),
                BackfillEvent::ObjectCreated(event) => event.plan(settings()?),
                BackfillEvent::Compact(event) => {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)?
                        .as_micros() as i64;
                    let (lake, options) = event.compact.plan(now)?;
                    let summary =
                        tokio::task::spawn_blocking(move || compact(&lake, Some(&s3), &options))
                            .await??;
                    tracing::info!(
                        partitions = summary.partitions_compacted,
                        files_in = summary.files_in,
                        files_out = summary.files_out,
                        failed = summary.errors.len(),
                        "compaction done"
                    );
                    // An error makes EventBridge's invocation retry; a partition done is not
                    // done again.
                    if !summary.errors.is_empty() {
                        return Err(Error::from(format!(
                            "compaction failed: {}",
                            serde_json::to_string(&summary.errors).unwrap_or_default()
                        )));
                    }
                    return Ok(FunctionResult::Compact(summary));
                }
            };
            plan.options.anonymize_ip = anonymize_ip;
            plan.options.enrichment = enrichment;
            let backfill = Backfill::new(plan.dest, Some(s3), plan.options)?;
            // Parsing blocks: off the async threads, which keep serving the S3 streams.
            let result = tokio::task::spawn_blocking(move || {
                let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
                let sources = backfill.run_each(&plan.sources, jobs, &Progress::none());
                WorkerResult {
                    summary: summarize(&sources),
                    sources,
                }
            })
            .await?;
            tracing::info!(
                lines_in = result.summary.totals.lines_in,
                rows_out = result.summary.totals.rows_out,
                rejected = result.summary.totals.rejected,
                failed = result.summary.errors.len(),
                "batch done"
            );
            // An error makes Step Functions retry the batch, and Lambda retry a notification
            // (then hand it to the failure queue), so no object is silently left unread.
            if result.all_failed() {
                return Err(Error::from(format!(
                    "every object of the batch failed: {}",
                    serde_json::to_string(&result.summary.errors).unwrap_or_default()
                )));
            }
            Ok::<_, Error>(FunctionResult::Worker(result))
        }
    }))
    .await
}

/// Lets glibc's allocator keep freed memory for reuse: a run allocates and frees batch-sized
/// buffers continuously (column buffers, JSON rows, Firehose records, zstd contexts), and glibc's
/// defaults hand blocks over 128 KiB back to the kernel on free, so each costs page faults and
/// freshly zeroed pages again. Memory stays bounded by the pipeline's budgets. A no-op where the
/// C library is not glibc.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning parameters; any values are valid.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}
