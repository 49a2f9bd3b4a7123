//! Indexes, and the constraints an index implements, as pg_dump's getIndexes / dumpIndex /
//! dumpConstraint / dumpIndexAttach write them:
//! - a primary key or unique constraint is `ALTER TABLE ONLY ... ADD CONSTRAINT`, spelled out from
//!   the index (key and INCLUDE columns, NULLS NOT DISTINCT, WITHOUT OVERLAPS, storage
//!   parameters, DEFERRABLE); an exclusion constraint is `pg_get_constraintdef`'s text. The
//!   constraint's entry stands for its index, which gets no entry of its own (a comment on the
//!   index goes with the constraint);
//! - any other index is `pg_get_indexdef`'s `CREATE INDEX` (`ON ONLY` on a partitioned table),
//!   followed by per-column statistics targets (`ALTER INDEX ... ALTER COLUMN n SET
//!   STATISTICS`);
//! - both carry `CLUSTER ON`, `REPLICA IDENTITY USING INDEX` and `DEPENDS ON EXTENSION`;
//! - every index of a partition that belongs to a partitioned index (constraint-backed or not)
//!   gets an INDEX ATTACH entry, keyed by [`catalog::INHERITS`] and the partition index's OID,
//!   that waits for the attachments below it;
//! - an invalid index (a failed `CREATE INDEX CONCURRENTLY`) on a table that is not partitioned is
//!   skipped with a warning, as pg_dump skips it;
//! - the indexes (and index-backed constraints) of a table that belongs to an extension are made
//!   by the extension's script: only claimed.

use super::{
    CatalogSession, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member, reloptions_sql,
};
use crate::pg::connect::PgError;

