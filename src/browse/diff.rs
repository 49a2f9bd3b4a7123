//! What changed between two generations, from their manifests and TOCs alone.
//!
//! - Objects, per bucket, by merging both generations' objects sorted by bucket and key
//!   (bounded memory, read twice: once to count, once for the details): *added*, *removed*,
//!   *content* changed (BLAKE3 differs; for a legacy generation, which records no hashes, the
//!   size), or *metadata* changed, naming the fields (Content-Type, Cache-Control,
//!   Content-Encoding, Content-Disposition, user metadata). Last-Modified and ETag are not
//!   compared: restoring or re-uploading the same bytes changes them.
//! - Tables whose data changed (the BLAKE3 of their data file differs), added or removed, with
//!   row counts old → new; unchanged tables are counted, not listed.
//! - Schema entries (every TOC entry but TABLE DATA), by (type, schema, name): added, removed,
//!   or changed (definition text differs).
//!
//! What cannot be compared (a part one generation lacks, a legacy generation without hashes,
//! a manifest too old to hold row counts or object records) is said in [`notes`], plainly,
//! instead of being reported as a change.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use super::database::{Database, TableData};
use crate::generation::{Generation, GenerationKind};
use crate::manifest::ObjectEntry;
use crate::objects::error::ObjectsError;
use crate::objects::generation_objects::GenerationObjects;

/// How an object, table or schema entry changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Only in the new generation.
    Added,
    /// Only in the old generation.
    Removed,
    /// An object's bytes differ.
    Content,
    /// An object's metadata differs (the fields are named).
    Metadata,
    /// A table's data or a schema entry's definition differs.
    Changed,
}

/// One changed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectChange {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// How.
    pub change: Change,
    /// For [`Change::Metadata`]: the fields that differ.
    pub fields: Vec<&'static str>,
    /// Size in the old generation.
    pub old_size: Option<u64>,
    /// Size in the new generation.
    pub new_size: Option<u64>,
}

/// One bucket's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BucketCounts {
    /// Objects only in the new generation.
    pub added: u64,
    /// Objects whose bytes differ.
    pub content: u64,
    /// Objects whose metadata alone differs.
    pub metadata: u64,
    /// Bucket name.
    pub name: String,
    /// Objects only in the old generation.
    pub removed: u64,
    /// Objects equal in both.
    pub unchanged: u64,
}

/// The object side of a diff: both generations' selected objects.
pub struct ObjectsDiff {
    /// The old generation's.
    pub old: GenerationObjects,
    /// The new generation's.
    pub new: GenerationObjects,
}

impl ObjectsDiff {
    /// Merges both sides in (bucket, key) order.
    fn walk(
        &mut self,
        mut visit: impl FnMut(Option<ObjectEntry>, Option<ObjectEntry>),
    ) -> Result<(), ObjectsError> {
        let mut old = self.old.iter()?.peekable();
        let mut new = self.new.iter()?.peekable();
        loop {
            let order = match (old.peek(), new.peek()) {
                (None, None) => return Ok(()),
                (Some(Err(_)), _) => return old.next().transpose().map(|_| ()),
                (_, Some(Err(_))) => return new.next().transpose().map(|_| ()),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(Ok(a)), Some(Ok(b))) => (&a.bucket, &a.key).cmp(&(&b.bucket, &b.key)),
            };
            let a = (order != Ordering::Greater).then(|| old.next()).flatten();
            let b = (order != Ordering::Less).then(|| new.next()).flatten();
            visit(a.transpose()?, b.transpose()?);
        }
    }

    /// Counts per bucket (every bucket of either side, sorted).
    pub fn counts(&mut self) -> Result<Vec<BucketCounts>, ObjectsError> {
        let names: BTreeSet<String> = self
            .old
            .buckets
            .keys()
            .chain(self.new.buckets.keys())
            .cloned()
            .collect();
        let mut counts: Vec<BucketCounts> = names
            .into_iter()
            .map(|name| BucketCounts {
                name,
                ..BucketCounts::default()
            })
            .collect();
        self.walk(|a, b| {
            let Some(bucket) = a.as_ref().or(b.as_ref()).map(|o| o.bucket.as_str()) else {
                return;
            };
            let Ok(at) = counts.binary_search_by(|c| c.name.as_str().cmp(bucket)) else {
                return;
            };
            let count = &mut counts[at];
            match compare(a.as_ref(), b.as_ref()) {
                None => count.unchanged += 1,
                Some((Change::Added, _)) => count.added += 1,
                Some((Change::Removed, _)) => count.removed += 1,
                Some((Change::Content, _)) => count.content += 1,
                Some(_) => count.metadata += 1,
            }
        })?;
        Ok(counts)
    }

    /// Every changed object, in (bucket, key) order.
    pub fn changes(&mut self, mut visit: impl FnMut(ObjectChange)) -> Result<(), ObjectsError> {
        self.walk(|a, b| {
            if let Some((change, fields)) = compare(a.as_ref(), b.as_ref()) {
                let Some(either) = a.as_ref().or(b.as_ref()) else {
                    return;
                };
                visit(ObjectChange {
                    bucket: either.bucket.clone(),
                    key: either.key.clone(),
                    change,
                    fields,
                    old_size: a.as_ref().map(|o| o.size),
                    new_size: b.as_ref().map(|o| o.size),
                });
            }
        })
    }
}

