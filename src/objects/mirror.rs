//! Mirroring buckets into a generation: `objects/<bucket>/<path>`, one regular file per object.
//!
//! For the buckets given (the configured list, or every bucket the endpoint lists):
//! 1. list the buckets (side by side, each page after page) while the content index of earlier
//!    generations and the previous generation's object identities are read; a bucket that held
//!    objects in the previous generation and now lists empty or missing fails the backup unless
//!    `allow_empty_bucket` (a misconfigured endpoint must not quietly produce an empty backup);
//! 2. map keys to paths ([`KeyPaths`](super::key_path::KeyPaths));
//! 3. objects whose key, size, ETag and Last-Modified equal the previous generation's record
//!    are unchanged: their files are hard-linked from it, not downloaded ([`super::unchanged`]),
//!    on the blocking pool while the downloads run. Every other object (and an unchanged one
//!    whose old file is no longer a regular file of its size) is fetched with bounded
//!    concurrency: GET, streamed to a temporary file while hashing with BLAKE3, hard-linked to
//!    identical content already in any complete generation or earlier in this run
//!    ([`DedupIndex`]), given Last-Modified as its mtime, and renamed into place;
//! 4. record the bucket's policy, read after its listing (`None` when the server has none or
//!    does not implement them).
//!
//! A live site changes while it is mirrored. Each GET asks for the listed version (`If-Match`
//! on the listed ETag):
//! - an object deleted since the listing (404) has *vanished*: it is counted and named in the
//!   summary, and simply absent from the generation, as it is from the site;
//! - an object replaced since the listing (412) is fetched again without the condition and
//!   recorded with the identity of the bytes actually stored (the GET's ETag, size,
//!   Last-Modified and metadata), never the listing's; it is counted as changed during the
//!   backup.
//!
//! Every request and body is bounded by the stall timeout and transient failures are tried
//! again ([`Patience`]); a body cut short is fetched again from the start, one that stalls
//! fails the run.
//!
//! Every object's record goes into the manifest ([`SharedManifest`]) as soon as its file is in place,
//! so memory holds only the listings (key, size, ETag, Last-Modified per object) and the
//! content index, never the records. Temporary files live in the generation's `.tmp/`, never
//! among object paths (keys may start with a dot), and it is removed at the end.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use futures_util::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;

use super::error::ObjectsError;
use super::listing::{BucketListing, list_bucket};
use super::patience::Patience;
use super::store::{Fetched, ObjectStore, StoreError, StoreErrorKind};
use super::unchanged::{LinkedUnchanged, PreviousGeneration, link_unchanged, load_indexes};
use crate::dedup::{DedupIndex, Outcome};
use crate::fsutil::{FsError, IoContext, create_private_dir_all, create_private_file};
use crate::generation::Catalog;
use crate::manifest::{BucketEntry, ManifestWriter, ObjectEntry, Record};
use crate::progress::{Meter, Progress};

/// Mirror settings.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// Concurrent downloads.
    pub concurrency: usize,
    /// Accept a bucket that held objects before and is now empty or missing.
    pub allow_empty_bucket: bool,
    /// Bounded waits and retries.
    pub patience: Patience,
}

/// Buckets listed at once.
const LISTING_CONCURRENCY: usize = 4;

/// How many vanished objects a summary names.
pub const VANISHED_NAMED: usize = 10;

/// What the mirror did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorSummary {
    /// Buckets mirrored.
    pub buckets: u64,
    /// Objects in them.
    pub objects: u64,
    /// Objects fetched with GET.
    pub downloaded: u64,
    /// Bytes fetched.
    pub downloaded_bytes: u64,
    /// Unchanged objects hard-linked from the previous generation (not downloaded).
    pub unchanged: u64,
    /// Downloaded objects whose content already existed, now hard-linked to it.
    pub deduplicated: u64,
    /// Bytes of all objects.
    pub bytes: u64,
    /// Listed objects gone when fetched (deleted during the backup): not in the generation.
    pub vanished: u64,
    /// The first [`VANISHED_NAMED`] of them, as `bucket/key`.
    pub vanished_keys: Vec<String>,
    /// Listed objects replaced before they were fetched: stored as fetched.
    pub changed_during_backup: u64,
}

/// The manifest being written, shared by the downloads and the linking threads: each object's
/// `object` record and its `file` record are written together.
pub struct SharedManifest(Mutex<ManifestWriter>);

