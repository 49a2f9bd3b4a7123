//! What a restore will do, decided from the archive's TOC alone (pure, so it is unit-tested and
//! complete before anything touches the target).
//!
//! Phases, in order:
//! 1. replace: see `replace` (the schemas the archive holds, `public`, and every database-wide
//!    object of the kinds pg_dump dumps), then `CREATE SCHEMA` for the schemas the archive
//!    holds objects in but does not create itself (`public`, which gets back its standard
//!    owner, privileges and comment);
//! 2. pre-data, serially in TOC order (the archive's order is a valid creation order), large
//!    objects' `BLOB` entries (archives up to 1.15) included;
//! 3. other data-section entries (SEQUENCE SET, `BLOB METADATA` groups of 1.16 archives,
//!    comments on large objects), serially in TOC order;
//! 4. data and post-data together, in parallel: every TABLE DATA, largest first, every BLOBS
//!    entry (large objects' bytes), and each post-data step (index, constraint, trigger, ...)
//!    as soon as the steps it waits for are done and the data of the tables it touches is
//!    loaded (a step touching no table, or a table without data of its own such as a
//!    partitioned parent, waits for all table data). Like pg_restore, the most data-heavy
//!    ready work goes first, and a step that locks a table exclusively (everything but CREATE
//!    INDEX: ALTER TABLE takes strong locks, and two foreign keys between the same tables could
//!    deadlock) never runs beside another step on that table, while indexes of one table build
//!    side by side;
//! 5. privileges: ACL and DEFAULT ACL entries, serially in TOC order (pg_restore's ACL pass:
//!    after every object exists, so default privileges change no restored object; an ACL of a
//!    group of large objects is run for each of them);
//! 6. last, in TOC order, what pg_restore keeps for its final pass: event triggers (and their
//!    comments and security labels: created any earlier, they would fire on the restore's own
//!    DDL), materialized view refreshes (they read fully restored, indexed tables) and
//!    statistics (`pg_dump --with-statistics`, 18+). pg_restore runs a table's statistics in
//!    its main pass, after the table's data; here a table's data is loaded after emptying it
//!    (see `run::Load::Frozen`), which resets them, and an index build may rewrite them, so all
//!    statistics wait for the end, where the dumped values are what remains.
//!
//! Entries of section "none" (COMMENT, ...) belong to the section of the entry before them,
//! as in pg_restore. Skipped: security labels; ACLs and default ACLs with `--no-privileges`
//! (see [`RestorePlan::restrict`]); ENCODING / STDSTRINGS / SEARCHPATH (they become session
//! settings); and, as pg_restore does without `--create`, DATABASE and DATABASE PROPERTIES
//! entries and the comments, security labels and ACLs of the database itself (they would apply
//! to the source database's name).
//!
//! Owners are given by `run` (`ALTER ... OWNER TO` after each entry that records one, see
//! `privileges`) unless [`RestorePlan::skip_owners`] (`--no-owner`).

use std::collections::{BTreeSet, HashMap};

use crate::error::ErrorKind;
use crate::pg::archive::{Section, TocEntry};

/// A post-data step with what it waits for and what it locks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostStep {
    /// Index into the TOC.
    pub entry: usize,
    /// Post-data steps (indices into [`RestorePlan::post_data`]) that must finish first.
    pub after: Vec<usize>,
    /// Dump ids of the tables it touches.
    pub tables: BTreeSet<i32>,
    /// Whether it locks its tables exclusively (all but CREATE INDEX); such a step never runs
    /// beside another step sharing one of its tables.
    pub exclusive: bool,
    /// The table data it needs loaded first.
    pub needs: Needs,
}

/// The table data a post-data step needs loaded before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Needs {
    /// These TABLE DATA entries (indices into [`RestorePlan::data`]).
    Tables(Vec<usize>),
    /// All table data.
    AllData,
}