/// Collects indexes, index-backed constraints and index attachments.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let nulls_not_distinct = if cx.major() >= 15 {
        "i.indnullsnotdistinct"
    } else {
        "false"
    };
    let period = if cx.major() >= 18 {
        "COALESCE(co.conperiod, false)"
    } else {
        "false"
    };
    let sql = format!(
        "SELECT ic.oid AS index_oid, ic.relname AS index_name, \
                pg_catalog.quote_ident(ic.relname) AS index_quoted, \
                pg_catalog.format('%I.%I', n.nspname, ic.relname) AS index_qualified, \
                n.nspname AS schema, t.oid AS table_oid, t.relname AS table_name, \
                pg_catalog.quote_ident(t.relname) AS table_quoted, \
                pg_catalog.format('%I.%I', n.nspname, t.relname) AS table_qualified, \
                t.relkind::text AS table_relkind, \
                pg_catalog.pg_get_indexdef(ic.oid) AS indexdef, \
                (i.indisvalid OR t.relkind = 'p') AND i.indisready AS dumpable, \
                NOT {member} AS extension_member, \
                i.indisclustered AS clustered, i.indisreplident AS replica_identity, \
                i.indnkeyatts::int AS key_count, \
                ARRAY(SELECT pg_catalog.quote_ident(a.attname) \
                        FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) \
                             WITH ORDINALITY AS k(attnum, ord) \
                        JOIN pg_catalog.pg_attribute a \
                          ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                       ORDER BY k.ord) AS column_names, \
                {nulls_not_distinct} AS nulls_not_distinct, \
                {options} AS index_options, \
                COALESCE(ts.spcname, '') AS tablespace, \
                ARRAY(SELECT a.attnum::int FROM pg_catalog.pg_attribute a \
                       WHERE a.attrelid = ic.oid AND a.attstattarget >= 0 \
                       ORDER BY a.attnum) AS stat_columns, \
                ARRAY(SELECT a.attstattarget::int FROM pg_catalog.pg_attribute a \
                       WHERE a.attrelid = ic.oid AND a.attstattarget >= 0 \
                       ORDER BY a.attnum) AS stat_targets, \
                ARRAY(SELECT pg_catalog.quote_ident(e.extname) FROM pg_catalog.pg_depend d \
                        JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid \
                       WHERE d.classid = {class} AND d.objid = ic.oid \
                         AND d.refclassid = {extension} AND d.deptype = 'x' \
                       ORDER BY e.extname) AS extensions, \
                inh.inhparent AS parent_index, \
                (SELECT pg_catalog.format('%I.%I', pn.nspname, p.relname) \
                   FROM pg_catalog.pg_class p \
                   JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace \
                  WHERE p.oid = inh.inhparent) AS parent_qualified, \
                (SELECT pi.indrelid FROM pg_catalog.pg_index pi \
                  WHERE pi.indexrelid = inh.inhparent) AS parent_table, \
                ARRAY(SELECT h.inhrelid FROM pg_catalog.pg_inherits h \
                       WHERE h.inhparent = ic.oid ORDER BY h.inhrelid) AS children, \
                co.oid AS con_oid, co.conname AS con_name, \
                pg_catalog.quote_ident(co.conname) AS con_quoted, co.contype::text AS contype, \
                co.condeferrable AS deferrable, co.condeferred AS deferred, \
                {period} AS period, \
                pg_catalog.pg_get_constraintdef(co.oid, false) AS condef, \
                pg_catalog.obj_description(ic.oid, 'pg_class') AS index_comment, \
                pg_catalog.obj_description(co.oid, 'pg_constraint') AS con_comment \
         FROM pg_catalog.pg_index i \
         JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_catalog.pg_class t ON t.oid = i.indrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace \
         LEFT JOIN pg_catalog.pg_constraint co ON co.conrelid = i.indrelid \
               AND co.conindid = i.indexrelid AND co.contype IN ('p', 'u', 'x') \
         LEFT JOIN pg_catalog.pg_inherits inh ON inh.inhrelid = ic.oid \
         LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = ic.reltablespace \
         WHERE t.relkind IN ('r', 'p', 'm') AND {USER_SCHEMA} \
         ORDER BY n.nspname, t.relname, ic.relname",
        options = reloptions_sql("ic.reloptions"),
        member = not_extension_member(catalog::CLASS, "t.oid"),
        class = catalog::CLASS,
        extension = catalog::EXTENSION,
    );
    let mut entries = Vec::new();
    for row in cx.query("indexes", &sql, &[]).await? {
        let index = Index::from_row(&row);
        let key = ObjKey::new(catalog::CLASS, index.oid);
        if !index.dumpable {
            tracing::warn!(
                "skipping invalid index {} (left by a failed CREATE INDEX CONCURRENTLY?)",
                index.qualified
            );
            let mut skipped = Entry::new(key, Kind::Index, "INDEX", &index.name, "");
            skipped.namespace = Some(index.namespace.clone());
            entries.push(skipped);
            continue;
        }
        let mut entry = match &index.constraint {
            Some(constraint) => index.constraint_entry(constraint, cx.major()),
            None => index.index_entry(),
        };
        if index.extension_member {
            // The extension's script makes the indexes of its tables.
            entries.push(entry.claim_only());
            continue;
        }
        entry.tablespace = Some(index.tablespace.clone());
        entries.push(entry);
        if let Some(attach) = index.attach_entry() {
            entries.push(attach);
        }
    }
    Ok(entries)
}

/// The constraint an index implements.
struct Constraint {
    oid: u32,
    name: String,
    quoted: String,
    contype: String,
    deferrable: bool,
    deferred: bool,
    period: bool,
    definition: String,
    comment: Option<String>,
}

/// One row of the index query.
struct Index {
    oid: u32,
    name: String,
    quoted: String,
    qualified: String,
    namespace: String,
    table_key: ObjKey,
    table: String,
    table_quoted: String,
    table_qualified: String,
    foreign: bool,
    definition: String,
    dumpable: bool,
    extension_member: bool,
    clustered: bool,
    replica_identity: bool,
    key_count: usize,
    columns: Vec<String>,
    nulls_not_distinct: bool,
    options: Option<String>,
    tablespace: String,
    stat_columns: Vec<i32>,
    stat_targets: Vec<i32>,
    extensions: Vec<String>,
    parent: Option<(u32, String, u32)>,
    children: Vec<u32>,
    constraint: Option<Constraint>,
    comment: Option<String>,
}

