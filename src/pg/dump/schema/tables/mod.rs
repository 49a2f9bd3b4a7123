//! Tables: plain, unlogged, typed, inherited, partitioned and foreign tables and partitions,
//! as pg_dump's getTables / getTableAttrs / dumpTableSchema / dumpAttrDef / dumpTableData write
//! them; plus what the data phase needs to copy each table ([`DataSpec`]).
//!
//! Entries made here, as pg_dump makes them:
//! - TABLE (or FOREIGN TABLE): the CREATE statement and per-column settings
//!   ([`definition`]), with comments on the table, its columns and (18) its named NOT NULL
//!   constraints (the constraints collector comments on CHECK constraints);
//! - TABLE ATTACH for each partition: partitions are created as plain tables and attached
//!   afterwards, so their column order and defaults survive;
//! - DEFAULT for a default pg_dump cannot write inline: on a column the CREATE statement does
//!   not list (inherited), or one whose expression leads back to the table ([`loops`]: a
//!   serial column's sequence is owned by the table);
//! - CONSTRAINT (post-data) for a NOT VALID NOT NULL constraint (18), after the data.
//!
//! CHECK constraints that cannot go inline (NOT VALID, or using something that depends on the
//! table) are the constraints collector's CHECK CONSTRAINT entries. Data is
//! copied from plain tables and partitions, and from extension configuration tables
//! ([`config`]); a partition of a table hash-partitioned on an enum
//! column is loaded through its root, as pg_dump forces (enum hash codes differ after a
//! restore).
//!
//! [`loops`]: super::loops

pub(crate) mod catalog;
mod config;
mod definition;
mod inherit;

use std::collections::HashMap;

use self::catalog::{Check, Column, Parent, Relation, class_key};
use self::definition::{Dialect, create_table, prints_column};
use self::inherit::ColumnPlan;
use super::loops::Graph;
use super::{CatalogSession, Entry, Kind, ObjKey, catalog as cat};
use crate::pg::connect::PgError;

/// What the data phase needs to copy one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSpec {
    /// The table's key (TABLE DATA depends on it).
    pub key: ObjKey,
    /// Schema.
    pub namespace: String,
    /// Unqualified name (the TOC tag).
    pub name: String,
    /// `schema.table`, quoted: where the rows are read from.
    pub qualified: String,
    /// The table the rows are loaded into: the table itself, or its partition root.
    pub target: String,
    /// The TABLE DATA entry's statement: empty, or pg_dump's `-- load via partition root`.
    pub defn: String,
    /// Quoted columns in COPY order (generated columns excluded).
    pub columns: Vec<String>,
    /// Only the rows this `WHERE ...` selects (an extension configuration table's condition).
    pub filter: Option<String>,
    /// On-disk size, for scheduling largest first.
    pub size: i64,
}

impl DataSpec {
    fn column_list(&self) -> String {
        if self.columns.is_empty() {
            String::new()
        } else {
            format!("({})", self.columns.join(", "))
        }
    }

    /// `COPY s.t (a, b) FROM stdin;\n`, as stored in the TOC.
    pub fn copy_from(&self) -> String {
        format!("COPY {} {} FROM stdin;\n", self.target, self.column_list())
    }

    /// `COPY s.t (a, b) TO STDOUT`, as sent to the server; `COPY (SELECT a, b FROM s.t
    /// WHERE ...) TO STDOUT` with a filter.
    pub fn copy_to(&self) -> String {
        match &self.filter {
            Some(filter) => {
                let columns = if self.columns.is_empty() {
                    "*".to_string()
                } else {
                    self.columns.join(", ")
                };
                format!(
                    "COPY (SELECT {columns} FROM {} {filter}) TO STDOUT",
                    self.qualified
                )
            }
            None => format!("COPY {} {} TO STDOUT", self.qualified, self.column_list()),
        }
    }
}

