//! Turning collected entries into the archive's TOC: order, dump ids and dependencies.
//!
//! Order (what serial `pg_restore` relies on, since it restores in file order):
//! 1. ENCODING, STDSTRINGS, SEARCHPATH;
//! 2. entries sorted by [`Kind`] (pg_dump's type priority), then schema and name;
//! 3. within each section, a stable topological sort on dependencies, so e.g. a function that
//!    returns a table's row type follows that table (a dependency cycle is broken at the
//!    earliest remaining entry, and logged);
//! 4. each entry's comments right after it.
//!
//! Dependencies come from `pg_depend` (mapped through each entry's key and claims) plus each
//! entry's explicit ones; parallel `pg_restore -j` schedules by them. TABLE DATA always lists its
//! TABLE first, as pg_restore requires.
//!
//! Owners and ACL entries ([`Privileges`]) are attached by key: every entry (and its comments)
//! gets its object's owner, and an object's ACL entries follow the entry of lowest kind with
//! its key (after its comments), with dump ids after every other entry's, as pg_dump numbers
//! them. ACL entries of objects the dump does not create come last.
//!
//! Data entries are TABLE DATA (`<dumpId>.dat`) and BLOBS, whose file is the list of its large
//! objects (`blobs.toc`, or `blobs_<dumpId>.toc` from archive 1.16).

use std::collections::{BTreeSet, HashMap};

use super::acl::{self, Privileges};
use super::schema::large_objects::Blobs;
use super::schema::tables::DataSpec;
use super::schema::{Entry, Kind, ObjKey};
use crate::pg::archive::write::{blobs_toc_name, data_file_name};
use crate::pg::archive::{DataLocation, Section, TocEntry};

/// A data entry's files to write, with its dump id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataItem {
    /// Dump id.
    pub dump_id: i32,
    /// What to copy.
    pub source: DataSource,
}

/// What a data entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// A table's rows (the file is `<id>.dat` plus the compression suffix).
    Table(DataSpec),
    /// Large objects' contents: one `blob_<oid>.dat` (plus the suffix) each, listed in the
    /// file `list`.
    LargeObjects {
        /// The list's file name (`blobs.toc`, `blobs_<id>.toc`).
        list: String,
        /// The objects, in list order.
        oids: Vec<u32>,
    },
}

impl DataSource {
    /// Bytes to expect, for scheduling the largest first (large objects count 8 KiB each, as
    /// pg_dump estimates them).
    pub fn size(&self) -> i64 {
        match self {
            DataSource::Table(spec) => spec.size,
            DataSource::LargeObjects { oids, .. } => oids.len() as i64 * 8192,
        }
    }

    /// What it is, for messages: the table's qualified name, or `large objects <list>`.
    pub fn label(&self) -> String {
        match self {
            DataSource::Table(spec) => spec.qualified.clone(),
            DataSource::LargeObjects { list, .. } => format!("large objects {list}"),
        }
    }
}

/// The finished TOC and the data files it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toc {
    /// Entries in file order.
    pub entries: Vec<TocEntry>,
    /// Data to write, one per TABLE DATA entry.
    pub data: Vec<DataItem>,
}

struct Item {
    entry: Entry,
    data: Option<Payload>,
}

/// The data of a data entry, before dump ids are known.
enum Payload {
    Table(DataSpec),
    Blobs(Vec<u32>),
}

