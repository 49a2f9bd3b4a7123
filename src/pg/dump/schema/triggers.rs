//! Triggers, as pg_dump's getTriggers / dumpTrigger write them: `pg_get_triggerdef`'s
//! `CREATE [CONSTRAINT] TRIGGER`, then `ALTER TRIGGER ... DEPENDS ON EXTENSION`, then
//! `ALTER TABLE ... {DISABLE | ENABLE REPLICA | ENABLE ALWAYS} TRIGGER` when it does not fire
//! in the default state.
//! - Internal triggers (those implementing foreign keys and deferrable unique constraints) are
//!   never dumped.
//! - A partition's copy of its parent's trigger (`tgparentid`) is recreated by the parent's
//!   `CREATE TRIGGER` (and the partition's `ATTACH PARTITION`), so it is only claimed, unless
//!   its firing state differs from its parent's: then its entry holds just the `ALTER TABLE`
//!   setting it, ordered after every ancestor's own `ALTER TABLE` (which recurses to
//!   partitions). Before PostgreSQL 15 such copies are internal triggers.
//! - A constraint trigger claims its `pg_constraint` row (the trigger is the constraint).

use std::collections::HashMap;

use super::{CatalogSession, Entry, Kind, ObjKey, OnTable, USER_SCHEMA, catalog, on_table_columns};
use crate::pg::connect::PgError;

/// Collects triggers.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT {on}, pg_catalog.pg_get_triggerdef(x.oid, false) AS definition, \
                x.tgenabled::text AS enabled, x.tgfoid AS function, \
                CASE WHEN k.contype = 't' THEN k.oid END AS constraint_oid, \
                NULLIF(x.tgparentid, 0::pg_catalog.oid) AS parent, \
                CASE WHEN x.tgparentid = 0 THEN NOT x.tgisinternal \
                     ELSE x.tgenabled <> u.tgenabled END AS has_sql, \
                ARRAY(SELECT d.refobjid FROM pg_catalog.pg_depend d \
                       WHERE d.classid = {trigger} AND d.objid = x.oid \
                         AND d.refclassid = {extension} AND d.deptype = 'x' \
                       ORDER BY d.refobjid) AS extensions, \
                ARRAY(SELECT pg_catalog.quote_ident(e.extname) FROM pg_catalog.pg_depend d \
                       JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid \
                       WHERE d.classid = {trigger} AND d.objid = x.oid \
                         AND d.refclassid = {extension} AND d.deptype = 'x' \
                       ORDER BY d.refobjid) AS extension_names, \
                pg_catalog.obj_description(x.oid, 'pg_trigger') AS comment \
         FROM pg_catalog.pg_trigger x \
         JOIN pg_catalog.pg_class c ON c.oid = x.tgrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_trigger u ON u.oid = x.tgparentid \
         LEFT JOIN pg_catalog.pg_constraint k ON k.oid = x.tgconstraint \
         WHERE (NOT x.tgisinternal OR x.tgparentid <> 0) AND {USER_SCHEMA} \
         ORDER BY n.nspname, c.relname, x.tgname",
        on = on_table_columns("tgname"),
        trigger = catalog::TRIGGER,
        extension = catalog::EXTENSION,
    );
    let rows = cx.query("triggers", &sql, &[]).await?;
    let triggers: Vec<Trigger> = rows.iter().map(Trigger::from_row).collect();
    let by_oid: HashMap<u32, &Trigger> = triggers.iter().map(|t| (t.on.oid, t)).collect();

    let mut entries = Vec::new();
    for trigger in &triggers {
        let on = &trigger.on;
        let mut entry = on.entry(catalog::TRIGGER, Kind::Trigger, "TRIGGER", String::new());
        entry.claims.extend(
            trigger
                .constraint
                .map(|oid| ObjKey::new(catalog::CONSTRAINT, oid)),
        );
        entry
            .deps
            .push(ObjKey::new(catalog::PROC, trigger.function));

        if on.extension_member {
            // Made by the extension's script with its table.
            entries.push(entry);
            continue;
        }
        if trigger.parent.is_some() {
            // Created by the parent's trigger; ordered after every ancestor that has SQL of its
            // own (an ancestor's ALTER TABLE ... TRIGGER recurses down to this partition).
            let mut ancestor = trigger.parent.and_then(|oid| by_oid.get(&oid));
            // The bound only guards against a cycle in a corrupt catalog.
            for _ in 0..by_oid.len() {
                let Some(up) = ancestor else { break };
                if up.has_sql {
                    entry.deps.push(ObjKey::new(catalog::TRIGGER, up.on.oid));
                }
                ancestor = up.parent.and_then(|oid| by_oid.get(&oid));
            }
            if trigger.has_sql {
                entry.defn = trigger.state_sql();
                on.comment(&mut entry, "TRIGGER", trigger.comment.clone());
            }
            entries.push(entry);
            continue;
        }
        if !trigger.has_sql {
            // An internal trigger without a parent is never selected; nothing to claim.
            continue;
        }

        let mut defn = format!("{};\n", trigger.definition);
        for extension in &trigger.extension_names {
            defn.push_str(&format!(
                "\nALTER TRIGGER {} ON {} DEPENDS ON EXTENSION {extension};",
                on.quoted, on.qualified
            ));
        }
        if !matches!(trigger.enabled.as_str(), "O" | "t") {
            defn.push_str(&trigger.state_sql());
        }
        entry.defn = defn;
        entry.drop_stmt = Some(format!("DROP TRIGGER {} ON {};\n", on.quoted, on.qualified));
        entry.deps.extend(
            trigger
                .extensions
                .iter()
                .map(|oid| ObjKey::new(catalog::EXTENSION, *oid)),
        );
        on.comment(&mut entry, "TRIGGER", trigger.comment.clone());
        entries.push(entry);
    }
    Ok(entries)
}

