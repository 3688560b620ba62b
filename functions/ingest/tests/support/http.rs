//! A tiny HTTP/1.1 server for stand-ins on loopback, and a plain HTTP client for the local AWS
//! stand-in (moto): shared by the integration tests of several crates.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

use serde_json::Value;

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
    request(method, url, "s3", &[], body)
}

/// A call to an AWS JSON-protocol API of the stand-in (`X-Amz-Target: TARGET`), which routes it
/// by the service named in the credential scope; its answer, or a panic naming the error.
pub fn aws_json(endpoint: &str, service: &str, target: &str, body: &Value) -> Value {
    let headers = [
        ("X-Amz-Target", target),
        ("Content-Type", "application/x-amz-json-1.1"),
    ];
    let body = body.to_string();
    let (status, answer) = request(
        "POST",
        &format!("{endpoint}/"),
        service,
        &headers,
        body.as_bytes(),
    );
    assert_eq!(
        status,
        200,
        "{target}: {}",
        String::from_utf8_lossy(&answer)
    );
    serde_json::from_slice(&answer).unwrap_or(Value::Null)
}

fn request(
    method: &str,
    url: &str,
    service: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = TcpStream::connect(host).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, \
         SignedHeaders=host, Signature=0\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
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
