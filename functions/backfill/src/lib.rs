//! The `backfill` Lambda: its event turned into a plan for the backfill library, and its result
//! (per-object counts). The event is a Step Functions Distributed Map batch (objects from an S3
//! ItemReader listing, settings in `BatchInput`), an S3 notification of objects created (ALB and
//! CloudFront logs as AWS delivers them; settings in the environment), or the schedule's
//! compaction of the lake's recent hours (`{"compact": …}`, the library's `compact`). The replay itself
//! is `loglake-backfill`'s, shared with `loglake backfill`, so an object is read into the same
//! lake files and manifest whichever way it comes: a notification delivered twice, or an object
//! both notified and backfilled, is read once.

use loglake_lake::TimeRange;
use loglake_parser::timestamp::MICROS_PER_HOUR;
use loglake_parser::{parse_utc_instant, Escapes, ExtraFields, IpAnonymization, LogFormat, Text};
use serde::{Deserialize, Serialize};

use loglake_backfill::compact::{CompactOptions, CompactSummary};
use loglake_backfill::{BackfillOptions, BackfillSummary, Location, Source, SourceOutcome};

/// Where an S3 notification's objects go: the lake, `s3://bucket/prefix`.
pub const LAKE_DEST_VAR: &str = "LAKE_DEST";
/// The format of an S3 notification's objects (as `LOG_FORMAT` everywhere; default `auto`).
pub const LOG_FORMAT_VAR: &str = "LOG_FORMAT";
/// `true` fills `extra_fields` with the format's other fields (default `false`).
pub const KEEP_EXTRA_FIELDS_VAR: &str = "KEEP_EXTRA_FIELDS";
/// How client addresses are written, for batches and notifications alike (default `none`).
pub const ANONYMIZE_IP_VAR: &str = "ANONYMIZE_IP";
/// The secret key of `ANONYMIZE_IP=hash`.
pub const ANONYMIZE_IP_KEY_VAR: &str = "ANONYMIZE_IP_KEY";

/// Every environment variable the `backfill` function reads besides the AWS SDK's and `RUST_LOG`:
/// the settings for S3 notifications (a Distributed Map batch brings its own, `BatchInput`), and
/// the anonymisation of client addresses, which applies to both.
pub const ENV_VARS: [&str; 6] = [
    LAKE_DEST_VAR,
    LOG_FORMAT_VAR,
    KEEP_EXTRA_FIELDS_VAR,
    ANONYMIZE_IP_VAR,
    ANONYMIZE_IP_KEY_VAR,
    loglake_parser::enrich::ENRICHMENT_DIR_SETTING,
];

/// How client addresses are written, from the variables (`var` reads one).
pub fn anonymize_ip_from_vars(
    var: impl Fn(&str) -> Option<String>,
) -> Result<IpAnonymization, WorkerError> {
    let key = var(ANONYMIZE_IP_KEY_VAR);
    IpAnonymization::from_setting(var(ANONYMIZE_IP_VAR).as_deref(), key.as_deref())
        .map_err(|e| bad(ANONYMIZE_IP_VAR, e))
}

/// What the function is invoked with.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum BackfillEvent {
    Batch(MapBatch),
    ObjectsCreated(S3Notification),
    ObjectCreated(ObjectCreatedEvent),
    Compact(CompactEvent),
}