impl SharedManifest {
    /// Writes one object's records.
    pub fn object(&self, entry: ObjectEntry) -> Result<(), ObjectsError> {
        let mut manifest = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(manifest.add_object(entry)?)
    }

    fn bucket(&self, entry: BucketEntry) -> Result<(), ObjectsError> {
        let mut manifest = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(manifest.add_record(&Record::Bucket(entry))?)
    }
}

/// Mirrors `buckets` into `generation` (the partial directory being built), writing every
/// object and bucket record to `manifest`, which is handed back. The transfers are one phase
/// of `progress`.
pub async fn mirror<S: ObjectStore>(
    store: &S,
    generation: &Path,
    catalog: &Catalog,
    buckets: &[String],
    options: &MirrorOptions,
    manifest: ManifestWriter,
    progress: &dyn Progress,
) -> Result<(MirrorSummary, ManifestWriter), ObjectsError> {
    // The content index of earlier generations and what the previous one holds are read on the
    // blocking pool while the buckets are listed: with a week of generations, reading them
    // takes as long as listing.
    let indexes = {
        let catalog = catalog.clone();
        tokio::task::spawn_blocking(move || load_indexes(&catalog))
    };
    // Buckets are listed side by side (their pages follow one another within a bucket), each
    // with its policy.
    let listing = futures_util::stream::iter(buckets)
        .map(|bucket| async move {
            let started = std::time::Instant::now();
            let listed = list_bucket(store, &options.patience, bucket).await?;
            tracing::debug!(
                "bucket '{bucket}': {} object(s) listed in {:.2}s",
                listed.as_ref().map_or(0, Vec::len),
                started.elapsed().as_secs_f64()
            );
            let policy = match listed {
                Some(_) => bucket_policy(store, &options.patience, bucket).await?,
                None => None,
            };
            Ok::<_, ObjectsError>((BucketListing::new(bucket.clone(), listed), policy))
        })
        .buffered(LISTING_CONCURRENCY)
        .try_collect::<Vec<_>>();
    let (listings, indexes) = tokio::join!(listing, indexes);
    let joined = |e: tokio::task::JoinError| {
        ObjectsError::from(FsError::new(
            "read the manifests of the generations in",
            generation.parent().unwrap_or(generation),
            std::io::Error::other(e),
        ))
    };
    let (dedup, previous) = indexes.map_err(joined)?;
    let dedup = Mutex::new(dedup);
    let (listings, policies): (Vec<_>, Vec<_>) = listings?.into_iter().unzip();
    let listings = Arc::new(listings);
    let previous = previous.map(|index| Arc::new(PreviousGeneration::mark(index, &listings)));
    for listing in listings.iter() {
        check_listing(
            store,
            listing,
            previous.as_deref(),
            options.allow_empty_bucket,
        )?;
    }
    crate::failpoint::pause(crate::failpoint::PausePoint::MirrorAfterListing).await;
    let tmp = generation.join(".tmp");
    create_private_dir_all(&tmp)?;
    let records = Arc::new(SharedManifest(Mutex::new(manifest)));
    let total = listings.iter().map(|l| l.objects.len() as u64).sum();
    let label = match buckets {
        [one] => format!("bucket {one}"),
        _ => format!("objects of {} buckets", buckets.len()),
    };
    let meter = progress.meter(&label, Some(total));
    let fetcher = Fetcher {
        store,
        patience: options.patience,
        listings: &listings,
        generation,
        tmp: &tmp,
        dedup: &dedup,
        records: &records,
        meter: meter.as_ref(),
        counter: AtomicU64::new(0),
        vanished: Mutex::new(Vanished {
            per_bucket: vec![0; listings.len()],
            named: Vec::new(),
        }),
    };
    let started = std::time::Instant::now();
    let to_fetch = listings.iter().enumerate().flat_map(|(b, listing)| {
        let unchanged = previous.as_ref().map(|p| &p.unchanged[b]);
        (0..listing.objects.len())
            .filter(move |&i| !unchanged.is_some_and(|u| u[i]))
            .map(move |i| (b, i))
    });
    let linking = async {
        let Some(previous) = &previous else {
            return Ok(LinkedUnchanged::default());
        };
        let (previous, listings, records, generation) = (
            Arc::clone(previous),
            Arc::clone(&listings),
            Arc::clone(&records),
            generation.to_path_buf(),
        );
        tokio::task::spawn_blocking(move || {
            link_unchanged(&previous, &listings, &generation, &records)
        })
        .await
        .map_err(joined)?
    };
    let concurrency = options.concurrency;
    let (linked, fetched) = tokio::join!(linking, fetcher.fetch_all(to_fetch, concurrency));
    let (linked, mut summary) = (linked?, fetched?);
    summary.unchanged = linked.objects;
    tracing::debug!(
        "{} unchanged object(s) linked, {} fetched, in {:.2}s",
        summary.unchanged,
        summary.downloaded,
        started.elapsed().as_secs_f64()
    );
    let linked_bytes = linked.bytes;
    meter.add(summary.unchanged, linked_bytes);
    // An old file that is no longer a regular file of the recorded size: fetched again.
    let refetched = fetcher
        .fetch_all(linked.stale.iter().copied(), concurrency)
        .await?;
    let vanished = fetcher
        .vanished
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    drop(meter);
    summary.downloaded += refetched.downloaded;
    summary.downloaded_bytes += refetched.downloaded_bytes;
    summary.deduplicated += refetched.deduplicated;
    summary.changed_during_backup += refetched.changed_during_backup;
    summary.bytes = summary.downloaded_bytes + linked_bytes;
    summary.vanished = vanished.per_bucket.iter().sum();
    summary.vanished_keys = vanished.named;
    if summary.vanished > 0 {
        tracing::warn!(
            "{} object(s) vanished during the backup (deleted after the listing, so not in \
             this generation): {}{}",
            summary.vanished,
            summary.vanished_keys.join(", "),
            if summary.vanished > summary.vanished_keys.len() as u64 {
                ", ..."
            } else {
                ""
            }
        );
    }
    if summary.changed_during_backup > 0 {
        tracing::info!(
            "{} object(s) changed during the backup; stored as fetched",
            summary.changed_during_backup
        );
    }
    for ((b, listing), policy) in listings.iter().enumerate().zip(policies) {
        let objects = listing.objects.len() as u64 - vanished.per_bucket[b];
        tracing::info!("bucket '{}': {objects} objects", listing.name);
        records.bucket(BucketEntry {
            name: listing.name.clone(),
            objects,
            policy,
        })?;
        summary.buckets += 1;
        summary.objects += objects;
    }
    std::fs::remove_dir_all(&tmp).at("remove", &tmp)?;
    let records = Arc::into_inner(records).ok_or_else(|| {
        FsError::new(
            "finish the manifest in",
            generation,
            std::io::Error::other("the manifest is still in use"),
        )
    })?;
    let manifest = records
        .0
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    Ok((summary, manifest))
}

