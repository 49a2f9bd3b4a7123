//! Mirroring buckets into a generation: `objects/<bucket>/<path>`, one regular file per object.
//!
//! For every bucket (the configured list, or every bucket the endpoint lists):
//! 1. list all objects (paginated); a bucket that held objects in the previous generation and
//!    now lists empty or missing fails the backup unless `allow_empty_bucket` (a misconfigured
//!    endpoint must not quietly produce an empty backup);
//! 2. map keys to paths ([`KeyPaths`]);
//! 3. objects whose key, size, ETag and Last-Modified equal the previous generation's record
//!    are unchanged: their files are hard-linked from it, not downloaded, in a few batches on
//!    the blocking pool (each creating a directory once) while the downloads run. Every other
//!    object (and an unchanged one whose old file is no longer a regular file of its size) is
//!    fetched with bounded concurrency: GET, streamed to a temporary file while hashing with
//!    BLAKE3, hard-linked to identical content already in any complete generation or earlier
//!    in this run ([`DedupIndex`]), given Last-Modified as its mtime, and renamed into place;
//! 4. record the bucket's policy (`None` when the server has none or does not implement them).
//!
//! A hard link that hits the link-count limit or another filesystem falls back to a copy.
//! Temporary files live in the generation's `.tmp/`, never among object paths (keys may start
//! with a dot), and it is removed at the end.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::client::{S3, describe};
use super::key_path::KeyPaths;
use crate::dedup::{DedupIndex, Outcome};
use crate::fsutil::{mkdir_private_all, open_new_private};
use crate::generation::{Catalog, GenerationKind};
use crate::manifest::{self, BucketEntry, FileEntry, ObjectEntry, Record};
use crate::progress::Meter;