/// The restore, phase by phase (indices into the TOC).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestorePlan {
    /// `client_encoding` from the ENCODING entry.
    pub encoding: String,
    /// `standard_conforming_strings` from STDSTRINGS.
    pub std_strings: bool,
    /// The SEARCHPATH entry's statement, if any.
    pub search_path: Option<String>,
    /// Schemas dropped (with CASCADE) before anything is created.
    pub drop_schemas: Vec<String>,
    /// Schemas created because the archive holds objects in them but no CREATE SCHEMA.
    pub create_schemas: Vec<String>,
    /// Pre-data entries, in order.
    pub pre_data: Vec<usize>,
    /// TABLE DATA entries.
    pub data: Vec<usize>,
    /// Other data-section entries (SEQUENCE SET), after all data.
    pub after_data: Vec<usize>,
    /// Post-data steps, in TOC order.
    pub post_data: Vec<PostStep>,
    /// BLOBS entries: large objects' bytes, loaded beside the table data.
    pub large_objects: Vec<usize>,
    /// ACL and DEFAULT ACL entries, run after post-data.
    pub privileges: Vec<usize>,
    /// Entries run last, in TOC order (event triggers, materialized view refreshes, post-data
    /// statistics).
    pub last: Vec<usize>,
    /// Leave every object owned by the restoring role (`--no-owner`).
    pub skip_owners: bool,
    /// Entries skipped, with why.
    pub skipped: Vec<(usize, &'static str)>,
}

/// Why a TOC cannot be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

impl PlanError {
    /// Always [`ErrorKind::Damage`]: the archive's TOC is inconsistent.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Damage
    }
}

/// Plans the restore of `entries`.
pub fn plan(entries: &[TocEntry]) -> Result<RestorePlan, PlanError> {
    plan_only(entries, |_| true)
}

