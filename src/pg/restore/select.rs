//! A table restore (`--table SCHEMA.NAME`, `--schema NAME`): which TOC entries it runs,
//! decided from the archive's TOC alone (pure, so unit-tested, and done before the target is
//! reached).
//!
//! What is selected:
//! - the tables named (`TABLE` entries; a bare name matches the one table of that name in any
//!   schema), and every table of each schema named; a selected partitioned table brings its
//!   partitions (recursively: dropping it drops them);
//! - what belongs to them, found through the TOC's dependencies: their data, the sequences
//!   they own (`OWNED BY`, identity columns) with their values, defaults, constraints (their
//!   own foreign keys included), indexes and index attachments, triggers, rules, row security
//!   and policies, extended statistics and statistics data, partition attachments,
//!   publication memberships, and the comments, security labels, ACLs of all of these.
//!
//! pg_restore's `-t` restores only the table entries and their data (plus comments and ACLs
//! since 17); `-n` filters everything by schema. A table restore brings the table back as it
//! was, ready to use: hence what belongs to it too. It does not bring what the tables merely
//! use (types, functions, sequences they do not own, other tables): into the live database
//! those are there already.
//!
//! Into another database ([`Destination::OtherDatabase`]) such prerequisites are likely
//! missing, so an entry that belongs to a selected table but needs an archive object that is
//! not restored (a foreign key to another table, a trigger's function, an index attachment to
//! an index of a table not restored) is skipped, with the reason, as are the comments and ACLs
//! of skipped entries. Objects the selected tables themselves need (a column's type, the
//! schema, an extension) do not cause a skip: the table cannot exist without them anyway.
//!
//! Names follow SQL: unquoted parts are folded to lower case, double-quoted parts are taken
//! as written (`""` for a quote). A name the archive does not hold is an error naming it.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::error::ErrorKind;
use crate::pg::archive::TocEntry;

/// A table asked for: `schema.name`, or a bare `name` (any schema).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    /// The schema, unless bare.
    pub schema: Option<String>,
    /// The table.
    pub name: String,
}

/// What `--table` and `--schema` ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSelection {
    /// `--table`, in the order given.
    pub tables: Vec<TableName>,
    /// `--schema`, in the order given.
    pub schemas: Vec<String>,
}

/// Where the selected tables go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The live database: the tables are replaced, everything else is there.
    LiveDatabase,
    /// Another database (`--into-db`): the tables are created, and entries needing archive
    /// objects that are not restored are skipped.
    OtherDatabase,
}

/// Why a selection cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// A `--table` or `--schema` value that is not a name.
    #[error("{flag} {text:?} is not a valid name: {reason}")]
    BadName {
        /// The flag.
        flag: &'static str,
        /// The value given.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// Names the archive does not hold, or holds ambiguously.
    #[error("the generation's database archive holds no {}", .0.join(", no "))]
    Unknown(Vec<String>),
}

impl SelectError {
    /// Always [`ErrorKind::Usage`]: the operator named something that is not there.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Usage
    }
}

/// The entries a table restore runs, and what it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// Where the tables go.
    pub destination: Destination,
    /// Per TOC entry: whether it runs.
    pub keep: Vec<bool>,
    /// The selected tables as (schema, name), in TOC order.
    pub tables: Vec<(String, String)>,
    /// Sequences the archive creates with `CREATE SEQUENCE` for the selected tables (owned
    /// ones; identity sequences come with their table), as (schema, name).
    pub sequences: Vec<(String, String)>,
    /// Schemas of the selected tables.
    pub schemas: BTreeSet<String>,
    /// Entries belonging to the tables that are left out, with why (into another database).
    pub skipped: Vec<(usize, String)>,
}

impl TableSelection {
    /// Parses `--table` and `--schema` values.
    pub fn parse(tables: &[String], schemas: &[String]) -> Result<TableSelection, SelectError> {
        let bad = |flag, text: &str, reason: String| SelectError::BadName {
            flag,
            text: text.to_string(),
            reason,
        };
        let mut selection = TableSelection::default();
        for text in tables {
            let mut parts = identifiers(text).map_err(|r| bad("--table", text, r))?;
            let name = match parts.len() {
                1 => TableName {
                    schema: None,
                    name: parts.remove(0),
                },
                2 => TableName {
                    name: parts.remove(1),
                    schema: Some(parts.remove(0)),
                },
                _ => {
                    return Err(bad(
                        "--table",
                        text,
                        "expected SCHEMA.NAME (quote a name holding a dot: \"a.b\")".into(),
                    ));
                }
            };
            selection.tables.push(name);
        }
        for text in schemas {
            let mut parts = identifiers(text).map_err(|r| bad("--schema", text, r))?;
            if parts.len() != 1 {
                return Err(bad(
                    "--schema",
                    text,
                    "expected one name (quote a name holding a dot: \"a.b\")".into(),
                ));
            }
            selection.schemas.push(parts.remove(0));
        }
        Ok(selection)
    }

