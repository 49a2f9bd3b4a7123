//! References from rows to objects: which bucket/key pairs the database points at, and how
//! that set compares with the objects a generation holds.
//!
//! The operator gives a query (`FULLSITE_OBJECT_REFS_SQL`, or `--refs-sql-file PATH`): a
//! SELECT returning two text columns, bucket and key, one row per reference (rows with a NULL
//! in either are skipped). `backup` runs it inside the dump's snapshot transaction, so the set
//! and the dumped rows agree exactly ([`query`]); `drill` runs it again on the restored
//! database. Findings, never failures:
//! - *dangling* references: distinct pairs the generation holds no object for (an image a row
//!   shows that the bucket lost);
//! - *orphans*: objects of the generation no row refers to (candidates for deletion), counted
//!   per bucket with their bytes.
//!
//! The set is recorded in the manifest by count, distinct count and [`digest`] (BLAKE3 of the
//! sorted distinct pairs), so a drill proves the restored rows point at exactly the same
//! objects without the manifest holding the whole set.

pub mod query;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

pub use self::query::{RefsQuery, collect};
use crate::error::ErrorKind;
use crate::manifest::{ObjectRef, ReferencesRecord};
use crate::pg::connect::PgError;

/// Dangling references named in the manifest, the summary and the drill report.
pub const DANGLING_LISTED: usize = 100;

/// Dangling references named in a backup's warning line.
pub const DANGLING_WARNED: usize = 5;

/// What the query returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefSet {
    /// The query as run.
    pub sql: String,
    /// The `search_path` it ran with.
    pub search_path: String,
    /// Rows returned (without NULLs).
    pub references: u64,
    /// The distinct pairs, sorted.
    pub distinct: BTreeSet<ObjectRef>,
}

/// Distinct references with no object behind them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dangling {
    /// How many.
    pub count: u64,
    /// The first [`DANGLING_LISTED`], sorted.
    pub first: Vec<ObjectRef>,
}

/// Objects of one bucket no row refers to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BucketOrphans {
    /// Bucket name.
    pub bucket: String,
    /// Objects.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Objects no row refers to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Orphans {
    /// Objects, over every bucket.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Per bucket (every bucket of the generation, also those without orphans).
    pub buckets: Vec<BucketOrphans>,
}

impl RefSet {
    /// The BLAKE3 of the distinct set (see [`digest`]).
    pub fn digest(&self) -> String {
        digest(&self.distinct)
    }

    /// The distinct pairs `held` says have no object.
    pub fn dangling(&self, mut held: impl FnMut(&ObjectRef) -> bool) -> Dangling {
        let mut dangling = Dangling::default();
        for reference in self.distinct.iter().filter(|r| !held(r)) {
            dangling.count += 1;
            if dangling.first.len() < DANGLING_LISTED {
                dangling.first.push(reference.clone());
            }
        }
        dangling
    }

    /// The objects (bucket, key, size) no reference points at.
    pub fn orphans<'a>(&self, objects: impl IntoIterator<Item = (&'a ObjectRef, u64)>) -> Orphans {
        let mut buckets: BTreeMap<&str, BucketOrphans> = BTreeMap::new();
        for (object, size) in objects {
            let entry = buckets
                .entry(object.bucket.as_str())
                .or_insert_with(|| BucketOrphans {
                    bucket: object.bucket.clone(),
                    ..Default::default()
                });
            if !self.distinct.contains(object) {
                entry.objects += 1;
                entry.bytes += size;
            }
        }
        let buckets: Vec<BucketOrphans> = buckets.into_values().collect();
        Orphans {
            objects: buckets.iter().map(|b| b.objects).sum(),
            bytes: buckets.iter().map(|b| b.bytes).sum(),
            buckets,
        }
    }

    /// The manifest record of this set, with its dangling references when they were computed.
    pub fn record(&self, dangling: Option<&Dangling>) -> ReferencesRecord {
        ReferencesRecord {
            sql: self.sql.clone(),
            search_path: self.search_path.clone(),
            references: self.references,
            distinct: self.distinct.len() as u64,
            digest: self.digest(),
            dangling: dangling.map(|d| d.count),
            dangling_keys: dangling.map(|d| d.first.clone()).unwrap_or_default(),
        }
    }
}

