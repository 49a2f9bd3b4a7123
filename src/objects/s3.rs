//! [`ObjectStore`] over aws-sdk-s3: the endpoint after the default-host fallback, path-style
//! addressing (MinIO, Garage), static credentials, and checksums only where an operation
//! requires them (which every S3-compatible server supports).
//!
//! The SDK's own retries are off: every retry and every bounded wait is the caller's
//! ([`super::patience`]), so they behave the same whatever store is behind the trait and are
//! unit-tested. SDK errors are classified into [`StoreErrorKind`]s here, from the HTTP status
//! and the S3 error code.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};

use super::store::{
    Fetched, FileRange, ListPage, Listed, ObjectMeta, ObjectStore, StoreError, StoreErrorKind,
    StoreResult,
};
use crate::config::{ConfigError, S3Settings};

/// Region used when none is configured (MinIO's default).
const DEFAULT_REGION: &str = "us-east-1";

/// How long to wait for a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An S3-compatible server reached with aws-sdk-s3.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    endpoint: String,
}

impl S3Store {
    /// Builds the client; resolving the endpoint's host may fall back to 127.0.0.1. `stall` is
    /// how long a response may go without a byte.
    pub fn new(settings: &S3Settings, stall: Duration) -> Result<S3Store, ConfigError> {
        let endpoint = settings.connect_endpoint()?;
        let credentials = Credentials::new(
            &settings.access_key_id,
            settings.secret_access_key.expose(),
            None,
            None,
            "fullsite",
        );
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(
                settings
                    .region
                    .clone()
                    .unwrap_or_else(|| DEFAULT_REGION.into()),
            ))
            .endpoint_url(endpoint.as_str())
            .force_path_style(true)
            .credentials_provider(credentials)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .read_timeout(stall)
                    .build(),
            )
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        Ok(S3Store {
            client: Client::from_conf(config),
            endpoint: endpoint.as_str().to_string(),
        })
    }
}

/// Classifies an SDK error: the S3 error code and HTTP status of a service error, or a
/// transport failure (timeouts, resets, unreadable responses: worth another try).
fn classify<E>(error: SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = aws_sdk_s3::error::DisplayErrorContext(&error).to_string();
    let kind = match &error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            match (service.err().code(), status) {
                (Some("NoSuchKey"), _) => StoreErrorKind::NotFound,
                (Some("NoSuchBucket"), _) => StoreErrorKind::NoSuchBucket,
                (Some("PreconditionFailed"), _) | (_, 412) => StoreErrorKind::PreconditionFailed,
                (Some("NotImplemented"), _) | (_, 501) => StoreErrorKind::NotImplemented,
                (Some("SlowDown" | "ServiceUnavailable" | "InternalError"), _) => {
                    StoreErrorKind::Transient
                }
                (_, 404) => StoreErrorKind::NotFound,
                (_, 429 | 500..=599) => StoreErrorKind::Transient,
                _ => StoreErrorKind::Permanent,
            }
        }
        // The server said nothing for the read timeout (the stall timeout): not worth
        // another try within the same budget.
        SdkError::TimeoutError(_) => StoreErrorKind::Stalled,
        SdkError::DispatchFailure(failure) if failure.is_timeout() => StoreErrorKind::Stalled,
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => StoreErrorKind::Transient,
        _ => StoreErrorKind::Permanent,
    };
    StoreError::new(kind, message)
}

fn format_time(time: &DateTime) -> Option<String> {
    time.fmt(DateTimeFormat::DateTime).ok()
}

async fn byte_stream(range: &FileRange) -> StoreResult<ByteStream> {
    ByteStream::read_from()
        .path(&range.path)
        .offset(range.offset)
        .length(aws_sdk_s3::primitives::Length::Exact(range.length))
        .build()
        .await
        .map_err(|e| {
            StoreError::new(
                StoreErrorKind::Permanent,
                format!("cannot read '{}': {e}", range.path.display()),
            )
        })
}

fn user_metadata(meta: &ObjectMeta) -> Option<HashMap<String, String>> {
    (!meta.user.is_empty()).then(|| meta.user.clone().into_iter().collect())
}

impl S3Store {
    /// One ListObjectsV2 page of `bucket` (only keys under `prefix`, when given), after `token`.
    async fn list(
        &self,
        bucket: &str,
        prefix: Option<&str>,
        token: Option<String>,
    ) -> StoreResult<ListPage> {
        let page = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .set_prefix(prefix.map(str::to_string))
            .set_continuation_token(token)
            .send()
            .await
            .map_err(classify)?;
        let objects = page
            .contents()
            .iter()
            .filter_map(|object| {
                Some(Listed {
                    key: object.key()?.to_string(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    etag: object.e_tag().unwrap_or_default().to_string(),
                    last_modified: object
                        .last_modified()
                        .and_then(format_time)
                        .unwrap_or_default(),
                })
            })
            .collect();
        let next = if page.is_truncated() == Some(true) {
            page.next_continuation_token().map(String::from)
        } else {
            None
        };
        Ok(ListPage { objects, next })
    }

    /// GetObject, optionally only the version `if_match` names and only the bytes `range`
    /// (an HTTP `Range` value) selects.
    async fn fetch(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&str>,
        range: Option<String>,
    ) -> StoreResult<Fetched> {
        let output = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_if_match(if_match.map(String::from))
            .set_range(range)
            .send()
            .await
            .map_err(classify)?;
        let meta = ObjectMeta {
            content_type: output.content_type,
            cache_control: output.cache_control,
            content_encoding: output.content_encoding,
            content_disposition: output.content_disposition,
            user: output.metadata.unwrap_or_default().into_iter().collect(),
        };
        Ok(Fetched {
            size: output.content_length.unwrap_or(0).max(0) as u64,
            etag: output.e_tag.unwrap_or_default(),
            last_modified: output.last_modified.as_ref().and_then(format_time),
            meta,
            body: body_stream(output.body),
        })
    }
}

impl ObjectStore for S3Store {
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn list_buckets(&self) -> StoreResult<Vec<String>> {
        let output = self.client.list_buckets().send().await.map_err(classify)?;
        let mut names: Vec<String> = output
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(String::from))
            .collect();
        names.sort();
        Ok(names)
    }