    /// Whether nothing is selected (a whole-database restore).
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.schemas.is_empty()
    }
}

/// The dot-separated parts of a name: unquoted parts folded to lower case, quoted ones as
/// written.
fn identifiers(text: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    Some('"') => break,
                    Some(c) => part.push(c),
                    None => return Err("a double quote is not closed".into()),
                }
            }
            if !matches!(chars.peek(), None | Some('.')) {
                return Err("a quoted name must be followed by a dot or the end".into());
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                if c == '"' {
                    return Err("a double quote inside an unquoted name".into());
                }
                part.push(c.to_ascii_lowercase());
                chars.next();
            }
        }
        if part.is_empty() {
            return Err("a part of the name is empty".into());
        }
        parts.push(part);
        match chars.next() {
            None => return Ok(parts),
            Some(_) => continue, // the dot
        }
    }
}

/// An identifier as `psql` shows it: bare when it needs no quotes.
pub fn display_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `schema.name`, quoted where needed.
pub fn display_qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", display_ident(schema), display_ident(name))
}

/// An entry as a phrase: `function app.check()`, `constraint posts_pkey on app.posts`.
fn describe(entry: &TocEntry) -> String {
    let kind = entry.desc.to_lowercase();
    let namespace = entry.namespace.as_deref().filter(|n| !n.is_empty());
    match (namespace, entry.tag.split_once(' ')) {
        (Some(ns), Some((table, name))) if OWNED_BY_TAG.contains(&entry.desc.as_str()) => {
            format!("{kind} {name} on {}", display_qualified(ns, table))
        }
        (Some(ns), _) => format!("{kind} {}.{}", display_ident(ns), entry.tag),
        (None, _) => format!("{kind} {}", entry.tag),
    }
}

/// Entry kinds that belong to the table named at the start of their tag (`table object`).
const OWNED_BY_TAG: &[&str] = &[
    "DEFAULT",
    "CONSTRAINT",
    "CHECK CONSTRAINT",
    "FK CONSTRAINT",
    "NOT NULL CONSTRAINT",
    "TRIGGER",
    "POLICY",
    "RULE",
    "ROW SECURITY",
];

/// Entry kinds that belong to whatever selected object they depend on.
const FOLLOW_DEPENDENCY: &[&str] = &[
    "TABLE DATA",
    "SEQUENCE",
    "SEQUENCE SET",
    "INDEX",
    "INDEX ATTACH",
    "TABLE ATTACH",
    "STATISTICS",
    "STATISTICS DATA",
    "PUBLICATION TABLE",
    "COMMENT",
    "ACL",
    "SECURITY LABEL",
];

/// Entry kinds whose only dependency is their parent: never skipped for what they need.
const PARENT_ONLY: &[&str] = &[
    "TABLE DATA",
    "SEQUENCE SET",
    "COMMENT",
    "ACL",
    "SECURITY LABEL",
];