/// How `old` became `new`; `None` when they are equal.
fn compare(
    old: Option<&ObjectEntry>,
    new: Option<&ObjectEntry>,
) -> Option<(Change, Vec<&'static str>)> {
    let (a, b) = match (old, new) {
        (None, None) => return None,
        (None, Some(_)) => return Some((Change::Added, Vec::new())),
        (Some(_), None) => return Some((Change::Removed, Vec::new())),
        (Some(a), Some(b)) => (a, b),
    };
    let content = if !a.blake3.is_empty() && !b.blake3.is_empty() {
        a.blake3 != b.blake3
    } else {
        a.size != b.size
    };
    if content {
        return Some((Change::Content, Vec::new()));
    }
    let mut fields = Vec::new();
    for (field, differs) in [
        ("content_type", a.content_type != b.content_type),
        ("cache_control", a.cache_control != b.cache_control),
        ("content_encoding", a.content_encoding != b.content_encoding),
        (
            "content_disposition",
            a.content_disposition != b.content_disposition,
        ),
        ("metadata", a.metadata != b.metadata),
    ] {
        if differs {
            fields.push(field);
        }
    }
    (!fields.is_empty()).then_some((Change::Metadata, fields))
}

/// One table whose data changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableChange {
    /// Schema.
    pub schema: String,
    /// Name.
    pub name: String,
    /// Added, removed or changed.
    pub change: Change,
    /// Rows in the old generation.
    pub old_rows: Option<u64>,
    /// Rows in the new generation.
    pub new_rows: Option<u64>,
}

/// One schema entry that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryChange {
    /// TOC type (`TABLE`, `INDEX`, ...).
    pub desc: String,
    /// Schema ("" for none).
    pub namespace: String,
    /// Name.
    pub tag: String,
    /// Added, removed or changed.
    pub change: Change,
}

/// The database side of a diff.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseDiff {
    /// Tables whose data changed, added or removed, sorted.
    pub tables: Vec<TableChange>,
    /// Tables with the same data in both.
    pub unchanged_tables: u64,
    /// Schema entries added, removed or changed, sorted.
    pub entries: Vec<EntryChange>,
    /// Whether table data was compared (both sides record per-table hashes).
    pub data_compared: bool,
}

/// Compares two generations' database parts.
pub fn diff_database(old: &Database, new: &Database) -> DatabaseDiff {
    let data_compared = old.hashed && new.hashed;
    let mut diff = DatabaseDiff {
        data_compared,
        ..DatabaseDiff::default()
    };
    let key = |t: &TableData| (t.schema.clone(), t.name.clone());
    let (mut a, mut b) = (old.tables.iter().peekable(), new.tables.iter().peekable());
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => key(x).cmp(&key(y)),
        };
        let x = (order != Ordering::Greater).then(|| a.next()).flatten();
        let y = (order != Ordering::Less).then(|| b.next()).flatten();
        let change = match (x, y) {
            (Some(_), None) => Change::Removed,
            (None, Some(_)) => Change::Added,
            (Some(x), Some(y)) if data_compared && x.blake3 != y.blake3 => Change::Changed,
            (Some(x), Some(y)) if !data_compared && x.rows.is_some() && x.rows != y.rows => {
                Change::Changed
            }
            _ => {
                diff.unchanged_tables += 1;
                continue;
            }
        };
        let Some(either) = x.or(y) else { continue };
        diff.tables.push(TableChange {
            schema: either.schema.clone(),
            name: either.name.clone(),
            change,
            old_rows: x.and_then(|t| t.rows),
            new_rows: y.and_then(|t| t.rows),
        });
    }
    let keys: BTreeSet<_> = old.entries.keys().chain(new.entries.keys()).collect();
    for key in keys {
        let change = match (old.entries.get(key), new.entries.get(key)) {
            (Some(_), None) => Change::Removed,
            (None, Some(_)) => Change::Added,
            (Some(x), Some(y)) if x != y => Change::Changed,
            _ => continue,
        };
        diff.entries.push(EntryChange {
            desc: key.0.clone(),
            namespace: key.1.clone(),
            tag: key.2.clone(),
            change,
        });
    }
    diff
}