/// A scheduled compaction (EventBridge's constant input, `{"compact": {...}}`): the lake's hours
/// that ended at least `settle_minutes` ago, back `lookback_hours`, merged as `loglake compact`
/// merges them. Hours compacted already cost one listing; late rows a later run picks up.
#[derive(Debug, Deserialize)]
pub struct CompactEvent {
    pub compact: CompactRequest,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompactRequest {
    /// The lake: `s3://bucket/prefix`.
    pub lake: String,
    /// Long enough for Firehose's last buffer of an hour to land (its longest is 15 minutes).
    #[serde(default = "default_settle_minutes")]
    pub settle_minutes: i64,
    #[serde(default = "default_lookback_hours")]
    pub lookback_hours: i64,
    #[serde(default = "default_target_mb")]
    pub target_mb: u64,
}

fn default_settle_minutes() -> i64 {
    60
}

fn default_lookback_hours() -> i64 {
    24
}

fn default_target_mb() -> u64 {
    128
}

impl CompactRequest {
    /// The lake and the compaction's settings, at `now` (UTC microseconds).
    pub fn plan(&self, now: i64) -> Result<(Location, CompactOptions), WorkerError> {
        if self.settle_minutes < 0 || self.lookback_hours < 1 {
            return Err(bad(
                "compact",
                "settle_minutes must be 0 or more, lookback_hours 1 or more",
            ));
        }
        let until =
            (now - self.settle_minutes * 60_000_000).div_euclid(MICROS_PER_HOUR) * MICROS_PER_HOUR;
        let options = CompactOptions {
            target_bytes: self.target_mb.max(1) << 20,
            range: TimeRange {
                since: Some(until - self.lookback_hours * MICROS_PER_HOUR),
                until: Some(until),
            },
            ..Default::default()
        };
        Ok((s3_lake(&self.lake, "compact.lake")?, options))
    }
}

/// What the function answers: a batch's or notification's outcomes, or a compaction's totals.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum FunctionResult {
    Worker(WorkerResult),
    Compact(CompactSummary),
}

/// An S3 event notification (`{"Records": [{"eventName": "ObjectCreated:Put", "s3": …}]}`): the
/// fields read, others ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3Notification {
    pub records: Vec<S3Record>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Record {
    #[serde(default)]
    pub event_name: String,
    pub s3: S3Entity,
}

#[derive(Debug, Deserialize)]
pub struct S3Entity {
    pub bucket: S3Bucket,
    pub object: S3Object,
}

#[derive(Debug, Deserialize)]
pub struct S3Bucket {
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Object {
    /// URL-encoded, as S3 writes keys in notifications (`+` for a space).
    pub key: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub e_tag: String,
}

/// An S3 event as EventBridge delivers it (`{"detail-type": "Object Created", "detail":
/// {"bucket": {"name": …}, "object": {"key": …, "size": …, "etag": …}}}`): what a rule on a
/// bucket's EventBridge notifications sends, the way a bucket the stack did not create, or
/// another account's, reaches the function.
#[derive(Debug, Deserialize)]
pub struct ObjectCreatedEvent {
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub detail: ObjectCreatedDetail,
}

#[derive(Debug, Deserialize)]
pub struct ObjectCreatedDetail {
    pub bucket: S3Bucket,
    pub object: EventBridgeObject,
}

#[derive(Debug, Deserialize)]
pub struct EventBridgeObject {
    /// As given. S3's documentation says notifications' keys are URL-encoded and is silent about
    /// EventBridge's; its example events show keys with `:` not encoded, so they are read as
    /// they are. (Keys of ALB and CloudFront logs have no characters the two would differ on.)
    pub key: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub etag: String,
}

impl ObjectCreatedEvent {
    /// The object, read whole into the lake in `settings`' format; other S3 events (deletions,
    /// restores) read nothing.
    pub fn plan(&self, settings: &NotificationSettings) -> WorkerPlan {
        let object = &self.detail.object;
        let sources = (self.detail_type == "Object Created")
            .then(|| {
                Source::s3_object(
                    &self.detail.bucket.name,
                    &object.key,
                    object.size,
                    &object.etag,
                )
            })
            .into_iter()
            .collect();
        settings.plan(sources)
    }
}

/// The settings for S3 notifications, from the environment.
#[derive(Debug)]
pub struct NotificationSettings {
    pub dest: Location,
    pub format: LogFormat,
    pub keep_extra_fields: bool,
}

impl NotificationSettings {
    /// The settings from variables (`var` reads one), or why they cannot be used.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, WorkerError> {
        let dest = var(LAKE_DEST_VAR).ok_or_else(|| bad(LAKE_DEST_VAR, "is not set"))?;
        Ok(Self {
            dest: s3_lake(&dest, LAKE_DEST_VAR)?,
            format: LogFormat::from_setting(var(LOG_FORMAT_VAR).as_deref())
                .map_err(|e| bad(LOG_FORMAT_VAR, e))?,
            keep_extra_fields: ExtraFields::from_setting(var(KEEP_EXTRA_FIELDS_VAR).as_deref())
                .map_err(|e| bad(KEEP_EXTRA_FIELDS_VAR, e))?,
        })
    }