/// Mirror settings.
#[derive(Debug, Clone)]
pub struct MirrorOptions {
    /// Buckets to mirror; `None`: every bucket the endpoint lists.
    pub buckets: Option<Vec<String>>,
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

/// The mirror's output: manifest records and counters.
#[derive(Debug, Default)]
pub struct Mirrored {
    /// One `file` record per object file.
    pub files: Vec<FileEntry>,
    /// `object` and `bucket` records.
    pub records: Vec<Record>,
    /// Counters.
    pub summary: MirrorSummary,
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
}

/// One object as a bucket listing reports it.
#[derive(Debug, Clone)]
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

/// The previous complete generation's objects, for the unchanged fast path and the guard.
struct Previous {
    name: String,
    dir: PathBuf,
    /// bucket -> key -> record
    objects: HashMap<String, HashMap<String, ObjectEntry>>,
    counts: HashMap<String, u64>,
}

impl Previous {
    /// The previous record of `object` when the listing shows it unchanged.
    fn unchanged(&self, bucket: &str, object: &Listed) -> Option<&ObjectEntry> {
        self.objects.get(bucket)?.get(&object.key).filter(|old| {
            old.size == object.size
                && old.etag == object.etag
                && old.last_modified == object.last_modified
        })
    }
}

/// An unchanged object: its previous file, hard-linked to the record's new path.
struct Reuse {
    /// Index into the bucket's listing.
    index: usize,
    /// The file in the previous generation.
    source: PathBuf,
    /// The previous record, with this generation's path.
    entry: ObjectEntry,
}

/// Batches of unchanged objects linked at once on the blocking pool.
const LINK_BATCHES: usize = 2;

/// Mirrors the buckets into `generation` (the partial directory being built).
pub async fn mirror(
    s3: &S3,
    generation: &Path,
    catalog: &Catalog,
    options: &MirrorOptions,
) -> Result<Mirrored, MirrorError> {
    let buckets = match &options.buckets {
        Some(list) => list.clone(),
        None => list_buckets(s3).await?,
    };
    // The manifests of earlier generations are read on the blocking pool while the buckets are
    // listed: with a week of generations, reading them takes as long as listing.
    let (previous, dedup) = (
        read_manifests(catalog, load_previous),
        read_manifests(catalog, load_object_index),
    );
    let listing = async {
        let mut listings = Vec::with_capacity(buckets.len());
        for bucket in &buckets {
            let started = std::time::Instant::now();
            let listed = list_bucket(s3, bucket).await?;
            tracing::debug!(
                "bucket '{bucket}': {} object(s) listed in {:.2}s",
                listed.as_ref().map_or(0, Vec::len),
                started.elapsed().as_secs_f64()
            );
            listings.push(listed);
        }
        Ok::<_, MirrorError>(listings)
    };
    let (listings, previous, dedup) = tokio::join!(listing, previous, dedup);
    let joined = |e: tokio::task::JoinError| MirrorError::Io {
        action: "read the manifests of the generations in",
        path: generation.parent().unwrap_or(generation).to_path_buf(),
        source: std::io::Error::other(e),
    };
    let (listings, previous) = (listings?, previous.map_err(joined)?);
    let dedup = Mutex::new(dedup.map_err(joined)?);
    let tmp = generation.join(".tmp");
    mkdir_private_all(&tmp).map_err(|source| MirrorError::Io {
        action: "create directory",
        path: tmp.clone(),
        source,
    })?;
    let mut out = Mirrored::default();
    for (bucket, listed) in buckets.iter().zip(listings) {
        let started = std::time::Instant::now();
        let listed = check_listing(
            s3,
            bucket,
            listed,
            previous.as_ref(),
            options.allow_empty_bucket,
        )?;
        let paths = KeyPaths::new(listed.iter().map(|o| o.key.as_str()));
        let run = BucketRun {
            s3,
            bucket,
            generation,
            tmp: &tmp,
            dedup: &dedup,
            counter: AtomicU64::new(0),
        };
        let meter = Meter::start(&format!("bucket {bucket}"), Some(listed.len() as u64));
        let mut reuse = Vec::new();
        let mut fetch = Vec::new();
        for (index, object) in listed.iter().enumerate() {
            let path = format!("objects/{bucket}/{}", paths.path_for(&object.key));
            match previous.as_ref().and_then(|p| {
                let old = p.unchanged(bucket, object)?;
                Some((p.dir.join(&old.path), old))
            }) {
                Some((source, old)) => reuse.push(Reuse {
                    index,
                    source,
                    entry: ObjectEntry {
                        path,
                        ..old.clone()
                    },
                }),
                None => fetch.push((index, path)),
            }
        }
        let download = |(index, path): (usize, String)| {
            let (run, meter, object) = (&run, &meter, &listed[index]);
            async move {
                let fetched = run.download(object, path).await;
                if let Ok((entry, _)) = &fetched {
                    meter.add(1, entry.size);
                }
                fetched
            }
        };
        let concurrency = options.concurrency.max(1);
        let (linked, mut results): (Result<_, MirrorError>, Vec<_>) = tokio::join!(
            link_unchanged(generation, reuse),
            futures_util::stream::iter(fetch)
                .map(download)
                .buffer_unordered(concurrency)
                .collect()
        );
        let (linked, stale) = linked?;
        tracing::debug!(
            "bucket '{bucket}': {} unchanged object(s) linked, {} fetched, in {:.2}s",
            linked.len(),
            results.len(),
            started.elapsed().as_secs_f64()
        );
        for entry in &linked {
            meter.add(1, entry.size);
        }
        // An old file that is no longer a regular file of the recorded size: fetched again.
        let refetch = stale
            .into_iter()
            .map(|reuse| (reuse.index, reuse.entry.path));
        results.extend(
            futures_util::stream::iter(refetch)
                .map(download)
                .buffer_unordered(concurrency)
                .collect::<Vec<_>>()
                .await,
        );
        let mut entries = Vec::with_capacity(listed.len());
        out.summary.unchanged += linked.len() as u64;
        for entry in linked {
            out.summary.bytes += entry.size;
            entries.push(entry);
        }
        for result in results {
            let (entry, deduplicated) = result?;
            out.summary.downloaded += 1;
            out.summary.downloaded_bytes += entry.size;
            if deduplicated {
                out.summary.deduplicated += 1;
            }
            out.summary.bytes += entry.size;
            entries.push(entry);
        }
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        out.summary.buckets += 1;
        out.summary.objects += entries.len() as u64;
        let policy = bucket_policy(s3, bucket).await?;
        tracing::info!("bucket '{bucket}': {} objects", entries.len());
        out.records.push(Record::Bucket(BucketEntry {
            name: bucket.clone(),
            objects: entries.len() as u64,
            policy,
        }));
        for entry in entries {
            out.files.push(FileEntry {
                path: entry.path.clone(),
                size: entry.size,
                blake3: entry.blake3.clone(),
            });
            out.records.push(Record::Object(entry));
        }
    }
    std::fs::remove_dir_all(&tmp).map_err(|source| MirrorError::Io {
        action: "remove",
        path: tmp.clone(),
        source,
    })?;
    Ok(out)
}

async fn list_buckets(s3: &S3) -> Result<Vec<String>, MirrorError> {
    let output = s3
        .client
        .list_buckets()
        .send()
        .await
        .map_err(|e| s3_error(s3, "list buckets".into(), &e))?;
    let mut names: Vec<String> = output
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(String::from))
        .collect();
    names.sort();
    Ok(names)
}

