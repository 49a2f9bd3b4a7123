//! Unchanged objects: hard-linked from the previous generation instead of downloaded.
//!
//! An object is unchanged when the previous complete generation with objects has a record of
//! the same bucket and key whose size, ETag and Last-Modified equal the listing's. Its previous
//! manifest is read twice and never held in memory whole, so memory grows by only a few bytes
//! per object it records:
//! 1. [`load_indexes`], while the buckets are listed, reads it (with the content index of every
//!    generation, one pass per manifest) into a [`PreviousIndex`] of hashes, and the per-bucket
//!    object counts for the empty-bucket guard; once listed, [`PreviousGeneration::mark`] marks
//!    the unchanged objects (a bit per object) in memory;
//! 2. [`link_unchanged`] reads it again and hard-links each marked object's old file to its new
//!    path, in batches on [`LINK_WORKERS`] threads (each creating a directory once), writing the
//!    old record with its new path into the new manifest.
//!
//! Invariants: only a regular file of the recorded size is linked (a symlink planted in an old
//! generation is never linked or followed); every marked object is either linked or returned as
//! stale, to be downloaded, so no listed object is ever left out.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};

use super::error::ObjectsError;
use super::listing::BucketListing;
use super::mirror::SharedManifest;
use super::store::Listed;
use crate::dedup::DedupIndex;
use crate::fsutil::{FsError, IoContext, create_private_dir_all};
use crate::generation::{Catalog, Generation, GenerationKind};
use crate::manifest::{self, ObjectEntry, Record};

/// Threads linking unchanged objects (linking is kernel work; two keep two cores busy).
const LINK_WORKERS: usize = 2;
/// Objects handed to a linking thread at once.
const LINK_BATCH: usize = 512;

/// The previous complete generation with objects, and which listed objects it holds unchanged.
#[derive(Debug)]
pub struct PreviousGeneration {
    /// Its name.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Objects it recorded per bucket.
    pub counts: HashMap<String, u64>,
    /// Per listed bucket, per object: unchanged since then.
    pub unchanged: Vec<Vec<bool>>,
}

/// What [`link_unchanged`] did.
#[derive(Debug, Default)]
pub struct LinkedUnchanged {
    /// Objects linked.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Marked objects not linked (old file gone or not a regular file of its size): `(bucket,
    /// object)` indexes, to download.
    pub stale: Vec<(usize, usize)>,
}

/// What the previous generation's manifest says of each object it holds, compactly: read once,
/// with the content index, while the buckets are listed.
#[derive(Debug)]
pub struct PreviousIndex {
    name: String,
    dir: PathBuf,
    counts: HashMap<String, u64>,
    /// Hash of `(bucket, key)` → hash of `(size, ETag, Last-Modified)`. Hashes only, so memory
    /// stays at a few bytes per object; a collision can only mark an object that
    /// [`link_unchanged`] then finds different in the full record, and downloads.
    identities: HashMap<u64, u64>,
}

impl PreviousIndex {
    fn new(generation: &Generation) -> PreviousIndex {
        PreviousIndex {
            name: generation.name.clone(),
            dir: generation.path.clone(),
            counts: HashMap::new(),
            identities: HashMap::new(),
        }
    }

    fn visit(&mut self, record: &Record) {
        match record {
            Record::Object(old) => {
                self.identities.insert(
                    key_hash(&old.bucket, &old.key),
                    identity_hash(old.size, &old.etag, &old.last_modified),
                );
            }
            Record::Bucket(bucket) => {
                self.counts.insert(bucket.name.clone(), bucket.objects);
            }
            _ => {}
        }
    }
}

fn key_hash(bucket: &str, key: &str) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one((bucket, key))
}

fn identity_hash(size: u64, etag: &str, last_modified: &str) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one((size, etag, last_modified))
}

/// Reads the manifests of the complete generations of `catalog` once each: the content index
/// of their files under `objects/`, and the [`PreviousIndex`] of the newest with objects
/// (`None` when there is none or its manifest is unreadable: then every object is downloaded,
/// with a warning, never a failed backup). Blocking.
pub fn load_indexes(catalog: &Catalog) -> (DedupIndex, Option<PreviousIndex>) {
    let previous = catalog.complete().rev().find(|g| match &g.kind {
        GenerationKind::Fullsite(header) => header.parts.objects,
        _ => false,
    });
    let dir = previous.map(|g| g.path.as_path());
    let mut index = previous.map(PreviousIndex::new);
    let mut whole = false;
    let dedup = DedupIndex::load_visiting(
        catalog,
        "objects/",
        |generation, record| {
            if let Some(index) = index.as_mut().filter(|i| i.dir == generation.path) {
                index.visit(record);
            }
        },
        |generation, read| {
            if dir == Some(generation.path.as_path()) {
                whole = read;
            }
        },
    );
    if !whole && let Some(index) = &index {
        tracing::warn!("not using '{}' for unchanged objects", index.name);
    }
    (dedup, index.filter(|_| whole))
}

