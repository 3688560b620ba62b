//! Test support shared by the function crates' integration tests (firehose-transform includes
//! this file too): record encodings as shippers produce them, Lambda events, a tiny HTTP/1.1
//! server for stand-ins on loopback, and an HTTP client for the local AWS stand-in.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};

pub const STREAM_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/web-logs";

pub fn base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A CloudWatch Logs subscription record: gzip of the JSON envelope, one event per line.
pub fn cloudwatch_envelope(lines: &[&str]) -> Vec<u8> {
    let events: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| json!({"id": i.to_string(), "timestamp": 0, "message": line}))
        .collect();
    let envelope = json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012",
        "logGroup": "/web/access", "logStream": "i-0abc", "subscriptionFilters": ["all"],
        "logEvents": events,
    });
    gzip(envelope.to_string().as_bytes())
}

pub fn cloudwatch_control_message() -> Vec<u8> {
    gzip(br#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."}]}"#)
}

fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn bytes_field(field: u64, bytes: &[u8], out: &mut Vec<u8>) {
    varint((field << 3) | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// A KPL aggregated record (the Kinesis Producer Library's format): magic, protobuf, MD5.
pub fn kpl_aggregate(user_records: &[&[u8]]) -> Vec<u8> {
    let mut protobuf = Vec::new();
    bytes_field(1, b"partition-key", &mut protobuf);
    for data in user_records {
        let mut record = Vec::new();
        varint(1 << 3, &mut record); // partition_key_index = 0
        varint(0, &mut record);
        bytes_field(3, data, &mut record);
        bytes_field(3, &record, &mut protobuf);
    }
    let mut out = vec![0xF3, 0x89, 0x9A, 0xC2];
    out.extend_from_slice(&protobuf);
    out.extend_from_slice(&md5::compute(&protobuf).0);
    out
}

/// The sequence number of record `index` of an event.
pub fn sequence_number(index: usize) -> String {
    format!("4959033827149025660855969253836157109592157598913658{index:04}")
}

/// A Kinesis event as Lambda delivers it, with these records' data.
pub fn kinesis_event(records: &[Vec<u8>]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, data)| {
            json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "web-1",
                    "sequenceNumber": sequence_number(i),
                    "data": base64(data),
                    "approximateArrivalTimestamp": 1_700_000_000.5
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000003:{}", sequence_number(i)),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/loglake-ingest",
                "awsRegion": "us-east-1",
                "eventSourceARN": STREAM_ARN
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The source name the function gives record `index` of [`kinesis_event`].
pub fn record_source(index: usize) -> String {
    format!(
        "kinesis:web-logs/shardId-000000000003/{}",
        sequence_number(index)
    )
}

/// The shared real data, when present (CI always has it).
pub fn shared_data() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.is_dir() {
        Some(dir)
    } else {
        assert!(
            std::env::var_os("LOGLAKE_REQUIRE_SHARED_DATA").is_none(),
            "LOGLAKE_REQUIRE_SHARED_DATA is set but {} is missing",
            dir.display()
        );
        eprintln!("skipping: {} is missing", dir.display());
        None
    }
}

/// The repository's own sample log (always present).
pub fn sample_lines() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample/access.log");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The UTC `dt` and `hour` of an access-log line, computed from its `[10/Oct/2000:13:55:36
/// -0700]` independently of the parser under test.
pub fn expected_partition(line: &str) -> (String, i64) {
    let open = line.find('[').expect("a timestamp");
    let stamp = &line[open + 1..open + 27];
    let day: i64 = stamp[0..2].parse().unwrap();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == &stamp[3..6])
    .unwrap() as i64
        + 1;
    let year: i64 = stamp[7..11].parse().unwrap();
    let seconds: i64 = stamp[12..14].parse::<i64>().unwrap() * 3600
        + stamp[15..17].parse::<i64>().unwrap() * 60
        + stamp[18..20].parse::<i64>().unwrap();
    let sign = if &stamp[21..22] == "-" { -1 } else { 1 };
    let offset = sign
        * (stamp[22..24].parse::<i64>().unwrap() * 3600
            + stamp[24..26].parse::<i64>().unwrap() * 60);
    // Days since 1970-01-01 by counting: slow and obviously right.
    let is_leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = |y: i64, m: i64| match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let mut days: i64 = (1970..year)
        .map(|y| if is_leap(y) { 366 } else { 365 })
        .sum();
    days += (1..month).map(|m| month_days(year, m)).sum::<i64>() + day - 1;
    let utc = days * 86_400 + seconds - offset;
    let (utc_days, hour) = (utc.div_euclid(86_400), utc.rem_euclid(86_400) / 3600);
    let (mut y, mut d) = (1970, utc_days);
    while d >= if is_leap(y) { 366 } else { 365 } {
        d -= if is_leap(y) { 366 } else { 365 };
        y += 1;
    }
    let mut m = 1;
    while d >= month_days(y, m) {
        d -= month_days(y, m);
        m += 1;
    }
    (format!("{y:04}-{m:02}-{:02}", d + 1), hour)
}

/// A request to a test server.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/x-amz-json-1.1".into())],
            body: body.to_string().into_bytes(),
        }
    }
}