/// The listing of `bucket`, unless it is empty or missing while the previous generation held
/// objects of it (and that was not allowed).
fn check_listing(
    s3: &S3,
    bucket: &str,
    listed: Option<Vec<Listed>>,
    previous: Option<&Previous>,
    allow_empty: bool,
) -> Result<Vec<Listed>, MirrorError> {
    let before = previous
        .and_then(|p| p.counts.get(bucket).copied())
        .unwrap_or(0);
    let now = match &listed {
        None => Some("as missing"),
        Some(objects) if objects.is_empty() => Some("no objects"),
        Some(_) => None,
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
    listed.ok_or_else(|| MirrorError::S3 {
        action: format!("list bucket '{bucket}'"),
        endpoint: s3.endpoint.clone(),
        message: "the bucket does not exist".into(),
    })
}

/// Every object of `bucket` (paginated), or `None` when the bucket does not exist.
pub async fn list_bucket(s3: &S3, bucket: &str) -> Result<Option<Vec<Listed>>, MirrorError> {
    let mut pages = s3
        .client
        .list_objects_v2()
        .bucket(bucket)
        .into_paginator()
        .send();
    let mut listed = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_bucket()) => {
                return Ok(None);
            }
            Err(e) => return Err(s3_error(s3, format!("list bucket '{bucket}'"), &e)),
        };
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            listed.push(Listed {
                key: key.to_string(),
                size: object.size().unwrap_or(0).max(0) as u64,
                etag: object.e_tag().unwrap_or_default().to_string(),
                last_modified: object.last_modified().map(format_time).unwrap_or_default(),
            });
        }
    }
    Ok(Some(listed))
}

/// What fetching the objects of one bucket shares.
struct BucketRun<'a> {
    s3: &'a S3,
    bucket: &'a str,
    generation: &'a Path,
    tmp: &'a Path,
    dedup: &'a Mutex<DedupIndex>,
    counter: AtomicU64,
}

impl BucketRun<'_> {
    /// Downloads one object to `path` in the generation; true when its content was already
    /// there and it became a hard link to it.
    async fn download(
        &self,
        object: &Listed,
        path: String,
    ) -> Result<(ObjectEntry, bool), MirrorError> {
        let (s3, bucket, generation, tmp, dedup, counter) = (
            self.s3,
            self.bucket,
            self.generation,
            self.tmp,
            self.dedup,
            &self.counter,
        );
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
        let temporary = tmp.join(counter.fetch_add(1, Ordering::Relaxed).to_string());
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
            index.remember(size, &hash, dest.clone());
        }
        let metadata: BTreeMap<String, String> =
            output.metadata.unwrap_or_default().into_iter().collect();
        let entry = ObjectEntry {
            bucket: bucket.to_string(),
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
        };
        Ok((entry, outcome == Outcome::Linked))
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

/// Links the unchanged objects' files into `generation` in [`LINK_BATCHES`] batches on the
/// blocking pool. Returns the records linked and those whose old file was not a regular file of
/// the recorded size (a symlink planted in an old generation is never linked or followed).
async fn link_unchanged(
    generation: &Path,
    mut reuse: Vec<Reuse>,
) -> Result<(Vec<ObjectEntry>, Vec<Reuse>), MirrorError> {
    let batch_size = reuse.len().div_ceil(LINK_BATCHES).max(1);
    let mut batches = Vec::new();
    while !reuse.is_empty() {
        let rest = reuse.split_off(reuse.len().min(batch_size));
        let (generation, batch) = (
            generation.to_path_buf(),
            std::mem::replace(&mut reuse, rest),
        );
        batches.push(tokio::task::spawn_blocking(move || {
            link_batch(&generation, batch)
        }));
    }
    let (mut linked, mut stale) = (Vec::new(), Vec::new());
    for batch in batches {
        let (l, s) = batch.await.map_err(|e| MirrorError::Io {
            action: "link unchanged objects into",
            path: generation.to_path_buf(),
            source: std::io::Error::other(e),
        })??;
        linked.extend(l);
        stale.extend(s);
    }
    Ok((linked, stale))
}