    /// Objects read whole into the lake, each once (a manifest per object: notifications come
    /// at least once).
    fn plan(&self, sources: Vec<Source>) -> WorkerPlan {
        WorkerPlan {
            dest: self.dest.clone(),
            sources,
            options: BackfillOptions {
                format: self.format,
                keep_extra_fields: self.keep_extra_fields,
                anonymize_ip: IpAnonymization::None,
                enrichment: Default::default(),
                range: TimeRange::default(),
                force: false,
                lake: BackfillOptions::backfill_lake_options(),
            },
        }
    }
}

impl S3Notification {
    /// The objects created, each read whole into the lake in `settings`' format. Other events
    /// (removals, restores) are not for the lake.
    pub fn plan(&self, settings: &NotificationSettings) -> WorkerPlan {
        let sources = self
            .records
            .iter()
            .filter(|record| record.event_name.starts_with("ObjectCreated:"))
            .map(|record| {
                let object = &record.s3.object;
                let key = url_decoded_key(&object.key);
                Source::s3_object(&record.s3.bucket.name, &key, object.size, &object.e_tag)
            })
            .collect();
        settings.plan(sources)
    }
}

/// An object key as S3 notifications write it, form-URL-encoded, decoded (`+` is a space).
fn url_decoded_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    let decoded = Text::escaped(spaced.as_bytes(), Escapes::Percent).unescaped();
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The lake at `text`, which must be in S3.
fn s3_lake(text: &str, field: &'static str) -> Result<Location, WorkerError> {
    let dest = Location::parse(text).map_err(|e| bad(field, e.to_string()))?;
    if !dest.is_s3() {
        return Err(bad(field, "must be s3://bucket/prefix"));
    }
    Ok(dest)
}

/// What an ItemBatcher sends: `{"Items": [...], "BatchInput": {...}}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MapBatch {
    pub items: Vec<MapItem>,
    pub batch_input: BatchInput,
}

/// One object of the ItemReader's `ListObjectsV2` listing (other fields are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MapItem {
    pub key: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub etag: String,
}

/// The run's settings, the same for every batch.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct BatchInput {
    /// The bucket the items are in.
    pub bucket: String,
    /// The lake: `s3://bucket/prefix`.
    pub dest: String,
    /// `auto` when absent.
    #[serde(default)]
    pub format: Option<String>,
    /// UTC `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`; rows before it are left out.
    #[serde(default)]
    pub since: Option<String>,
    /// Rows at or after it are left out.
    #[serde(default)]
    pub until: Option<String>,
    /// Re-read objects whose manifest says they are done.
    #[serde(default)]
    pub force: bool,
    /// Fill `extra_fields` with the format's other fields.
    #[serde(default)]
    pub keep_extra_fields: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("{field}: {message}")]
    BadInput {
        field: &'static str,
        message: String,
    },
}

fn bad(field: &'static str, message: impl Into<String>) -> WorkerError {
    WorkerError::BadInput {
        field,
        message: message.into(),
    }
}

/// What the worker does with a batch: its destination, sources and settings.
pub struct WorkerPlan {
    pub dest: Location,
    pub sources: Vec<Source>,
    pub options: BackfillOptions,
}

impl MapBatch {
    pub fn plan(&self) -> Result<WorkerPlan, WorkerError> {
        let input = &self.batch_input;
        let dest = s3_lake(&input.dest, "BatchInput.dest")?;
        let format = LogFormat::from_setting(input.format.as_deref())
            .map_err(|e| bad("BatchInput.format", e))?;
        let instant = |field, text: &Option<String>| {
            text.as_deref()
                .map(|t| {
                    parse_utc_instant(t)
                        .ok_or_else(|| bad(field, format!("{t:?} is not a UTC date or time")))
                })
                .transpose()
        };
        let range = TimeRange {
            since: instant("BatchInput.since", &input.since)?,
            until: instant("BatchInput.until", &input.until)?,
        };
        Ok(WorkerPlan {
            dest,
            sources: self
                .items
                .iter()
                .map(|item| Source::s3_object(&input.bucket, &item.key, item.size, &item.etag))
                .collect(),
            options: BackfillOptions {
                format,
                keep_extra_fields: input.keep_extra_fields,
                anonymize_ip: IpAnonymization::None,
                enrichment: Default::default(),
                range,
                force: input.force,
                lake: BackfillOptions::backfill_lake_options(),
            },
        })
    }
}