/// BLAKE3 (hex) of a sorted set of pairs, each fed as the little-endian `u64` byte length of
/// the bucket, the bucket, the same for the key, then the key: unambiguous whatever the keys
/// hold.
pub fn digest(set: &BTreeSet<ObjectRef>) -> String {
    let mut hasher = blake3::Hasher::new();
    for reference in set {
        for part in [&reference.bucket, &reference.key] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    hasher.finalize().to_hex().to_string()
}

/// Whether the generation being built in `dir` holds the object `reference`: its file is where
/// the key ↔ path mapping puts it (`objects/<bucket>/<path>`, or `<path>/%!` when the key is
/// also a prefix of other keys). A bucket name that is not one is never held.
pub fn held_on_disk(dir: &Path, reference: &ObjectRef) -> bool {
    if crate::config::check_bucket_name(&reference.bucket).is_err() {
        return false;
    }
    let path = crate::objects::key_path::KeyPaths::default().path_for(&reference.key);
    let file = dir.join("objects").join(&reference.bucket).join(path);
    match std::fs::symlink_metadata(&file) {
        Ok(meta) if meta.is_file() => true,
        Ok(meta) if meta.is_dir() => file.join("%!").is_file(),
        _ => false,
    }
}

/// At backup: the manifest record of `set`, with its dangling references against the
/// generation being built in `dir` when it holds objects; warns naming the first few.
pub fn backup_findings(set: &RefSet, dir: Option<&Path>) -> ReferencesRecord {
    let dangling = dir.map(|dir| set.dangling(|r| held_on_disk(dir, r)));
    if let Some(d) = dangling.as_ref().filter(|d| d.count > 0) {
        tracing::warn!(
            "{} of {} referenced objects are not in the generation (dangling references): {}",
            d.count,
            set.distinct.len(),
            list_for_log(&d.first, d.count, DANGLING_WARNED)
        );
    }
    set.record(dangling.as_ref())
}

/// `bucket/key` pairs for a log line: the first `n`, then `...` when there are more.
pub fn list_for_log(first: &[ObjectRef], total: u64, n: usize) -> String {
    let mut text: Vec<String> = first
        .iter()
        .take(n)
        .map(|r| crate::human::printable(&format!("{}/{}", r.bucket, r.key)).into_owned())
        .collect();
    if total > text.len() as u64 {
        text.push("...".into());
    }
    text.join(", ")
}

/// The query could not be read, is malformed, or failed on the server.
#[derive(Debug, thiserror::Error)]
pub enum RefsError {
    /// `--refs-sql-file` could not be read.
    #[error("cannot read the rows → objects query from '{path}': {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The query is not a SELECT of two text columns the server accepts.
    #[error("the rows → objects query ({origin}) is malformed: {problem}")]
    Malformed {
        /// Where it came from (`FULLSITE_OBJECT_REFS_SQL`, `--refs-sql-file PATH`).
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// The server failed while running it.
    #[error(transparent)]
    Pg(#[from] PgError),
}

impl RefsError {
    /// Usage for a query that cannot work (unreadable file, malformed); a server failure
    /// says its own kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RefsError::Read { .. } | RefsError::Malformed { .. } => ErrorKind::Usage,
            RefsError::Pg(e) => e.kind(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(bucket: &str, key: &str) -> ObjectRef {
        ObjectRef {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    fn set(pairs: &[(&str, &str)]) -> RefSet {
        RefSet {
            references: pairs.len() as u64,
            distinct: pairs.iter().map(|(b, k)| r(b, k)).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_digest_depends_on_the_set_only_and_is_unambiguous() {
        let a = set(&[("img", "a/b"), ("img", "c"), ("img", "a/b")]);
        let b = set(&[("img", "c"), ("img", "a/b")]);
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.distinct.len(), 2);
        assert_ne!(set(&[("ab", "c")]).digest(), set(&[("a", "bc")]).digest());
        assert_ne!(set(&[]).digest(), set(&[("", "")]).digest());
    }

    #[test]
    fn dangling_and_orphans_are_the_two_differences() {
        let refs = set(&[("img", "a"), ("img", "gone"), ("avatars", "x")]);
        let objects = [
            (r("img", "a"), 10),
            (r("img", "unused"), 7),
            (r("avatars", "x"), 3),
            (r("other", "y"), 5),
        ];
        let held: BTreeSet<&ObjectRef> = objects.iter().map(|(o, _)| o).collect();
        let dangling = refs.dangling(|r| held.contains(r));
        assert_eq!(dangling.count, 1);
        assert_eq!(dangling.first, [r("img", "gone")]);
        let orphans = refs.orphans(objects.iter().map(|(o, s)| (o, *s)));
        assert_eq!((orphans.objects, orphans.bytes), (2, 12));
        let per: Vec<(&str, u64)> = orphans
            .buckets
            .iter()
            .map(|b| (b.bucket.as_str(), b.objects))
            .collect();
        assert_eq!(per, [("avatars", 0), ("img", 1), ("other", 1)]);
        let record = refs.record(Some(&dangling));
        assert_eq!((record.references, record.distinct), (3, 3));
        assert_eq!(record.dangling, Some(1));
        assert_eq!(refs.record(None).dangling, None);
    }

    #[test]
    fn objects_are_found_where_the_key_mapping_puts_them() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = dir.path().join("objects/img");
        std::fs::create_dir_all(bucket.join("a/%!").parent().unwrap()).unwrap();
        std::fs::write(bucket.join("a/%!"), b"x").unwrap();
        std::fs::write(bucket.join("a/b"), b"y").unwrap();
        std::fs::create_dir_all(bucket.join("%_")).unwrap();
        std::fs::write(bucket.join("%_/lead"), b"z").unwrap();
        for (key, held) in [
            ("a", true),
            ("a/b", true),
            ("/lead", true),
            ("a/c", false),
            ("b", false),
        ] {
            assert_eq!(held_on_disk(dir.path(), &r("img", key)), held, "{key}");
        }
        assert!(!held_on_disk(dir.path(), &r("../img", "a/b")));
    }

    #[test]
    fn log_lists_are_bounded() {
        let first = [r("b", "1"), r("b", "2"), r("b", "3")];
        assert_eq!(list_for_log(&first, 3, 5), "b/1, b/2, b/3");
        assert_eq!(list_for_log(&first, 9, 2), "b/1, b/2, ...");
    }
}