/// One batch of [`link_unchanged`]; each parent directory is created once.
fn link_batch(
    generation: &Path,
    batch: Vec<Reuse>,
) -> Result<(Vec<ObjectEntry>, Vec<Reuse>), MirrorError> {
    let mut made: HashSet<PathBuf> = HashSet::new();
    let (mut linked, mut stale) = (Vec::with_capacity(batch.len()), Vec::new());
    for reuse in batch {
        let regular = std::fs::symlink_metadata(&reuse.source)
            .is_ok_and(|m| m.is_file() && m.len() == reuse.entry.size);
        if !regular {
            stale.push(reuse);
            continue;
        }
        let dest = generation.join(&reuse.entry.path);
        if let Some(parent) = dest.parent()
            && !made.contains(parent)
        {
            mkdir_private_all(parent).map_err(|source| MirrorError::Io {
                action: "create directory",
                path: parent.to_path_buf(),
                source,
            })?;
            made.insert(parent.to_path_buf());
        }
        link_or_copy(&reuse.source, &dest)?;
        linked.push(reuse.entry);
    }
    Ok((linked, stale))
}

/// Hard-links `source` to `dest`; copies instead when the link-count limit is reached or the
/// two are on different filesystems.
fn link_or_copy(source: &Path, dest: &Path) -> Result<(), MirrorError> {
    match std::fs::hard_link(source, dest) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(31 | 18)) => {
            tracing::debug!("copying '{}' instead of linking: {e}", source.display());
            std::fs::copy(source, dest)
                .map(|_| ())
                .map_err(|source| MirrorError::Io {
                    action: "copy to",
                    path: dest.to_path_buf(),
                    source,
                })
        }
        Err(source) => Err(MirrorError::Io {
            action: "hard-link",
            path: dest.to_path_buf(),
            source,
        }),
    }
}

/// Runs `task` over a copy of `catalog` on the blocking pool.
fn read_manifests<T: Send + 'static>(
    catalog: &Catalog,
    task: fn(&Catalog) -> T,
) -> tokio::task::JoinHandle<T> {
    let catalog = catalog.clone();
    tokio::task::spawn_blocking(move || task(&catalog))
}

/// Content of every earlier generation's objects, for deduplicating downloads.
fn load_object_index(catalog: &Catalog) -> DedupIndex {
    DedupIndex::load(catalog, "objects/")
}

fn load_previous(catalog: &Catalog) -> Option<Previous> {
    let generation = catalog.complete().rev().find(|g| match &g.kind {
        GenerationKind::Fullsite(header) => header.parts.objects,
        _ => false,
    })?;
    let mut previous = Previous {
        name: generation.name.clone(),
        dir: generation.path.clone(),
        objects: HashMap::new(),
        counts: HashMap::new(),
    };
    let read = manifest::read_records(&generation.path, |record| match record {
        Record::Object(entry) => {
            previous
                .objects
                .entry(entry.bucket.clone())
                .or_default()
                .insert(entry.key.clone(), entry);
        }
        Record::Bucket(bucket) => {
            previous.counts.insert(bucket.name, bucket.objects);
        }
        _ => {}
    });
    match read {
        Ok(_) => Some(previous),
        Err(e) => {
            tracing::warn!("not using '{}' for unchanged objects: {e}", generation.name);
            None
        }
    }
}

fn format_time(time: &DateTime) -> String {
    time.fmt(DateTimeFormat::DateTime).unwrap_or_default()
}

fn s3_error<E: std::error::Error + 'static>(s3: &S3, action: String, error: &E) -> MirrorError {
    MirrorError::S3 {
        action,
        endpoint: s3.endpoint.clone(),
        message: describe(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_file_at_the_hard_link_limit_is_copied_instead() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        std::fs::write(&source, b"shared content").unwrap();
        // Fill the file's link count (65,000 on ext4, this project's machines).
        for n in 0.. {
            match std::fs::hard_link(&source, dir.path().join(format!("l{n}"))) {
                Ok(()) if n < 100_000 => {}
                Ok(()) => return, // no practical link limit on this filesystem: nothing to fall back from
                Err(e) if e.raw_os_error() == Some(31) => break,
                Err(e) => panic!("{e}"),
            }
        }
        let dest = dir.path().join("dest");
        link_or_copy(&source, &dest).unwrap();
        assert_ne!(
            std::fs::metadata(&dest).unwrap().ino(),
            std::fs::metadata(&source).unwrap().ino()
        );
        assert_eq!(std::fs::read(&dest).unwrap(), b"shared content");
    }
}