/// Plans the restore of the entries `keep` accepts (by TOC index); the archive-wide settings
/// (ENCODING, STDSTRINGS, SEARCHPATH) are always read. A table restore (see `select`) runs
/// such a plan, with no replace step.
pub fn plan_only(
    entries: &[TocEntry],
    keep: impl Fn(usize) -> bool,
) -> Result<RestorePlan, PlanError> {
    let mut plan = RestorePlan {
        encoding: "UTF8".into(),
        std_strings: true,
        ..RestorePlan::default()
    };
    let by_id: HashMap<i32, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.dump_id, i))
        .collect();
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    let mut created: BTreeSet<String> = BTreeSet::new();
    let mut section = Section::PreData;
    let mut post_index: HashMap<usize, usize> = HashMap::new();

    for (index, entry) in entries.iter().enumerate() {
        let own = entry.section.unwrap_or(Section::None);
        if own != Section::None {
            section = own;
        }
        match entry.desc.as_str() {
            "ENCODING" => {
                plan.encoding = quoted_value(entry.defn.as_deref().unwrap_or_default())
                    .ok_or_else(|| PlanError("the archive's ENCODING entry is malformed".into()))?;
                continue;
            }
            "STDSTRINGS" => {
                plan.std_strings = quoted_value(entry.defn.as_deref().unwrap_or_default())
                    .as_deref()
                    != Some("off");
                continue;
            }
            "SEARCHPATH" => {
                plan.search_path = entry.defn.clone();
                continue;
            }
            _ if !keep(index) => continue,
            "DATABASE" | "DATABASE PROPERTIES" => {
                plan.skipped
                    .push((index, "database-level entry (only used with --create)"));
                continue;
            }
            "COMMENT" | "SECURITY LABEL" | "ACL" if entry.tag.starts_with("DATABASE ") => {
                plan.skipped
                    .push((index, "database-level entry (only used with --create)"));
                continue;
            }
            "ACL" | "DEFAULT ACL" => {
                plan.privileges.push(index);
                continue;
            }
            "SECURITY LABEL" => {
                plan.skipped
                    .push((index, "security labels are not restored"));
                continue;
            }
            _ => {}
        }
        if let Some(namespace) = &entry.namespace
            && !namespace.is_empty()
            && namespace != "pg_catalog"
        {
            namespaces.insert(namespace.clone());
        }
        // pg_dump writes `public`'s entry as a comment ("*not* creating schema"): initdb made it.
        // A schema the archive creates is replaced even when it holds none of the archive's
        // objects (only an extension's members, say): its CREATE SCHEMA would fail otherwise.
        if entry.desc == "SCHEMA" && !entry.defn.as_deref().unwrap_or("--").starts_with("--") {
            created.insert(entry.tag.clone());
            namespaces.insert(entry.tag.clone());
        }
        if entry.desc == "BLOB METADATA"
            && let Some(bad) = entry
                .defn
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .find(|oid| oid.parse::<u32>().is_err())
        {
            return Err(PlanError(format!(
                "BLOB METADATA entry {} lists {bad:?}, which is not a large object OID",
                entry.dump_id
            )));
        }
        let empty = entry.defn.as_deref().is_none_or(str::is_empty) && !entry.had_dumper;
        if empty {
            continue;
        }
        match (entry.desc.as_str(), section) {
            _ if runs_last(entry) => plan.last.push(index),
            ("TABLE DATA", _) if entry.had_dumper => plan.data.push(index),
            ("BLOBS", _) if entry.had_dumper => plan.large_objects.push(index),
            (_, Section::Data) => plan.after_data.push(index),
            (_, Section::PostData) => {
                post_index.insert(index, plan.post_data.len());
                plan.post_data.push(PostStep {
                    entry: index,
                    after: Vec::new(),
                    tables: BTreeSet::new(),
                    exclusive: entry.desc != "INDEX",
                    needs: Needs::AllData,
                });
            }
            _ => plan.pre_data.push(index),
        }
    }

    let is_table = |id: &i32| {
        by_id.get(id).is_some_and(|&i| {
            matches!(
                entries[i].desc.as_str(),
                "TABLE" | "TABLE DATA" | "MATERIALIZED VIEW"
            )
        })
    };
    // A table's data: its TABLE DATA entry, found by the entry's own dump id or by the table's
    // (which the TABLE DATA entry depends on).
    let mut data_of: HashMap<i32, usize> = HashMap::new();
    for (position, &index) in plan.data.iter().enumerate() {
        data_of.insert(entries[index].dump_id, position);
        for dep in &entries[index].dependencies {
            if by_id.get(dep).is_some_and(|&i| entries[i].desc == "TABLE") {
                data_of.insert(*dep, position);
            }
        }
    }
    for step in &mut plan.post_data {
        let entry = &entries[step.entry];
        for dep in &entry.dependencies {
            if is_table(dep) {
                step.tables.insert(*dep);
            }
            if let Some(&other) = by_id.get(dep).and_then(|i| post_index.get(i)) {
                step.after.push(other);
            }
        }
        let loads: Option<BTreeSet<usize>> = step
            .tables
            .iter()
            .map(|t| data_of.get(t).copied())
            .collect();
        step.needs = match loads {
            Some(loads) if !loads.is_empty() => Needs::Tables(loads.into_iter().collect()),
            _ => Needs::AllData,
        };
    }
    // Like the legacy script, `public` is always replaced: it exists in every database, and
    // a restore must not leave behind what the backup's public schema did not hold.
    namespaces.insert("public".into());
    plan.drop_schemas = namespaces.iter().cloned().collect();
    plan.create_schemas = namespaces.difference(&created).cloned().collect();
    Ok(plan)
}

impl RestorePlan {
    /// Applies `--no-owner` (`owners` false: no `ALTER ... OWNER TO`) and `--no-privileges`
    /// (`privileges` false: the ACL pass is skipped).
    pub fn restrict(&mut self, owners: bool, privileges: bool) {
        self.skip_owners = !owners;
        if !privileges {
            let skipped = std::mem::take(&mut self.privileges);
            self.skipped.extend(
                skipped
                    .into_iter()
                    .map(|index| (index, "privileges are not restored (--no-privileges)")),
            );
        }
    }
}

/// Whether `entry` runs in the last phase (see the module docs).
fn runs_last(entry: &TocEntry) -> bool {
    match entry.desc.as_str() {
        "EVENT TRIGGER" | "MATERIALIZED VIEW DATA" | "STATISTICS DATA" => true,
        "COMMENT" | "SECURITY LABEL" => entry.tag.starts_with("EVENT TRIGGER "),
        _ => false,
    }
}