/// The worker's answer: the batch's totals and each object's outcome.
#[derive(Debug, Serialize)]
pub struct WorkerResult {
    #[serde(flatten)]
    pub summary: BackfillSummary,
    pub sources: Vec<SourceOutcome>,
}

impl WorkerResult {
    /// Every object failed: likely a cause outside the data (permissions, throttling), which a
    /// Step Functions retry may fix. A failure of some objects only is reported, not raised, so
    /// the other objects' work stands.
    pub fn all_failed(&self) -> bool {
        !self.sources.is_empty() && self.summary.errors.len() == self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compaction_covers_the_settled_hours_of_the_lookback() {
        let event: BackfillEvent = serde_json::from_value(serde_json::json!({
            "compact": {"lake": "s3://lake/", "settle_minutes": 30, "lookback_hours": 2}
        }))
        .unwrap();
        let BackfillEvent::Compact(event) = event else {
            panic!("read as {event:?}");
        };
        let at = |t: &str| parse_utc_instant(t).unwrap();
        let (lake, options) = event.compact.plan(at("2020-10-10T12:20:00Z")).unwrap();
        assert_eq!(lake.to_string(), "s3://lake/");
        // 11:xx has not been over for 30 minutes yet at 12:20.
        assert_eq!(
            options.range,
            TimeRange {
                since: Some(at("2020-10-10T09:00:00Z")),
                until: Some(at("2020-10-10T11:00:00Z")),
            }
        );
        let local: Result<BackfillEvent, _> =
            serde_json::from_value(serde_json::json!({"compact": {"lake": "/tmp/lake"}}));
        let BackfillEvent::Compact(local) = local.unwrap() else {
            panic!("a compaction");
        };
        assert!(
            local.compact.plan(0).is_err(),
            "the function's lake is in S3"
        );
        let typo = serde_json::json!({"compact": {"lake": "s3://l/", "lookback": 1}});
        assert!(serde_json::from_value::<BackfillEvent>(typo).is_err());
    }

    #[test]
    fn reads_an_item_batcher_event() {
        let event = r#"{
            "Items": [
                {"Etag": "\"0f343b0931126a20f133d67c2b018a3b\"", "Key": "logs/a.log.gz",
                 "LastModified": 1540471470, "Size": 1024, "StorageClass": "STANDARD"}
            ],
            "BatchInput": {"bucket": "old-logs", "dest": "s3://lake/", "since": "2024-01-01"}
        }"#;
        let batch: MapBatch = serde_json::from_str(event).unwrap();
        let plan = batch.plan().unwrap();
        assert_eq!(plan.sources[0].name, "s3://old-logs/logs/a.log.gz");
        assert_eq!(plan.sources[0].version, "0f343b0931126a20f133d67c2b018a3b");
        assert_eq!(plan.options.range.since, parse_utc_instant("2024-01-01"));
        assert_eq!(plan.options.range.until, None);

        for (field, value) in [
            ("dest", "lake/"),
            ("since", "yesterday"),
            ("format", "jsonl"),
        ] {
            let mut json: serde_json::Value = serde_json::from_str(event).unwrap();
            json["BatchInput"][field] = value.into();
            let batch: MapBatch = serde_json::from_value(json).unwrap();
            let error = batch.plan().err().unwrap().to_string();
            assert!(error.starts_with(&format!("BatchInput.{field}")), "{error}");
        }
        // The server's own format string, compiled for the batch.
        let mut json: serde_json::Value = serde_json::from_str(event).unwrap();
        let spec = "nginx:$remote_addr [$time_local] \"$request\" $status";
        json["BatchInput"]["format"] = spec.into();
        let batch: MapBatch = serde_json::from_value(json).unwrap();
        assert_eq!(batch.plan().unwrap().options.format.name(), spec);
    }