impl Index {
    fn from_row(row: &tokio_postgres::Row) -> Index {
        let parent = match (
            row.get::<_, Option<u32>>("parent_index"),
            row.get::<_, Option<String>>("parent_qualified"),
            row.get::<_, Option<u32>>("parent_table"),
        ) {
            (Some(oid), Some(qualified), Some(table)) => Some((oid, qualified, table)),
            _ => None,
        };
        let constraint = row.get::<_, Option<u32>>("con_oid").map(|oid| Constraint {
            oid,
            name: row.get("con_name"),
            quoted: row.get("con_quoted"),
            contype: row.get("contype"),
            deferrable: row.get("deferrable"),
            deferred: row.get("deferred"),
            period: row.get("period"),
            definition: row.get("condef"),
            comment: row.get("con_comment"),
        });
        Index {
            oid: row.get("index_oid"),
            name: row.get("index_name"),
            quoted: row.get("index_quoted"),
            qualified: row.get("index_qualified"),
            namespace: row.get("schema"),
            table_key: ObjKey::new(catalog::CLASS, row.get("table_oid")),
            table: row.get("table_name"),
            table_quoted: row.get("table_quoted"),
            table_qualified: row.get("table_qualified"),
            foreign: row.get::<_, String>("table_relkind") == "f",
            definition: row.get("indexdef"),
            dumpable: row.get("dumpable"),
            extension_member: row.get("extension_member"),
            clustered: row.get("clustered"),
            replica_identity: row.get("replica_identity"),
            key_count: usize::try_from(row.get::<_, i32>("key_count")).unwrap_or(0),
            columns: row.get("column_names"),
            nulls_not_distinct: row.get("nulls_not_distinct"),
            options: row.get("index_options"),
            tablespace: row.get("tablespace"),
            stat_columns: row.get("stat_columns"),
            stat_targets: row.get("stat_targets"),
            extensions: row.get("extensions"),
            parent,
            children: row.get("children"),
            constraint,
            comment: row.get("index_comment"),
        }
    }

    /// `ALTER TABLE ... CLUSTER ON` when the table is clustered on this index.
    fn cluster_sql(&self) -> String {
        if self.clustered {
            format!(
                "\nALTER TABLE {} CLUSTER ON {};\n",
                self.table_qualified, self.quoted
            )
        } else {
            String::new()
        }
    }

    /// `ALTER TABLE ONLY ... REPLICA IDENTITY USING INDEX` when the index is the table's
    /// replica identity.
    fn replica_identity_sql(&self) -> String {
        if self.replica_identity {
            format!(
                "\nALTER TABLE ONLY {} REPLICA IDENTITY USING INDEX {};\n",
                self.table_qualified, self.quoted
            )
        } else {
            String::new()
        }
    }

    /// `ALTER INDEX ... DEPENDS ON EXTENSION`, one per extension the index depends on.
    fn extensions_sql(&self) -> String {
        self.extensions
            .iter()
            .map(|e| format!("\nALTER INDEX {} DEPENDS ON EXTENSION {e};", self.qualified))
            .collect()
    }

    /// The INDEX entry of an index that implements no constraint.
    fn index_entry(&self) -> Entry {
        let mut defn = format!("{};\n", self.definition);
        defn.push_str(&self.cluster_sql());
        for (column, target) in self.stat_columns.iter().zip(&self.stat_targets) {
            defn.push_str(&format!(
                "ALTER INDEX {} ALTER COLUMN {column} SET STATISTICS {target};\n",
                self.qualified
            ));
        }
        defn.push_str(&self.extensions_sql());
        defn.push_str(&self.replica_identity_sql());
        let mut entry = Entry::new(
            ObjKey::new(catalog::CLASS, self.oid),
            Kind::Index,
            "INDEX",
            &self.name,
            defn,
        );
        entry.namespace = Some(self.namespace.clone());
        // An index attached to a partitioned index goes away with it or with its table.
        entry.drop_stmt = Some(if self.parent.is_some() {
            String::new()
        } else {
            format!("DROP INDEX {};\n", self.qualified)
        });
        entry.deps.push(self.table_key);
        self.comment_on_index(&mut entry);
        entry
    }