/// Tables found.
#[derive(Debug, Default)]
pub struct Tables {
    /// TABLE, TABLE ATTACH, DEFAULT and NOT NULL CONSTRAINT entries.
    pub entries: Vec<Entry>,
    /// Tables with data to copy (not partitioned parents or foreign tables).
    pub data: Vec<DataSpec>,
}

/// One relation with everything pg_dump reads about it.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub rel: Relation,
    pub parents: Vec<Parent>,
    pub columns: Vec<Column>,
    pub plans: Vec<ColumnPlan>,
    pub checks: Vec<Check>,
}

/// Collects tables, partitioned tables, partitions and foreign tables.
pub(crate) async fn collect(cx: &CatalogSession<'_>, graph: &Graph) -> Result<Tables, PgError> {
    let dialect = Dialect { major: cx.major() };
    let relations = catalog::relations(cx, "'r', 'p', 'f'").await?;
    let mut parents = catalog::parents(cx).await?;
    let oids: Vec<u32> = relations.iter().map(|r| r.oid).collect();
    let mut columns = catalog::columns(cx, &oids).await?;
    let mut checks = catalog::checks(cx, &oids).await?;
    let mut tables: Vec<Table> = relations
        .into_iter()
        .map(|rel| Table {
            parents: parents.remove(&rel.oid).unwrap_or_default(),
            columns: columns.remove(&rel.oid).unwrap_or_default(),
            checks: checks.remove(&rel.oid).unwrap_or_default(),
            plans: Vec::new(),
            rel,
        })
        .collect();
    inherit::plan(
        &mut tables,
        inherit::Rules {
            not_null_constraints: dialect.modern(),
            own_generation: dialect.major >= 16,
        },
    );
    let by_oid: HashMap<u32, &Table> = tables.iter().map(|t| (t.rel.oid, t)).collect();

    let mut out = Tables::default();
    for table in tables.iter().filter(|t| t.rel.dump) {
        let separate = separate_defaults(table, graph);
        out.entries.push(table_entry(table, &separate, dialect));
        if let (true, Some(parent), Some(bound)) = (
            table.rel.is_partition,
            table.parents.first(),
            &table.rel.partition_bound,
        ) {
            out.entries.push(attach_entry(table, parent, bound));
        }
        for (j, column) in table.columns.iter().enumerate() {
            if separate[j]
                && let Some(default) = &table.plans[j].default
            {
                out.entries
                    .push(default_entry(table, column, default.oid, &default.expr));
            }
        }
        if dialect.modern() {
            out.entries.extend(invalid_not_null_entries(table));
        }
        if table.rel.relkind == b'r' {
            out.data.push(data_spec(table, &by_oid));
        }
    }
    out.data.extend(config::data(cx).await?);
    Ok(out)
}

/// For each column, whether its default goes into a DEFAULT entry of its own.
fn separate_defaults(table: &Table, graph: &Graph) -> Vec<bool> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(j, column)| match &table.plans[j].default {
            None => false,
            Some(_) if !column.generated.is_empty() => false,
            Some(_) if !prints_column(table, j) => true,
            Some(default) if default.oid == 0 => false,
            Some(default) => graph.loops_back(
                ObjKey::new(cat::ATTRDEF, default.oid),
                class_key(table.rel.oid),
            ),
        })
        .collect()
}

fn reltype_name(relkind: u8) -> &'static str {
    if relkind == b'f' {
        "FOREIGN TABLE"
    } else {
        "TABLE"
    }
}