impl PreviousGeneration {
    /// Marks the unchanged objects of `listings` (in memory: the manifest was read into
    /// `index`).
    pub fn mark(index: PreviousIndex, listings: &[BucketListing]) -> PreviousGeneration {
        let unchanged = listings
            .iter()
            .map(|listing| {
                listing
                    .objects
                    .iter()
                    .map(|now| {
                        index
                            .identities
                            .get(&key_hash(&listing.name, &now.key))
                            .copied()
                            == Some(identity_hash(now.size, &now.etag, &now.last_modified))
                    })
                    .collect()
            })
            .collect();
        PreviousGeneration {
            name: index.name,
            dir: index.dir,
            counts: index.counts,
            unchanged,
        }
    }
}

/// Bucket name → index in the listings.
fn bucket_indexes(listings: &[BucketListing]) -> HashMap<&str, usize> {
    listings
        .iter()
        .enumerate()
        .map(|(index, listing)| (listing.name.as_str(), index))
        .collect()
}

/// `(bucket, object)` indexes of the listed object that `old` records unchanged.
fn locate(
    buckets: &HashMap<&str, usize>,
    listings: &[BucketListing],
    old: &ObjectEntry,
) -> Option<(usize, usize)> {
    let b = *buckets.get(old.bucket.as_str())?;
    let i = listings[b].find(&old.key)?;
    same(old, &listings[b].objects[i]).then_some((b, i))
}

fn same(old: &ObjectEntry, now: &Listed) -> bool {
    old.size == now.size && old.etag == now.etag && old.last_modified == now.last_modified
}

/// One unchanged object to link.
struct Job {
    bucket: usize,
    index: usize,
    /// Its previous record.
    old: ObjectEntry,
}

/// Links the objects `previous` marked unchanged into `generation`, writing their records to
/// `records`. Blocking: run it on the blocking pool.
pub fn link_unchanged(
    previous: &PreviousGeneration,
    listings: &[BucketListing],
    generation: &Path,
    records: &SharedManifest,
) -> Result<LinkedUnchanged, ObjectsError> {
    let buckets = bucket_indexes(listings);
    let mut remaining = previous.unchanged.clone();
    let (sender, receiver) = mpsc::sync_channel::<Vec<Job>>(LINK_WORKERS);
    let receiver = Mutex::new(receiver);
    let mut linked = LinkedUnchanged::default();
    let (read, outcomes) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..LINK_WORKERS)
            .map(|_| {
                scope.spawn(|| {
                    let mut worker = Worker {
                        previous: &previous.dir,
                        listings,
                        generation,
                        records,
                        made: HashSet::new(),
                        linked: LinkedUnchanged::default(),
                    };
                    let mut result = Ok(());
                    // After an error the worker keeps receiving (and skipping), so the reader
                    // never blocks on a full channel.
                    while let Ok(batch) = receiver
                        .lock()
                        .map_err(drop)
                        .and_then(|r| r.recv().map_err(drop))
                    {
                        if result.is_ok() {
                            result = batch.into_iter().try_for_each(|job| worker.link(job));
                        }
                    }
                    result.map(|()| worker.linked)
                })
            })
            .collect();
        let mut batch = Vec::with_capacity(LINK_BATCH);
        let read = manifest::read_records(&previous.dir, |record| {
            let Record::Object(old) = record else { return };
            let Some((bucket, index)) = locate(&buckets, listings, &old) else {
                return;
            };
            if !std::mem::take(&mut remaining[bucket][index]) {
                return;
            }
            batch.push(Job { bucket, index, old });
            if batch.len() == LINK_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(LINK_BATCH));
                // Fails only when every worker has ended, which happens after `sender` drops.
                let _ = sender.send(full);
            }
        });
        if !batch.is_empty() {
            let _ = sender.send(batch);
        }
        drop(sender);
        let outcomes: Vec<_> = workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect();
        (read, outcomes)
    });
    for outcome in outcomes {
        let worker = outcome?;
        linked.objects += worker.objects;
        linked.bytes += worker.bytes;
        linked.stale.extend(worker.stale);
    }
    if let Err(e) = read {
        tracing::warn!("'{}' could not be read again: {e}", previous.name);
    }
    // Marked but not met again (the old manifest changed between the two reads): downloaded.
    for (b, marks) in remaining.iter().enumerate() {
        linked.stale.extend(
            marks
                .iter()
                .enumerate()
                .filter(|(_, m)| **m)
                .map(|(i, _)| (b, i)),
        );
    }
    Ok(linked)
}

/// One linking thread's state.
struct Worker<'a> {
    previous: &'a Path,
    listings: &'a [BucketListing],
    generation: &'a Path,
    records: &'a SharedManifest,
    /// Directories already created by this thread.
    made: HashSet<PathBuf>,
    linked: LinkedUnchanged,
}

