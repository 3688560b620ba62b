//! A Firehose stand-in that refuses what Firehose refuses and processes records the way the AWS
//! documentation says Firehose does, configured from the template's own delivery streams.
//!
//! moto accepts any `PutRecordBatch`, ignores processors, dynamic partitioning and format
//! conversion, and writes each call's bytes as one object (../shared/TOOLCHAIN.md): a wiring that
//! AWS would break passes on it. This one, over the real JSON protocol on loopback:
//! - refuses requests over the `PutRecordBatch` limits (500 records, 4 MiB, 1,000 KiB a record);
//! - processes in the documented order whatever order the template lists the processors in:
//!   deaggregation (at most 500 sub-records a record), the transform Lambda (its response
//!   contract: every record id once, a known result, `metadata.partitionKeys`), partition keys
//!   (the template's JQ query, run by PyPI `jq`, or the Lambda's keys); then format conversion
//!   (JSON objects only, read through the template's column-to-key mapping);
//! - writes what it delivered into the local S3 stand-in (moto) under the keys Firehose would use
//!   (the template's `Prefix` with its `!{…}` expressions filled in), and what failed under
//!   `ErrorOutputPrefix` with its error output type.
//!
//! Where the documentation is silent, the stand-in takes the strictest reading and says so.
//! It writes converted rows as JSON objects keyed by column name rather than Parquet (the rows'
//! values are what a test checks; the Parquet writer is Firehose's).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{json, Map, Value};
use serde_yaml::Value as Yaml;

use super::cfn::{render, render_if_else};
use super::functions::{gzip, http, serve, HttpResponse};

/// `PutRecordBatch` limits: "Each PutRecordBatch request supports up to 500 records. Each record
/// in the request can be as large as 1,000 KB (before base64 encoding), up to a limit of 4 MB for
/// the entire request." (Firehose API Reference, PutRecordBatch.)
pub const MAX_RECORDS_PER_REQUEST: usize = 500;
pub const MAX_RECORD_BYTES: usize = 1_000 * 1024;
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// "Record deaggregation by JSON or by delimiter is capped at 500 per record." (Firehose
/// Developer Guide, "Apply dynamic partitioning to aggregated data".)
pub const MAX_SUB_RECORDS: usize = 500;
/// A Lambda function's synchronous invocation payload, request and response alike, is at most
/// 6 MB (Lambda Developer Guide, "Lambda quotas"); Firehose invokes the transform synchronously.
pub const MAX_LAMBDA_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// The transform: the event Firehose sends it, as JSON, to the JSON it answers.
pub type Transform = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

/// One delivery stream's processing, as the template configures it.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    pub name: String,
    pub prefix: String,
    pub error_prefix: String,
    pub dynamic_partitioning: bool,
    /// `RecordDeAggregation`'s `SubRecordType` (`JSON` or `DELIMITED`), with its delimiter.
    pub deaggregation: Option<(String, Vec<u8>)>,
    /// A `Lambda` processor's buffer (`BufferSizeInMBs`), in bytes.
    pub lambda_buffer_bytes: Option<usize>,
    /// A `MetadataExtraction` processor's JQ query.
    pub metadata_query: Option<String>,
    /// Format conversion's `ColumnToJsonKeyMappings` plus the Glue table's other columns (read
    /// by their own names), when the stream converts JSON to Parquet.
    pub conversion: Option<BTreeMap<String, String>>,
    pub gzip: bool,
}

