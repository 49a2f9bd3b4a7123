//! Content deduplication by hard links across generations.
//!
//! [`DedupIndex::load`] reads the manifests of the complete fullsite generations in a root and
//! remembers, for every file under a path prefix, where content of that size and BLAKE3 already
//! lives (newest generation first). After a new file is written and hashed,
//! [`DedupIndex::link_identical`] replaces it with a hard link to the existing copy, so seven
//! nightly generations of an unchanged table cost one copy on disk.
//!
//! Invariants: the existing copy is re-hashed before linking, so a damaged old file is never
//! spread into a new generation; the swap is a link to a temporary name plus a rename over the
//! new file, so the new path always holds the right content; when linking is impossible (the
//! link-count limit, another filesystem) the new file simply stays a copy.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::generation::{Catalog, Generation, GenerationKind};
use crate::manifest::{self, Record, hash_file};

/// Where known content lives.
#[derive(Debug, Default)]
pub struct DedupIndex {
    by_content: HashMap<(u64, [u8; 32]), PathBuf>,
}

/// What [`DedupIndex::link_identical`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The new file is now a hard link to an existing copy.
    Linked,
    /// No identical content known; the file stays as written.
    New,
    /// Identical content is known but could not be linked (link limit, other filesystem, or
    /// the old copy changed); the file stays as written.
    Copied,
}

impl DedupIndex {
    /// Indexes files whose manifest path starts with `prefix` in every complete fullsite
    /// generation of `catalog`. Unreadable manifests are skipped (with a warning): dedup is an
    /// optimisation, never a reason to fail a backup.
    pub fn load(catalog: &Catalog, prefix: &str) -> DedupIndex {
        DedupIndex::load_visiting(catalog, prefix, |_, _| {}, |_, _| {})
    }

    /// Like [`DedupIndex::load`], reading each manifest once for another index too: every
    /// record of each generation goes to `visit`, then `done` learns whether that generation's
    /// manifest was read whole (`false`: what `visit` saw of it must be discarded).
    pub fn load_visiting(
        catalog: &Catalog,
        prefix: &str,
        mut visit: impl FnMut(&Generation, &Record),
        mut done: impl FnMut(&Generation, bool),
    ) -> DedupIndex {
        let mut index = DedupIndex::default();
        for generation in catalog.complete().rev() {
            if !matches!(generation.kind, GenerationKind::Fullsite(_)) {
                continue;
            }
            let result = manifest::read_records(&generation.path, |record| {
                visit(generation, &record);
                let Record::File(entry) = record else { return };
                if !entry.path.starts_with(prefix) {
                    return;
                }
                if let Ok(hash) = blake3::Hash::from_hex(&entry.blake3) {
                    index
                        .by_content
                        .entry((entry.size, *hash.as_bytes()))
                        .or_insert_with(|| generation.path.join(&entry.path));
                }
            });
            done(generation, result.is_ok());
            if let Err(e) = result {
                tracing::warn!("not deduplicating against '{}': {e}", generation.name);
            }
        }
        index
    }

    /// Remembers that `path` holds content of this size and hash (a file written in this run).
    pub fn remember(&mut self, size: u64, hash: &blake3::Hash, path: PathBuf) {
        self.by_content
            .entry((size, *hash.as_bytes()))
            .or_insert(path);
    }

    /// Replaces `path` (just written, with this size and hash) by a hard link to an existing
    /// identical file, if there is one.
    pub fn link_identical(&self, path: &Path, size: u64, hash: &blake3::Hash) -> Outcome {
        let Some(existing) = self.by_content.get(&(size, *hash.as_bytes())) else {
            return Outcome::New;
        };
        // Only a regular file is linked: a symlink planted in an old generation is never
        // followed or carried into a new one.
        if !std::fs::symlink_metadata(existing).is_ok_and(|m| m.is_file()) {
            tracing::warn!(
                "'{}' is not a regular file; keeping a fresh copy",
                existing.display()
            );
            return Outcome::Copied;
        }
        match hash_file(existing) {
            Ok((old_size, old_hash)) if old_size == size && old_hash == *hash => {}
            _ => {
                tracing::warn!(
                    "'{}' no longer matches its manifest; keeping a fresh copy",
                    existing.display()
                );
                return Outcome::Copied;
            }
        }
        let tmp = path.with_file_name(format!(
            ".{}.link.{}",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            std::process::id()
        ));
        let linked = std::fs::hard_link(existing, &tmp).and_then(|()| std::fs::rename(&tmp, path));
        match linked {
            Ok(()) => Outcome::Linked,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                tracing::debug!(
                    "cannot hard-link '{}' to '{}': {e}; keeping a copy",
                    path.display(),
                    existing.display()
                );
                Outcome::Copied
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn identical_content_is_linked_and_changed_old_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old");
        let new = dir.path().join("new");
        std::fs::write(&old, b"same bytes").unwrap();
        std::fs::write(&new, b"same bytes").unwrap();
        let hash = blake3::hash(b"same bytes");
        let mut index = DedupIndex::default();
        index.by_content.insert((10, *hash.as_bytes()), old.clone());

        assert_eq!(index.link_identical(&new, 10, &hash), Outcome::Linked);
        assert_eq!(
            std::fs::metadata(&new).unwrap().ino(),
            std::fs::metadata(&old).unwrap().ino()
        );
        assert_eq!(std::fs::read(&new).unwrap(), b"same bytes");

        let other = blake3::hash(b"other");
        assert_eq!(index.link_identical(&new, 5, &other), Outcome::New);

        let third = dir.path().join("third");
        std::fs::write(&third, b"same bytes").unwrap();
        std::fs::write(&old, b"SAME BYTES").unwrap(); // the old copy was damaged
        assert_eq!(index.link_identical(&third, 10, &hash), Outcome::Copied);
        assert_eq!(std::fs::read(&third).unwrap(), b"same bytes");

        // a symlink where the index expects a file is never linked
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"same bytes").unwrap();
        let planted = dir.path().join("planted");
        std::os::unix::fs::symlink(&outside, &planted).unwrap();
        index.by_content.insert((10, *hash.as_bytes()), planted);
        let fourth = dir.path().join("fourth");
        std::fs::write(&fourth, b"same bytes").unwrap();
        assert_eq!(index.link_identical(&fourth, 10, &hash), Outcome::Copied);
        assert!(std::fs::symlink_metadata(&fourth).unwrap().is_file());
    }
}