/// Builds the TOC of an archive of `version` from collected entries, table data specs, large
/// objects' contents and `pg_depend` edges (`dependent → referenced`). `fallback` maps objects
/// no entry claims (a column default kept inline) to the object that carries them (its table).
/// `privileges` gives owners and ACL entries.
pub(crate) fn build(
    entries: Vec<Entry>,
    data: Vec<DataSpec>,
    blobs: Vec<Blobs>,
    version: (u8, u8, u8),
    depend: &[(ObjKey, ObjKey)],
    fallback: &HashMap<ObjKey, ObjKey>,
    privileges: &Privileges,
) -> Toc {
    let mut items: Vec<Item> = entries
        .into_iter()
        .map(|entry| Item { entry, data: None })
        .collect();
    for spec in data {
        let mut entry = Entry::new(
            spec.key,
            Kind::TableData,
            "TABLE DATA",
            &spec.name,
            spec.defn.clone(),
        );
        entry.namespace = Some(spec.namespace.clone());
        entry.deps = vec![spec.key];
        items.push(Item {
            entry,
            data: Some(Payload::Table(spec)),
        });
    }
    for group in blobs {
        let mut entry = Entry::new(
            ObjKey::new(0, 0),
            Kind::LargeObjectData,
            "BLOBS",
            &group.tag,
            "",
        );
        entry.deps.extend(group.metadata);
        items.push(Item {
            entry,
            data: Some(Payload::Blobs(group.oids)),
        });
    }
    items.sort_by(|a, b| {
        (a.entry.kind, &a.entry.namespace, &a.entry.tag).cmp(&(
            b.entry.kind,
            &b.entry.namespace,
            &b.entry.tag,
        ))
    });

    // Which item stands for a key: the entry with that key or claim and the lowest kind.
    let mut owner: HashMap<ObjKey, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        for key in std::iter::once(&item.entry.key).chain(&item.entry.claims) {
            owner.entry(*key).or_insert(index);
        }
    }
    let resolve = |key: &ObjKey| {
        owner
            .get(key)
            .or_else(|| fallback.get(key).and_then(|k| owner.get(k)))
            .copied()
    };

    let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); items.len()];
    for (index, item) in items.iter().enumerate() {
        for key in &item.entry.deps {
            if let Some(target) = resolve(key).filter(|t| *t != index) {
                deps[index].insert(target);
            }
        }
    }
    for (dependent, referenced) in depend {
        if let (Some(from), Some(to)) = (resolve(dependent), resolve(referenced))
            && from != to
            && !items[from].entry.ignore_deps.contains(referenced)
        {
            deps[from].insert(to);
        }
    }

    let order = topological(&items, &deps);
    let mut dump_ids = vec![0i32; items.len()];
    let mut next_id = 4;
    for &index in &order {
        dump_ids[index] = next_id;
        next_id += 1 + items[index].entry.comments.len() as i32;
    }
    // The item an object's ACL entries follow: the lowest kind with its key.
    let mut acl_home: HashMap<ObjKey, usize> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        acl_home.entry(item.entry.key).or_insert(index);
    }

    let mut acl_numbering = acl::AclNumbering::new(next_id);
    let mut toc = Toc {
        entries: special_entries(),
        data: Vec::new(),
    };
    for &index in &order {
        let data = items[index].data.take();
        let entry = &items[index].entry;
        let dump_id = dump_ids[index];
        let mut dependencies: Vec<i32> = deps[index].iter().map(|d| dump_ids[*d]).collect();
        if let Some(table) = entry
            .deps
            .first()
            .and_then(&resolve)
            .filter(|_| matches!(data, Some(Payload::Table(_))))
        {
            dependencies.retain(|d| *d != dump_ids[table]);
            dependencies.insert(0, dump_ids[table]);
        }
        let oid = entry.key.objid.to_string();
        let has_sql = !entry.defn.is_empty() || data.is_some();
        let owner = privileges.owner(&entry.key);
        if has_sql {
            toc.entries.push(TocEntry {
                dump_id,
                had_dumper: data.is_some(),
                table_oid: if data.is_some() {
                    "0".into()
                } else {
                    entry.key.classid.to_string()
                },
                oid,
                tag: entry.tag.clone(),
                desc: entry.desc.to_string(),
                section: Some(entry.kind.section()),
                defn: (!entry.defn.is_empty()).then(|| entry.defn.clone()),
                drop_stmt: entry.drop_stmt.clone(),
                copy_stmt: match &data {
                    Some(Payload::Table(spec)) => Some(spec.copy_from()),
                    _ => None,
                },
                namespace: entry.namespace.clone(),
                tablespace: entry.tablespace.clone(),
                tableam: entry.tableam.clone(),
                relkind: i32::from(entry.relkind),
                owner: Some(owner.to_string()),
                dependencies,
                data_location: match data {
                    Some(Payload::Table(_)) => DataLocation::File(data_file_name(dump_id)),
                    Some(Payload::Blobs(_)) => DataLocation::File(blobs_toc_name(version, dump_id)),
                    None => DataLocation::None,
                },
            });
        }
        for (offset, comment) in entry.comments.iter().enumerate() {
            toc.entries.push(TocEntry {
                dump_id: dump_id + 1 + offset as i32,
                table_oid: "0".into(),
                oid: "0".into(),
                tag: comment.tag.clone(),
                desc: "COMMENT".into(),
                section: Some(Section::None),
                defn: Some(comment.defn.clone()),
                namespace: entry.namespace.clone(),
                owner: Some(owner.to_string()),
                // A comment on an object written as part of another entry (an inline CHECK
                // constraint) waits for what that object depends on.
                dependencies: if has_sql {
                    vec![dump_id]
                } else {
                    deps[index].iter().map(|d| dump_ids[*d]).collect()
                },
                ..TocEntry::default()
            });
        }
        if acl_home.get(&entry.key) == Some(&index) {
            let object = has_sql.then_some(dump_id);
            acl_numbering.push(&mut toc.entries, &privileges.acls(entry), object);
        }
        match data {
            Some(Payload::Table(spec)) => toc.data.push(DataItem {
                dump_id,
                source: DataSource::Table(spec),
            }),
            Some(Payload::Blobs(oids)) => toc.data.push(DataItem {
                dump_id,
                source: DataSource::LargeObjects {
                    list: blobs_toc_name(version, dump_id),
                    oids,
                },
            }),
            None => {}
        }
    }
    for detached in privileges.detached() {
        let extension = detached
            .extension
            .and_then(|key| resolve(&key))
            .filter(|&i| !items[i].entry.defn.is_empty())
            .map(|i| dump_ids[i]);
        acl_numbering.push(&mut toc.entries, &detached.entries, extension);
    }
    toc
}

