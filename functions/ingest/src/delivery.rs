//! Sending packed records to Firehose: `PutRecordBatch`, retrying only the entries Firehose
//! failed (or the whole call when it was throttled), with exponential backoff and full jitter,
//! within the invocation's remaining time. Whatever still fails is handed back so the handler
//! can have Kinesis redeliver it.

use std::future::Future;
use std::time::Duration;

use aws_sdk_firehose::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use loglake_stream::firehose::{PackedRecord, PutRequest};
use tokio::time::Instant;

/// The result of one `PutRecordBatch` call that Firehose answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutError {
    /// Throttling, a server error or a transport failure: worth another try.
    Retryable(String),
    /// The request itself is wrong (no such stream, access denied): retrying cannot help.
    Fatal(String),
}

/// The `PutRecordBatch` call, as a trait so the retry logic is tested without a network.
pub trait PutRecordBatch {
    /// Sends `records` to `stream`; on success, one entry per record: `None` when delivered,
    /// else Firehose's error code.
    fn put_record_batch(
        &self,
        stream: &str,
        records: &[&[u8]],
    ) -> impl Future<Output = Result<Vec<Option<String>>, PutError>>;
}

/// The real Firehose client.
pub struct FirehoseClient(pub aws_sdk_firehose::Client);

impl PutRecordBatch for FirehoseClient {
    async fn put_record_batch(
        &self,
        stream: &str,
        records: &[&[u8]],
    ) -> Result<Vec<Option<String>>, PutError> {
        let entries = records
            .iter()
            .map(|data| Record::builder().data(Blob::new(*data)).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PutError::Fatal(e.to_string()))?;
        let output = self
            .0
            .put_record_batch()
            .delivery_stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .map_err(classify_sdk_error)?;
        let responses = output.request_responses();
        if responses.len() != records.len() {
            return Err(PutError::Retryable(format!(
                "Firehose answered {} entries for {} records",
                responses.len(),
                records.len()
            )));
        }
        Ok(responses
            .iter()
            .map(|r| r.error_code().map(str::to_owned))
            .collect())
    }
}

/// Sorts an AWS SDK error into worth retrying or not (Firehose's and S3's error codes).
pub(crate) fn classify_sdk_error<E, R>(error: SdkError<E, R>) -> PutError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let retryable = match &error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            matches!(
                code,
                "ServiceUnavailableException"
                    | "ThrottlingException"
                    | "InternalFailure"
                    | "SlowDown"
                    | "ServiceUnavailable"
                    | "InternalError"
                    | "RequestTimeout"
            ) || code.is_empty()
        }
        // Timeouts, dispatch (connection) failures and unreadable responses.
        _ => true,
    };
    let message = match &error {
        SdkError::ServiceError(service) => format!(
            "{}: {}",
            service.err().code().unwrap_or("error"),
            service.err().message().unwrap_or_default()
        ),
        other => DisplayErrorContext(other).to_string(),
    };
    if retryable {
        PutError::Retryable(message)
    } else {
        PutError::Fatal(message)
    }
}

/// How hard to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Calls per request, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Time kept back before the deadline: retries stop when a backoff would run into it.
    pub deadline_margin: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(5),
            deadline_margin: Duration::from_millis(1_500),
        }
    }
}

impl RetryPolicy {
    /// "Full jitter" backoff before retry number `retry` (1-based): uniform in
    /// `[0, min(max_delay, base_delay × 2^retry))`, so throttled callers spread out.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1 << retry.min(20))
            .min(self.max_delay);
        ceiling.mul_f64(random_unit())
    }
}