/// Fails when `listing` is empty or missing while the previous generation held objects of it
/// (and that was not allowed), or when the bucket does not exist.
fn check_listing<S: ObjectStore>(
    store: &S,
    listing: &BucketListing,
    previous: Option<&PreviousGeneration>,
    allow_empty: bool,
) -> Result<(), ObjectsError> {
    let bucket = &listing.name;
    let before = previous
        .and_then(|p| p.counts.get(bucket).copied())
        .unwrap_or(0);
    let now = if listing.missing {
        Some("as missing")
    } else if listing.objects.is_empty() {
        Some("no objects")
    } else {
        None
    };
    if let (Some(now), Some(previous)) = (now, previous)
        && before > 0
        && !allow_empty
    {
        return Err(ObjectsError::EmptyBucket {
            bucket: bucket.to_string(),
            now,
            endpoint: store.endpoint().to_string(),
            before,
            generation: previous.name.clone(),
        });
    }
    if listing.missing {
        return Err(ObjectsError::NoSuchBucket {
            bucket: bucket.to_string(),
            endpoint: store.endpoint().to_string(),
        });
    }
    Ok(())
}

/// Objects gone when fetched.
struct Vanished {
    /// Per listed bucket.
    per_bucket: Vec<u64>,
    /// The first [`VANISHED_NAMED`], as `bucket/key`.
    named: Vec<String>,
}

/// What one download did.
enum Downloaded {
    /// The object is in place: its size, whether its content was already there (it became a
    /// hard link to it), and whether it had changed since the listing.
    Stored {
        size: u64,
        deduplicated: bool,
        changed: bool,
    },
    /// It was deleted since the listing.
    Vanished,
}

