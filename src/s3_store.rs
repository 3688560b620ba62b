//! A read-only [`ObjectStore`] over the AWS SDK's S3 client, through which DataFusion reads an
//! `s3://` lake: the same credentials, region and `AWS_ENDPOINT_URL` as every other loglake
//! command (and no second HTTP and TLS stack to build). DataFusion asks for a file's footer and
//! then for the column chunks a query needs; each ask is one ranged GET, so a query reads only
//! those bytes, and partitions it prunes are never listed. A small file that the footer's read
//! brought whole is kept, and its columns read from memory.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::Client;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    Attributes, CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult,
    MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload,
    PutResult,
};

/// What the S3 lake's reads have fetched in this process: the proof that a query read only what
/// it needed (`loglake sql` and `loglake query` print them).
static BYTES_FETCHED: AtomicU64 = AtomicU64::new(0);
static GETS: AtomicU64 = AtomicU64::new(0);

/// What the reads from S3 fetched so far, for a command's closing note; `None` without any.
pub fn fetched() -> Option<String> {
    let gets = GETS.load(Ordering::Relaxed);
    (gets > 0).then(|| {
        let bytes = BYTES_FETCHED.load(Ordering::Relaxed);
        format!("fetched {bytes} bytes from S3 in {gets} GETs")
    })
}

/// One bucket, read only.
#[derive(Debug)]
pub struct S3Store {
    bucket: Bucket,
    /// Small objects a read brought whole (an hourly file's footer read takes it all), by key:
    /// the ranges read after it come from here instead of a GET each.
    whole: Mutex<HashMap<String, (ObjectMeta, Bytes)>>,
}

/// Objects up to this size are kept whole once a read brings them whole: the lake's hourly
/// files (~10 KB–1 MB) are read by their footer request, DataFusion's first, and would
/// otherwise be fetched again column by column.
const KEEP_WHOLE: u64 = 1 << 20;
/// At most this much is kept in all, so that a scan of a big lake stays bounded.
const KEEP_AT_MOST: usize = 512 << 20;

/// The bucket and the client that reads it: what a listing's stream takes with it.
#[derive(Debug, Clone)]
struct Bucket {
    client: Client,
    name: String,
}

impl Bucket {
    /// What S3 answered, as object_store's error: its code and message alone (the SDK's full
    /// context, the raw response included, only when S3 gave neither).
    fn error<E, R>(&self, operation: &str, key: &str, error: SdkError<E, R>) -> object_store::Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        let said = match (error.code(), error.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_string(),
            _ => DisplayErrorContext(&error).to_string(),
        };
        let message = format!("S3 {operation} s3://{}/{key}: {said}", self.name);
        match error.code() {
            Some("NoSuchKey" | "NotFound") => object_store::Error::NotFound {
                path: key.to_string(),
                source: message.into(),
            },
            _ => object_store::Error::Generic {
                store: "S3",
                source: message.into(),
            },
        }
    }

    /// Every page of ListObjectsV2 under `prefix` (a folder, `None`: the bucket's root), with
    /// its sub-folders apart when `folders`.
    async fn list(&self, prefix: Option<&Path>, folders: bool) -> object_store::Result<ListResult> {
        let prefix = prefix.map(|p| format!("{p}/")).unwrap_or_default();
        let mut request = (self.client.list_objects_v2().bucket(&self.name)).prefix(&prefix);
        if folders {
            request = request.delimiter("/");
        }
        let mut pages = request.into_paginator().send();
        let mut result = ListResult {
            common_prefixes: Vec::new(),
            objects: Vec::new(),
        };
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("ListObjectsV2", &prefix, e))?;
            let folders = (page.common_prefixes().iter()).filter_map(|common| common.prefix());
            (result.common_prefixes).extend(
                folders.filter_map(|folder| Path::parse(folder.trim_end_matches('/')).ok()),
            );
            (result.objects).extend(page.contents().iter().filter_map(object_meta));
        }
        Ok(result)
    }
}

impl S3Store {
    pub fn new(client: Client, bucket: &str) -> Self {
        Self {
            bucket: Bucket {
                client,
                name: bucket.to_string(),
            },
            whole: Mutex::new(HashMap::new()),
        }
    }

    /// `range` of the object at `key`, if it was kept whole.
    fn kept(&self, key: &str, range: Option<&GetRange>) -> Option<GetResult> {
        let (meta, whole) = self.whole.lock().ok()?.get(key)?.clone();
        let size = meta.size;
        let wanted = match range {
            None => 0..size,
            Some(GetRange::Bounded(r)) => r.start.min(size)..r.end.min(size),
            Some(GetRange::Offset(start)) => (*start).min(size)..size,
            Some(GetRange::Suffix(length)) => size.saturating_sub(*length)..size,
        };
        let bytes = whole.slice(wanted.start as usize..wanted.end as usize);
        Some(result(meta, wanted, bytes))
    }

    fn keep(&self, key: &str, meta: &ObjectMeta, body: &Bytes) {
        if let Ok(mut whole) = self.whole.lock() {
            let held: usize = whole.values().map(|(_, bytes)| bytes.len()).sum();
            if held + body.len() <= KEEP_AT_MOST {
                whole.insert(key.to_string(), (meta.clone(), body.clone()));
            }
        }
    }

