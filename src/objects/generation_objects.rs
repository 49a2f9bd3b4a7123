//! A generation's objects as `ls`, `diff` and the object restore read them: the selected ones,
//! sorted by bucket and key (byte order, as S3 lists keys), with memory independent of their
//! number (an external sort, [`crate::extsort`]), and the buckets with their policies.
//!
//! A fullsite generation's objects come from its manifest's `object` and `bucket` records,
//! which a backup writes in arbitrary order; the manifest's trailer (digest and counts) is
//! checked while reading, before any record is handed out. A legacy generation has no manifest:
//! its files under `objects/<bucket>/` are walked, the key is the relative path, and
//! Content-Type is guessed from the extension.
//!
//! [`GenerationObjects::check_selection`] refuses (kind usage) a selection naming a bucket or key
//! the generation does not hold, or a prefix no selected object starts with.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::error::ObjectsError;
use super::restore_buckets::content_type_for;
use super::selection::ObjectSelection;
use crate::extsort::{RUN_LEN, Sorted, Sorter};
use crate::fsutil::FsError;
use crate::generation::{Generation, GenerationKind};
use crate::human::printable;
use crate::manifest::{self, ObjectEntry, Record};

/// The selected objects of a generation.
pub struct GenerationObjects {
    /// The generation's name.
    pub generation: String,
    /// Selected buckets the generation holds.
    pub buckets: BTreeMap<String, SelectedBucket>,
    /// The selected objects, sorted by bucket and key.
    pub objects: Sorted<ObjectEntry>,
    /// Keys given with `--key` that some selected bucket holds.
    found_keys: BTreeSet<String>,
    /// Widest printable key among them, in characters (for aligned columns).
    pub key_width: usize,
    /// True for a legacy generation (no manifest: no ETag, Last-Modified or BLAKE3).
    pub legacy: bool,
}

/// A selected bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectedBucket {
    /// Its recorded policy.
    pub policy: Option<String>,
    /// Its selected objects.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Order of objects: bucket, then key, byte-wise.
pub fn by_bucket_and_key(a: &ObjectEntry, b: &ObjectEntry) -> Ordering {
    (a.bucket.as_str(), a.key.as_str()).cmp(&(b.bucket.as_str(), b.key.as_str()))
}

/// Where the sort's temporary files are, for messages.
fn temp_error(e: std::io::Error) -> ObjectsError {
    ObjectsError::from(FsError::new(
        "use a temporary file in",
        &std::env::temp_dir(),
        e,
    ))
}

impl GenerationObjects {
    /// Reads the objects of `generation` that `selection` selects.
    pub fn read(
        generation: &Generation,
        selection: &ObjectSelection,
    ) -> Result<GenerationObjects, ObjectsError> {
        Self::read_with(generation, selection, RUN_LEN)
    }

    fn read_with(
        generation: &Generation,
        selection: &ObjectSelection,
        run_len: usize,
    ) -> Result<GenerationObjects, ObjectsError> {
        let mut sorter = Sorter::new(run_len, by_bucket_and_key);
        let mut buckets = BTreeMap::new();
        let mut found_keys = BTreeSet::new();
        let mut key_width = 0;
        let mut failed = None;
        let mut take = |object: ObjectEntry, buckets: &mut BTreeMap<String, SelectedBucket>| {
            if !selection.selects(&object.bucket, &object.key) || failed.is_some() {
                return;
            }
            let bucket = buckets.entry(object.bucket.clone()).or_default();
            bucket.objects += 1;
            bucket.bytes += object.size;
            if selection.keys.contains(&object.key) {
                found_keys.insert(object.key.clone());
            }
            key_width = key_width.max(printable(&object.key).chars().count());
            if let Err(e) = sorter.push(object) {
                failed = Some(e);
            }
        };
        let legacy = !matches!(generation.kind, GenerationKind::Fullsite(_));
        if legacy {
            walk_legacy(&generation.path, |object| {
                if selection.selects_bucket(&object.bucket) {
                    buckets.entry(object.bucket.clone()).or_default();
                }
                take(object, &mut buckets)
            })?;
        } else {
            manifest::read_records(&generation.path, |record| match record {
                Record::Bucket(b) if selection.selects_bucket(&b.name) => {
                    buckets.entry(b.name).or_default().policy = b.policy;
                }
                Record::Object(o) => take(o, &mut buckets),
                _ => {}
            })?;
        }
        if let Some(e) = failed {
            return Err(temp_error(e));
        }
        Ok(GenerationObjects {
            generation: generation.name.clone(),
            buckets,
            objects: sorter.finish().map_err(temp_error)?,
            found_keys,
            key_width,
            legacy,
        })
    }

    /// Refuses a selection naming what the generation does not hold: a bucket, a key, or a
    /// prefix no selected object starts with.
    pub fn check_selection(&self, selection: &ObjectSelection) -> Result<(), ObjectsError> {
        let absent = |what: String| ObjectsError::NotInGeneration {
            what,
            generation: self.generation.clone(),
        };
        if let Some(bucket) = selection
            .buckets
            .iter()
            .find(|b| !self.buckets.contains_key(*b))
        {
            return Err(absent(format!("bucket '{}'", printable(bucket))));
        }
        if let Some(key) = selection
            .keys
            .iter()
            .find(|k| !self.found_keys.contains(*k))
        {
            return Err(absent(format!("key '{}'", printable(key))));
        }
        if let Some(prefix) = &selection.prefix
            && self.objects.is_empty()
        {
            return Err(absent(format!(
                "object whose key starts with '{}'",
                printable(prefix)
            )));
        }
        Ok(())
    }

