//! Unchanged objects: hard-linked from the previous generation instead of downloaded.
//!
//! An object is unchanged when the previous complete generation with objects has a record of
//! the same bucket and key whose size, ETag and Last-Modified equal the listing's. Its previous
//! manifest is read twice and never held in memory, so memory does not grow with the number of
//! objects it records:
//! 1. [`PreviousGeneration::load`] marks the listed objects that are unchanged (a bit per object) and
//!    keeps the per-bucket object counts for the empty-bucket guard;
//! 2. [`link_unchanged`] reads it again and hard-links each marked object's old file to its new
//!    path, in batches on [`LINK_WORKERS`] threads (each creating a directory once), writing the
//!    old record with its new path into the new manifest.
//!
//! Invariants: only a regular file of the recorded size is linked (a symlink planted in an old
//! generation is never linked or followed); every marked object is either linked or returned as
//! stale, to be downloaded, so no listed object is ever left out.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};

use super::error::ObjectsError;
use super::listing::BucketListing;
use super::mirror::SharedManifest;
use super::store::Listed;
use crate::fsutil::{FsError, IoContext, create_private_dir_all};
use crate::generation::{Catalog, GenerationKind};
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

impl PreviousGeneration {
    /// Reads the previous generation's manifest and marks the unchanged objects of `listings`.
    /// `None` when there is no such generation or its manifest is unreadable (then every object
    /// is downloaded: a warning, never a failed backup).
    pub fn load(catalog: &Catalog, listings: &[BucketListing]) -> Option<PreviousGeneration> {
        let generation = catalog.complete().rev().find(|g| match &g.kind {
            GenerationKind::Fullsite(header) => header.parts.objects,
            _ => false,
        })?;
        let buckets = bucket_indexes(listings);
        let mut previous = PreviousGeneration {
            name: generation.name.clone(),
            dir: generation.path.clone(),
            counts: HashMap::new(),
            unchanged: listings
                .iter()
                .map(|l| vec![false; l.objects.len()])
                .collect(),
        };
        let read = manifest::read_records(&generation.path, |record| match record {
            Record::Object(old) => {
                if let Some((b, i)) = locate(&buckets, listings, &old) {
                    previous.unchanged[b][i] = true;
                }
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