/// One row of the trigger query.
struct Trigger {
    on: OnTable,
    definition: String,
    enabled: String,
    function: u32,
    constraint: Option<u32>,
    parent: Option<u32>,
    has_sql: bool,
    extensions: Vec<u32>,
    extension_names: Vec<String>,
    comment: Option<String>,
}

impl Trigger {
    fn from_row(row: &tokio_postgres::Row) -> Trigger {
        Trigger {
            on: OnTable::from_row(row),
            definition: row.get("definition"),
            enabled: row.get("enabled"),
            function: row.get("function"),
            constraint: row.get("constraint_oid"),
            parent: row.get("parent"),
            has_sql: row.get("has_sql"),
            extensions: row.get("extensions"),
            extension_names: row.get("extension_names"),
            comment: row.get("comment"),
        }
    }

    /// `ALTER TABLE ... <state> TRIGGER name;` for the trigger's firing state.
    fn state_sql(&self) -> String {
        format!(
            "\n{} {} {} TRIGGER {};\n",
            self.on.alter_table(),
            self.on.qualified,
            state_keyword(&self.enabled),
            self.on.quoted
        )
    }
}

/// The `ALTER TABLE` keyword for a `tgenabled` value (`O` fires in origin and local sessions,
/// `D` never, `R` on replicas only, `A` always).
fn state_keyword(enabled: &str) -> &'static str {
    match enabled {
        "D" | "f" => "DISABLE",
        "A" => "ENABLE ALWAYS",
        "R" => "ENABLE REPLICA",
        _ => "ENABLE",
    }
}

#[cfg(test)]
mod tests {
    use super::state_keyword;

    #[test]
    fn firing_states_map_to_pg_dump_keywords() {
        assert_eq!(state_keyword("D"), "DISABLE");
        assert_eq!(state_keyword("A"), "ENABLE ALWAYS");
        assert_eq!(state_keyword("R"), "ENABLE REPLICA");
        assert_eq!(state_keyword("O"), "ENABLE");
    }
}
