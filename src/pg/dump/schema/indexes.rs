//! Indexes not owned by a constraint (`CREATE INDEX`, `ON ONLY` for partitioned parents), with
//! CLUSTER ON and REPLICA IDENTITY USING INDEX markers; and INDEX ATTACH entries linking every
//! partition's index (including constraint-backed ones) to its parent index. Invalid indexes
//! (a failed CREATE INDEX CONCURRENTLY) are skipped with a warning, as pg_dump does.

use super::{Cx, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member};
use crate::pg::connect::PgError;

/// Collects indexes and index attachments.
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT ic.oid, n.nspname, ic.relname, pg_catalog.format('%I.%I', n.nspname, ic.relname), \
                pg_catalog.pg_get_indexdef(ic.oid), t.oid, pg_catalog.format('%I.%I', tn.nspname, t.relname), \
                i.indisvalid OR ic.relkind = 'I', i.indisclustered, i.indisreplident, \
                EXISTS (SELECT 1 FROM pg_catalog.pg_constraint co WHERE co.conindid = ic.oid \
                          AND co.conrelid = t.oid AND co.contype IN ('p', 'u', 'x')), \
                inh.inhparent, \
                (SELECT pg_catalog.format('%I.%I', pn.nspname, p.relname) FROM pg_catalog.pg_class p \
                   JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace WHERE p.oid = inh.inhparent), \
                (SELECT pi.indrelid FROM pg_catalog.pg_index pi WHERE pi.indexrelid = inh.inhparent), \
                COALESCE(ts.spcname, ''), pg_catalog.obj_description(ic.oid, 'pg_class'), \
                pg_catalog.quote_ident(ic.relname) \
         FROM pg_catalog.pg_index i \
         JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace \
         JOIN pg_catalog.pg_class t ON t.oid = i.indrelid \
         JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace \
         LEFT JOIN pg_catalog.pg_inherits inh ON inh.inhrelid = ic.oid \
         LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = ic.reltablespace \
         WHERE t.relkind IN ('r', 'p', 'm') AND {USER_SCHEMA} AND {} \
         ORDER BY n.nspname, ic.relname",
        not_extension_member(catalog::CLASS, "t.oid")
    );
    let mut entries = Vec::new();
    for row in cx.query("indexes", &sql, &[]).await? {
        let oid: u32 = row.get(0);
        let namespace: String = row.get(1);
        let name: String = row.get(2);
        let qualified: String = row.get(3);
        let definition: String = row.get(4);
        let table_key = ObjKey::new(catalog::CLASS, row.get(5));
        let table: String = row.get(6);
        let valid: bool = row.get(7);
        let clustered: bool = row.get(8);
        let replica_identity: bool = row.get(9);
        let backs_constraint: bool = row.get(10);
        let parent: Option<u32> = row.get(11);
        let parent_name: Option<String> = row.get(12);
        let parent_table: Option<u32> = row.get(13);
        let tablespace: String = row.get(14);
        let comment: Option<String> = row.get(15);
        let quoted: String = row.get(16);
        let key = ObjKey::new(catalog::CLASS, oid);

        if !valid {
            tracing::warn!(
                "skipping invalid index {qualified} (left by a failed CREATE INDEX CONCURRENTLY?)"
            );
            let mut skipped = Entry::new(key, Kind::Index, "INDEX", &name, "");
            skipped.namespace = Some(namespace);
            entries.push(skipped);
            continue;
        }
        if !backs_constraint {
            let mut defn = format!("{definition};\n");
            if clustered {
                defn.push_str(&format!("ALTER TABLE {table} CLUSTER ON {quoted};\n"));
            }
            if replica_identity {
                defn.push_str(&format!(
                    "ALTER TABLE ONLY {table} REPLICA IDENTITY USING INDEX {quoted};\n"
                ));
            }
            let mut entry = Entry::new(key, Kind::Index, "INDEX", &name, defn);
            entry.namespace = Some(namespace.clone());
            entry.drop_stmt = Some(if parent.is_some() {
                String::new()
            } else {
                format!("DROP INDEX {qualified};\n")
            });
            entry.tablespace = Some(tablespace);
            entry.deps.push(table_key);
            entry.comment(
                comment,
                format!("INDEX {name}"),
                &format!("INDEX {qualified}"),
            );
            entries.push(entry);
        }
        if let (Some(parent), Some(parent_name), Some(parent_table)) =
            (parent, parent_name, parent_table)
        {
            let mut attach = Entry::new(
                key,
                Kind::IndexAttach,
                "INDEX ATTACH",
                &name,
                format!("ALTER INDEX {parent_name} ATTACH PARTITION {qualified};\n"),
            );
            attach.namespace = Some(namespace);
            attach.deps = vec![
                key,
                ObjKey::new(catalog::CLASS, parent),
                table_key,
                ObjKey::new(catalog::CLASS, parent_table),
            ];
            entries.push(attach);
        }
    }
    Ok(entries)
}
