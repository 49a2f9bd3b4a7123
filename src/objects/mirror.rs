//! Mirroring buckets into a generation: `objects/<bucket>/<path>`, one regular file per object.
//!
//! For the buckets given (the configured list, or every bucket the endpoint lists):
//! 1. list every bucket (paginated) while the content index of earlier generations is read; a
//!    bucket that held objects in the previous generation and now lists empty or missing fails
//!    the backup unless `allow_empty_bucket` (a misconfigured endpoint must not quietly produce
//!    an empty backup);
//! 2. map keys to paths ([`KeyPaths`](super::key_path::KeyPaths));
//! 3. objects whose key, size, ETag and Last-Modified equal the previous generation's record
//!    are unchanged: their files are hard-linked from it, not downloaded ([`super::unchanged`]),
//!    on the blocking pool while the downloads run. Every other object (and an unchanged one
//!    whose old file is no longer a regular file of its size) is fetched with bounded
//!    concurrency: GET, streamed to a temporary file while hashing with BLAKE3, hard-linked to
//!    identical content already in any complete generation or earlier in this run
//!    ([`DedupIndex`]), given Last-Modified as its mtime, and renamed into place;
//! 4. record the bucket's policy (`None` when the server has none or does not implement them).
//!
//! Every object's record goes into the manifest ([`Records`]) as soon as its file is in place,
//! so memory holds only the listings (key, size, ETag, Last-Modified per object) and the
//! content index, never the records. Temporary files live in the generation's `.tmp/`, never
//! among object paths (keys may start with a dot), and it is removed at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use futures_util::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;

use super::client::{S3, describe};
use super::listing::{BucketListing, list_bucket};
use super::unchanged::{Linked, Previous, link_unchanged};
use crate::dedup::{DedupIndex, Outcome};
use crate::fsutil::{mkdir_private_all, open_new_private};
use crate::generation::Catalog;
use crate::manifest::{BucketEntry, ManifestError, ManifestWriter, ObjectEntry, Record};
use crate::progress::Meter;

/// Mirror settings.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// Concurrent downloads.
    pub concurrency: usize,
    /// Accept a bucket that held objects before and is now empty or missing.
    pub allow_empty_bucket: bool,
}

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
}

/// The manifest being written, shared by the downloads and the linking threads: each object's
/// `object` record and its `file` record are written together.
pub struct Records(Mutex<ManifestWriter>);

impl Records {
    /// Writes one object's records.
    pub fn object(&self, entry: ObjectEntry) -> Result<(), MirrorError> {
        let mut manifest = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(manifest.add_object(entry)?)
    }

    fn bucket(&self, entry: BucketEntry) -> Result<(), MirrorError> {
        let mut manifest = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(manifest.add_record(&Record::Bucket(entry))?)
    }
}

/// Why the mirror failed.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The S3 server refused or failed.
    #[error("cannot {action} at {endpoint}: {message}")]
    S3 {
        /// What was being done, naming the bucket and key.
        action: String,
        /// The endpoint.
        endpoint: String,
        /// The SDK's description.
        message: String,
    },
    /// A bucket that held objects is now empty or missing.
    #[error(
        "bucket '{bucket}' lists {now} at {endpoint} but held {before} object(s) in generation '{generation}'; \
         refusing an empty backup of it (wrong endpoint or credentials?); pass --allow-empty-bucket if it is really empty"
    )]
    EmptyBucket {
        /// The bucket.
        bucket: String,
        /// "no objects" or "as missing".
        now: &'static str,
        /// The endpoint.
        endpoint: String,
        /// Objects in the previous generation.
        before: u64,
        /// That generation.
        generation: String,
    },
    /// Writing the generation failed.
    #[error("cannot {action} '{path}': {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Writing the manifest failed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// Mirrors `buckets` into `generation` (the partial directory being built), writing every