    async fn list_page(&self, bucket: &str, token: Option<String>) -> StoreResult<ListPage> {
        self.list(bucket, None, token).await
    }

    async fn get(&self, bucket: &str, key: &str, if_match: Option<&str>) -> StoreResult<Fetched> {
        self.fetch(bucket, key, if_match, None).await
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: FileRange,
        meta: &ObjectMeta,
    ) -> StoreResult<()> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(byte_stream(&body).await?)
            .set_content_type(meta.content_type.clone())
            .set_cache_control(meta.cache_control.clone())
            .set_content_encoding(meta.content_encoding.clone())
            .set_content_disposition(meta.content_disposition.clone())
            .set_metadata(user_metadata(meta))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
    ) -> StoreResult<String> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .set_content_type(meta.content_type.clone())
            .set_cache_control(meta.cache_control.clone())
            .set_content_encoding(meta.content_encoding.clone())
            .set_content_disposition(meta.content_disposition.clone())
            .set_metadata(user_metadata(meta))
            .send()
            .await
            .map_err(classify)?;
        created.upload_id().map(String::from).ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::Permanent,
                "the server started a multipart upload without an upload id",
            )
        })
    }

    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        body: FileRange,
    ) -> StoreResult<String> {
        let part = self
            .client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(byte_stream(&body).await?)
            .send()
            .await
            .map_err(classify)?;
        Ok(part.e_tag.unwrap_or_default())
    }

    async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: Vec<(i32, String)>,
    ) -> StoreResult<()> {
        let parts = parts
            .into_iter()
            .map(|(number, etag)| {
                CompletedPart::builder()
                    .part_number(number)
                    .e_tag(etag)
                    .build()
            })
            .collect();
        self.client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn abort_multipart(&self, bucket: &str, key: &str, upload_id: &str) -> StoreResult<()> {
        self.client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn delete(&self, bucket: &str, keys: &[String]) -> StoreResult<()> {
        let objects: Vec<ObjectIdentifier> = keys
            .iter()
            .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
            .collect();
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| StoreError::new(StoreErrorKind::Permanent, e.to_string()))?;
        let output = self
            .client
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(classify)?;
        match output.errors().first() {
            Some(failed) => Err(StoreError::new(
                StoreErrorKind::Permanent,
                format!(
                    "the server refused to delete '{}': {}",
                    crate::human::printable(failed.key().unwrap_or_default()),
                    failed.message().unwrap_or_default()
                ),
            )),
            None => Ok(()),
        }
    }

    async fn bucket_exists(&self, bucket: &str) -> StoreResult<bool> {
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(true),
            Err(e) => match classify(e) {
                e if matches!(
                    e.kind,
                    StoreErrorKind::NotFound | StoreErrorKind::NoSuchBucket
                ) =>
                {
                    Ok(false)
                }
                e => Err(e),
            },
        }
    }

    async fn create_bucket(&self, bucket: &str) -> StoreResult<()> {
        self.client
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn get_policy(&self, bucket: &str) -> StoreResult<Option<String>> {
        match self.client.get_bucket_policy().bucket(bucket).send().await {
            Ok(output) => Ok(output.policy),
            Err(e) => {
                let no_policy = e
                    .as_service_error()
                    .and_then(ProvideErrorMetadata::code)
                    .is_some_and(|code| code == "NoSuchBucketPolicy");
                match classify(e) {
                    _ if no_policy => Ok(None),
                    e if e.kind == StoreErrorKind::NotImplemented => Ok(None),
                    e => Err(e),
                }
            }
        }
    }

    async fn put_policy(&self, bucket: &str, policy: &str) -> StoreResult<()> {
        self.client
            .put_bucket_policy()
            .bucket(bucket)
            .policy(policy)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    // --- Offsite repository additions (see the trait). ---

    async fn list_prefix_page(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<String>,
    ) -> StoreResult<ListPage> {
        self.list(bucket, Some(prefix), token).await
    }

    async fn get_from(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        offset: u64,
    ) -> StoreResult<Fetched> {
        self.fetch(bucket, key, Some(etag), Some(format!("bytes={offset}-")))
            .await
    }

    async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        bytes: bytes::Bytes,
        if_absent: bool,
    ) -> StoreResult<()> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .set_if_none_match(if_absent.then(|| "*".to_string()))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn upload_part_bytes(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        bytes: bytes::Bytes,
    ) -> StoreResult<String> {
        let part = self
            .client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(classify)?;
        Ok(part.e_tag.unwrap_or_default())
    }
}

/// A GET's body as chunks; a connection lost mid-body is a transient error.
fn body_stream(body: ByteStream) -> super::store::Body {
    Box::pin(futures_util::stream::unfold(body, |mut body| async move {
        match body.try_next().await {
            Ok(Some(chunk)) => Some((Ok(chunk), body)),
            Ok(None) => None,
            Err(e) => Some((
                Err(StoreError::new(
                    StoreErrorKind::Transient,
                    aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
                )),
                body,
            )),
        }
    }))
}