/// Whether the table TABLE DATA `entry` loads may be emptied first and loaded with `COPY ...
/// FREEZE`: not when the load goes through a partition root (see [`loads_via_partition_root`]),
/// nor into a foreign table (`pg_dump --include-foreign-data`: FREEZE is refused there, and
/// TRUNCATE would reach the remote data). The table is the entry's first dependency, as
/// pg_restore takes it.
pub fn may_empty_and_freeze(entries: &HashMap<i32, &TocEntry>, entry: &TocEntry) -> bool {
    let table = entry.dependencies.first().and_then(|id| entries.get(id));
    !loads_via_partition_root(entry) && table.is_none_or(|t| t.desc == "TABLE")
}

/// Whether TABLE DATA `entry` loads its rows through a partitioned ancestor (`pg_dump
/// --load-via-partition-root`) rather than into the table it is named after: pg_dump 17+ marks
/// such entries with a comment as their definition; in older archives the COPY statement names
/// another table. Such a load may move rows into other partitions, so it must not empty the
/// table first (or use FREEZE).
pub fn loads_via_partition_root(entry: &TocEntry) -> bool {
    if entry
        .defn
        .as_deref()
        .is_some_and(|d| d.starts_with("-- load via partition root "))
    {
        return true;
    }
    let Some(copy) = entry.copy_stmt.as_deref().filter(|c| !c.is_empty()) else {
        return false;
    };
    let named = copy.strip_prefix("COPY ").and_then(|rest| {
        let (schema, rest) = identifier(rest)?;
        let (table, _) = identifier(rest.strip_prefix('.')?)?;
        Some((schema, table))
    });
    match (named, &entry.namespace) {
        (Some((schema, table)), Some(namespace)) => schema != *namespace || table != entry.tag,
        _ => true,
    }
}

/// A leading SQL identifier as pg_dump writes one (bare, or double-quoted with `""` for a
/// quote), unquoted, and the text after it.
fn identifier(text: &str) -> Option<(String, &str)> {
    if let Some(quoted) = text.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = quoted.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if chars.peek().is_some_and(|&(_, next)| next == '"') {
                    chars.next();
                    name.push('"');
                } else {
                    return Some((name, &quoted[i + 1..]));
                }
            } else {
                name.push(c);
            }
        }
        return None;
    }
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .unwrap_or(text.len());
    (end > 0).then(|| (text[..end].to_string(), &text[end..]))
}

impl RestorePlan {
    /// Every entry with a data stream: TABLE DATA, then BLOBS.
    pub fn streams(&self) -> Vec<usize> {
        self.data
            .iter()
            .chain(&self.large_objects)
            .copied()
            .collect()
    }

    /// How many entries the plan restores, every phase counted.
    pub fn entries(&self) -> usize {
        self.pre_data.len()
            + self.data.len()
            + self.large_objects.len()
            + self.after_data.len()
            + self.post_data.len()
            + self.privileges.len()
            + self.last.len()
    }
}