impl Worker<'_> {
    fn link(&mut self, job: Job) -> Result<(), ObjectsError> {
        let Job { bucket, index, old } = job;
        let source = self.previous.join(&old.path);
        let regular =
            std::fs::symlink_metadata(&source).is_ok_and(|m| m.is_file() && m.len() == old.size);
        if !regular {
            self.linked.stale.push((bucket, index));
            return Ok(());
        }
        let path = self.listings[bucket].path_of(index);
        let dest = self.generation.join(&path);
        if let Some(parent) = dest.parent()
            && !self.made.contains(parent)
        {
            create_private_dir_all(parent)?;
            self.made.insert(parent.to_path_buf());
        }
        link_or_copy(&source, &dest)?;
        self.linked.objects += 1;
        self.linked.bytes += old.size;
        self.records.object(ObjectEntry { path, ..old })
    }
}

/// Hard-links `source` to `dest`; copies instead when the link-count limit is reached or the
/// two are on different filesystems.
pub fn link_or_copy(source: &Path, dest: &Path) -> Result<(), ObjectsError> {
    match std::fs::hard_link(source, dest) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(31 | 18)) => {
            tracing::debug!("copying '{}' instead of linking: {e}", source.display());
            std::fs::copy(source, dest).at("copy to", dest)?;
            Ok(())
        }
        Err(source) => Err(FsError::new("hard-link", dest, source).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{BucketEntry, Header, ManifestWriter, Parts, Source};
    use std::os::unix::fs::MetadataExt;

    fn listed(key: &str, size: u64, etag: &str, last_modified: &str) -> Listed {
        Listed {
            key: key.into(),
            size,
            etag: etag.into(),
            last_modified: last_modified.into(),
        }
    }

    fn record(bucket: &str, now: &Listed) -> ObjectEntry {
        ObjectEntry {
            bucket: bucket.into(),
            key: now.key.clone(),
            path: format!("objects/{bucket}/{}", now.key),
            size: now.size,
            etag: now.etag.clone(),
            last_modified: now.last_modified.clone(),
            blake3: blake3::hash(now.key.as_bytes()).to_hex().to_string(),
            content_type: None,
            cache_control: None,
            content_encoding: None,
            content_disposition: None,
            metadata: Default::default(),
        }
    }

    /// A complete generation `name` of `root` holding `objects` of bucket `bkt`.
    fn generation(root: &Path, name: &str, objects: &[Listed]) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let time = chrono::DateTime::parse_from_rfc3339("2026-01-02T02:30:00+01:00").unwrap();
        let header = Header {
            format: crate::manifest::FORMAT.into(),
            version: crate::manifest::VERSION,
            tool_version: "0.1.0".into(),
            generation: name.into(),
            started_at: time,
            host: "vps".into(),
            parts: Parts {
                db: false,
                objects: true,
            },
            source: Source::default(),
        };
        let mut manifest = ManifestWriter::create(&dir, header).unwrap();
        for object in objects {
            manifest.add_object(record("bkt", object)).unwrap();
        }
        let bucket = BucketEntry {
            name: "bkt".into(),
            objects: objects.len() as u64,
            policy: None,
        };
        manifest.add_record(&Record::Bucket(bucket)).unwrap();
        manifest.finish(time).unwrap();
    }

    #[test]
    fn only_objects_of_the_same_key_size_etag_and_last_modified_are_marked_unchanged() {
        let root = tempfile::tempdir().unwrap();
        let t = "2026-01-01T00:00:00Z";
        let before = [
            listed("same", 3, "\"e\"", t),
            listed("new-etag", 3, "\"e\"", t),
            listed("new-size", 3, "\"e\"", t),
            listed("touched", 3, "\"e\"", t),
            listed("deleted", 3, "\"e\"", t),
        ];
        generation(root.path(), "g1", &before);
        let now = vec![
            listed("same", 3, "\"e\"", t),
            listed("new-etag", 3, "\"f\"", t),
            listed("new-size", 4, "\"e\"", t),
            listed("touched", 3, "\"e\"", "2026-01-01T00:00:01Z"),
            listed("added", 3, "\"e\"", t),
        ];
        let listings = [
            BucketListing::new("bkt".into(), Some(now.clone())),
            // the same keys in another bucket were never backed up
            BucketListing::new("other".into(), Some(now)),
        ];
        let catalog = Catalog::scan(root.path()).unwrap();
        let (_, index) = load_indexes(&catalog);
        let previous = PreviousGeneration::mark(index.unwrap(), &listings);
        assert_eq!(previous.name, "g1");
        assert_eq!(previous.counts.get("bkt"), Some(&5));
        let marked: Vec<&str> = listings[0]
            .objects
            .iter()
            .zip(&previous.unchanged[0])
            .filter(|(_, m)| **m)
            .map(|(o, _)| o.key.as_str())
            .collect();
        assert_eq!(marked, ["same"]);
        assert!(previous.unchanged[1].iter().all(|m| !m));

        // a damaged previous manifest is not used: every object is downloaded
        let manifest = root.path().join("g1").join(crate::manifest::MANIFEST_FILE);
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, text.replace("new-size", "new-sizE")).unwrap();
        let catalog = Catalog::scan(root.path()).unwrap();
        assert!(load_indexes(&catalog).1.is_none());
    }

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
