//! An in-memory [`ObjectStore`] for unit tests, with faults injected on chosen operations:
//! failures of a given kind, requests that never answer, bodies cut short or stalled, delays,
//! and changes to the store made just before an operation runs (an object deleted or
//! replaced between the listing and its GET, a listing that changes between pages).
//!
//! ETags are a hash of the content, Last-Modified a counter, so a replaced object always has a
//! new identity.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

use super::store::{
    Fetched, FileRange, ListPage, Listed, ObjectMeta, ObjectStore, StoreError, StoreErrorKind,
    StoreResult,
};

/// A stored object.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Content.
    pub bytes: Bytes,
    /// ETag (quoted).
    pub etag: String,
    /// Last-Modified, RFC 3339.
    pub last_modified: String,
    /// Metadata.
    pub meta: ObjectMeta,
}

/// Buckets → keys → objects.
pub type Buckets = BTreeMap<String, BTreeMap<String, Stored>>;

/// A change made to the store (its buckets and its Last-Modified clock) by a fault.
pub type Change = Box<dyn FnOnce(&mut Buckets, &mut u64) + Send>;

/// Which operation a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `list_page`.
    List,
    /// `get`.
    Get,
    /// `put` and `upload_part`.
    Put,
    /// `delete`.
    Delete,
}

/// What happens when a fault fires.
pub enum Action {
    /// The operation fails with this kind.
    Fail(StoreErrorKind),
    /// The operation never answers.
    Hang,
    /// The operation answers after this delay.
    Delay(Duration),
    /// A GET's body ends with an error after this many bytes.
    CutBody(usize),
    /// A GET's body stops sending (never ends) after this many bytes.
    StallBody(usize),
    /// The store is changed, then the operation runs normally.
    Change(Change),
}

struct Fault {
    op: Op,
    /// Only for this key (list: the page number, from 1, as a string).
    key: Option<String>,
    action: Action,
}

/// The store.
pub struct MemoryStore {
    buckets: Mutex<Buckets>,
    clock: Mutex<u64>,
    faults: Mutex<Vec<Fault>>,
    page_size: usize,
    calls: Mutex<Vec<(Op, String)>>,
}