/// A uniform number in [0, 1) from the standard library's randomly seeded hasher: jitter needs
/// no cryptographic quality, and this needs no dependency.
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};

    // Each `RandomState` gets fresh keys, so hashing nothing still gives a new number.
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// What delivering a set of requests achieved.
#[derive(Debug, Default)]
pub struct DeliveryReport {
    /// Records Firehose accepted, and their bytes.
    pub records_sent: u64,
    pub bytes_sent: u64,
    pub rows_sent: u64,
    /// Calls made after the first for the same records.
    pub retries: u64,
    /// Records that were not delivered (failed for good, or never sent after an earlier failure).
    pub undelivered: Vec<PackedRecord>,
    /// The last error seen, for the logs.
    pub last_error: Option<String>,
}

/// Sends `requests` in order. When a request cannot be completed, the later ones are not sent
/// (Kinesis redelivers from the earliest undelivered record anyway, so sending them would only
/// duplicate rows).
pub async fn deliver(
    client: &impl PutRecordBatch,
    stream: &str,
    requests: Vec<PutRequest>,
    policy: &RetryPolicy,
    deadline: Instant,
) -> DeliveryReport {
    let mut report = DeliveryReport::default();
    let mut requests = requests.into_iter();
    while let Some(request) = requests.next() {
        let mut pending = request.records;
        let mut attempt = 1;
        loop {
            let data: Vec<&[u8]> = pending.iter().map(|r| r.data.as_slice()).collect();
            let failed_codes = match client.put_record_batch(stream, &data).await {
                Ok(results) => results,
                Err(PutError::Retryable(message)) => {
                    report.last_error = Some(message);
                    vec![Some("call failed".into()); pending.len()]
                }
                Err(PutError::Fatal(message)) => {
                    report.last_error = Some(message);
                    break;
                }
            };
            let mut still_failed = Vec::new();
            for (record, code) in pending.into_iter().zip(failed_codes) {
                match code {
                    None => {
                        report.records_sent += 1;
                        report.bytes_sent += record.data.len() as u64;
                        report.rows_sent += record.rows as u64;
                    }
                    Some(code) => {
                        report.last_error.get_or_insert(code);
                        still_failed.push(record);
                    }
                }
            }
            pending = still_failed;
            if pending.is_empty() {
                break;
            }
            let wait = policy.backoff(attempt);
            let out_of_time = Instant::now() + wait + policy.deadline_margin > deadline;
            if attempt >= policy.max_attempts || out_of_time {
                break;
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
            report.retries += 1;
        }
        if !pending.is_empty() {
            report.undelivered = pending;
            report.undelivered.extend(requests.flat_map(|r| r.records));
            break;
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Answers each call from a script: per call, either a whole-call error or the indices of
    /// the entries to fail.
    struct Scripted {
        script: RefCell<Vec<Result<Vec<usize>, PutError>>>,
        calls: RefCell<Vec<Vec<Vec<u8>>>>,
    }

    impl Scripted {
        fn new(script: Vec<Result<Vec<usize>, PutError>>) -> Self {
            Self {
                script: RefCell::new(script),
                calls: RefCell::default(),
            }
        }
    }

    impl PutRecordBatch for Scripted {
        async fn put_record_batch(
            &self,
            _stream: &str,
            records: &[&[u8]],
        ) -> Result<Vec<Option<String>>, PutError> {
            self.calls
                .borrow_mut()
                .push(records.iter().map(|r| r.to_vec()).collect());
            let mut script = self.script.borrow_mut();
            let step = if script.is_empty() {
                Ok(Vec::new())
            } else {
                script.remove(0)
            };
            step.map(|failed| {
                (0..records.len())
                    .map(|i| {
                        failed
                            .contains(&i)
                            .then(|| "ServiceUnavailableException".into())
                    })
                    .collect()
            })
        }
    }

    fn requests(records_per_request: &[usize]) -> Vec<PutRequest> {
        let mut input = 0;
        records_per_request
            .iter()
            .map(|&n| {
                let records: Vec<PackedRecord> = (0..n)
                    .map(|_| {
                        input += 1;
                        PackedRecord {
                            data: format!("row of input {input}\n").into_bytes(),
                            rows: 1,
                            first_input: input,
                        }
                    })
                    .collect();
                PutRequest {
                    bytes: records.iter().map(|r| r.data.len()).sum(),
                    records,
                }
            })
            .collect()
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            deadline_margin: Duration::ZERO,
        }
    }

    fn far_deadline() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[tokio::test]
    async fn only_failed_entries_are_retried() {
        let client = Scripted::new(vec![Ok(vec![1, 3]), Ok(vec![0]), Ok(vec![])]);
        let report = deliver(&client, "s", requests(&[5]), &fast(), far_deadline()).await;
        let calls = client.calls.borrow();
        assert_eq!(calls.len(), 3);
        assert_eq!(
            calls[1],
            [b"row of input 2\n".to_vec(), b"row of input 4\n".to_vec()]
        );
        assert_eq!(calls[2], [b"row of input 2\n".to_vec()]);
        assert_eq!(report.records_sent, 5);
        assert_eq!(report.retries, 2);
        assert!(report.undelivered.is_empty());
    }

    #[tokio::test]
    async fn throttled_calls_are_retried_whole() {
        let client = Scripted::new(vec![
            Err(PutError::Retryable(
                "ServiceUnavailableException: slow down".into(),
            )),
            Ok(vec![]),
            Ok(vec![]),
        ]);
        let report = deliver(&client, "s", requests(&[2, 3]), &fast(), far_deadline()).await;
        assert_eq!(client.calls.borrow().len(), 3);
        assert_eq!(report.records_sent, 5);
        assert_eq!(report.retries, 1);
        assert!(report.undelivered.is_empty());
    }

    #[tokio::test]
    async fn what_keeps_failing_is_handed_back_with_everything_after_it() {
        let mut script = vec![Ok(vec![1])];
        script.extend((0..10).map(|_| Ok(vec![0])));
        let client = Scripted::new(script);
        let report = deliver(&client, "s", requests(&[3, 2]), &fast(), far_deadline()).await;
        // 4 attempts of the first request; the second request is never sent
        assert_eq!(client.calls.borrow().len(), 4);
        let undelivered: Vec<usize> = report.undelivered.iter().map(|r| r.first_input).collect();
        assert_eq!(undelivered, [2, 4, 5]);
        assert_eq!(report.records_sent, 2);
    }

    #[tokio::test]
    async fn fatal_errors_are_not_retried() {
        let client = Scripted::new(vec![Err(PutError::Fatal(
            "ResourceNotFoundException".into(),
        ))]);
        let report = deliver(&client, "s", requests(&[2]), &fast(), far_deadline()).await;
        assert_eq!(client.calls.borrow().len(), 1);
        assert_eq!(report.undelivered.len(), 2);
        assert_eq!(
            report.last_error.as_deref(),
            Some("ResourceNotFoundException")
        );
    }

    #[tokio::test]
    async fn retries_stop_before_the_deadline() {
        let always = (0..100).map(|_| Ok(vec![0])).collect();
        let client = Scripted::new(always);
        let policy = RetryPolicy {
            max_attempts: 100,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(20),
            deadline_margin: Duration::from_millis(5),
        };
        let started = Instant::now();
        let deadline = started + Duration::from_millis(100);
        let report = deliver(&client, "s", requests(&[1]), &policy, deadline).await;
        assert!(Instant::now() <= deadline, "ran past the deadline");
        assert_eq!(report.undelivered.len(), 1);
        assert!(client.calls.borrow().len() < 100);
    }

    #[test]
    fn backoff_grows_and_is_capped_and_jittered() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            deadline_margin: Duration::ZERO,
        };
        for retry in 1..30 {
            let ceiling = Duration::from_millis((10u64 << retry.min(20)).min(100));
            assert!(policy.backoff(retry) < ceiling);
        }
        let samples: Vec<Duration> = (0..20).map(|_| policy.backoff(5)).collect();
        assert!(samples.iter().any(|s| *s != samples[0]), "no jitter");
    }
}
