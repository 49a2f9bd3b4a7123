//! Table constraints dumped in post-data: primary key, unique and exclusion constraints
//! (CONSTRAINT), foreign keys (FK CONSTRAINT, last, so data loads without row-by-row checks),
//! and CHECK constraints that are NOT VALID (CHECK CONSTRAINT; valid ones are inline in their
//! table). Constraints a partition inherits from its parent are recreated by the parent's and
//! are only claimed. An index-backed constraint claims its index; on a partition that index is
//! attached to the parent's by an INDEX ATTACH entry from the indexes collector.

use super::{
    Cx, Entry, Kind, ObjKey, OnTable, USER_SCHEMA, catalog, not_extension_member, on_table_columns,
};
use crate::pg::connect::PgError;

/// Collects table constraints (not domain constraints or constraint triggers).
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT {}, x.contype::text, pg_catalog.pg_get_constraintdef(x.oid), c.relkind::text, \
                x.conindid, x.confrelid, x.conparentid, x.convalidated, x.conislocal, \
                (SELECT rc.oid FROM pg_catalog.pg_constraint rc \
                  WHERE rc.conindid = x.conindid AND rc.conrelid = x.confrelid \
                    AND rc.contype IN ('p', 'u') LIMIT 1), \
                pg_catalog.obj_description(x.oid, 'pg_constraint') \
         FROM pg_catalog.pg_constraint x \
         JOIN pg_catalog.pg_class c ON c.oid = x.conrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE x.contype IN ('p', 'u', 'x', 'f', 'c') AND c.relkind IN ('r', 'p') \
           AND {USER_SCHEMA} AND {} \
         ORDER BY n.nspname, c.relname, x.conname",
        on_table_columns("conname"),
        not_extension_member(catalog::CLASS, "c.oid")
    );
    let mut entries = Vec::new();
    for row in cx.query("constraints", &sql, &[]).await? {
        let OnTable {
            oid,
            namespace,
            table,
            qualified,
            table_key,
            name,
            quoted,
        } = OnTable::from_row(&row);
        let contype: String = row.get(7);
        let definition: String = row.get(8);
        let partitioned = row.get::<_, String>(9) == "p";
        let index: u32 = row.get(10);
        let referenced_table: u32 = row.get(11);
        let parent: u32 = row.get(12);
        let validated: bool = row.get(13);
        let local: bool = row.get(14);
        let referenced_constraint: Option<u32> = row.get(15);
        let comment: Option<String> = row.get(16);
        let key = ObjKey::new(catalog::CONSTRAINT, oid);

        let (kind, desc) = match contype.as_str() {
            "f" => (Kind::FkConstraint, "FK CONSTRAINT"),
            "c" => (Kind::Constraint, "CHECK CONSTRAINT"),
            _ => (Kind::Constraint, "CONSTRAINT"),
        };
        let inherited_fk = contype == "f" && parent != 0;
        let inline_check = contype == "c" && (validated || !local);
        let mut entry = Entry::new(key, kind, desc, format!("{table} {name}"), "");
        entry.namespace = Some(namespace);
        if index != 0 && contype != "f" {
            entry.claims.push(ObjKey::new(catalog::CLASS, index));
        }
        if inherited_fk || inline_check {
            // Recreated by the parent's constraint or the table's CREATE; only accounted for.
            entries.push(entry);
            continue;
        }
        // ONLY is refused for foreign keys on partitioned tables.
        let only = if partitioned && contype == "f" {
            ""
        } else {
            "ONLY "
        };
        entry.defn =
            format!("ALTER TABLE {only}{qualified}\n    ADD CONSTRAINT {quoted} {definition};\n");
        entry.drop_stmt = Some(format!(
            "ALTER TABLE {only}{qualified} DROP CONSTRAINT {quoted};\n"
        ));
        if contype != "f" && contype != "c" {
            entry.tablespace = Some(String::new());
        }
        entry.deps.push(table_key);
        if contype == "f" {
            entry
                .deps
                .push(ObjKey::new(catalog::CLASS, referenced_table));
            if let Some(referenced) = referenced_constraint {
                entry
                    .deps
                    .push(ObjKey::new(catalog::CONSTRAINT, referenced));
            }
        }
        entry.comment(
            comment,
            format!("CONSTRAINT {name} ON {table}"),
            &format!("CONSTRAINT {quoted} ON {qualified}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}