/// What cannot be compared between `old` and `new`, one plain sentence each.
pub fn notes(
    old: (&Generation, Option<&Database>),
    new: (&Generation, Option<&Database>),
) -> Vec<String> {
    let mut notes = Vec::new();
    for (generation, database) in [old, new] {
        let name = &generation.name;
        match &generation.kind {
            GenerationKind::Legacy => notes.push(format!(
                "'{name}' has no manifest (legacy): its objects are compared by key and size only, \
                 and its table data not at all"
            )),
            GenerationKind::Fullsite(h) if h.parts.objects && h.version < 2 => notes.push(format!(
                "'{name}' has a version {} manifest, which records no objects: objects not compared",
                h.version
            )),
            _ => {}
        }
        match database {
            None => notes.push(format!(
                "'{name}' holds no database: the database is not compared"
            )),
            Some(d) => {
                if !d.rows_recorded {
                    notes.push(format!(
                        "'{name}' records no row counts (manifest before version 3)"
                    ));
                }
                if !d.hashed && !matches!(generation.kind, GenerationKind::Legacy) {
                    notes.push(format!(
                        "'{name}' records no per-table data hashes: table data compared by row counts only"
                    ));
                }
            }
        }
        if !generation.has_objects() {
            notes.push(format!(
                "'{name}' holds no objects: objects are not compared"
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(blake3: &str, size: u64) -> ObjectEntry {
        ObjectEntry {
            bucket: "b".into(),
            key: "k".into(),
            path: "objects/b/k".into(),
            size,
            etag: "\"e\"".into(),
            last_modified: "2026-01-01T00:00:00Z".into(),
            blake3: blake3.into(),
            content_type: Some("image/png".into()),
            cache_control: None,
            content_encoding: None,
            content_disposition: None,
            metadata: Default::default(),
        }
    }

    #[test]
    fn content_wins_over_metadata_and_fields_are_named() {
        let a = object("h1", 3);
        assert_eq!(compare(Some(&a), Some(&a)), None);
        let mut b = object("h2", 3);
        b.content_type = Some("text/plain".into());
        assert_eq!(compare(Some(&a), Some(&b)), Some((Change::Content, vec![])));
        let mut c = object("h1", 3);
        c.content_type = None;
        c.metadata.insert("owner".into(), "x".into());
        c.last_modified = "2027-01-01T00:00:00Z".into();
        assert_eq!(
            compare(Some(&a), Some(&c)),
            Some((Change::Metadata, vec!["content_type", "metadata"]))
        );
        assert_eq!(compare(None, Some(&a)), Some((Change::Added, vec![])));
        assert_eq!(compare(Some(&a), None), Some((Change::Removed, vec![])));
    }

    #[test]
    fn tables_with_the_same_data_are_not_listed() {
        let table = |name: &str, rows, hash: &str| TableData {
            schema: "public".into(),
            name: name.into(),
            rows: Some(rows),
            bytes: Some(10),
            blake3: Some(hash.into()),
        };
        let old = Database {
            tables: vec![table("a", 1, "x"), table("b", 2, "y"), table("c", 1, "z")],
            rows_recorded: true,
            hashed: true,
            ..Database::default()
        };
        let new = Database {
            tables: vec![table("a", 1, "x"), table("b", 2, "y2"), table("d", 5, "w")],
            ..old.clone()
        };
        let diff = diff_database(&old, &new);
        assert_eq!(diff.unchanged_tables, 1);
        let listed: Vec<_> = diff
            .tables
            .iter()
            .map(|t| (t.name.as_str(), t.change, t.old_rows, t.new_rows))
            .collect();
        assert_eq!(
            listed,
            [
                ("b", Change::Changed, Some(2), Some(2)),
                ("c", Change::Removed, Some(1), None),
                ("d", Change::Added, None, Some(5)),
            ]
        );
    }
}