    /// Reads the selected objects in order.
    pub fn iter(
        &mut self,
    ) -> Result<impl Iterator<Item = Result<ObjectEntry, ObjectsError>> + '_, ObjectsError> {
        Ok(self
            .objects
            .iter()
            .map_err(temp_error)?
            .map(|r| r.map_err(temp_error)))
    }
}

/// Walks a legacy generation's `objects/<bucket>/` trees.
fn walk_legacy(generation: &Path, mut visit: impl FnMut(ObjectEntry)) -> Result<(), ObjectsError> {
    let io = |path: &Path, source| ObjectsError::from(FsError::new("read", path, source));
    let root = generation.join("objects");
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(&root, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io(&root, e))?;
        if !entry
            .file_type()
            .map_err(|e| io(&entry.path(), e))?
            .is_dir()
        {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        for file in walkdir::WalkDir::new(entry.path()).follow_links(false) {
            let file = file.map_err(|e| io(&entry.path(), e.into()))?;
            if !file.file_type().is_file() {
                continue;
            }
            let relative = file
                .path()
                .strip_prefix(entry.path())
                .unwrap_or(file.path());
            let key = relative.to_string_lossy().into_owned();
            let size = file
                .metadata()
                .map_err(|e| io(file.path(), e.into()))?
                .len();
            visit(ObjectEntry {
                bucket: name.clone(),
                path: format!("objects/{name}/{key}"),
                content_type: Some(content_type_for(&key).to_string()),
                key,
                size,
                etag: String::new(),
                last_modified: String::new(),
                blake3: String::new(),
                cache_control: None,
                content_encoding: None,
                content_disposition: None,
                metadata: BTreeMap::new(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{BucketEntry, FORMAT, Header, ManifestWriter, Parts, Source, VERSION};

    fn object(bucket: &str, key: &str) -> ObjectEntry {
        ObjectEntry {
            bucket: bucket.into(),
            key: key.into(),
            path: format!("objects/{bucket}/{key}"),
            size: key.len() as u64,
            etag: "\"e\"".into(),
            last_modified: "2026-01-01T00:00:00Z".into(),
            blake3: blake3::hash(key.as_bytes()).to_hex().to_string(),
            content_type: Some("text/plain".into()),
            cache_control: None,
            content_encoding: None,
            content_disposition: None,
            metadata: BTreeMap::new(),
        }
    }

    fn generation(dir: &Path, objects: &[(&str, &str)]) -> Generation {
        let header = Header {
            format: FORMAT.into(),
            version: VERSION,
            tool_version: "0".into(),
            generation: "g".into(),
            started_at: chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap(),
            host: "h".into(),
            parts: Parts {
                db: false,
                objects: true,
            },
            source: Source::default(),
        };
        let mut writer = ManifestWriter::create(dir, header.clone()).unwrap();
        for (bucket, key) in objects {
            writer.add_object(object(bucket, key)).unwrap();
        }
        for bucket in ["a", "b"] {
            let record = Record::Bucket(BucketEntry {
                name: bucket.into(),
                objects: 0,
                policy: None,
            });
            writer.add_record(&record).unwrap();
        }
        writer
            .finish(chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:01Z").unwrap())
            .unwrap();
        Generation {
            name: "g".into(),
            path: dir.to_path_buf(),
            kind: GenerationKind::Fullsite(Box::new(header)),
            time: chrono::Local::now(),
        }
    }

    #[test]
    fn objects_come_sorted_by_bucket_and_key_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let written = [
            ("b", "z"),
            ("a", "y/2"),
            ("b", "a"),
            ("a", "y/1"),
            ("a", "x"),
        ];
        let g = generation(dir.path(), &written);
        let keys = |mut objects: GenerationObjects| -> Vec<String> {
            objects
                .iter()
                .unwrap()
                .map(|o| o.map(|o| format!("{}/{}", o.bucket, o.key)).unwrap())
                .collect()
        };
        let all = GenerationObjects::read_with(&g, &ObjectSelection::default(), 2).unwrap();
        assert_eq!(keys(all), ["a/x", "a/y/1", "a/y/2", "b/a", "b/z"]);
        let selection = ObjectSelection {
            buckets: ["a".to_string()].into(),
            prefix: Some("y/".into()),
            ..ObjectSelection::default()
        };
        let some = GenerationObjects::read_with(&g, &selection, 1).unwrap();
        some.check_selection(&selection).unwrap();
        assert_eq!(keys(some), ["a/y/1", "a/y/2"]);
    }

    #[test]
    fn absent_buckets_keys_and_prefixes_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let g = generation(dir.path(), &[("a", "x")]);
        for (selection, needle) in [
            (
                ObjectSelection {
                    buckets: ["c".to_string()].into(),
                    ..ObjectSelection::default()
                },
                "holds no bucket 'c'",
            ),
            (
                ObjectSelection {
                    keys: ["x".to_string(), "nope".to_string()].into(),
                    ..ObjectSelection::default()
                },
                "holds no key 'nope'",
            ),
            (
                ObjectSelection {
                    prefix: Some("q".into()),
                    ..ObjectSelection::default()
                },
                "starts with 'q'",
            ),
        ] {
            let objects = GenerationObjects::read(&g, &selection).unwrap();
            let err = objects.check_selection(&selection).unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::Usage);
            assert!(err.to_string().contains(needle), "{err}");
        }
    }
}