/// object and bucket record to `manifest`, which is handed back.
pub async fn mirror(
    s3: &S3,
    generation: &Path,
    catalog: &Catalog,
    buckets: &[String],
    options: &MirrorOptions,
    manifest: ManifestWriter,
) -> Result<(MirrorSummary, ManifestWriter), MirrorError> {
    // The content index of earlier generations is read on the blocking pool while the buckets
    // are listed: with a week of generations, reading it takes as long as listing.
    let dedup = {
        let catalog = catalog.clone();
        tokio::task::spawn_blocking(move || DedupIndex::load(&catalog, "objects/"))
    };
    let listing = async {
        let mut listings = Vec::with_capacity(buckets.len());
        for bucket in buckets {
            let started = std::time::Instant::now();
            let listed = list_bucket(s3, bucket).await?;
            tracing::debug!(
                "bucket '{bucket}': {} object(s) listed in {:.2}s",
                listed.as_ref().map_or(0, Vec::len),
                started.elapsed().as_secs_f64()
            );
            listings.push(BucketListing::new(bucket.clone(), listed));
        }
        Ok::<_, MirrorError>(listings)
    };
    let (listings, dedup) = tokio::join!(listing, dedup);
    let joined = |e: tokio::task::JoinError| MirrorError::Io {
        action: "read the manifests of the generations in",
        path: generation.parent().unwrap_or(generation).to_path_buf(),
        source: std::io::Error::other(e),
    };
    let dedup = Mutex::new(dedup.map_err(joined)?);
    let listings = Arc::new(listings?);
    let previous = {
        let (catalog, listings) = (catalog.clone(), Arc::clone(&listings));
        tokio::task::spawn_blocking(move || Previous::load(&catalog, &listings))
            .await
            .map_err(joined)?
            .map(Arc::new)
    };
    for listing in listings.iter() {
        check_listing(s3, listing, previous.as_deref(), options.allow_empty_bucket)?;
    }
    let tmp = generation.join(".tmp");
    mkdir_private_all(&tmp).map_err(|source| MirrorError::Io {
        action: "create directory",
        path: tmp.clone(),
        source,
    })?;
    let records = Arc::new(Records(Mutex::new(manifest)));
    let total = listings.iter().map(|l| l.objects.len() as u64).sum();
    let label = match buckets {
        [one] => format!("bucket {one}"),
        _ => format!("objects of {} buckets", buckets.len()),
    };
    let meter = Meter::start(&label, Some(total));
    let fetcher = Fetcher {
        s3,
        listings: &listings,
        generation,
        tmp: &tmp,
        dedup: &dedup,
        records: &records,
        meter: &meter,
        counter: AtomicU64::new(0),
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
            return Ok(Linked::default());
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
    drop(meter);
    summary.downloaded += refetched.downloaded;
    summary.downloaded_bytes += refetched.downloaded_bytes;
    summary.deduplicated += refetched.deduplicated;
    summary.bytes = summary.downloaded_bytes + linked_bytes;
    for listing in listings.iter() {
        let policy = bucket_policy(s3, &listing.name).await?;
        tracing::info!(
            "bucket '{}': {} objects",
            listing.name,
            listing.objects.len()
        );
        records.bucket(BucketEntry {
            name: listing.name.clone(),
            objects: listing.objects.len() as u64,
            policy,
        })?;
        summary.buckets += 1;
        summary.objects += listing.objects.len() as u64;
    }
    std::fs::remove_dir_all(&tmp).map_err(|source| MirrorError::Io {
        action: "remove",
        path: tmp.clone(),
        source,
    })?;
    let records = Arc::into_inner(records).ok_or_else(|| MirrorError::Io {
        action: "finish the manifest in",
        path: generation.to_path_buf(),
        source: std::io::Error::other("the manifest is still in use"),
    })?;
    let manifest = records
        .0
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    Ok((summary, manifest))
}

/// Fails when `listing` is empty or missing while the previous generation held objects of it
/// (and that was not allowed), or when the bucket does not exist.
fn check_listing(
    s3: &S3,
    listing: &BucketListing,
    previous: Option<&Previous>,
    allow_empty: bool,
) -> Result<(), MirrorError> {
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
        return Err(MirrorError::EmptyBucket {
            bucket: bucket.to_string(),
            now,
            endpoint: s3.endpoint.clone(),
            before,
            generation: previous.name.clone(),
        });
    }
    if listing.missing {
        return Err(MirrorError::S3 {
            action: format!("list bucket '{bucket}'"),
            endpoint: s3.endpoint.clone(),
            message: "the bucket does not exist".into(),
        });
    }
    Ok(())
}

/// What downloading objects shares.
struct Fetcher<'a> {
    s3: &'a S3,
    listings: &'a [BucketListing],
    generation: &'a Path,
    tmp: &'a Path,
    dedup: &'a Mutex<DedupIndex>,
    records: &'a Records,
    meter: &'a Meter,
    counter: AtomicU64,
}