impl MemoryStore {
    /// An empty store listing `page_size` objects per page.
    pub fn new(page_size: usize) -> MemoryStore {
        MemoryStore {
            buckets: Mutex::new(Buckets::new()),
            clock: Mutex::new(0),
            faults: Mutex::new(Vec::new()),
            page_size: page_size.max(1),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// Stores an object (a new version: new ETag and Last-Modified).
    pub fn insert(&self, bucket: &str, key: &str, bytes: &[u8], meta: ObjectMeta) {
        let mut buckets = self.buckets.lock().unwrap();
        let mut clock = self.clock.lock().unwrap();
        put_version(&mut buckets, &mut clock, bucket, key, bytes, meta);
    }

    /// The object, if stored.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Stored> {
        self.buckets.lock().unwrap().get(bucket)?.get(key).cloned()
    }

    /// The keys of `bucket`.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        self.buckets
            .lock()
            .unwrap()
            .get(bucket)
            .map(|b| b.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Adds a fault: the next `op` (on `key`, if given) meets `action`. Faults fire once each,
    /// in the order added.
    pub fn fault(&self, op: Op, key: Option<&str>, action: Action) {
        self.faults.lock().unwrap().push(Fault {
            op,
            key: key.map(String::from),
            action,
        });
    }

    /// Every operation so far, with its key (list: the page number).
    pub fn calls(&self) -> Vec<(Op, String)> {
        self.calls.lock().unwrap().clone()
    }

    /// Records the call and takes the first fault for it, running `Change`s at once.
    fn enter(&self, op: Op, key: &str) -> Option<Action> {
        self.calls.lock().unwrap().push((op, key.to_string()));
        let action = {
            let mut faults = self.faults.lock().unwrap();
            let position = faults
                .iter()
                .position(|f| f.op == op && f.key.as_deref().is_none_or(|k| k == key))?;
            faults.remove(position).action
        };
        match action {
            Action::Change(change) => {
                let mut buckets = self.buckets.lock().unwrap();
                let mut clock = self.clock.lock().unwrap();
                change(&mut buckets, &mut clock);
                None
            }
            other => Some(other),
        }
    }

    /// Applies a fault that decides the whole answer (fail, hang, delay); the body faults are
    /// handed back.
    async fn apply(&self, op: Op, key: &str) -> StoreResult<Option<Action>> {
        match self.enter(op, key) {
            Some(Action::Fail(kind)) => Err(StoreError::new(kind, format!("injected {kind:?}"))),
            Some(Action::Hang) => std::future::pending().await,
            Some(Action::Delay(delay)) => {
                tokio::time::sleep(delay).await;
                Ok(None)
            }
            other => Ok(other),
        }
    }
}

/// Stores a new version of an object in `buckets`.
pub fn put_version(
    buckets: &mut Buckets,
    clock: &mut u64,
    bucket: &str,
    key: &str,
    bytes: &[u8],
    meta: ObjectMeta,
) {
    *clock += 1;
    let stored = Stored {
        bytes: Bytes::copy_from_slice(bytes),
        etag: format!("\"{}\"", &blake3::hash(bytes).to_hex()[..32]),
        last_modified: format!("2026-01-01T00:{:02}:{:02}Z", *clock / 60 % 60, *clock % 60),
        meta,
    };
    buckets
        .entry(bucket.to_string())
        .or_default()
        .insert(key.to_string(), stored);
}

fn missing_bucket(bucket: &str) -> StoreError {
    StoreError::new(
        StoreErrorKind::NoSuchBucket,
        format!("no bucket '{bucket}'"),
    )
}

fn read_range(range: &FileRange) -> StoreResult<Vec<u8>> {
    let all = std::fs::read(&range.path)
        .map_err(|e| StoreError::new(StoreErrorKind::Permanent, e.to_string()))?;
    let start = (range.offset as usize).min(all.len());
    let end = (start + range.length as usize).min(all.len());
    Ok(all[start..end].to_vec())
}

impl ObjectStore for MemoryStore {
    fn endpoint(&self) -> &str {
        "memory://"
    }

    async fn list_buckets(&self) -> StoreResult<Vec<String>> {
        Ok(self.buckets.lock().unwrap().keys().cloned().collect())
    }

    async fn list_page(&self, bucket: &str, token: Option<String>) -> StoreResult<ListPage> {
        let page_number = token.as_deref().map_or(1, |t| {
            t.split_once('|')
                .and_then(|(n, _)| n.parse::<usize>().ok())
                .unwrap_or(1)
        });
        self.apply(Op::List, &page_number.to_string()).await?;
        let buckets = self.buckets.lock().unwrap();
        let objects = buckets.get(bucket).ok_or_else(|| missing_bucket(bucket))?;
        let after = token
            .as_deref()
            .and_then(|t| t.split_once('|'))
            .map(|(_, k)| k);
        let page: Vec<Listed> = objects
            .iter()
            .filter(|(k, _)| after.is_none_or(|a| k.as_str() > a))
            .take(self.page_size)
            .map(|(key, o)| Listed {
                key: key.clone(),
                size: o.bytes.len() as u64,
                etag: o.etag.clone(),
                last_modified: o.last_modified.clone(),
            })
            .collect();
        let last = page.last().map(|o| o.key.clone());
        let more = last
            .as_deref()
            .is_some_and(|l| objects.keys().any(|k| k.as_str() > l));
        Ok(ListPage {
            objects: page,
            next: more.then(|| format!("{}|{}", page_number + 1, last.unwrap_or_default())),
        })
    }

    async fn get(&self, bucket: &str, key: &str, if_match: Option<&str>) -> StoreResult<Fetched> {
        let body_fault = self.apply(Op::Get, key).await?;
        let stored = {
            let buckets = self.buckets.lock().unwrap();
            let objects = buckets.get(bucket).ok_or_else(|| missing_bucket(bucket))?;
            objects.get(key).cloned().ok_or_else(|| {
                StoreError::new(StoreErrorKind::NotFound, format!("no key '{key}'"))
            })?
        };
        if if_match.is_some_and(|etag| etag != stored.etag) {
            return Err(StoreError::new(
                StoreErrorKind::PreconditionFailed,
                "the ETag does not match",
            ));
        }
        let bytes = stored.bytes.clone();
        let chunks: Vec<Bytes> = bytes.chunks(7).map(Bytes::copy_from_slice).collect();
        let body: super::store::Body = match body_fault {
            Some(Action::CutBody(after)) => {
                let mut kept = Vec::new();
                let mut sent = 0;
                for chunk in chunks {
                    if sent >= after {
                        break;
                    }
                    sent += chunk.len();
                    kept.push(Ok(chunk));
                }
                kept.push(Err(StoreError::new(
                    StoreErrorKind::Transient,
                    "connection reset mid-body",
                )));
                Box::pin(futures_util::stream::iter(kept))
            }
            Some(Action::StallBody(after)) => {
                let head: Vec<StoreResult<Bytes>> = vec![Ok(bytes.slice(..after.min(bytes.len())))];
                Box::pin(futures_util::StreamExt::chain(
                    futures_util::stream::iter(head),
                    futures_util::stream::pending(),
                ))
            }
            _ => Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok))),
        };
        Ok(Fetched {
            size: stored.bytes.len() as u64,
            etag: stored.etag,
            last_modified: Some(stored.last_modified),
            meta: stored.meta,
            body,
        })
    }

    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: FileRange,
        meta: &ObjectMeta,
    ) -> StoreResult<()> {
        self.apply(Op::Put, key).await?;
        let bytes = read_range(&body)?;
        let mut buckets = self.buckets.lock().unwrap();
        if !buckets.contains_key(bucket) {
            return Err(missing_bucket(bucket));
        }
        let mut clock = self.clock.lock().unwrap();
        put_version(&mut buckets, &mut clock, bucket, key, &bytes, meta.clone());
        Ok(())
    }

    async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        meta: &ObjectMeta,
    ) -> StoreResult<String> {
        let mut buckets = self.buckets.lock().unwrap();
        if !buckets.contains_key(bucket) {
            return Err(missing_bucket(bucket));
        }
        let id = format!("upload-{key}");
        // Parts are kept as hidden objects until completion.
        let mut clock = self.clock.lock().unwrap();
        put_version(&mut buckets, &mut clock, "\0parts", &id, b"", meta.clone());
        Ok(id)
    }

    async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        body: FileRange,
    ) -> StoreResult<String> {
        let bytes = read_range(&body)?;
        self.upload_part_bytes(bucket, key, upload_id, number, Bytes::from(bytes))
            .await
    }

    async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: Vec<(i32, String)>,
    ) -> StoreResult<()> {
        let mut buckets = self.buckets.lock().unwrap();
        let staging = buckets.get("\0parts").cloned().unwrap_or_default();
        let meta = staging
            .get(upload_id)
            .map(|s| s.meta.clone())
            .unwrap_or_default();
        let mut whole = Vec::new();
        for (number, etag) in parts {
            let part = staging
                .get(&format!("{upload_id}#{number:05}"))
                .ok_or_else(|| {
                    StoreError::new(StoreErrorKind::Permanent, format!("no part {number}"))
                })?;
            if part.etag != etag {
                return Err(StoreError::new(
                    StoreErrorKind::Permanent,
                    format!("part {number}'s ETag differs"),
                ));
            }
            whole.extend_from_slice(&part.bytes);
        }
        let mut clock = self.clock.lock().unwrap();
        put_version(&mut buckets, &mut clock, bucket, key, &whole, meta);
        Ok(())
    }

    async fn abort_multipart(
        &self,
        _bucket: &str,
        _key: &str,
        _upload_id: &str,
    ) -> StoreResult<()> {
        Ok(())
    }

    async fn delete(&self, bucket: &str, keys: &[String]) -> StoreResult<()> {
        for key in keys {
            self.apply(Op::Delete, key).await?;
        }
        let mut buckets = self.buckets.lock().unwrap();
        let objects = buckets
            .get_mut(bucket)
            .ok_or_else(|| missing_bucket(bucket))?;
        for key in keys {
            objects.remove(key);
        }
        Ok(())
    }

    async fn bucket_exists(&self, bucket: &str) -> StoreResult<bool> {
        Ok(self.buckets.lock().unwrap().contains_key(bucket))
    }

    async fn create_bucket(&self, bucket: &str) -> StoreResult<()> {
        self.buckets
            .lock()
            .unwrap()
            .entry(bucket.to_string())
            .or_default();
        Ok(())
    }

    async fn get_policy(&self, _bucket: &str) -> StoreResult<Option<String>> {
        Ok(None)
    }

    async fn put_policy(&self, _bucket: &str, _policy: &str) -> StoreResult<()> {
        Err(StoreError::new(
            StoreErrorKind::NotImplemented,
            "policies are not implemented",
        ))
    }

    // --- Offsite repository additions (see the trait). ---

    async fn list_prefix_page(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<String>,
    ) -> StoreResult<ListPage> {
        self.apply(Op::List, prefix).await?;
        let buckets = self.buckets.lock().unwrap();
        let objects = buckets.get(bucket).ok_or_else(|| missing_bucket(bucket))?;
        let page: Vec<Listed> = objects
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .filter(|(k, _)| token.as_deref().is_none_or(|a| k.as_str() > a))
            .take(self.page_size)
            .map(|(key, o)| Listed {
                key: key.clone(),
                size: o.bytes.len() as u64,
                etag: o.etag.clone(),
                last_modified: o.last_modified.clone(),
            })
            .collect();
        let last = page.last().map(|o| o.key.clone());
        let more = last.as_deref().is_some_and(|l| {
            objects
                .keys()
                .any(|k| k.starts_with(prefix) && k.as_str() > l)
        });
        Ok(ListPage {
            objects: page,
            next: if more { last } else { None },
        })
    }

    async fn get_from(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
        offset: u64,
    ) -> StoreResult<Fetched> {
        let mut fetched = self.get(bucket, key, Some(etag)).await?;
        let mut skip = offset;
        let body = std::mem::replace(&mut fetched.body, Box::pin(futures_util::stream::empty()));
        fetched.body = Box::pin(futures_util::StreamExt::filter_map(body, move |chunk| {
            let chunk = chunk.map(|bytes| {
                let cut = (skip as usize).min(bytes.len());
                skip -= cut as u64;
                bytes.slice(cut..)
            });
            std::future::ready(match chunk {
                Ok(bytes) if bytes.is_empty() => None,
                other => Some(other),
            })
        }));
        fetched.size -= offset.min(fetched.size);
        Ok(fetched)
    }

    async fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        bytes: Bytes,
        if_absent: bool,
    ) -> StoreResult<()> {
        self.apply(Op::Put, key).await?;
        let mut buckets = self.buckets.lock().unwrap();
        let Some(objects) = buckets.get(bucket) else {
            return Err(missing_bucket(bucket));
        };
        if if_absent && objects.contains_key(key) {
            return Err(StoreError::new(
                StoreErrorKind::PreconditionFailed,
                format!("'{key}' exists"),
            ));
        }
        let mut clock = self.clock.lock().unwrap();
        put_version(
            &mut buckets,
            &mut clock,
            bucket,
            key,
            &bytes,
            ObjectMeta::default(),
        );
        Ok(())
    }

    async fn upload_part_bytes(
        &self,
        _bucket: &str,
        key: &str,
        upload_id: &str,
        number: i32,
        bytes: Bytes,
    ) -> StoreResult<String> {
        self.apply(Op::Put, key).await?;
        let mut buckets = self.buckets.lock().unwrap();
        let mut clock = self.clock.lock().unwrap();
        let part = format!("{upload_id}#{number:05}");
        put_version(
            &mut buckets,
            &mut clock,
            "\0parts",
            &part,
            &bytes,
            ObjectMeta::default(),
        );
        Ok(buckets["\0parts"][&part].etag.clone())
    }
}