/// A minimal HTTP/1.1 server on a free loopback port: one thread per connection, one request
/// per connection (`Connection: close`). Enough for the AWS SDK and the Lambda runtime client.
pub fn serve(handler: impl Fn(HttpRequest) -> HttpResponse + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let handler = Arc::clone(&handler);
            std::thread::spawn(move || {
                let _ = handle_connection(stream, &*handler);
            });
        }
    });
    addr
}

fn handle_connection(
    stream: TcpStream,
    handler: &dyn Fn(HttpRequest) -> HttpResponse,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        if headers.get("expect").is_some_and(|v| v == "100-continue") {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let response = handler(HttpRequest {
            method,
            path,
            headers,
            body,
        });
        let mut head = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\n",
            response.status,
            response.body.len()
        );
        for (name, value) in &response.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        writer.write_all(head.as_bytes())?;
        writer.write_all(&response.body)?;
        writer.flush()?;
    }
}

/// A plain HTTP request to the local stand-in. It does not check signatures, but it treats a
/// request without an `Authorization` header as anonymous (and refuses object reads), so an
/// unsigned one is sent.
pub fn http(method: &str, url: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, \
         SignedHeaders=host, Signature=0\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = response[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 4 + size..];
    }
}

/// The local AWS stand-in's endpoint (`AWS_ENDPOINT_URL`, set by scripts/test), or `None` to
/// skip (CI sets `LOGLAKE_REQUIRE_AWS_STANDIN` so the tests cannot be skipped there).
pub fn aws_standin() -> Option<String> {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_string()),
        _ => {
            assert!(
                std::env::var_os("LOGLAKE_REQUIRE_AWS_STANDIN").is_none(),
                "LOGLAKE_REQUIRE_AWS_STANDIN is set but AWS_ENDPOINT_URL is not: run scripts/test"
            );
            eprintln!("skipping: AWS_ENDPOINT_URL is not set (scripts/test starts moto)");
            None
        }
    }
}

/// Every object in an S3 bucket of the stand-in: key → body.
pub fn s3_objects(endpoint: &str, bucket: &str) -> Vec<(String, Vec<u8>)> {
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut url = format!("{endpoint}/{bucket}?list-type=2");
        if let Some(t) = &token {
            url.push_str(&format!("&continuation-token={}", percent_encode(t)));
        }
        let (status, body) = http("GET", &url, b"");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let listing = String::from_utf8(body).unwrap();
        for key in xml_values(&listing, "Key") {
            let (status, data) = http("GET", &format!("{endpoint}/{bucket}/{key}"), b"");
            assert_eq!(status, 200);
            objects.push((key, data));
        }
        token = xml_values(&listing, "NextContinuationToken")
            .into_iter()
            .next();
        if token.is_none() {
            return objects;
        }
    }
}

fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| {
            rest.split_once(&close)
                .map(|(v, _)| v.replace("&amp;", "&"))
        })
        .collect()
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What a stand-in Firehose does with one `PutRecordBatch` call.
pub enum FirehoseReply {
    /// Fail the whole call as throttled (`ServiceUnavailableException`).
    Throttle,
    /// Accept the records, except those at these indices (failed with `ServiceUnavailableException`).
    FailEntries(Vec<usize>),
}

/// The records a stand-in Firehose accepted, per stream, in order.
pub type Accepted = Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

/// A Firehose stand-in on loopback speaking the real JSON protocol (`Firehose_20150804`):
/// `reply(call number, records)` decides each call's fate.
pub fn fake_firehose(
    reply: impl Fn(usize, &[Vec<u8>]) -> FirehoseReply + Send + Sync + 'static,
) -> (String, Accepted) {
    let accepted: Accepted = Arc::default();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let store = Arc::clone(&accepted);
    let addr = serve(move |request| {
        let target = request
            .headers
            .get("x-amz-target")
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            target, "Firehose_20150804.PutRecordBatch",
            "unexpected call"
        );
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let stream = body["DeliveryStreamName"].as_str().unwrap().to_string();
        let records: Vec<Vec<u8>> = body["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                base64::engine::general_purpose::STANDARD
                    .decode(r["Data"].as_str().unwrap())
                    .unwrap()
            })
            .collect();
        let call = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match reply(call, &records) {
            FirehoseReply::Throttle => {
                let mut response = HttpResponse::json(
                    400,
                    &json!({"__type": "ServiceUnavailableException", "message": "Slow down."}),
                );
                response.headers.push((
                    "x-amzn-ErrorType".into(),
                    "ServiceUnavailableException".into(),
                ));
                response
            }
            FirehoseReply::FailEntries(failed) => {
                let mut store = store.lock().unwrap();
                let responses: Vec<Value> = records
                    .into_iter()
                    .enumerate()
                    .map(|(i, data)| {
                        if failed.contains(&i) {
                            json!({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."})
                        } else {
                            store.push((stream.clone(), data));
                            json!({"RecordId": format!("rec-{call}-{i}")})
                        }
                    })
                    .collect();
                HttpResponse::json(
                    200,
                    &json!({"FailedPutCount": failed.len(), "Encrypted": false, "RequestResponses": responses}),
                )
            }
        }
    });
    (format!("http://{addr}"), accepted)
}