impl Fetcher<'_> {
    /// Downloads the `(bucket, object)` indexes `objects`, `concurrency` at a time; stops at the
    /// first failure.
    async fn fetch_all(
        &self,
        objects: impl Iterator<Item = (usize, usize)>,
        concurrency: usize,
    ) -> Result<MirrorSummary, MirrorError> {
        futures_util::stream::iter(objects)
            .map(|(b, i)| self.download(b, i))
            .buffer_unordered(concurrency.max(1))
            .try_fold(
                MirrorSummary::default(),
                |mut summary, (size, deduplicated)| {
                    summary.downloaded += 1;
                    summary.downloaded_bytes += size;
                    summary.deduplicated += u64::from(deduplicated);
                    async move { Ok(summary) }
                },
            )
            .await
    }

    /// Downloads object `index` of bucket `b` into place and writes its records; returns its
    /// size and whether its content was already there (it became a hard link to it).
    async fn download(&self, b: usize, index: usize) -> Result<(u64, bool), MirrorError> {
        let (s3, generation, tmp, dedup) = (self.s3, self.generation, self.tmp, self.dedup);
        let listing = &self.listings[b];
        let (bucket, object) = (&listing.name, &listing.objects[index]);
        let path = listing.path_of(index);
        let dest = generation.join(&path);
        if let Some(parent) = dest.parent() {
            mkdir_private_all(parent).map_err(|source| MirrorError::Io {
                action: "create directory",
                path: parent.to_path_buf(),
                source,
            })?;
        }

        let action = || {
            format!(
                "get '{}' from bucket '{bucket}'",
                crate::display::printable(&object.key)
            )
        };
        let output = s3
            .client
            .get_object()
            .bucket(bucket)
            .key(&object.key)
            .send()
            .await
            .map_err(|e| s3_error(s3, action(), &e))?;
        let temporary = tmp.join(self.counter.fetch_add(1, Ordering::Relaxed).to_string());
        let io = |action: &'static str, source| MirrorError::Io {
            action,
            path: temporary.clone(),
            source,
        };
        let mut file =
            tokio::fs::File::from_std(open_new_private(&temporary).map_err(|e| io("create", e))?);
        let mut hasher = blake3::Hasher::new();
        let mut size = 0u64;
        let mut body = output.body;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| s3_error(s3, action(), &e))?
        {
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(|e| io("write", e))?;
            crate::failpoint::pause("mirror:mid-download").await;
        }
        file.flush().await.map_err(|e| io("write", e))?;
        let std_file = file.into_std().await;
        if let Some(time) = output
            .last_modified
            .and_then(|t| SystemTime::try_from(t).ok())
        {
            std_file
                .set_modified(time)
                .map_err(|e| io("set the modification time of", e))?;
        }
        drop(std_file);
        let hash = hasher.finalize();
        let outcome = dedup.lock().map_or(Outcome::New, |index| {
            index.link_identical(&temporary, size, &hash)
        });
        std::fs::rename(&temporary, &dest).map_err(|source| MirrorError::Io {
            action: "rename into place",
            path: dest.clone(),
            source,
        })?;
        if outcome == Outcome::New
            && let Ok(mut index) = dedup.lock()
        {
            index.remember(size, &hash, dest);
        }
        let metadata: BTreeMap<String, String> =
            output.metadata.unwrap_or_default().into_iter().collect();
        self.records.object(ObjectEntry {
            bucket: bucket.clone(),
            key: object.key.clone(),
            path,
            size,
            // The listing's values: the next run compares them with its listing (GET reports
            // Last-Modified with less precision).
            etag: object.etag.clone(),
            last_modified: object.last_modified.clone(),
            blake3: hash.to_hex().to_string(),
            content_type: output.content_type,
            cache_control: output.cache_control,
            content_encoding: output.content_encoding,
            content_disposition: output.content_disposition,
            metadata,
        })?;
        self.meter.add(1, size);
        Ok((size, outcome == Outcome::Linked))
    }
}

async fn bucket_policy(s3: &S3, bucket: &str) -> Result<Option<String>, MirrorError> {
    match s3.client.get_bucket_policy().bucket(bucket).send().await {
        Ok(output) => Ok(output.policy),
        Err(e) => {
            let code = e
                .as_service_error()
                .and_then(|s| aws_sdk_s3::error::ProvideErrorMetadata::code(s).map(String::from));
            match code.as_deref() {
                Some("NoSuchBucketPolicy" | "NotImplemented") => Ok(None),
                _ => Err(s3_error(
                    s3,
                    format!("read the policy of bucket '{bucket}'"),
                    &e,
                )),
            }
        }
    }
}

/// An S3 failure while doing `action`.
pub(super) fn s3_error<E: std::error::Error + 'static>(
    s3: &S3,
    action: String,
    error: &E,
) -> MirrorError {
    MirrorError::S3 {
        action,
        endpoint: s3.endpoint.clone(),
        message: describe(error),
    }
}