fn table_entry(table: &Table, separate: &[bool], dialect: Dialect) -> Entry {
    let rel = &table.rel;
    let key = class_key(rel.oid);
    let desc = reltype_name(rel.relkind);
    let mut entry = Entry::new(
        key,
        Kind::Table,
        desc,
        &rel.name,
        create_table(table, separate, dialect),
    );
    entry.namespace = Some(rel.namespace.clone());
    entry.drop_stmt = Some(format!("DROP {desc} {};\n", rel.qualified));
    if rel.relkind != b'f' {
        entry.tablespace = Some(rel.tablespace.clone());
        entry.tableam = rel.access_method.clone();
    }
    entry.relkind = rel.relkind;
    entry.claims = [rel.row_type, rel.array_type]
        .into_iter()
        .filter(|o| *o != 0)
        .map(|o| ObjKey::new(cat::TYPE, o))
        .collect();
    for check in table.checks.iter().filter(|c| !c.separate) {
        entry.claims.push(ObjKey::new(cat::CONSTRAINT, check.oid));
    }
    for (j, column) in table.columns.iter().enumerate() {
        if let Some(constraint) = &column.constraint
            && (constraint.valid || !constraint.local)
        {
            entry
                .claims
                .push(ObjKey::new(cat::CONSTRAINT, constraint.oid));
        }
        if let Some(default) = &column.default
            && !separate[j]
        {
            entry.claims.push(ObjKey::new(cat::ATTRDEF, default.oid));
        }
    }

    let quoted = &rel.quoted;
    let qualified = &rel.qualified;
    entry.comment(
        rel.comment.clone(),
        format!("{desc} {quoted}"),
        &format!("{desc} {qualified}"),
    );
    for column in &table.columns {
        entry.comment(
            column.comment.clone(),
            format!("COLUMN {quoted}.{}", column.quoted),
            &format!("COLUMN {qualified}.{}", column.quoted),
        );
    }
    if dialect.modern() {
        for (j, column) in table.columns.iter().enumerate() {
            if let (Some(name), Some(constraint)) = (&table.plans[j].not_null, &column.constraint)
                && constraint.valid
            {
                entry.comment(
                    constraint.comment.clone(),
                    format!("CONSTRAINT {} ON {quoted}", name.quoted),
                    &format!("CONSTRAINT {} ON {qualified}", name.quoted),
                );
            }
        }
    }
    entry
}

fn attach_entry(table: &Table, parent: &Parent, bound: &str) -> Entry {
    let rel = &table.rel;
    let key = class_key(rel.oid);
    let mut attach = Entry::new(
        key,
        Kind::TableAttach,
        "TABLE ATTACH",
        &rel.name,
        format!(
            "ALTER TABLE ONLY {} ATTACH PARTITION {} {bound};\n",
            parent.qualified, rel.qualified
        ),
    );
    attach.namespace = Some(rel.namespace.clone());
    attach.deps = vec![key, class_key(parent.oid)];
    attach
}

fn default_entry(table: &Table, column: &Column, attrdef: u32, expr: &str) -> Entry {
    let rel = &table.rel;
    let foreign = if rel.relkind == b'f' { "FOREIGN " } else { "" };
    let key = if attrdef == 0 {
        ObjKey::new(0, 0)
    } else {
        ObjKey::new(cat::ATTRDEF, attrdef)
    };
    let mut entry = Entry::new(
        key,
        Kind::Default,
        "DEFAULT",
        format!("{} {}", rel.name, column.name),
        format!(
            "ALTER {foreign}TABLE ONLY {} ALTER COLUMN {} SET DEFAULT {expr};\n",
            rel.qualified, column.quoted
        ),
    );
    entry.namespace = Some(rel.namespace.clone());
    entry.drop_stmt = Some(format!(
        "ALTER {foreign}TABLE {} ALTER COLUMN {} DROP DEFAULT;\n",
        rel.qualified, column.quoted
    ));
    entry.deps = vec![class_key(rel.oid)];
    entry
}

