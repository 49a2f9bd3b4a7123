//! The object store the mirror and the object restore talk to, as a small trait: listing,
//! conditional GET with a streamed body, PUT with metadata, multipart uploads, deletes, buckets
//! and their policies.
//!
//! [`S3Store`](super::s3::S3Store) implements it with aws-sdk-s3; the unit tests use an
//! in-memory store with injected faults (`super::memory`). Errors carry a [`StoreErrorKind`]
//! decided where they arise (404, 412, a server or network failure worth retrying, ...), so
//! callers branch on kinds, never on message text.
//!
//! Invariants every implementation keeps: a listing page is in key order within the page; a
//! `get` with `if_match` fails with [`StoreErrorKind::PreconditionFailed`] when the object's
//! current ETag differs; a body is a stream of chunks that ends only when the whole object was
//! read (a short body is an error of kind [`StoreErrorKind::Transient`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

/// One object as a bucket listing reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag (quotes included).
    pub etag: String,
    /// Last-Modified, RFC 3339.
    pub last_modified: String,
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    /// The objects of the page.
    pub objects: Vec<Listed>,
    /// The token for the next page; `None` on the last one.
    pub next: Option<String>,
}

/// The metadata an object is stored with (and restored with).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Content-Type.
    pub content_type: Option<String>,
    /// Cache-Control.
    pub cache_control: Option<String>,
    /// Content-Encoding.
    pub content_encoding: Option<String>,
    /// Content-Disposition.
    pub content_disposition: Option<String>,
    /// User metadata (`x-amz-meta-*`), without the prefix.
    pub user: BTreeMap<String, String>,
}

/// A body: the object's bytes, chunk by chunk.
pub type Body = Pin<Box<dyn Stream<Item = Result<Bytes, StoreError>> + Send>>;

/// A GET's answer: the identity of the version being read, its metadata, and its body.
pub struct Fetched {
    /// Content-Length.
    pub size: u64,
    /// ETag of this version (quotes included).
    pub etag: String,
    /// Last-Modified of this version, RFC 3339.
    pub last_modified: Option<String>,
    /// Metadata.
    pub meta: ObjectMeta,
    /// The bytes.
    pub body: Body,
}

/// Bytes to upload: a range of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRange {
    /// The file.
    pub path: PathBuf,
    /// First byte.
    pub offset: u64,
    /// Number of bytes.
    pub length: u64,
}

/// What kind of failure a store operation met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The object does not exist (404 NoSuchKey).
    NotFound,
    /// The bucket does not exist.
    NoSuchBucket,
    /// `if_match` did not match the object's current ETag (412).
    PreconditionFailed,
    /// The server does not implement the operation (bucket policies on Garage).
    NotImplemented,
    /// A failure that may pass when tried again: a 5xx answer, throttling, a connection
    /// reset, a timeout, a body cut short.
    Transient,
    /// Nothing arrived for the whole stall timeout: the server looks hung.
    Stalled,
    /// Anything else (denied, invalid, ...): trying again will not help.
    Permanent,
}

/// A failed store operation.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    /// What kind of failure.
    pub kind: StoreErrorKind,
    /// The server's or the client's description (never credentials).
    pub message: String,
}

impl StoreError {
    /// An error of `kind`.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            message: message.into(),
        }
    }

    /// Whether trying again may help.
    pub fn is_transient(&self) -> bool {
        self.kind == StoreErrorKind::Transient
    }

    /// Whether the server said nothing for the whole stall timeout.
    pub fn is_stall(&self) -> bool {
        self.kind == StoreErrorKind::Stalled
    }
}

/// The result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// An S3-compatible object store.
pub trait ObjectStore: Send + Sync {
    /// Where it is, for messages (an URL, never credentials).
    fn endpoint(&self) -> &str;

    /// Every bucket, sorted by name.
    fn list_buckets(&self) -> impl Future<Output = StoreResult<Vec<String>>> + Send;

    /// One page of `bucket`'s objects, starting after `token` (the previous page's `next`).
    fn list_page(
        &self,
        bucket: &str,
        token: Option<String>,
    ) -> impl Future<Output = StoreResult<ListPage>> + Send;

    /// Reads an object; with `if_match`, only the version with that ETag.
    fn get(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&str>,
    ) -> impl Future<Output = StoreResult<Fetched>> + Send;

    /// Stores `body` as the object `key`, with `meta`.
    fn put(
        &self,
        bucket: &str,
        key: &str,
        body: FileRange,
        meta: &ObjectMeta,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Starts a multipart upload; its id.
    fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
    ) -> impl Future<Output = StoreResult<String>> + Send;

    /// Uploads part `number` (from 1); the part's ETag.
    fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        body: FileRange,
    ) -> impl Future<Output = StoreResult<String>> + Send;

    /// Completes a multipart upload from its parts' numbers and ETags, in order.
    fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: Vec<(i32, String)>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Abandons a multipart upload.
    fn abort_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Deletes up to 1000 keys; the first key the server refused to delete fails it.
    fn delete(&self, bucket: &str, keys: &[String])
    -> impl Future<Output = StoreResult<()>> + Send;

    /// Whether `bucket` exists (and is reachable with these credentials).
    fn bucket_exists(&self, bucket: &str) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Creates `bucket`.
    fn create_bucket(&self, bucket: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// `bucket`'s policy; `None` when it has none or the server does not implement policies.
    fn get_policy(&self, bucket: &str) -> impl Future<Output = StoreResult<Option<String>>> + Send;

    /// Sets `bucket`'s policy (kind [`StoreErrorKind::NotImplemented`] where unsupported).
    fn put_policy(
        &self,
        bucket: &str,
        policy: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    // --- Used by the offsite repository (`crate::offsite`): bytes produced in memory (sealed
    // content, manifests) and listings under a prefix. ---

    /// One page of `bucket`'s objects whose keys start with `prefix`, after `token`.
    fn list_prefix_page(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<String>,
    ) -> impl Future<Output = StoreResult<ListPage>> + Send;

    /// Reads `key` from byte `offset` on (`Range: bytes=offset-`), only the version with ETag
    /// `etag`: the rest of a body cut short. `size` of the answer is what remains.
    fn get_from(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        offset: u64,
    ) -> impl Future<Output = StoreResult<Fetched>> + Send;

    /// Stores `bytes` as the object `key` (no metadata). With `if_absent`, only when no
    /// object `key` exists (`If-None-Match: *`): one that does fails with
    /// [`StoreErrorKind::PreconditionFailed`] on servers that honour the condition (AWS S3,
    /// MinIO, R2, B2); others overwrite, so a caller reads back what is stored either way.
    fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        bytes: Bytes,
        if_absent: bool,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Uploads part `number` (from 1) of a multipart upload from memory; the part's ETag.
    fn upload_part_bytes(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        bytes: Bytes,
    ) -> impl Future<Output = StoreResult<String>> + Send;
}
