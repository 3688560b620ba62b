//! The Lambda entry point (`bootstrap`): read the settings, build the Firehose (or S3) client of
//! the wiring they name, and hand each Kinesis event to the library. Settings are documented in
//! README.md.

use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;
use aws_lambda_events::event::streams::KinesisEventResponse;
use lambda_runtime::layers::TracingLayer;
use lambda_runtime::tracing::subscriber::EnvFilter;
use lambda_runtime::{service_fn, Error, LambdaEvent, Runtime};
use loglake_ingest::delivery::FirehoseClient;
use loglake_ingest::lake_output::S3Client;
use loglake_ingest::metrics::InvocationMetrics;
use loglake_ingest::{
    deadline_from_epoch_ms, Config, EventError, IngestFunction, KinesisEventText,
    LakeIngestFunction, Output, RawEvents,
};
use tokio::time::Instant;

/// The function of the configured wiring.
enum Function {
    Firehose(IngestFunction<FirehoseClient>),
    Lake(LakeIngestFunction<S3Client>),
}

impl Function {
    async fn handle(
        &self,
        event: &KinesisEventText,
        deadline: Instant,
    ) -> Result<(KinesisEventResponse, InvocationMetrics), EventError> {
        match self {
            Function::Firehose(function) => function.handle(event, deadline).await,
            Function::Lake(function) => function.handle(event, deadline).await,
        }
    }

    fn config(&self) -> &Config {
        match self {
            Function::Firehose(function) => &function.config,
            Function::Lake(function) => &function.config,
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // A warm function reuses its batch-sized buffers instead of faulting in fresh pages each time.
    keep_freed_memory();
    // JSON logs; the level comes from RUST_LOG (default info).
    lambda_runtime::tracing::subscriber::fmt()
        .json()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_target(false)
        .init();

    let config = Config::from_env().inspect_err(|error| {
        tracing::error!(%error, "invalid configuration");
    })?;
    // The library retries per entry (per object) within the invocation's deadline; SDK-level
    // retries would hide throttling from it and could outlive the deadline.
    let aws = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    let function = match config.output {
        Output::Firehose { .. } => Function::Firehose(IngestFunction::new(
            config,
            FirehoseClient(aws_sdk_firehose::Client::new(&aws)),
        )),
        Output::Lake(_) => Function::Lake(LakeIngestFunction::new(
            config,
            S3Client::from_shared_config(&aws),
        )),
    };
    let function = &function;

    // The handler reads the event's bytes itself (see `raw_event`); the runtime passes `null`.
    let raw_events = RawEvents::default();
    let handler = service_fn(|event: LambdaEvent<()>| {
        let body = raw_events.take(&event.context.request_id);
        async move {
            let text = KinesisEventText::new(body.ok_or("the invocation's event was not kept")?);
            let deadline = deadline_from_epoch_ms(event.context.deadline);
            let (response, metrics) = function.handle(&text, deadline).await?;
            metrics.emit(function.config());
            Ok::<_, Error>(response)
        }
    });
    // As `lambda_runtime::run` builds it, with the event's bytes taken first.
    Runtime::new(handler)
        .layer(raw_events.clone())
        .layer(TracingLayer::new())
        .run()
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