/// A fetched object's bytes in a temporary file, and the identity of the version they are.
struct FetchedFile {
    temporary: PathBuf,
    size: u64,
    hash: blake3::Hash,
    /// `None`: the listed version (If-Match held); otherwise the GET's identity.
    replaced: Option<(String, Option<String>)>,
    meta: super::store::ObjectMeta,
}

/// Why reading a body into a file failed.
enum BodyError {
    Store(StoreError),
    Io(ObjectsError),
}

/// What downloading objects shares.
struct Fetcher<'a, S> {
    store: &'a S,
    patience: Patience,
    listings: &'a [BucketListing],
    generation: &'a Path,
    tmp: &'a Path,
    dedup: &'a Mutex<DedupIndex>,
    records: &'a SharedManifest,
    meter: &'a dyn Meter,
    counter: AtomicU64,
    vanished: Mutex<Vanished>,
}

impl<S: ObjectStore> Fetcher<'_, S> {
    /// Downloads the `(bucket, object)` indexes `objects`, `concurrency` at a time; stops at the
    /// first failure.
    async fn fetch_all(
        &self,
        objects: impl Iterator<Item = (usize, usize)>,
        concurrency: usize,
    ) -> Result<MirrorSummary, ObjectsError> {
        futures_util::stream::iter(objects)
            .map(|(b, i)| self.download(b, i))
            .buffer_unordered(concurrency.max(1))
            .try_fold(MirrorSummary::default(), |mut summary, downloaded| {
                if let Downloaded::Stored {
                    size,
                    deduplicated,
                    changed,
                } = downloaded
                {
                    summary.downloaded += 1;
                    summary.downloaded_bytes += size;
                    summary.deduplicated += u64::from(deduplicated);
                    summary.changed_during_backup += u64::from(changed);
                }
                async move { Ok(summary) }
            })
            .await
    }

    /// Downloads object `index` of bucket `b` into place and writes its records.
    async fn download(&self, b: usize, index: usize) -> Result<Downloaded, ObjectsError> {
        let (generation, dedup) = (self.generation, self.dedup);
        let listing = &self.listings[b];
        let (bucket, object) = (&listing.name, &listing.objects[index]);
        let path = listing.path_of(index);
        let dest = generation.join(&path);
        if let Some(parent) = dest.parent() {
            create_private_dir_all(parent)?;
        }
        let Some(fetched) = self.fetch(bucket, &object.key, &object.etag).await? else {
            let mut vanished = self.vanished.lock().unwrap_or_else(PoisonError::into_inner);
            vanished.per_bucket[b] += 1;
            if vanished.named.len() < VANISHED_NAMED {
                vanished
                    .named
                    .push(format!("{bucket}/{}", crate::human::printable(&object.key)));
            }
            self.meter.add(1, 0);
            return Ok(Downloaded::Vanished);
        };
        let FetchedFile {
            temporary,
            size,
            hash,
            replaced,
            meta,
        } = fetched;
        let outcome = dedup.lock().map_or(Outcome::New, |index| {
            index.link_identical(&temporary, size, &hash)
        });
        std::fs::rename(&temporary, &dest).at("rename into place", &dest)?;
        if outcome == Outcome::New
            && let Ok(mut index) = dedup.lock()
        {
            index.remember(size, &hash, dest);
        }
        let changed = replaced.is_some();
        // The listed version keeps the listing's values: the next run compares them with its
        // listing (GET reports Last-Modified with less precision). A replaced one gets the
        // GET's: the identity of the bytes stored.
        let (etag, last_modified) = match replaced {
            None => (object.etag.clone(), object.last_modified.clone()),
            Some((etag, last_modified)) => (etag, last_modified.unwrap_or_default()),
        };
        self.records.object(ObjectEntry {
            bucket: bucket.clone(),
            key: object.key.clone(),
            path,
            size,
            etag,
            last_modified,
            blake3: hash.to_hex().to_string(),
            content_type: meta.content_type,
            cache_control: meta.cache_control,
            content_encoding: meta.content_encoding,
            content_disposition: meta.content_disposition,
            metadata: meta.user,
        })?;
        self.meter.add(1, size);
        Ok(Downloaded::Stored {
            size,
            deduplicated: outcome == Outcome::Linked,
            changed,
        })
    }

    /// Fetches the listed version of `key` (ETag `etag`) into a temporary file, or the current
    /// one if it was replaced; `None` when the object is gone. A body cut short is fetched
    /// again from the start, up to the patience's attempts; a body that stalls fails (the
    /// server said nothing for the whole stall timeout).
    async fn fetch(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
    ) -> Result<Option<FetchedFile>, ObjectsError> {
        let action = || {
            format!(
                "get '{}' from bucket '{bucket}'",
                crate::human::printable(key)
            )
        };
        let patience = &self.patience;
        let mut if_match = (!etag.is_empty()).then(|| etag.to_string());
        let mut attempt = 1;
        let mut wait = patience.backoff;
        loop {
            let got = patience
                .retry(patience.stall, || {
                    self.store.get(bucket, key, if_match.as_deref())
                })
                .await;
            let fetched = match got {
                Ok(fetched) => fetched,
                Err(e) if e.kind == StoreErrorKind::NotFound => return Ok(None),
                Err(e) if e.kind == StoreErrorKind::PreconditionFailed && if_match.is_some() => {
                    if_match = None;
                    continue;
                }
                Err(e) => return Err(ObjectsError::store(self.store, action(), e)),
            };
            let replaced = if_match
                .is_none()
                .then(|| (fetched.etag.clone(), fetched.last_modified.clone()));
            match self.write_body(fetched).await {
                Ok((temporary, size, hash, meta)) => {
                    return Ok(Some(FetchedFile {
                        temporary,
                        size,
                        hash,
                        replaced: replaced.filter(|_| !etag.is_empty()),
                        meta,
                    }));
                }
                Err(BodyError::Store(e)) if e.is_transient() && attempt < patience.attempts => {
                    tracing::debug!("{}: {e}; fetching it again", action());
                    tokio::time::sleep(wait).await;
                    wait *= 4;
                    attempt += 1;
                }
                Err(BodyError::Store(e)) => {
                    return Err(ObjectsError::store(self.store, action(), e));
                }
                Err(BodyError::Io(e)) => return Err(e),
            }
        }
    }

    /// Streams a body into a new temporary file while hashing it, with Last-Modified as the
    /// file's mtime. The file is removed when the body fails.
    async fn write_body(
        &self,
        fetched: Fetched,
    ) -> Result<(PathBuf, u64, blake3::Hash, super::store::ObjectMeta), BodyError> {
        let temporary = self
            .tmp
            .join(self.counter.fetch_add(1, Ordering::Relaxed).to_string());
        let io = |action: &'static str, source| {
            BodyError::Io(FsError::new(action, &temporary, source).into())
        };
        let Fetched {
            size: expected,
            last_modified,
            meta,
            mut body,
            ..
        } = fetched;
        let mut file = tokio::fs::File::from_std(
            create_private_file(&temporary).map_err(|e| io("create", e.source))?,
        );
        let mut hasher = blake3::Hasher::new();
        let mut size = 0u64;
        let result = async {
            while let Some(chunk) = self
                .patience
                .next_chunk(&mut body)
                .await
                .map_err(BodyError::Store)?
            {
                hasher.update(&chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk).await.map_err(|e| io("write", e))?;
                crate::failpoint::pause(crate::failpoint::PausePoint::MirrorMidDownload).await;
            }
            if size != expected {
                return Err(BodyError::Store(StoreError::new(
                    StoreErrorKind::Transient,
                    format!("the body ended after {size} of {expected} bytes"),
                )));
            }
            file.flush().await.map_err(|e| io("write", e))?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            drop(file);
            let _ = std::fs::remove_file(&temporary);
            return Err(e);
        }
        let std_file = file.into_std().await;
        if let Some(time) = last_modified
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            std_file
                .set_modified(SystemTime::from(time))
                .map_err(|e| io("set the modification time of", e))?;
        }
        drop(std_file);
        Ok((temporary, size, hasher.finalize(), meta))
    }
}

async fn bucket_policy<S: ObjectStore>(
    store: &S,
    patience: &Patience,
    bucket: &str,
) -> Result<Option<String>, ObjectsError> {
    patience
        .retry(patience.stall, || store.get_policy(bucket))
        .await
        .map_err(|e| ObjectsError::store(store, format!("read the policy of bucket '{bucket}'"), e))
}