impl DeliveryConfig {
    /// The delivery stream resource `id` of a template (parameters already set).
    pub fn from_template(template: &Yaml, id: &str) -> Self {
        let destination =
            &template["Resources"][id]["Properties"]["ExtendedS3DestinationConfiguration"];
        let dynamic_partitioning =
            render_if_else(template, &destination["DynamicPartitioningConfiguration"])
                .is_some_and(|d| d["Enabled"] == Yaml::Bool(true));
        let mut config = Self {
            name: id.to_string(),
            prefix: render(template, &destination["Prefix"]),
            error_prefix: render(template, &destination["ErrorOutputPrefix"]),
            dynamic_partitioning,
            deaggregation: None,
            lambda_buffer_bytes: None,
            metadata_query: None,
            conversion: None,
            gzip: destination["CompressionFormat"] == "GZIP",
        };
        let processors = render_if_else(template, &destination["ProcessingConfiguration"])
            .filter(|p| p["Enabled"] == Yaml::Bool(true))
            .and_then(|p| render_if_else(template, &p["Processors"]));
        for processor in processors.and_then(Yaml::as_sequence).into_iter().flatten() {
            let parameter = |name: &str| {
                (processor["Parameters"].as_sequence().into_iter().flatten())
                    .find(|p| p["ParameterName"] == name)
                    .map(|p| render(template, &p["ParameterValue"]))
            };
            match processor["Type"].as_str().unwrap() {
                "RecordDeAggregation" => {
                    let kind = parameter("SubRecordType").unwrap();
                    let delimiter = parameter("Delimiter").map(|d| {
                        base64::engine::general_purpose::STANDARD
                            .decode(d)
                            .expect("Firehose takes the delimiter base64-encoded")
                    });
                    config.deaggregation = Some((kind, delimiter.unwrap_or_default()));
                }
                "Lambda" => {
                    let megabytes: usize =
                        parameter("BufferSizeInMBs").map_or(3, |mb| mb.parse().unwrap());
                    config.lambda_buffer_bytes = Some(megabytes * 1024 * 1024);
                }
                "MetadataExtraction" => {
                    assert_eq!(parameter("JsonParsingEngine").as_deref(), Some("JQ-1.6"));
                    config.metadata_query = parameter("MetadataExtractionQuery");
                }
                other => panic!("{id}: the stand-in knows no processor {other}"),
            }
        }
        let conversion = &destination["DataFormatConversionConfiguration"];
        if conversion["Enabled"] == Yaml::Bool(true) {
            let serde = &conversion["InputFormatConfiguration"]["Deserializer"]["OpenXJsonSerDe"];
            let mapping = (serde["ColumnToJsonKeyMappings"]
                .as_mapping()
                .into_iter()
                .flatten())
            .map(|(c, k)| (c.as_str().unwrap().into(), k.as_str().unwrap().into()))
            .collect();
            config.conversion = Some(mapping);
        }
        config.check();
        config
    }

    /// What Firehose refuses when the stream is created or updated.
    fn check(&self) {
        let uses = |namespace: &str| self.prefix.contains(&format!("!{{{namespace}:"));
        // "You must enable dynamic partitioning to use partitionKeyFromQuery or
        // partitionKeyFromLambda in the prefix" (Developer Guide, "Use Amazon S3 bucket prefix
        // to deliver data"), and then each needs what sets it.
        if uses("partitionKeyFromQuery") || uses("partitionKeyFromLambda") {
            assert!(
                self.dynamic_partitioning,
                "{}: keys without dynamic partitioning",
                self.name
            );
        }
        if uses("partitionKeyFromQuery") {
            assert!(
                self.metadata_query.is_some(),
                "{}: no MetadataExtraction",
                self.name
            );
        }
        if uses("partitionKeyFromLambda") {
            assert!(
                self.lambda_buffer_bytes.is_some(),
                "{}: no Lambda processor",
                self.name
            );
        }
        if self.dynamic_partitioning {
            assert!(
                uses("partitionKeyFromQuery") || uses("partitionKeyFromLambda"),
                "{}: dynamic partitioning needs partition keys in the prefix",
                self.name
            );
        }
    }
}

/// A record as it arrived: its data, and where in Kinesis it came from when the stream is the
/// source.
#[derive(Clone, Debug)]
struct Arrived {
    data: Vec<u8>,
    kinesis: Option<(String, String)>,
}