/// The first single-quoted value in `SET x = 'value';`.
fn quoted_value(defn: &str) -> Option<String> {
    let start = defn.find('\'')? + 1;
    let end = start + defn[start..].find('\'')?;
    Some(defn[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        id: i32,
        desc: &str,
        section: Section,
        namespace: Option<&str>,
        deps: &[i32],
    ) -> TocEntry {
        TocEntry {
            dump_id: id,
            table_oid: "0".into(),
            oid: "0".into(),
            tag: format!("tag{id}"),
            desc: desc.into(),
            section: Some(section),
            defn: Some(format!("-- {desc} {id}\n")),
            namespace: namespace.map(String::from),
            dependencies: deps.to_vec(),
            ..TocEntry::default()
        }
    }

    #[test]
    fn phases_schemas_and_post_data_dependencies() {
        let mut data = entry(6, "TABLE DATA", Section::Data, Some("app"), &[4]);
        data.defn = None;
        data.had_dumper = true;
        let mut schema = entry(3, "SCHEMA", Section::PreData, None, &[]);
        schema.tag = "app".into();
        schema.defn = Some("CREATE SCHEMA app;\n".into());
        let mut encoding = entry(1, "ENCODING", Section::PreData, None, &[]);
        encoding.defn = Some("SET client_encoding = 'LATIN1';\n".into());
        let entries = vec![
            encoding,
            entry(2, "SEARCHPATH", Section::PreData, None, &[]),
            schema,
            entry(4, "TABLE", Section::PreData, Some("app"), &[3]),
            entry(5, "TABLE", Section::PreData, Some("public"), &[]),
            data,
            entry(7, "COMMENT", Section::None, Some("app"), &[4]),
            entry(8, "SEQUENCE SET", Section::Data, Some("app"), &[]),
            entry(9, "CONSTRAINT", Section::PostData, Some("app"), &[4]),
            entry(10, "INDEX", Section::PostData, Some("app"), &[4]),
            entry(
                11,
                "FK CONSTRAINT",
                Section::PostData,
                Some("app"),
                &[4, 5, 9],
            ),
            entry(12, "COMMENT", Section::None, Some("app"), &[11]),
            entry(13, "ACL", Section::None, Some("app"), &[4]),
            entry(
                14,
                "MATERIALIZED VIEW DATA",
                Section::PostData,
                Some("app"),
                &[],
            ),
        ];
        let p = plan(&entries).unwrap();
        assert_eq!(p.encoding, "LATIN1");
        assert!(p.search_path.is_some());
        assert_eq!(p.drop_schemas, ["app", "public"]);
        assert_eq!(p.create_schemas, ["public"]);
        assert_eq!(p.pre_data, [2, 3, 4]);
        assert_eq!(p.data, [5]);
        // the comment after TABLE DATA belongs to the data section, like pg_restore decides
        assert_eq!(p.after_data, [6, 7]);
        let steps: Vec<usize> = p.post_data.iter().map(|s| s.entry).collect();
        assert_eq!(steps, [8, 9, 10, 11]);
        let fk = &p.post_data[2];
        assert_eq!(
            fk.after,
            [0],
            "the FK waits for the constraint it references"
        );
        assert_eq!(fk.tables, BTreeSet::from([4, 5]));
        assert!(fk.exclusive);
        assert_eq!(
            fk.needs,
            Needs::AllData,
            "table 5 has no data of its own, so the FK waits for all data"
        );
        assert_eq!(p.post_data[0].needs, Needs::Tables(vec![0]));
        assert!(
            !p.post_data[1].exclusive,
            "CREATE INDEX takes no exclusive lock"
        );
        assert_eq!(p.post_data[1].needs, Needs::Tables(vec![0]));
        assert_eq!(p.post_data[3].after, [2], "a comment follows its object");
        assert_eq!(p.last, [13]);
        assert_eq!(p.privileges, [12]);
        assert!(p.skipped.is_empty());
        let mut without = p.clone();
        without.restrict(false, false);
        assert!(without.skip_owners && without.privileges.is_empty());
        assert_eq!(
            without.skipped,
            [(12, "privileges are not restored (--no-privileges)")]
        );
    }

    #[test]
    fn large_objects_event_triggers_and_database_entries() {
        let mut blobs = entry(9, "BLOBS", Section::Data, None, &[]);
        blobs.had_dumper = true;
        blobs.defn = None;
        let mut public = entry(2, "SCHEMA", Section::PreData, None, &[]);
        public.tag = "public".into();
        public.defn = Some("-- *not* creating schema, since initdb creates it\n".into());
        let mut event_comment = entry(11, "COMMENT", Section::None, None, &[10]);
        event_comment.tag = "EVENT TRIGGER audit".into();
        let mut database_comment = entry(12, "COMMENT", Section::None, None, &[]);
        database_comment.tag = "DATABASE stgy".into();
        let mut metadata = entry(7, "BLOB METADATA", Section::Data, None, &[]);
        metadata.defn = Some("1001\n1002\n".into());
        let mut statistics = entry(14, "STATISTICS DATA", Section::PostData, None, &[]);
        statistics.tag = "public.t_pkey".into();
        let entries = vec![
            entry(1, "DATABASE", Section::PreData, None, &[]),
            public,
            entry(3, "BLOB", Section::PreData, None, &[]),
            entry(4, "COMMENT", Section::None, None, &[3]),
            entry(5, "TABLE", Section::PreData, Some("public"), &[]),
            entry(6, "EVENT TRIGGER", Section::PostData, None, &[]),
            metadata,
            entry(8, "COMMENT", Section::None, None, &[7]),
            blobs,
            entry(10, "EVENT TRIGGER", Section::PostData, None, &[]),
            event_comment,
            database_comment,
            entry(
                13,
                "MATERIALIZED VIEW DATA",
                Section::PostData,
                Some("public"),
                &[],
            ),
            statistics,
        ];
        let mut extensions = entry(15, "SCHEMA", Section::PreData, None, &[]);
        extensions.tag = "extensions".into();
        extensions.defn = Some("CREATE SCHEMA extensions;\n".into());
        let mut entries = entries;
        entries.insert(2, extensions);
        let p = plan(&entries).unwrap();
        assert_eq!(
            p.drop_schemas,
            ["extensions", "public"],
            "a schema the archive creates is replaced, even with no object of the archive in it"
        );
        entries.remove(2);
        let p = plan(&entries).unwrap();
        assert_eq!(p.drop_schemas, ["public"]);
        assert_eq!(
            p.create_schemas,
            ["public"],
            "public's entry is a comment: initdb creates it, so must we"
        );
        assert_eq!(
            p.pre_data,
            [1, 2, 3, 4],
            "BLOB entries create the objects first"
        );
        assert_eq!(
            p.after_data,
            [6, 7],
            "1.16 creates them in the data section"
        );
        assert_eq!(p.large_objects, [8]);
        assert_eq!(
            p.last,
            [5, 9, 10, 12, 13],
            "pg_restore's last pass, in TOC order"
        );
        let skipped: Vec<usize> = p.skipped.iter().map(|(i, _)| *i).collect();
        assert_eq!(skipped, [0, 11]);
        assert!(
            plan(&[]).unwrap().drop_schemas == ["public"],
            "public is always replaced"
        );
    }

    #[test]
    fn loads_through_a_partition_root_or_into_a_foreign_table_are_not_frozen() {
        let mut data = entry(1, "TABLE DATA", Section::Data, Some("app"), &[]);
        data.tag = "Events 2026".into();
        data.defn = None;
        data.copy_stmt = Some("COPY app.\"Events 2026\" (id, at) FROM stdin;\n".into());
        assert!(!loads_via_partition_root(&data));
        data.copy_stmt = Some("COPY app.events (id, at) FROM stdin;\n".into());
        assert!(
            loads_via_partition_root(&data),
            "an older archive names the root"
        );
        data.copy_stmt = Some("COPY app.\"Events 2026\" (id, at) FROM stdin;\n".into());
        data.defn = Some("-- load via partition root app.events\n".into());
        assert!(loads_via_partition_root(&data), "pg_dump 17+ marks it");
        data.defn = None;
        let mut table = entry(7, "TABLE", Section::PreData, Some("app"), &[]);
        data.dependencies = vec![7];
        assert!(may_empty_and_freeze(&HashMap::from([(7, &table)]), &data));
        table.desc = "FOREIGN TABLE".into();
        assert!(!may_empty_and_freeze(&HashMap::from([(7, &table)]), &data));
    }

    #[test]
    fn public_recorded_for_its_owner_is_still_recreated_and_database_acls_skipped() {
        let mut public = entry(2, "SCHEMA", Section::PreData, None, &[]);
        public.tag = "public".into();
        public.defn = Some("-- *not* creating schema, since initdb creates it\n".into());
        let mut database_acl = entry(3, "ACL", Section::None, None, &[]);
        database_acl.tag = "DATABASE stgy".into();
        let p = plan(&[public, database_acl]).unwrap();
        assert_eq!(p.create_schemas, ["public"]);
        assert_eq!(
            p.pre_data,
            [0],
            "it still runs, for its ALTER SCHEMA ... OWNER TO"
        );
        assert!(p.privileges.is_empty());
        assert_eq!(p.skipped[0].0, 1);
    }
}