    fn settings(vars: &[(&str, &str)]) -> Result<NotificationSettings, WorkerError> {
        NotificationSettings::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn reads_an_s3_notification_of_objects_created() {
        let event = r#"{"Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "alb-logs"},
             "object": {"key": "AWSLogs/1/elasticloadbalancing/x/2026/10/10/a+b%3Dc.log.gz",
                        "size": 2048, "eTag": "d41d8cd98f00b204e9800998ecf8427e"}}},
            {"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "alb-logs"},
             "object": {"key": "gone.log.gz"}}}
        ]}"#;
        let event: BackfillEvent = serde_json::from_str(event).unwrap();
        let BackfillEvent::ObjectsCreated(notification) = event else {
            panic!("read as {event:?}");
        };
        let settings = settings(&[("LAKE_DEST", "s3://lake/"), ("LOG_FORMAT", "alb")]).unwrap();
        let plan = notification.plan(&settings);
        assert_eq!(plan.sources.len(), 1, "removals are not read");
        let source = &plan.sources[0];
        // the same name, version and so manifest as a backfill of the object
        let backfilled = Source::s3_object(
            "alb-logs",
            "AWSLogs/1/elasticloadbalancing/x/2026/10/10/a b=c.log.gz",
            2048,
            "\"d41d8cd98f00b204e9800998ecf8427e\"",
        );
        assert_eq!(
            (&source.name, &source.version),
            (&backfilled.name, &backfilled.version)
        );
        assert_eq!(plan.options.format, LogFormat::Alb);
        assert_eq!(plan.options.range, TimeRange::default());
        assert!(!plan.options.force);
    }

    #[test]
    fn reads_an_eventbridge_event_of_an_object_created() {
        let event = |detail_type: &str| {
            format!(
                r#"{{"version": "0", "detail-type": "{detail_type}", "source": "aws.s3",
                "account": "111122223333", "region": "us-east-1",
                "resources": ["arn:aws:s3:::alb-logs"],
                "detail": {{"version": "0", "bucket": {{"name": "alb-logs"}},
                    "object": {{"key": "AWSLogs/1/elasticloadbalancing/x/2026/10/10/a.log.gz",
                    "size": 2048, "etag": "d41d8cd98f00b204e9800998ecf8427e",
                    "sequencer": "0064D3901D00059242"}},
                    "request-id": "X", "requester": "111122223333", "reason": "PutObject"}}}}"#
            )
        };
        let settings = settings(&[("LAKE_DEST", "s3://lake/"), ("LOG_FORMAT", "alb")]).unwrap();
        let plan = |detail_type| match serde_json::from_str(&event(detail_type)).unwrap() {
            BackfillEvent::ObjectCreated(event) => event.plan(&settings),
            other => panic!("read as {other:?}"),
        };
        let created = plan("Object Created");
        let backfilled = Source::s3_object(
            "alb-logs",
            "AWSLogs/1/elasticloadbalancing/x/2026/10/10/a.log.gz",
            2048,
            "\"d41d8cd98f00b204e9800998ecf8427e\"",
        );
        assert_eq!(created.sources, [backfilled]);
        assert_eq!(created.options.format, LogFormat::Alb);
        assert!(plan("Object Deleted").sources.is_empty());
    }

    #[test]
    fn notification_settings_come_from_the_environment() {
        assert!(settings(&[])
            .unwrap_err()
            .to_string()
            .starts_with("LAKE_DEST"));
        let local = settings(&[("LAKE_DEST", "lake/")]).unwrap_err();
        assert!(local.to_string().contains("s3://"), "{local}");
        let format = settings(&[("LAKE_DEST", "s3://l/"), ("LOG_FORMAT", "jsonl")]);
        assert!(format.unwrap_err().to_string().starts_with("LOG_FORMAT"));
        assert_eq!(
            settings(&[("LAKE_DEST", "s3://l/")]).unwrap().format,
            LogFormat::Auto
        );
    }

    #[test]
    fn a_batch_is_not_taken_for_a_notification() {
        let event = r#"{"Items": [], "BatchInput": {"bucket": "b", "dest": "s3://l/"}}"#;
        let event: BackfillEvent = serde_json::from_str(event).unwrap();
        assert!(matches!(event, BackfillEvent::Batch(_)));
    }
}