/// A record on its way through the processing.
#[derive(Clone, Debug)]
struct InFlight {
    data: Vec<u8>,
    kinesis: Option<(String, String)>,
    keys: Map<String, Value>,
}

/// What the stand-in delivered, per object key.
pub type Objects = BTreeMap<String, Vec<u8>>;

pub struct FirehoseStandin {
    streams: BTreeMap<String, DeliveryConfig>,
    pending: Mutex<BTreeMap<String, Vec<Arrived>>>,
    transform: Option<Transform>,
    s3_endpoint: String,
    bucket: String,
    /// The arrival time Firehose's `!{timestamp:…}` expressions use, `YYYY-MM-DDTHH:MM:SS`.
    pub arrival: String,
    objects_written: Mutex<usize>,
}

impl FirehoseStandin {
    pub fn new(
        streams: Vec<DeliveryConfig>,
        transform: Option<Transform>,
        s3_endpoint: &str,
        bucket: &str,
        arrival: &str,
    ) -> Arc<Self> {
        let (status, body) = http("PUT", &format!("{s3_endpoint}/{bucket}"), b"");
        assert!(
            status == 200 || status == 409,
            "{}",
            String::from_utf8_lossy(&body)
        );
        Arc::new(Self {
            streams: streams.into_iter().map(|s| (s.name.clone(), s)).collect(),
            pending: Mutex::default(),
            transform,
            s3_endpoint: s3_endpoint.to_string(),
            bucket: bucket.to_string(),
            arrival: arrival.to_string(),
            objects_written: Mutex::new(0),
        })
    }

    /// Serves `PutRecordBatch` and `PutRecord` on loopback; returns the endpoint.
    pub fn serve(self: &Arc<Self>) -> String {
        let standin = Arc::clone(self);
        let addr = serve(move |request| {
            let target = request
                .headers
                .get("x-amz-target")
                .cloned()
                .unwrap_or_default();
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let stream = body["DeliveryStreamName"].as_str().unwrap_or_default();
            let records: Vec<Vec<u8>> = match target.as_str() {
                "Firehose_20150804.PutRecordBatch" => body["Records"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| decode(&r["Data"]))
                    .collect(),
                "Firehose_20150804.PutRecord" => vec![decode(&body["Record"]["Data"])],
                other => panic!("the Firehose stand-in serves no {other}"),
            };
            match standin.accept(stream, records) {
                Ok(count) if target.ends_with("PutRecordBatch") => HttpResponse::json(
                    200,
                    &json!({"FailedPutCount": 0, "Encrypted": false,
                        "RequestResponses": (0..count).map(|i| json!({"RecordId": format!("r{i}")})).collect::<Vec<_>>()}),
                ),
                Ok(_) => HttpResponse::json(200, &json!({"RecordId": "r0", "Encrypted": false})),
                Err((kind, message)) => {
                    let mut response =
                        HttpResponse::json(400, &json!({"__type": kind, "message": message}));
                    response
                        .headers
                        .push(("x-amzn-ErrorType".into(), kind.into()));
                    response
                }
            }
        });
        format!("http://{addr}")
    }

    /// A `PutRecordBatch` (or `PutRecord`): refused whole when over a limit, as Firehose does.
    pub fn accept(&self, stream: &str, records: Vec<Vec<u8>>) -> Result<usize, (&str, String)> {
        if !self.streams.contains_key(stream) {
            return Err(("ResourceNotFoundException", format!("no stream {stream}")));
        }
        if records.len() > MAX_RECORDS_PER_REQUEST {
            return Err((
                "InvalidArgumentException",
                format!("{} records", records.len()),
            ));
        }
        let total: usize = records.iter().map(Vec::len).sum();
        if total > MAX_REQUEST_BYTES {
            return Err((
                "InvalidArgumentException",
                format!("{total} bytes in the request"),
            ));
        }
        if let Some(record) = records.iter().find(|r| r.len() > MAX_RECORD_BYTES) {
            return Err((
                "InvalidArgumentException",
                format!("a record of {} bytes", record.len()),
            ));
        }
        let count = records.len();
        let mut pending = self.pending.lock().unwrap();
        let queue = pending.entry(stream.to_string()).or_default();
        queue.extend(records.into_iter().map(|data| Arrived {
            data,
            kinesis: None,
        }));
        Ok(count)
    }

