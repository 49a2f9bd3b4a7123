//! Foreign keys and CHECK constraints of tables, as pg_dump's getConstraints / dumpConstraint
//! write them (primary key, unique and exclusion constraints come with their indexes, see
//! [`super::indexes`]; NOT NULL constraints with their columns):
//! - a foreign key is an FK CONSTRAINT entry (`ALTER TABLE ONLY`, or plain `ALTER TABLE` on a
//!   partitioned table, whose partitions inherit it); the copies a partition gets from its
//!   parent's foreign key (`conparentid`) are recreated by the parent's and only claimed. A
//!   foreign key referencing a partitioned table waits for every index attachment (INDEX
//!   ATTACH) below it: the referenced key must be valid, and validating the foreign key scans
//!   the partitions (and opens their indexes) while attachments lock them;
//! - a CHECK constraint that is written inline in its table's CREATE (by the tables collector,
//!   see [`check_in_table_sql`]) is only claimed here, with its comment when it is the table's
//!   own; any other (NOT VALID, 18's NOT ENFORCED, or using something that depends on the table)
//!   is a CHECK CONSTRAINT entry (`ALTER TABLE` without ONLY, so children get it), unless it is
//!   inherited.

use super::{
    CatalogSession, Entry, Kind, ObjKey, OnTable, USER_SCHEMA, attached_indexes_sql, attachments,
    catalog, on_table_columns,
};
use crate::pg::connect::PgError;

/// Collects table foreign keys and CHECK constraints.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT {on}, x.contype::text AS contype, \
                pg_catalog.pg_get_constraintdef(x.oid) AS condef, \
                CASE WHEN x.contype = 'c' THEN {in_table} END AS in_table, \
                x.conislocal AS local, \
                x.conparentid <> 0 AS cloned, x.confrelid AS referenced_table, \
                {attached} AS referenced_attachments, \
                (SELECT rc.oid FROM pg_catalog.pg_constraint rc \
                  WHERE rc.conindid = x.conindid AND rc.conrelid = x.confrelid \
                    AND rc.contype IN ('p', 'u') LIMIT 1) AS referenced_key, \
                pg_catalog.obj_description(x.oid, 'pg_constraint') AS comment \
         FROM pg_catalog.pg_constraint x \
         JOIN pg_catalog.pg_class c ON c.oid = x.conrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_class r ON r.oid = x.confrelid \
         WHERE x.contype IN ('f', 'c') AND c.relkind IN ('r', 'p', 'f') AND {USER_SCHEMA} \
         ORDER BY n.nspname, c.relname, x.conname",
        on = on_table_columns("conname"),
        attached = attached_indexes_sql("r"),
        in_table = check_in_table_sql("x"),
    );
    let mut entries = Vec::new();
    for row in cx.query("constraints", &sql, &[]).await? {
        let on = OnTable::from_row(&row);
        let contype: String = row.get("contype");
        let definition: String = row.get("condef");
        let comment: Option<String> = row.get("comment");
        let entry = if contype == "f" {
            let referenced: Vec<ObjKey> = std::iter::once(ObjKey::new(
                catalog::CLASS,
                row.get::<_, u32>("referenced_table"),
            ))
            .chain(
                row.get::<_, Option<u32>>("referenced_key")
                    .map(|oid| ObjKey::new(catalog::CONSTRAINT, oid)),
            )
            .chain(attachments(&row, "referenced_attachments"))
            .collect();
            foreign_key(&on, &definition, row.get("cloned"), referenced, comment)
        } else {
            check(
                &on,
                &definition,
                row.get::<_, Option<bool>>("in_table").unwrap_or(false),
                row.get("local"),
                comment,
            )
        };
        // The extension's script makes the constraints of its tables.
        entries.push(if on.extension_member {
            entry.claim_only()
        } else {
            entry
        });
    }
    Ok(entries)
}

/// A foreign key's FK CONSTRAINT entry; `cloned` when it is a partition's copy of its parent's
/// (then it has no SQL of its own). `referenced`: what must exist before it.
fn foreign_key(
    on: &OnTable,
    definition: &str,
    cloned: bool,
    referenced: Vec<ObjKey>,
    comment: Option<String>,
) -> Entry {
    if cloned {
        return on.entry(
            catalog::CONSTRAINT,
            Kind::FkConstraint,
            "FK CONSTRAINT",
            "".into(),
        );
    }
    // A partitioned table's foreign key applies to its partitions.
    let only = if on.relkind == "p" { "" } else { "ONLY " };
    let alter = on.alter_table();
    let mut entry = on.entry(
        catalog::CONSTRAINT,
        Kind::FkConstraint,
        "FK CONSTRAINT",
        format!(
            "{alter} {only}{}\n    ADD CONSTRAINT {} {definition};\n",
            on.qualified, on.quoted
        ),
    );
    entry.drop_stmt = Some(format!(
        "{alter} {only}{} DROP CONSTRAINT {};\n",
        on.qualified, on.quoted
    ));
    entry.deps.extend(referenced);
    on.comment(&mut entry, "CONSTRAINT", comment);
    entry
}

/// A CHECK constraint: a CHECK CONSTRAINT entry when it is not written in its table's CREATE
/// TABLE and is the table's own; otherwise only claimed (inline in the table, or inherited),
/// with the comment of an inline one.
fn check(
    on: &OnTable,
    definition: &str,
    in_table: bool,
    local: bool,
    comment: Option<String>,
) -> Entry {
    let separate = !in_table;
    let mut entry = on.entry(
        catalog::CONSTRAINT,
        Kind::Constraint,
        "CHECK CONSTRAINT",
        String::new(),
    );
    if separate && local {
        let alter = on.alter_table();
        entry.defn = format!(
            "{alter} {}\n    ADD CONSTRAINT {} {definition};\n",
            on.qualified, on.quoted
        );
        entry.drop_stmt = Some(format!(
            "{alter} {} DROP CONSTRAINT {};\n",
            on.qualified, on.quoted
        ));
    }
    // pg_dump comments on an inline constraint only when it is the table's own.
    if separate || local {
        on.comment(&mut entry, "CONSTRAINT", comment);
    }
    entry
}

/// SQL condition: the CHECK constraint aliased `alias` is written inside its table's CREATE
/// TABLE, as pg_dump decides: it is validated (one that is NOT VALID, or 18's NOT ENFORCED,
/// is added after the data), and nothing it uses depends on the table in turn (a function
/// taking the table's row type, say: the table must exist before the function, and the
/// function before the constraint, so pg_dump splits the constraint out of the table). The
/// tables collector writes exactly these inline; [`collect`] writes the others.
pub(crate) fn check_in_table_sql(alias: &str) -> String {
    format!(
        "({alias}.convalidated AND NOT EXISTS ( \
           WITH RECURSIVE reach(classid, objid) AS ( \
             SELECT d.refclassid, d.refobjid FROM pg_catalog.pg_depend d \
              WHERE d.classid = {constraint} AND d.objid = {alias}.oid \
                AND d.refobjid >= 16384 \
                AND NOT (d.refclassid = {class} AND d.refobjid = {alias}.conrelid) \
             UNION \
             SELECT d.refclassid, d.refobjid FROM reach r \
               JOIN pg_catalog.pg_depend d ON d.classid = r.classid AND d.objid = r.objid \
              WHERE d.deptype IN ('n', 'a', 'i') AND d.refobjid >= 16384) \
           SELECT 1 FROM reach \
            WHERE reach.classid = {class} AND reach.objid = {alias}.conrelid))",
        constraint = catalog::CONSTRAINT,
        class = catalog::CLASS,
    )
}