/// NOT VALID NOT NULL constraints defined on the table (18): added after the data.
fn invalid_not_null_entries(table: &Table) -> Vec<Entry> {
    let rel = &table.rel;
    let foreign = if rel.relkind == b'f' { "FOREIGN " } else { "" };
    let mut entries = Vec::new();
    for column in &table.columns {
        let Some(constraint) = &column.constraint else {
            continue;
        };
        if constraint.valid || !constraint.local {
            continue;
        }
        let mut entry = Entry::new(
            ObjKey::new(cat::CONSTRAINT, constraint.oid),
            Kind::Constraint,
            "CONSTRAINT",
            format!("{} {}", rel.name, constraint.name),
            format!(
                "ALTER {foreign}TABLE {}\n    ADD CONSTRAINT {} {};\n",
                rel.qualified, constraint.quoted, constraint.definition
            ),
        );
        entry.namespace = Some(rel.namespace.clone());
        entry.drop_stmt = Some(format!(
            "ALTER {foreign}TABLE {} DROP CONSTRAINT {};\n",
            rel.qualified, constraint.quoted
        ));
        entry.deps = vec![class_key(rel.oid)];
        entry.comment(
            constraint.comment.clone(),
            format!("CONSTRAINT {} ON {}", constraint.quoted, rel.quoted),
            &format!("CONSTRAINT {} ON {}", constraint.quoted, rel.qualified),
        );
        entries.push(entry);
    }
    entries
}

/// What to copy for a plain table or partition.
fn data_spec(table: &Table, by_oid: &HashMap<u32, &Table>) -> DataSpec {
    let rel = &table.rel;
    let mut target = rel.qualified.clone();
    let mut defn = String::new();
    if rel.is_partition {
        // pg_dump's forcePartitionRootLoad and getRootTableInfo.
        let mut unsafe_partitioning = false;
        let mut root: Option<&Table> = None;
        let mut current = table;
        while let Some(parent) = current.parents.first().and_then(|p| by_oid.get(&p.oid)) {
            unsafe_partitioning |= parent.rel.unsafe_partitioning;
            root = Some(parent);
            if !parent.rel.is_partition {
                break;
            }
            current = parent;
        }
        if let (true, Some(root)) = (unsafe_partitioning, root) {
            target = root.rel.qualified.clone();
            defn = format!(
                "-- load via partition root {}",
                target.replace(['\n', '\r'], " ")
            );
        }
    }
    DataSpec {
        key: class_key(rel.oid),
        namespace: rel.namespace.clone(),
        name: rel.name.clone(),
        qualified: rel.qualified.clone(),
        target,
        defn,
        columns: table
            .columns
            .iter()
            .filter(|c| c.generated.is_empty())
            .map(|c| c.quoted.clone())
            .collect(),
        filter: None,
        size: rel.size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(columns: &[&str]) -> DataSpec {
        DataSpec {
            key: ObjKey::new(cat::CLASS, 1),
            namespace: "public".into(),
            name: "t".into(),
            qualified: "public.t".into(),
            target: "public.t".into(),
            defn: String::new(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            filter: None,
            size: 0,
        }
    }

    #[test]
    fn copy_statements_list_columns() {
        let spec = spec(&["id", "\"Body\""]);
        assert_eq!(
            spec.copy_from(),
            "COPY public.t (id, \"Body\") FROM stdin;\n"
        );
        assert_eq!(spec.copy_to(), "COPY public.t (id, \"Body\") TO STDOUT");
    }

    #[test]
    fn a_filtered_table_is_copied_through_a_query() {
        let mut spec = spec(&["key", "value"]);
        spec.filter = Some("WHERE user_defined".into());
        assert_eq!(
            spec.copy_to(),
            "COPY (SELECT key, value FROM public.t WHERE user_defined) TO STDOUT"
        );
        assert_eq!(spec.copy_from(), "COPY public.t (key, value) FROM stdin;\n");
    }

    #[test]
    fn a_table_without_columns_is_copied_without_a_list() {
        let spec = spec(&[]);
        assert_eq!(spec.copy_from(), "COPY public.t  FROM stdin;\n");
        assert_eq!(spec.copy_to(), "COPY public.t  TO STDOUT");
    }
}
