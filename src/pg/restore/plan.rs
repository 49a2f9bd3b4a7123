//! What a restore will do, decided from the archive's TOC alone (pure, so it is unit-tested and
//! complete before anything touches the target).
//!
//! Phases, in order:
//! 1. replace: `DROP SCHEMA ... CASCADE` for every schema the archive holds objects in and for
//!    `public` (as the legacy script did), then `CREATE SCHEMA` for those the archive does not
//!    create itself (`public`, which gets back its standard owner, privileges and comment);
//! 2. pre-data, serially in TOC order (the archive's order is a valid creation order);
//! 3. other data-section entries (SEQUENCE SET), serially;
//! 4. data and post-data together, in parallel: every TABLE DATA, largest first, and each
//!    post-data step (index, constraint, trigger, ...) as soon as the steps it waits for are
//!    done and the data of the tables it touches is loaded (a step touching no table, or a
//!    table without data of its own such as a partitioned parent, waits for all data). Like
//!    pg_restore, the most data-heavy ready work goes first, and a step that locks a table
//!    exclusively (everything but CREATE INDEX: ALTER TABLE takes strong locks, and two foreign
//!    keys between the same tables could deadlock) never runs beside another step on that
//!    table, while indexes of one table build side by side;
//! 5. privileges: ACL and DEFAULT ACL entries, serially in TOC order (as pg_restore's ACL
//!    pass: after every object exists, so default privileges change no restored object);
//! 6. last: materialized view refreshes (they read fully restored, indexed tables).
//!
//! Entries of section "none" (COMMENT, ...) belong to the section of the entry before them,
//! as in pg_restore. Security labels are skipped, as are ENCODING / STDSTRINGS / SEARCHPATH
//! (they become session settings) and DATABASE entries (with the ACLs of the database).
//! Large objects are refused: restoring them is not supported yet. Owners are applied by
//! `run` (`ALTER ... OWNER TO` after each entry) unless [`RestorePlan::skip_owners`].

use std::collections::{BTreeSet, HashMap};

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
    /// ACL and DEFAULT ACL entries, run after post-data.
    pub privileges: Vec<usize>,
    /// Entries run last (MATERIALIZED VIEW DATA).
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

/// Plans the restore of `entries`.
pub fn plan(entries: &[TocEntry]) -> Result<RestorePlan, PlanError> {
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
            "DATABASE" | "DATABASE PROPERTIES" => {
                plan.skipped
                    .push((index, "database-level entry (only used with --create)"));
                continue;
            }
            "ACL" if entry.tag.starts_with("DATABASE ") => {
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
            "BLOB" | "BLOBS" | "BLOB METADATA" => {
                return Err(PlanError(format!(
                    "the archive holds large objects (entry {} {}), which fullsite cannot restore yet",
                    entry.dump_id, entry.desc
                )));
            }
            _ => {}
        }
        if let Some(namespace) = &entry.namespace
            && !namespace.is_empty()
            && namespace != "pg_catalog"
        {
            namespaces.insert(namespace.clone());
        }
        // `-- *not* creating schema` (public, recorded for its owner) creates nothing
        if entry.desc == "SCHEMA"
            && !entry
                .defn
                .as_deref()
                .unwrap_or_default()
                .starts_with("-- *not* creating schema")
        {
            created.insert(entry.tag.clone());
        }
        let empty = entry.defn.as_deref().is_none_or(str::is_empty) && !entry.had_dumper;
        if empty {
            continue;
        }
        match (entry.desc.as_str(), section) {
            ("MATERIALIZED VIEW DATA" | "EVENT TRIGGER", _) => plan.last.push(index),
            ("TABLE DATA", _) if entry.had_dumper => plan.data.push(index),
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
    fn large_objects_are_refused_by_name() {
        let entries = vec![entry(1, "BLOBS", Section::Data, None, &[])];
        assert!(
            plan(&[]).unwrap().drop_schemas == ["public"],
            "public is always replaced"
        );
        assert!(plan(&entries).unwrap_err().0.contains("large objects"));
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