    /// The CONSTRAINT entry of a primary key, unique or exclusion constraint; it stands for
    /// the index too.
    fn constraint_entry(&self, constraint: &Constraint, major: i32) -> Entry {
        let foreign = if self.foreign { "FOREIGN " } else { "" };
        let body = if constraint.contype == "x" {
            constraint.definition.clone()
        } else {
            self.key_clause(constraint, major)
        };
        let mut defn = format!(
            "ALTER {foreign}TABLE ONLY {}\n    ADD CONSTRAINT {} {body};\n",
            self.table_qualified, constraint.quoted
        );
        defn.push_str(&self.cluster_sql());
        defn.push_str(&self.replica_identity_sql());
        defn.push_str(&self.extensions_sql());
        let mut entry = Entry::new(
            ObjKey::new(catalog::CONSTRAINT, constraint.oid),
            Kind::Constraint,
            "CONSTRAINT",
            format!("{} {}", self.table, constraint.name),
            defn,
        );
        entry.namespace = Some(self.namespace.clone());
        entry.drop_stmt = Some(format!(
            "ALTER {foreign}TABLE ONLY {} DROP CONSTRAINT {};\n",
            self.table_qualified, constraint.quoted
        ));
        entry.claims.push(ObjKey::new(catalog::CLASS, self.oid));
        entry.deps.push(self.table_key);
        entry.comment(
            constraint.comment.clone(),
            format!("CONSTRAINT {} ON {}", constraint.quoted, self.table_quoted),
            &format!(
                "CONSTRAINT {} ON {}",
                constraint.quoted, self.table_qualified
            ),
        );
        self.comment_on_index(&mut entry);
        entry
    }

    /// `PRIMARY KEY (a, b) INCLUDE (c) WITH (...) DEFERRABLE`, as pg_dump builds it from the
    /// index rather than from `pg_get_constraintdef` (which would name the tablespace).
    fn key_clause(&self, constraint: &Constraint, major: i32) -> String {
        let primary = constraint.contype == "p";
        let mut out = String::from(if primary { "PRIMARY KEY" } else { "UNIQUE" });
        // pg_dump 15 writes NULLS NOT DISTINCT for primary keys too; later ones never do (a
        // primary key's columns are NOT NULL).
        if self.nulls_not_distinct && (!primary || major < 16) {
            out.push_str(" NULLS NOT DISTINCT");
        }
        let split = self.key_count.min(self.columns.len());
        let (keys, included) = self.columns.split_at(split);
        out.push_str(&format!(" ({}", keys.join(", ")));
        if constraint.period {
            out.push_str(" WITHOUT OVERLAPS");
        }
        if !included.is_empty() {
            out.push_str(&format!(") INCLUDE ({}", included.join(", ")));
        }
        out.push(')');
        if let Some(options) = &self.options {
            out.push_str(&format!(" WITH ({options})"));
        }
        if constraint.deferrable {
            out.push_str(" DEFERRABLE");
            if constraint.deferred {
                out.push_str(" INITIALLY DEFERRED");
            }
        }
        out
    }

    /// `COMMENT ON INDEX`, carried by the entry that stands for the index.
    fn comment_on_index(&self, entry: &mut Entry) {
        entry.comment(
            self.comment.clone(),
            format!("INDEX {}", self.quoted),
            &format!("INDEX {}", self.qualified),
        );
    }