    /// A record Firehose read from its source Kinesis stream (`KinesisStreamAsSource`): the
    /// Kinesis record as it is, at most 1 MiB as Kinesis allows.
    pub fn read_from_kinesis(&self, stream: &str, shard: &str, sequence: &str, data: Vec<u8>) {
        assert!(
            data.len() <= 1024 * 1024,
            "Kinesis takes at most 1 MiB a record"
        );
        let mut pending = self.pending.lock().unwrap();
        pending
            .entry(stream.to_string())
            .or_default()
            .push(Arrived {
                data,
                kinesis: Some((shard.to_string(), sequence.to_string())),
            });
    }

    /// The buffer's time is up: everything pending is processed and delivered, one object per
    /// stream, partition and error output type.
    pub fn flush(&self) {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap());
        for (stream, records) in pending {
            let config = &self.streams[&stream];
            let (delivered, failed) = self.process(config, records);
            for (prefix, body) in delivered {
                self.write(config, &prefix, body);
            }
            for (kind, body) in failed {
                let prefix = self.fill(&config.error_prefix, &Map::new(), Some(&kind));
                self.write(config, &prefix, body);
            }
        }
    }

    fn process(
        &self,
        config: &DeliveryConfig,
        records: Vec<Arrived>,
    ) -> (BTreeMap<String, Vec<u8>>, BTreeMap<String, Vec<u8>>) {
        let mut failed: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut fail = |kind: &str, data: &[u8], why: &str| {
            let out = failed.entry(kind.to_string()).or_default();
            let line = json!({"errorMessage": why,
                "rawData": base64::engine::general_purpose::STANDARD.encode(data)});
            out.extend_from_slice(line.to_string().as_bytes());
            out.push(b'\n');
        };

        // 1. Deaggregation, before anything else ("Deaggregation → Data Transformation via
        //    Lambda → Partitioning Keys", Developer Guide, "Apply dynamic partitioning to
        //    aggregated data"). The guide does not say what becomes of a record over the 500 cap:
        //    the stand-in fails it (the strictest reading).
        let mut flight = Vec::new();
        for record in records {
            let parts = match &config.deaggregation {
                None => Ok(vec![record.data.clone()]),
                Some((kind, _)) if kind == "JSON" => json_objects(&record.data),
                Some((_, delimiter)) => Ok(split_delimited(&record.data, delimiter)),
            };
            match parts {
                Err(why) => fail(
                    "processing-failed",
                    &record.data,
                    &format!("deaggregation: {why}"),
                ),
                Ok(parts) if parts.len() > MAX_SUB_RECORDS => fail(
                    "processing-failed",
                    &record.data,
                    &format!(
                        "deaggregation: {} sub-records, over the 500 cap",
                        parts.len()
                    ),
                ),
                Ok(parts) => flight.extend(parts.into_iter().map(|data| InFlight {
                    data,
                    kinesis: record.kinesis.clone(),
                    keys: Map::new(),
                })),
            }
        }

        // 2. The transform Lambda, invoked with up to its buffer's worth of records.
        if let Some(buffer) = config.lambda_buffer_bytes {
            let transform = self
                .transform
                .as_ref()
                .expect("the stream has a Lambda processor");
            let mut transformed = Vec::new();
            let mut batch: Vec<InFlight> = Vec::new();
            let mut batch_bytes = 0;
            let mut records = flight.into_iter().peekable();
            while let Some(record) = records.next() {
                batch_bytes += record.data.len();
                batch.push(record);
                let full = records
                    .peek()
                    .is_none_or(|next| batch_bytes + next.data.len() > buffer);
                if full {
                    let invocation = std::mem::take(&mut batch);
                    batch_bytes = 0;
                    match self.invoke(config, transform, &invocation) {
                        Ok(out) => {
                            transformed.extend(out.into_iter().filter_map(
                                |(r, result)| match result {
                                    TransformResult::Ok => Some(r),
                                    TransformResult::Dropped => None,
                                    TransformResult::Failed(why) => {
                                        fail("processing-failed", &r.data, &why);
                                        None
                                    }
                                },
                            ))
                        }
                        Err(why) => {
                            for record in &invocation {
                                fail("processing-failed", &record.data, &why);
                            }
                        }
                    }
                }
            }
            flight = transformed;
        }

        // 3. Partition keys: the JQ query reads each record as one JSON document.
        if let Some(query) = &config.metadata_query {
            let keys = run_jq(query, &flight);
            let mut keyed = Vec::new();
            for (mut record, keys) in flight.into_iter().zip(keys) {
                match keys {
                    Ok(keys) => {
                        record.keys.extend(keys);
                        keyed.push(record);
                    }
                    Err(why) => fail("partitioning-failed", &record.data, &why),
                }
            }
            flight = keyed;
        }

        // 4. Format conversion, then one object per partition.
        let mut delivered: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for record in flight {
            let body = match &config.conversion {
                Some(mapping) => match convert(&record.data, mapping) {
                    Ok(rows) => rows,
                    Err(why) => {
                        fail("format-conversion-failed", &record.data, &why);
                        continue;
                    }
                },
                None => record.data.clone(),
            };
            let prefix = self.fill(&config.prefix, &record.keys, None);
            if prefix.contains("!{") {
                fail(
                    "partitioning-failed",
                    &record.data,
                    &format!("no key for {prefix}"),
                );
                continue;
            }
            delivered
                .entry(prefix)
                .or_default()
                .extend_from_slice(&body);
        }
        (delivered, failed)
    }

    /// One synchronous invocation of the transform, and Firehose's checks of its answer
    /// (Developer Guide, "Transform source data in Amazon Data Firehose": each record's
    /// `recordId`, `result` and `data`; "Any mismatch between the ID of the original record
    /// and the ID of the transformed record is treated as a data transformation failure").
    fn invoke(
        &self,
        config: &DeliveryConfig,
        transform: &Transform,
        records: &[InFlight],
    ) -> Result<Vec<(InFlight, TransformResult)>, String> {
        let engine = &base64::engine::general_purpose::STANDARD;
        let event_records: Vec<Value> = records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut record = json!({"recordId": format!("{i:056}"),
                    "approximateArrivalTimestamp": 1_700_000_000_000_i64,
                    "data": engine.encode(&r.data)});
                if let Some((shard, sequence)) = &r.kinesis {
                    record["kinesisRecordMetadata"] = json!({"shardId": shard,
                        "partitionKey": "web-1", "approximateArrivalTimestamp": 1_700_000_000_000_i64,
                        "sequenceNumber": sequence, "subsequenceNumber": 0});
                }
                record
            })
            .collect();
        let mut event = json!({"invocationId": "invocation-1",
            "deliveryStreamArn": format!("arn:aws:firehose:us-east-1:123456789012:deliverystream/{}", config.name),
            "region": "us-east-1", "records": event_records});
        if records.iter().any(|r| r.kinesis.is_some()) {
            event["sourceKinesisStreamArn"] =
                "arn:aws:kinesis:us-east-1:123456789012:stream/web-logs".into();
        }
        assert!(
            event.to_string().len() <= MAX_LAMBDA_PAYLOAD_BYTES,
            "{}: an invocation over Lambda's 6 MB payload",
            config.name
        );
        let response = transform(&event);
        let size = response.to_string().len();
        if size > MAX_LAMBDA_PAYLOAD_BYTES {
            return Err(format!("the Lambda's response is {size} bytes, over 6 MB"));
        }
        let answered = response["records"].as_array().cloned().unwrap_or_default();
        let mut by_id: BTreeMap<String, Value> = BTreeMap::new();
        for record in answered {
            let id = record["recordId"].as_str().unwrap_or_default().to_string();
            if by_id.insert(id.clone(), record).is_some() {
                return Err(format!("record id {id} answered twice"));
            }
        }
        if by_id.len() != records.len() {
            return Err(format!(
                "{} records answered for {}",
                by_id.len(),
                records.len()
            ));
        }
        let mut out = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let Some(answer) = by_id.get(&format!("{i:056}")) else {
                return Err(format!("record {i} not answered"));
            };
            let result = match answer["result"].as_str() {
                Some("Ok") => {
                    let Some(data) = answer["data"].as_str().and_then(|d| engine.decode(d).ok())
                    else {
                        out.push((
                            record.clone(),
                            TransformResult::Failed("Ok without base64 data".into()),
                        ));
                        continue;
                    };
                    let mut keys = Map::new();
                    if config.prefix.contains("!{partitionKeyFromLambda:") {
                        match answer["metadata"]["partitionKeys"].as_object() {
                            Some(found) if found.values().all(Value::is_string) => {
                                keys.extend(
                                    found
                                        .iter()
                                        .map(|(k, v)| (format!("lambda:{k}"), v.clone())),
                                );
                            }
                            _ => {
                                out.push((
                                    record.clone(),
                                    TransformResult::Failed("no metadata.partitionKeys".into()),
                                ));
                                continue;
                            }
                        }
                    }
                    out.push((
                        InFlight {
                            data,
                            kinesis: record.kinesis.clone(),
                            keys,
                        },
                        TransformResult::Ok,
                    ));
                    continue;
                }
                Some("Dropped") => TransformResult::Dropped,
                Some("ProcessingFailed") => {
                    TransformResult::Failed("the transform failed it".into())
                }
                other => TransformResult::Failed(format!("result {other:?}")),
            };
            out.push((record.clone(), result));
        }
        Ok(out)
    }

    /// A prefix with its `!{…}` expressions filled in: partition keys, the arrival time, the
    /// error output type.
    fn fill(&self, template: &str, keys: &Map<String, Value>, error: Option<&str>) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("!{") {
            out.push_str(&rest[..start]);
            let end = start + rest[start..].find('}').unwrap();
            let expression = &rest[start + 2..end];
            let (namespace, name) = expression.split_once(':').unwrap();
            let value = match namespace {
                "partitionKeyFromQuery" => keys
                    .get(&format!("query:{name}"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                "partitionKeyFromLambda" => keys
                    .get(&format!("lambda:{name}"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                "timestamp" => Some(match name {
                    "yyyy-MM-dd" => self.arrival[..10].to_string(),
                    "HH" => self.arrival[11..13].to_string(),
                    other => panic!("the stand-in knows no timestamp format {other}"),
                }),
                "firehose" if name == "error-output-type" => error.map(str::to_string),
                _ => panic!("the stand-in knows no expression !{{{expression}}}"),
            };
            match value {
                Some(value) => out.push_str(&value),
                None => out.push_str(&rest[start..=end]),
            }
            rest = &rest[end + 1..];
        }
        out + rest
    }

    /// Firehose's object name: `{prefix}{stream}-{version}-{yyyy-MM-dd-HH-mm-ss}-{random}`.
    fn write(&self, config: &DeliveryConfig, prefix: &str, body: Vec<u8>) {
        let mut count = self.objects_written.lock().unwrap();
        *count += 1;
        let stamp = self.arrival.replace(['T', ':'], "-");
        let key = format!("{prefix}{}-1-{stamp}-{:08x}", config.name, *count);
        let body = if config.gzip { gzip(&body) } else { body };
        let (status, answer) = http(
            "PUT",
            &format!("{}/{}/{key}", self.s3_endpoint, self.bucket),
            &body,
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    }
}

enum TransformResult {
    Ok,
    Dropped,
    Failed(String),
}

fn decode(data: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(data.as_str().unwrap())
        .unwrap()
}

/// Consecutive JSON objects, on one line or newline-separated (JSON deaggregation's input; an
/// array is not valid).
fn json_objects(data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut objects = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(data).into_iter::<Value>();
    let mut start = 0;
    while let Some(value) = stream.next() {
        let value = value.map_err(|e| format!("not JSON: {e}"))?;
        if !value.is_object() {
            return Err("not a JSON object".into());
        }
        let end = stream.byte_offset();
        objects.push(data[start..end].trim_ascii().to_vec());
        start = end;
    }
    Ok(objects)
}

fn split_delimited(data: &[u8], delimiter: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(delimiter.len()).position(|w| w == delimiter) {
        parts.push(rest[..at].to_vec());
        rest = &rest[at + delimiter.len()..];
    }
    if !rest.is_empty() {
        parts.push(rest.to_vec());
    }
    parts
}

/// The JQ query on each record, as one JSON document: its keys, or why there are none.
fn run_jq(query: &str, records: &[InFlight]) -> Vec<Result<Map<String, Value>, String>> {
    let python = super::jq_python().expect("the partitioning query needs PyPI jq");
    let script = r#"
import jq, json, sys
query = jq.compile(sys.argv[1])
for line in sys.stdin:
    try:
        print(json.dumps({"keys": query.input_text(line).first()}))
    except Exception as error:
        print(json.dumps({"error": str(error)}))
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script, query])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = Vec::new();
    for record in records {
        // A record the query reads must be one JSON document on one line; anything else (rows
        // that were never deaggregated) is a partitioning failure, as for Firehose.
        let one_document = json_objects(&record.data).is_ok_and(|o| o.len() == 1);
        if one_document {
            input.extend_from_slice(record.data.trim_ascii());
        } else {
            input.extend_from_slice(b"not one JSON document");
        }
        input.push(b'\n');
    }
    let writer = {
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input).unwrap())
    };
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success(), "jq failed on {query}");
    let answers: Vec<Value> = (output.stdout.split(|&b| b == b'\n'))
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(answers.len(), records.len());
    answers
        .into_iter()
        .map(|answer| match answer["keys"].as_object() {
            Some(keys) if keys.values().all(Value::is_string) => Ok(keys
                .iter()
                .map(|(k, v)| (format!("query:{k}"), v.clone()))
                .collect()),
            _ => Err(format!("the query gave no string keys: {answer}")),
        })
        .collect()
}

/// Format conversion: every JSON object of the record becomes a row of the table's columns (a
/// key the mapping does not name is read under the column of its own name; keys that are no
/// column are dropped, as the OpenX SerDe drops them). Written as JSON rows keyed by column.
fn convert(data: &[u8], mapping: &BTreeMap<String, String>) -> Result<Vec<u8>, String> {
    let column_of: BTreeMap<&str, &str> = mapping
        .iter()
        .map(|(c, k)| (k.as_str(), c.as_str()))
        .collect();
    let mut out = Vec::new();
    for object in json_objects(data)? {
        let row: Map<String, Value> = serde_json::from_slice(&object).unwrap();
        let columns: Map<String, Value> = row
            .into_iter()
            .map(|(key, value)| {
                let column = column_of
                    .get(key.as_str())
                    .map_or(key.clone(), |c| c.to_string());
                (column, value)
            })
            .collect();
        out.extend_from_slice(Value::Object(columns).to_string().as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}
