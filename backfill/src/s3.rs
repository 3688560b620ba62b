//! The S3 calls a backfill makes, as blocking functions: sources are parsed on rayon's threads,
//! which wait on the async SDK through a runtime handle. Never call these from inside the runtime.

use std::io::{self, Read};
use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use bytes::Bytes;
use tokio::runtime::Handle;

#[derive(Debug, thiserror::Error)]
#[error("S3 {operation} s3://{bucket}/{key}: {message}")]
pub struct S3Error {
    pub operation: &'static str,
    pub bucket: String,
    pub key: String,
    pub message: String,
}

/// An object found under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Without the quotes S3 puts around it, so a listing and a Distributed Map item agree.
    pub etag: String,
}

/// Trims the quotes around an ETag as S3 returns it.
pub fn bare_etag(etag: &str) -> String {
    etag.trim_matches('"').to_string()
}

#[derive(Clone)]
pub struct S3 {
    client: Client,
    runtime: Handle,
}

impl S3 {
    pub fn new(client: Client, runtime: Handle) -> Self {
        Self { client, runtime }
    }

    /// A client from the usual AWS settings. `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`) is
    /// honoured as the SDK does; with such an endpoint, requests use path-style addressing,
    /// which S3 stand-ins (moto, MinIO) need.
    pub async fn client_from_env() -> Client {
        let shared = aws_config::load_from_env().await;
        let path_style =
            shared.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(path_style)
            .build();
        Client::from_conf(config)
    }

    fn error(
        operation: &'static str,
        bucket: &str,
        key: &str,
        e: impl std::fmt::Display,
    ) -> S3Error {
        S3Error {
            operation,
            bucket: bucket.into(),
            key: key.into(),
            message: e.to_string(),
        }
    }

    /// Every object under `prefix`, in key order, skipping folder markers (`…/`).
    pub fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, S3Error> {
        self.runtime.block_on(async {
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .into_paginator()
                .send();
            let mut objects = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    Self::error(
                        "ListObjectsV2",
                        bucket,
                        prefix,
                        aws_sdk_s3::error::DisplayErrorContext(e),
                    )
                })?;
                for object in page.contents() {
                    let key = object.key().unwrap_or_default();
                    if key.is_empty() || key.ends_with('/') {
                        continue;
                    }
                    objects.push(ObjectInfo {
                        key: key.to_string(),
                        size: object.size().unwrap_or(0).max(0) as u64,
                        etag: bare_etag(object.e_tag().unwrap_or_default()),
                    });
                }
            }
            Ok(objects)
        })
    }

    /// The object's bytes as a stream: read as they arrive, never held whole.
    pub fn open(&self, bucket: &str, key: &str) -> Result<ObjectReader, S3Error> {
        Ok(self.open_version(bucket, key)?.0)
    }

    /// [`S3::open`], with the ETag of the version being read.
    pub fn open_version(&self, bucket: &str, key: &str) -> Result<(ObjectReader, String), S3Error> {
        let output = self
            .runtime
            .block_on(self.client.get_object().bucket(bucket).key(key).send())
            .map_err(|e| {
                Self::error(
                    "GetObject",
                    bucket,
                    key,
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )
            })?;
        let etag = bare_etag(output.e_tag().unwrap_or_default());
        let reader = ObjectReader {
            body: output.body,
            chunk: Bytes::new(),
            runtime: self.runtime.clone(),
        };
        Ok((reader, etag))
    }

    /// A small object's bytes, or `None` when there is no such key.
    pub fn get_small(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, S3Error> {
        self.runtime.block_on(async {
            match self
                .client
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
            {
                Ok(output) => {
                    let bytes = output
                        .body
                        .collect()
                        .await
                        .map_err(|e| Self::error("GetObject", bucket, key, e))?;
                    Ok(Some(bytes.to_vec()))
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
                Err(e) => Err(Self::error(
                    "GetObject",
                    bucket,
                    key,
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )),
            }
        })
    }

    pub fn put_file(&self, bucket: &str, key: &str, path: &Path) -> Result<(), S3Error> {
        self.runtime.block_on(async {
            let body = ByteStream::from_path(path)
                .await
                .map_err(|e| Self::error("PutObject", bucket, key, e))?;
            self.put(bucket, key, body).await
        })
    }

    pub fn put_bytes(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<(), S3Error> {
        self.runtime
            .block_on(self.put(bucket, key, ByteStream::from(bytes)))
    }

    async fn put(&self, bucket: &str, key: &str, body: ByteStream) -> Result<(), S3Error> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                Self::error(
                    "PutObject",
                    bucket,
                    key,
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )
            })
    }

    /// Deletes the object only if it is still the version with `etag` (S3's conditional delete:
    /// the `If-Match` header; it needs `s3:GetObject` besides `s3:DeleteObject`).
    /// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html>
    /// Returns whether this version is gone: `false` when the key now holds another version
    /// (412 Precondition Failed); no object at all (404) counts as gone.
    pub fn delete_if_match(&self, bucket: &str, key: &str, etag: &str) -> Result<bool, S3Error> {
        let request = self
            .client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .if_match(format!("\"{}\"", bare_etag(etag)));
        match self.runtime.block_on(request.send()) {
            Ok(_) => Ok(true),
            Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
                Some(412) => Ok(false),
                Some(404) => Ok(true),
                _ => Err(Self::error(
                    "DeleteObject",
                    bucket,
                    key,
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )),
            },
        }
    }

    pub fn delete(&self, bucket: &str, key: &str) -> Result<(), S3Error> {
        self.runtime
            .block_on(self.client.delete_object().bucket(bucket).key(key).send())
            .map(|_| ())
            .map_err(|e| {
                Self::error(
                    "DeleteObject",
                    bucket,
                    key,
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )
            })
    }
}

/// An S3 object body as a blocking [`Read`]: the SDK keeps receiving the next chunks while the
/// caller parses the current one.
pub struct ObjectReader {
    body: ByteStream,
    chunk: Bytes,
    runtime: Handle,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.runtime.block_on(self.body.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}