/// Selects the entries restoring `selection` into `destination`.
pub fn select(
    entries: &[TocEntry],
    selection: &TableSelection,
    destination: Destination,
) -> Result<Selected, SelectError> {
    let by_id: HashMap<i32, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.dump_id, i))
        .collect();
    let namespace = |e: &TocEntry| e.namespace.clone().unwrap_or_default();
    let mut roots: BTreeSet<usize> = BTreeSet::new();
    let mut unknown = Vec::new();
    for wanted in &selection.tables {
        let matches = |e: &TocEntry| {
            e.tag == wanted.name
                && wanted
                    .schema
                    .as_ref()
                    .is_none_or(|s| e.namespace.as_ref() == Some(s))
        };
        let found: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].desc == "TABLE" && matches(&entries[i]))
            .collect();
        let shown = match &wanted.schema {
            Some(schema) => display_qualified(schema, &wanted.name),
            None => display_ident(&wanted.name),
        };
        match found.len() {
            0 => {
                let other = entries.iter().find(|e| {
                    matches(e)
                        && matches!(
                            e.desc.as_str(),
                            "VIEW" | "MATERIALIZED VIEW" | "FOREIGN TABLE" | "SEQUENCE"
                        )
                });
                unknown.push(match other {
                    Some(e) => format!(
                        "table {shown} ({} is a {}; only tables can be restored alone)",
                        display_qualified(&namespace(e), &e.tag),
                        e.desc.to_lowercase()
                    ),
                    None => format!("table {shown}"),
                });
            }
            1 => {
                roots.insert(found[0]);
            }
            _ if wanted.schema.is_none() => {
                let names: Vec<String> = found
                    .iter()
                    .map(|&i| display_qualified(&namespace(&entries[i]), &entries[i].tag))
                    .collect();
                unknown.push(format!(
                    "single table {shown} (it holds {}; name one as SCHEMA.NAME)",
                    names.join(" and ")
                ));
            }
            _ => roots.extend(found),
        }
    }
    for schema in &selection.schemas {
        let found: Vec<usize> = (0..entries.len())
            .filter(|&i| {
                entries[i].desc == "TABLE" && entries[i].namespace.as_ref() == Some(schema)
            })
            .collect();
        if found.is_empty() {
            unknown.push(format!("table in schema {}", display_ident(schema)));
        }
        roots.extend(found);
    }
    if !unknown.is_empty() {
        return Err(SelectError::Unknown(unknown));
    }

    // The table of an entry named `table object` (or, for ROW SECURITY, `table`) among its
    // dependencies.
    let owning_table = |e: &TocEntry| -> Option<i32> {
        e.dependencies.iter().copied().find(|id| {
            by_id.get(id).is_some_and(|&t| {
                let table = &entries[t];
                table.desc == "TABLE"
                    && table.namespace == e.namespace
                    && (e.tag == table.tag
                        || e.tag
                            .strip_prefix(table.tag.as_str())
                            .is_some_and(|rest| rest.starts_with(' ')))
            })
        })
    };
    let mut keep = vec![false; entries.len()];
    let mut chosen: HashSet<i32> = HashSet::new();
    for &root in &roots {
        keep[root] = true;
        chosen.insert(entries[root].dump_id);
    }
    loop {
        let mut changed = false;
        for (index, entry) in entries.iter().enumerate() {
            if keep[index] || entry.tag.starts_with("DATABASE ") {
                continue;
            }
            let desc = entry.desc.as_str();
            let take = if OWNED_BY_TAG.contains(&desc) {
                owning_table(entry).is_some_and(|t| chosen.contains(&t))
            } else if desc == "SEQUENCE OWNED BY" {
                entry.dependencies.iter().any(|id| {
                    chosen.contains(id)
                        && by_id.get(id).is_some_and(|&i| entries[i].desc == "TABLE")
                })
            } else if desc == "TABLE ATTACH" {
                // A partition's attachment comes with the partition; a selected parent brings
                // its partitions (the attachment's other table).
                let partition = entry.dependencies.iter().copied().find(|id| {
                    by_id.get(id).is_some_and(|&i| {
                        entries[i].desc == "TABLE"
                            && entries[i].tag == entry.tag
                            && entries[i].namespace == entry.namespace
                    })
                });
                let parent_chosen = entry
                    .dependencies
                    .iter()
                    .any(|id| Some(*id) != partition && chosen.contains(id));
                if parent_chosen
                    && let Some(partition) = partition
                    && let Some(&i) = by_id.get(&partition)
                    && !keep[i]
                {
                    keep[i] = true;
                    chosen.insert(partition);
                    roots.insert(i);
                }
                partition.is_some_and(|p| chosen.contains(&p)) || parent_chosen
            } else if FOLLOW_DEPENDENCY.contains(&desc) {
                entry.dependencies.iter().any(|id| chosen.contains(id))
            } else {
                false
            };
            if take {
                keep[index] = true;
                chosen.insert(entry.dump_id);
                changed = true;
                if desc == "SEQUENCE OWNED BY" {
                    for id in &entry.dependencies {
                        if let Some(&i) = by_id.get(id)
                            && entries[i].desc == "SEQUENCE"
                            && !keep[i]
                        {
                            keep[i] = true;
                            chosen.insert(*id);
                        }
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }

    let mut skipped = Vec::new();
    if destination == Destination::OtherDatabase {
        // What the selected tables need themselves: a dependent needing it is no reason to skip.
        let needed_by_tables: HashSet<i32> = roots
            .iter()
            .flat_map(|&i| entries[i].dependencies.iter().copied())
            .collect();
        let mut dropped: HashSet<i32> = HashSet::new();
        loop {
            let mut changed = false;
            for (index, entry) in entries.iter().enumerate() {
                if !keep[index] || roots.contains(&index) {
                    continue;
                }
                let reason = entry.dependencies.iter().find_map(|id| {
                    if dropped.contains(id) {
                        return Some(format!("it belongs to entry {id}, which is skipped"));
                    }
                    if PARENT_ONLY.contains(&entry.desc.as_str())
                        || chosen.contains(id)
                        || needed_by_tables.contains(id)
                    {
                        return None;
                    }
                    let other = &entries[*by_id.get(id)?];
                    if matches!(other.desc.as_str(), "SCHEMA" | "EXTENSION") {
                        return None;
                    }
                    Some(format!(
                        "it needs {}, which a table restore does not bring",
                        describe(other)
                    ))
                });
                if let Some(reason) = reason {
                    keep[index] = false;
                    dropped.insert(entry.dump_id);
                    skipped.push((index, reason));
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        skipped.sort();
    }

    let qualified = |i: usize| (namespace(&entries[i]), entries[i].tag.clone());
    let tables: Vec<(String, String)> = roots.iter().map(|&i| qualified(i)).collect();
    let sequences = (0..entries.len())
        .filter(|&i| {
            keep[i]
                && entries[i].desc == "SEQUENCE"
                && entries[i]
                    .defn
                    .as_deref()
                    .is_some_and(|d| d.starts_with("CREATE"))
        })
        .map(qualified)
        .collect();
    let schemas = tables.iter().map(|(s, _)| s.clone()).collect();
    Ok(Selected {
        destination,
        keep,
        tables,
        sequences,
        schemas,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i32, desc: &str, ns: &str, tag: &str, deps: &[i32]) -> TocEntry {
        TocEntry {
            dump_id: id,
            desc: desc.into(),
            namespace: (!ns.is_empty()).then(|| ns.to_string()),
            tag: tag.into(),
            defn: Some(format!("-- {desc} {tag}\n")),
            dependencies: deps.to_vec(),
            ..TocEntry::default()
        }
    }

    /// app.users ← app.posts (FK), app.tickets owning ticket_seq, a partitioned app.events.
    fn toc() -> Vec<TocEntry> {
        let mut seq = entry(7, "SEQUENCE", "app", "ticket_seq", &[1]);
        seq.defn = Some("CREATE SEQUENCE app.ticket_seq;\n".into());
        vec![
            entry(1, "SCHEMA", "", "app", &[]),
            entry(2, "FUNCTION", "app", "check()", &[1]),
            entry(3, "TABLE", "app", "users", &[1]),
            entry(4, "TABLE", "app", "posts", &[1]),
            entry(5, "TABLE", "app", "tickets", &[1]),
            entry(6, "DEFAULT", "app", "tickets no", &[5, 7]),
            seq,
            entry(8, "SEQUENCE OWNED BY", "app", "ticket_seq", &[7, 5]),
            entry(9, "TABLE DATA", "app", "users", &[3]),
            entry(10, "TABLE DATA", "app", "posts", &[4]),
            entry(11, "SEQUENCE SET", "app", "ticket_seq", &[7]),
            entry(12, "CONSTRAINT", "app", "users users_pkey", &[3]),
            entry(
                13,
                "FK CONSTRAINT",
                "app",
                "posts posts_owner_fkey",
                &[4, 12],
            ),
            entry(14, "TRIGGER", "app", "posts posts_check", &[4, 2]),
            entry(15, "INDEX", "app", "posts_idx", &[4]),
            entry(16, "COMMENT", "app", "INDEX posts_idx", &[15]),
            entry(17, "COMMENT", "app", "CONSTRAINT posts_owner_fkey", &[13]),
            entry(18, "TABLE", "app", "events", &[1]),
            entry(19, "TABLE", "app", "events_2026", &[1]),
            entry(20, "TABLE ATTACH", "app", "events_2026", &[19, 18]),
            entry(21, "TABLE", "other", "posts", &[]),
            entry(22, "VIEW", "app", "recent", &[4]),
            entry(23, "COMMENT", "", "DATABASE stgy", &[]),
            entry(24, "ACL", "app", "TABLE posts", &[4]),
            entry(25, "ACL", "app", "TABLE users", &[3]),
        ]
    }

    fn kept(selected: &Selected) -> Vec<i32> {
        let toc = toc();
        (0..toc.len())
            .filter(|&i| selected.keep[i])
            .map(|i| toc[i].dump_id)
            .collect()
    }

    #[test]
    fn names_are_parsed_like_sql_identifiers() {
        let s = TableSelection::parse(
            &[
                "App.Users".into(),
                "\"Mixed Case\".\"Odd \"\"Table\"\"\"".into(),
                "\"a.b\"".into(),
            ],
            &["\"Mixed Case\"".into()],
        )
        .unwrap();
        assert_eq!(
            s.tables[0],
            TableName {
                schema: Some("app".into()),
                name: "users".into()
            }
        );
        assert_eq!(s.tables[1].schema.as_deref(), Some("Mixed Case"));
        assert_eq!(s.tables[1].name, "Odd \"Table\"");
        assert_eq!(s.tables[2].schema, None);
        assert_eq!(s.tables[2].name, "a.b");
        assert_eq!(s.schemas, ["Mixed Case"]);
        for bad in ["a.b.c", "a.", ".b", "\"a", "a\"b\"", "\"a\"b"] {
            assert!(
                TableSelection::parse(&[bad.into()], &[]).is_err(),
                "{bad} should be refused"
            );
        }
        assert!(TableSelection::parse(&[], &["a.b".into()]).is_err());
        assert_eq!(display_qualified("Mixed Case", "t"), "\"Mixed Case\".t");
    }

    #[test]
    fn a_table_brings_what_belongs_to_it_and_nothing_else() {
        let posts = TableSelection::parse(&["app.posts".into()], &[]).unwrap();
        let live = select(&toc(), &posts, Destination::LiveDatabase).unwrap();
        assert_eq!(kept(&live), [4, 10, 13, 14, 15, 16, 17, 24]);
        assert_eq!(live.tables, [("app".into(), "posts".into())]);
        assert!(live.skipped.is_empty());
        let other = select(&toc(), &posts, Destination::OtherDatabase).unwrap();
        assert_eq!(
            kept(&other),
            [4, 10, 15, 16, 24],
            "the foreign key to users and the trigger calling a function are skipped"
        );
        let reasons: Vec<&str> = other.skipped.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "it needs constraint users_pkey on app.users, which a table restore does not bring",
                "it needs function app.check(), which a table restore does not bring",
                "it belongs to entry 13, which is skipped"
            ]
        );
    }

    #[test]
    fn owned_sequences_partitions_and_schemas() {
        let tickets = TableSelection::parse(&["tickets".into()], &[]).unwrap();
        let s = select(&toc(), &tickets, Destination::OtherDatabase).unwrap();
        assert_eq!(kept(&s), [5, 6, 7, 8, 11]);
        assert_eq!(s.sequences, [("app".into(), "ticket_seq".into())]);
        let events = TableSelection::parse(&["app.events".into()], &[]).unwrap();
        let s = select(&toc(), &events, Destination::LiveDatabase).unwrap();
        assert_eq!(
            kept(&s),
            [18, 19, 20],
            "a partitioned table brings its partitions"
        );
        assert_eq!(s.tables.len(), 2);
        let schema = TableSelection::parse(&[], &["other".into()]).unwrap();
        let s = select(&toc(), &schema, Destination::LiveDatabase).unwrap();
        assert_eq!(kept(&s), [21]);
        assert_eq!(s.schemas, BTreeSet::from(["other".to_string()]));
    }

    #[test]
    fn unknown_ambiguous_and_non_table_names_are_refused_together() {
        let selection = TableSelection::parse(
            &["app.nope".into(), "posts".into(), "app.recent".into()],
            &["gone".into()],
        )
        .unwrap();
        let error = select(&toc(), &selection, Destination::LiveDatabase).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the generation's database archive holds no table app.nope, \
             no single table posts (it holds app.posts and other.posts; name one as SCHEMA.NAME), \
             no table app.recent (app.recent is a view; only tables can be restored alone), \
             no table in schema gone"
        );
        assert_eq!(error.kind(), ErrorKind::Usage);
    }
}