/// Stable topological sort within each section; dependencies on other sections are ignored
/// for ordering (sections are already in order).
fn topological(items: &[Item], deps: &[BTreeSet<usize>]) -> Vec<usize> {
    let mut order = Vec::with_capacity(items.len());
    let mut placed = vec![false; items.len()];
    let mut start = 0;
    while start < items.len() {
        let section = items[start].entry.kind.section();
        let end = (start..items.len())
            .find(|i| items[*i].entry.kind.section() != section)
            .unwrap_or(items.len());
        let mut remaining: Vec<usize> = (start..end).collect();
        while !remaining.is_empty() {
            let ready = remaining.iter().position(|&i| {
                deps[i]
                    .iter()
                    .all(|&d| placed[d] || !(start..end).contains(&d))
            });
            let pick = match ready {
                Some(position) => position,
                None => {
                    tracing::debug!(
                        "dependency cycle among {} entries; placing '{}' first",
                        remaining.len(),
                        items[remaining[0]].entry.tag
                    );
                    0
                }
            };
            let index = remaining.remove(pick);
            placed[index] = true;
            order.push(index);
        }
        start = end;
    }
    order
}

fn special_entries() -> Vec<TocEntry> {
    let special = |id: i32, name: &str, defn: &str| TocEntry {
        dump_id: id,
        table_oid: "0".into(),
        oid: "0".into(),
        tag: name.into(),
        desc: name.into(),
        section: Some(Section::PreData),
        defn: Some(defn.into()),
        ..TocEntry::default()
    };
    vec![
        special(1, "ENCODING", "SET client_encoding = 'UTF8';\n"),
        special(2, "STDSTRINGS", "SET standard_conforming_strings = 'on';\n"),
        special(
            3,
            "SEARCHPATH",
            "SELECT pg_catalog.set_config('search_path', '', false);\n",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::dump::schema::{Comment, catalog};

    fn entry(oid: u32, kind: Kind, desc: &'static str, tag: &str) -> Entry {
        let mut e = Entry::new(
            ObjKey::new(catalog::CLASS, oid),
            kind,
            desc,
            tag,
            format!("-- {tag}\n"),
        );
        e.namespace = Some("public".into());
        e
    }

    fn spec(oid: u32, name: &str) -> DataSpec {
        DataSpec {
            key: ObjKey::new(catalog::CLASS, oid),
            namespace: "public".into(),
            name: name.into(),
            qualified: format!("public.{name}"),
            target: format!("public.{name}"),
            defn: String::new(),
            columns: vec!["a".into()],
            filter: None,
            size: 0,
        }
    }

    #[test]
    fn sections_are_in_order_and_dependencies_reorder_within_a_section() {
        let mut function = Entry::new(
            ObjKey::new(catalog::PROC, 9),
            Kind::Function,
            "FUNCTION",
            "f()",
            "-- f\n",
        );
        function.namespace = Some("public".into());
        let mut table = entry(1, Kind::Table, "TABLE", "t");
        table.comments.push(Comment {
            tag: "TABLE t".into(),
            defn: "COMMENT ON TABLE public.t IS 'x';\n".into(),
        });
        let mut index = entry(2, Kind::Index, "INDEX", "t_idx");
        index.deps.push(ObjKey::new(catalog::CLASS, 1));
        let toc = build(
            vec![index, table, function],
            vec![spec(1, "t")],
            Vec::new(),
            (1, 14, 0),
            // the function returns the table's row type: it must follow the table
            &[(
                ObjKey::new(catalog::PROC, 9),
                ObjKey::new(catalog::CLASS, 1),
            )],
            &HashMap::new(),
            &Privileges::default(),
        );
        let order: Vec<(&str, &str)> = toc
            .entries
            .iter()
            .map(|e| (e.desc.as_str(), e.tag.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("ENCODING", "ENCODING"),
                ("STDSTRINGS", "STDSTRINGS"),
                ("SEARCHPATH", "SEARCHPATH"),
                ("TABLE", "t"),
                ("COMMENT", "TABLE t"),
                ("FUNCTION", "f()"),
                ("TABLE DATA", "t"),
                ("INDEX", "t_idx"),
            ]
        );
        let id = |tag: &str, desc: &str| {
            toc.entries
                .iter()
                .find(|e| e.tag == tag && e.desc == desc)
                .unwrap()
                .dump_id
        };
        let data = toc.entries.iter().find(|e| e.desc == "TABLE DATA").unwrap();
        assert_eq!(
            data.data_location,
            DataLocation::File(format!("{}.dat", data.dump_id))
        );
        assert!(data.had_dumper);
        assert_eq!(data.dependencies[0], id("t", "TABLE"));
        assert_eq!(
            data.copy_stmt.as_deref(),
            Some("COPY public.t (a) FROM stdin;\n")
        );
        assert_eq!(toc.data.len(), 1);
        assert_eq!(toc.data[0].dump_id, data.dump_id);
        let comment = toc.entries.iter().find(|e| e.desc == "COMMENT").unwrap();
        assert_eq!(comment.dependencies, [id("t", "TABLE")]);
        let ids: BTreeSet<i32> = toc.entries.iter().map(|e| e.dump_id).collect();
        assert_eq!(ids.len(), toc.entries.len(), "dump ids are unique");
    }

    #[test]
    fn entries_without_sql_only_carry_claims_and_cycles_do_not_stall() {
        let mut a = entry(1, Kind::View, "VIEW", "a");
        let mut b = entry(2, Kind::View, "VIEW", "b");
        a.deps.push(ObjKey::new(catalog::CLASS, 2));
        b.deps.push(ObjKey::new(catalog::CLASS, 1));
        let mut claimed_only = entry(3, Kind::Index, "INDEX", "skipped");
        claimed_only.defn.clear();
        let toc = build(
            vec![a, b, claimed_only],
            vec![],
            Vec::new(),
            (1, 16, 0),
            &[],
            &HashMap::new(),
            &Privileges::default(),
        );
        let tags: Vec<&str> = toc.entries.iter().skip(3).map(|e| e.tag.as_str()).collect();
        assert_eq!(tags.len(), 2);
        assert!(tags.contains(&"a") && tags.contains(&"b"));
    }

    #[test]
    fn owners_and_acl_entries_follow_their_objects() {
        use crate::pg::dump::acl::{AclEntry, DetachedAcl};
        let acl = |tag: &str, column: bool| AclEntry {
            tag: tag.into(),
            namespace: Some("public".into()),
            owner: "o".into(),
            defn: format!("-- grants on {tag}\n"),
            column,
            schema: None,
        };
        let mut table = entry(1, Kind::Table, "TABLE", "t");
        table.comments.push(Comment {
            tag: "TABLE t".into(),
            defn: "COMMENT ON TABLE public.t IS 'x';\n".into(),
        });
        let schema = Entry::new(
            ObjKey::new(catalog::NAMESPACE, 2200),
            Kind::Schema,
            "SCHEMA",
            "public",
            "",
        );
        let schema_acl = AclEntry {
            namespace: None,
            schema: Some("public".into()),
            ..acl("SCHEMA public", false)
        };
        let extension = Entry::new(
            ObjKey::new(catalog::EXTENSION, 5),
            Kind::Extension,
            "EXTENSION",
            "ext",
            "CREATE EXTENSION ext;\n",
        );
        let privileges = Privileges::for_tests(
            vec![(ObjKey::new(catalog::CLASS, 1), "o")],
            vec![
                (
                    ObjKey::new(catalog::CLASS, 1),
                    vec![acl("TABLE t", false), acl("COLUMN t.a", true)],
                ),
                (ObjKey::new(catalog::NAMESPACE, 2200), vec![schema_acl]),
            ],
            vec![DetachedAcl {
                entries: vec![acl("FUNCTION ext_f()", false)],
                extension: Some(ObjKey::new(catalog::EXTENSION, 5)),
            }],
        );
        let toc = build(
            vec![table, extension, schema],
            vec![spec(1, "t")],
            Vec::new(),
            (1, 16, 0),
            &[],
            &HashMap::new(),
            &privileges,
        );
        let find = |tag: &str, desc: &str| {
            toc.entries
                .iter()
                .find(|e| e.tag == tag && e.desc == desc)
                .unwrap()
        };
        let order: Vec<(&str, &str)> = toc
            .entries
            .iter()
            .skip(3)
            .map(|e| (e.desc.as_str(), e.tag.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("ACL", "SCHEMA public"),
                ("EXTENSION", "ext"),
                ("TABLE", "t"),
                ("COMMENT", "TABLE t"),
                ("ACL", "TABLE t"),
                ("ACL", "COLUMN t.a"),
                ("TABLE DATA", "t"),
                ("ACL", "FUNCTION ext_f()"),
            ]
        );
        let (table, data) = (find("t", "TABLE"), find("t", "TABLE DATA"));
        assert_eq!(table.owner.as_deref(), Some("o"));
        assert_eq!(data.owner.as_deref(), Some("o"));
        assert_eq!(find("TABLE t", "COMMENT").owner.as_deref(), Some("o"));
        assert_eq!(find("ext", "EXTENSION").owner.as_deref(), Some(""));
        let (own, column) = (find("TABLE t", "ACL"), find("COLUMN t.a", "ACL"));
        assert_eq!(own.section, Some(Section::None));
        let schema_acl = find("SCHEMA public", "ACL");
        assert!(
            schema_acl.dependencies.is_empty(),
            "public has no entry of its own"
        );
        assert_eq!(own.dependencies, [table.dump_id, schema_acl.dump_id]);
        assert_eq!(
            column.dependencies,
            [table.dump_id, own.dump_id, schema_acl.dump_id]
        );
        let highest = toc
            .entries
            .iter()
            .filter(|e| e.desc != "ACL")
            .map(|e| e.dump_id)
            .max()
            .unwrap();
        assert!(own.dump_id > highest, "ACL entries are numbered last");
        assert_eq!(
            find("FUNCTION ext_f()", "ACL").dependencies,
            [find("ext", "EXTENSION").dump_id, schema_acl.dump_id]
        );
    }

    #[test]
    fn blobs_follow_their_metadata_and_name_their_list_by_version() {
        let metadata_key = ObjKey::new(2613, 500);
        let mut metadata = Entry::new(
            metadata_key,
            Kind::LargeObjectData,
            "BLOB METADATA",
            "500..501",
            "500\n501\n",
        );
        metadata.claims.push(ObjKey::new(2613, 501));
        let blobs = Blobs {
            tag: "500..501".into(),
            oids: vec![500, 501],
            metadata: Some(metadata_key),
        };
        for (version, list) in [((1, 16, 0), None), ((1, 14, 0), Some("blobs.toc"))] {
            let toc = build(
                vec![metadata.clone()],
                vec![],
                vec![blobs.clone()],
                version,
                &[],
                &HashMap::new(),
                &Privileges::default(),
            );
            let find = |desc: &str| toc.entries.iter().find(|e| e.desc == desc).unwrap();
            let (metadata, data) = (find("BLOB METADATA"), find("BLOBS"));
            assert_eq!(metadata.section, Some(Section::Data));
            assert!(data.had_dumper && !metadata.had_dumper);
            assert_eq!(data.dependencies, [metadata.dump_id]);
            assert_eq!(data.copy_stmt, None);
            let list = list.map_or_else(|| format!("blobs_{}.toc", data.dump_id), str::to_string);
            assert_eq!(data.data_location, DataLocation::File(list.clone()));
            assert_eq!(
                toc.data,
                [DataItem {
                    dump_id: data.dump_id,
                    source: DataSource::LargeObjects {
                        list,
                        oids: vec![500, 501]
                    },
                }]
            );
        }
    }

    #[test]
    fn comments_on_objects_without_sql_wait_for_what_the_object_depends_on() {
        let table = entry(1, Kind::Table, "TABLE", "t");
        let mut inline = Entry::new(
            ObjKey::new(catalog::CONSTRAINT, 2),
            Kind::Constraint,
            "CHECK CONSTRAINT",
            "t c",
            "",
        );
        inline.deps.push(ObjKey::new(catalog::CLASS, 1));
        inline.comments.push(Comment {
            tag: "CONSTRAINT c ON t".into(),
            defn: "COMMENT ON CONSTRAINT c ON public.t IS 'x';\n".into(),
        });
        let toc = build(
            vec![inline, table],
            vec![],
            vec![],
            (1, 16, 0),
            &[],
            &HashMap::new(),
            &Privileges::default(),
        );
        let table_id = toc
            .entries
            .iter()
            .find(|e| e.desc == "TABLE")
            .unwrap()
            .dump_id;
        let comment = toc.entries.iter().find(|e| e.desc == "COMMENT").unwrap();
        assert_eq!(comment.dependencies, [table_id]);
        assert!(!toc.entries.iter().any(|e| e.desc == "CHECK CONSTRAINT"));
    }
}