    /// The INDEX ATTACH entry of a partition's index that belongs to a partitioned index.
    fn attach_entry(&self) -> Option<Entry> {
        let (parent, parent_qualified, parent_table) = self.parent.as_ref()?;
        let mut attach = Entry::new(
            ObjKey::new(catalog::INHERITS, self.oid),
            Kind::IndexAttach,
            "INDEX ATTACH",
            &self.name,
            format!(
                "ALTER INDEX {parent_qualified} ATTACH PARTITION {};\n",
                self.qualified
            ),
        );
        attach.namespace = Some(self.namespace.clone());
        attach.deps = vec![
            ObjKey::new(catalog::CLASS, self.oid),
            ObjKey::new(catalog::CLASS, *parent),
            self.table_key,
            ObjKey::new(catalog::CLASS, *parent_table),
        ];
        // Attached bottom-up: a partitioned index joins its parent only once its own
        // partitions' indexes are attached (and it is valid), so that concurrent attachments
        // in a parallel restore cannot leave the parent index invalid.
        attach.deps.extend(
            self.children
                .iter()
                .map(|oid| ObjKey::new(catalog::INHERITS, *oid)),
        );
        Some(attach)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(columns: &[&str], key_count: usize) -> Index {
        Index {
            oid: 10,
            name: "t_key".into(),
            quoted: "t_key".into(),
            qualified: "s.t_key".into(),
            namespace: "s".into(),
            table_key: ObjKey::new(catalog::CLASS, 1),
            table: "t".into(),
            table_quoted: "t".into(),
            table_qualified: "s.t".into(),
            foreign: false,
            definition: "CREATE UNIQUE INDEX t_key ON s.t USING btree (a)".into(),
            dumpable: true,
            extension_member: false,
            clustered: false,
            replica_identity: false,
            key_count,
            columns: columns.iter().map(|c| c.to_string()).collect(),
            nulls_not_distinct: false,
            options: None,
            tablespace: String::new(),
            stat_columns: Vec::new(),
            stat_targets: Vec::new(),
            extensions: Vec::new(),
            parent: None,
            children: Vec::new(),
            constraint: None,
            comment: None,
        }
    }

    fn constraint(contype: &str) -> Constraint {
        Constraint {
            oid: 20,
            name: "t_key".into(),
            quoted: "t_key".into(),
            contype: contype.into(),
            deferrable: false,
            deferred: false,
            period: false,
            definition: String::new(),
            comment: None,
        }
    }

    #[test]
    fn keys_are_spelled_out_from_the_index_like_pg_dump() {
        let mut idx = index(&["a", "\"B c\"", "d"], 2);
        idx.options = Some("fillfactor='70'".into());
        let mut unique = constraint("u");
        unique.deferrable = true;
        unique.deferred = true;
        assert_eq!(
            idx.key_clause(&unique, 18),
            "UNIQUE (a, \"B c\") INCLUDE (d) WITH (fillfactor='70') DEFERRABLE INITIALLY DEFERRED"
        );
        let mut temporal = constraint("p");
        temporal.period = true;
        assert_eq!(
            index(&["room", "during"], 2).key_clause(&temporal, 18),
            "PRIMARY KEY (room, during WITHOUT OVERLAPS)"
        );
    }

    #[test]
    fn nulls_not_distinct_is_written_for_primary_keys_only_by_pg_dump_15() {
        let mut idx = index(&["a"], 1);
        idx.nulls_not_distinct = true;
        assert_eq!(
            idx.key_clause(&constraint("u"), 16),
            "UNIQUE NULLS NOT DISTINCT (a)"
        );
        assert_eq!(
            idx.key_clause(&constraint("p"), 15),
            "PRIMARY KEY NULLS NOT DISTINCT (a)"
        );
        assert_eq!(idx.key_clause(&constraint("p"), 16), "PRIMARY KEY (a)");
    }

    #[test]
    fn partition_indexes_attach_after_their_own_partitions() {
        let mut idx = index(&["a"], 1);
        assert!(idx.attach_entry().is_none());
        idx.parent = Some((30, "s.parent_key".into(), 3));
        idx.children = vec![40];
        let attach = idx.attach_entry().unwrap();
        assert_eq!(attach.key, ObjKey::new(catalog::INHERITS, 10));
        assert_eq!(
            attach.defn,
            "ALTER INDEX s.parent_key ATTACH PARTITION s.t_key;\n"
        );
        assert!(attach.deps.contains(&ObjKey::new(catalog::INHERITS, 40)));
        assert_eq!(idx.index_entry().drop_stmt.as_deref(), Some(""));
    }
}