    fn read_only(&self, operation: &str) -> object_store::Error {
        object_store::Error::NotImplemented {
            operation: operation.to_string(),
            implementer: format!("the read-only S3 lake s3://{}", self.bucket.name),
        }
    }
}

impl fmt::Display for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S3Store(s3://{})", self.bucket.name)
    }
}

/// S3's time as object_store's.
fn utc(time: Option<&aws_sdk_s3::primitives::DateTime>) -> chrono::DateTime<chrono::Utc> {
    time.and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or_default()
}

/// An object's description from what S3 said of it.
fn meta(
    location: Path,
    size: Option<i64>,
    last_modified: Option<&aws_sdk_s3::primitives::DateTime>,
    e_tag: Option<&str>,
) -> ObjectMeta {
    ObjectMeta {
        location,
        last_modified: utc(last_modified),
        size: size.unwrap_or(0).max(0) as u64,
        e_tag: e_tag.map(str::to_string),
        version: None,
    }
}

/// A read's answer: `bytes`, the `range` of the object described by `meta` they are.
fn result(meta: ObjectMeta, range: Range<u64>, bytes: Bytes) -> GetResult {
    GetResult {
        payload: GetResultPayload::Stream(stream::once(async move { Ok(bytes) }).boxed()),
        meta,
        range,
        attributes: Attributes::default(),
    }
}

/// The HTTP `Range` header for `range`.
fn range_header(range: &GetRange) -> String {
    match range {
        GetRange::Bounded(r) => format!("bytes={}-{}", r.start, r.end.saturating_sub(1)),
        GetRange::Offset(start) => format!("bytes={start}-"),
        GetRange::Suffix(length) => format!("bytes=-{length}"),
    }
}

/// The bytes a ranged GET returned, and the object's whole size, from its `Content-Range`
/// (`bytes 100-199/5000`); without one, the whole object came.
fn returned_range(content_range: Option<&str>, length: u64) -> (Range<u64>, u64) {
    let parsed = content_range.and_then(|header| {
        let (span, size) = header.strip_prefix("bytes ")?.split_once('/')?;
        let (start, end) = span.split_once('-')?;
        Some((
            start.parse::<u64>().ok()?..end.parse::<u64>().ok()? + 1,
            size.parse::<u64>().ok()?,
        ))
    });
    parsed.unwrap_or((0..length, length))
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let (key, bucket) = (location.as_ref(), &self.bucket);
        if options.head {
            let head = (bucket
                .client
                .head_object()
                .bucket(&bucket.name)
                .key(key)
                .send()
                .await)
                .map_err(|e| bucket.error("HeadObject", key, e))?;
            let meta = meta(
                location.clone(),
                head.content_length(),
                head.last_modified(),
                head.e_tag(),
            );
            return Ok(result(meta, 0..0, Bytes::new()));
        }
        if let Some(kept) = self.kept(key, options.range.as_ref()) {
            return Ok(kept);
        }
        let mut request = bucket.client.get_object().bucket(&bucket.name).key(key);
        if let Some(range) = &options.range {
            request = request.range(range_header(range));
        }
        let output = (request.send().await).map_err(|e| bucket.error("GetObject", key, e))?;
        let (range, size) = returned_range(
            output.content_range(),
            output.content_length().unwrap_or(0).max(0) as u64,
        );
        let meta = meta(
            location.clone(),
            Some(size as i64),
            output.last_modified(),
            output.e_tag(),
        );
        let body: Bytes = (output.body.collect().await)
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: format!(
                    "S3 GetObject s3://{}/{key}: reading the body: {e}",
                    bucket.name
                )
                .into(),
            })?
            .into_bytes();
        GETS.fetch_add(1, Ordering::Relaxed);
        BYTES_FETCHED.fetch_add(body.len() as u64, Ordering::Relaxed);
        if range == (0..size) && size <= KEEP_WHOLE {
            self.keep(key, &meta, &body);
        }
        Ok(result(meta, range, body))
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let (bucket, prefix) = (self.bucket.clone(), prefix.cloned());
        stream::once(async move { bucket.list(prefix.as_ref(), false).await })
            .map_ok(|listed| stream::iter(listed.objects.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.bucket.list(prefix, true).await
    }

    async fn put_opts(
        &self,
        _: &Path,
        _: PutPayload,
        _: PutOptions,
    ) -> object_store::Result<PutResult> {
        Err(self.read_only("put"))
    }

    async fn put_multipart_opts(
        &self,
        _: &Path,
        _: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(self.read_only("put_multipart"))
    }

    fn delete_stream(
        &self,
        _: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        stream::once(std::future::ready(Err(self.read_only("delete")))).boxed()
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> object_store::Result<()> {
        Err(self.read_only("copy"))
    }
}

/// A listed object as object_store's; folder markers (`…/`) are no files.
fn object_meta(object: &aws_sdk_s3::types::Object) -> Option<ObjectMeta> {
    let key = (object.key()).filter(|k| !k.is_empty() && !k.ends_with('/'))?;
    let location = Path::parse(key).ok()?;
    Some(meta(
        location,
        object.size(),
        object.last_modified(),
        object.e_tag(),
    ))
}
