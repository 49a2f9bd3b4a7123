//! Triggers, deparsed by `pg_get_triggerdef`, as pg_dump writes them:
//! - a trigger set to fire never, always or on replicas only gets its `ALTER TABLE ... TRIGGER`;
//! - a constraint trigger claims its `pg_constraint` row (the trigger is the constraint);
//! - internal triggers (those implementing foreign keys and deferrable unique constraints) are
//!   never dumped;
//! - a trigger a partition got from its parent's is recreated by the parent's `CREATE TRIGGER`
//!   (and the `ATTACH PARTITION`), so it is only claimed, unless its firing state differs from
//!   its parent's: then it gets an entry holding just the `ALTER TABLE`, ordered after every
//!   ancestor's own `ALTER TABLE` (which recurses to partitions).
//!
//! How a partition's trigger finds its parent differs by version: `tgparentid` from
//! PostgreSQL 13, a trigger-to-trigger `pg_depend` row in 12. Before 15 such triggers are also
//! marked internal.

use std::collections::HashMap;

use super::{
    Cx, Entry, Kind, ObjKey, OnTable, USER_SCHEMA, catalog, not_extension_member, on_table_columns,
};
use crate::pg::connect::PgError;

/// Collects triggers.
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    let parent = if cx.version >= 130000 {
        "NULLIF(x.tgparentid, 0::pg_catalog.oid)".to_string()
    } else {
        format!(
            "(SELECT d.refobjid FROM pg_catalog.pg_depend d WHERE d.classid = {trigger} \
               AND d.objid = x.oid AND d.refclassid = {trigger} LIMIT 1)",
            trigger = catalog::TRIGGER
        )
    };
    let sql = format!(
        "SELECT {}, pg_catalog.pg_get_triggerdef(x.oid, false), x.tgenabled::text, x.tgfoid, \
                x.tgconstraint, p.parent, c.relkind::text, \
                ARRAY(SELECT d.refobjid FROM pg_catalog.pg_depend d \
                       WHERE d.classid = {trigger} AND d.objid = x.oid \
                         AND d.refclassid = {extension} AND d.deptype = 'x' \
                       ORDER BY d.refobjid), \
                ARRAY(SELECT pg_catalog.quote_ident(e.extname) FROM pg_catalog.pg_depend d \
                       JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid \
                       WHERE d.classid = {trigger} AND d.objid = x.oid \
                         AND d.refclassid = {extension} AND d.deptype = 'x' \
                       ORDER BY d.refobjid), \
                pg_catalog.obj_description(x.oid, 'pg_trigger') \
         FROM pg_catalog.pg_trigger x \
         JOIN pg_catalog.pg_class c ON c.oid = x.tgrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN LATERAL (SELECT {parent} AS parent) p \
         WHERE (NOT x.tgisinternal OR p.parent IS NOT NULL) \
           AND (x.tgconstraint = 0 OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k \
                 WHERE k.oid = x.tgconstraint AND k.contype = 't')) \
           AND {USER_SCHEMA} AND {} \
         ORDER BY n.nspname, c.relname, x.tgname",
        on_table_columns("tgname"),
        not_extension_member(catalog::CLASS, "c.oid"),
        trigger = catalog::TRIGGER,
        extension = catalog::EXTENSION,
    );
    let rows = cx.query("triggers", &sql, &[]).await?;
    let triggers: Vec<Trigger> = rows.iter().map(Trigger::from_row).collect();

    // Whether a trigger has SQL of its own: a partition's trigger only when its state differs
    // from its parent's.
    let by_oid: HashMap<u32, &Trigger> = triggers.iter().map(|t| (t.on.oid, t)).collect();
    let own_sql = |t: &Trigger| match t.parent {
        None => true,
        Some(parent) => by_oid.get(&parent).is_some_and(|p| p.enabled != t.enabled),
    };

    let mut entries = Vec::new();
    for trigger in &triggers {
        let on = &trigger.on;
        let mut entry = Entry::new(
            ObjKey::new(catalog::TRIGGER, on.oid),
            Kind::Trigger,
            "TRIGGER",
            format!("{} {}", on.table, on.name),
            "",
        );
        entry.namespace = Some(on.namespace.clone());
        if trigger.constraint != 0 {
            entry
                .claims
                .push(ObjKey::new(catalog::CONSTRAINT, trigger.constraint));
        }
        entry.deps = vec![on.table_key, ObjKey::new(catalog::PROC, trigger.function)];
        let alter_state = |keyword: &str| {
            let table = if trigger.relkind == "f" {
                "FOREIGN TABLE"
            } else {
                "TABLE"
            };
            format!(
                "\nALTER {table} {} {keyword} TRIGGER {};\n",
                on.qualified, on.quoted
            )
        };

        if trigger.parent.is_some() {
            // Created by the parent's trigger; ordered after every ancestor that has SQL of its
            // own (an ancestor's ALTER TABLE ... TRIGGER recurses down to this partition).
            let mut ancestor = trigger.parent.and_then(|oid| by_oid.get(&oid));
            // The bound only guards against a cycle in a corrupt catalog.
            for _ in 0..by_oid.len() {
                let Some(up) = ancestor else { break };
                if own_sql(up) {
                    entry.deps.push(ObjKey::new(catalog::TRIGGER, up.on.oid));
                }
                ancestor = up.parent.and_then(|oid| by_oid.get(&oid));
            }
            if own_sql(trigger) {
                entry.defn = alter_state(state_keyword(&trigger.enabled));
                entry.comment(
                    trigger.comment.clone(),
                    format!("TRIGGER {} ON {}", on.name, on.table),
                    &format!("TRIGGER {} ON {}", on.quoted, on.qualified),
                );
            }
            entries.push(entry);
            continue;
        }

        let mut defn = format!("{};\n", trigger.definition);
        if !trigger.extension_names.is_empty() {
            for extension in &trigger.extension_names {
                defn.push_str(&format!(
                    "\nALTER TRIGGER {} ON {} DEPENDS ON EXTENSION {extension};",
                    on.quoted, on.qualified
                ));
            }
            defn.push('\n');
        }
        if !matches!(trigger.enabled.as_str(), "O" | "t") {
            defn.push_str(&alter_state(state_keyword(&trigger.enabled)));
        }
        entry.defn = defn;
        entry.drop_stmt = Some(format!("DROP TRIGGER {} ON {};\n", on.quoted, on.qualified));
        entry.deps.extend(
            trigger
                .extensions
                .iter()
                .map(|oid| ObjKey::new(catalog::EXTENSION, *oid)),
        );
        entry.comment(
            trigger.comment.clone(),
            format!("TRIGGER {} ON {}", on.name, on.table),
            &format!("TRIGGER {} ON {}", on.quoted, on.qualified),
        );
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
    constraint: u32,
    parent: Option<u32>,
    relkind: String,
    extensions: Vec<u32>,
    extension_names: Vec<String>,
    comment: Option<String>,
}

impl Trigger {
    fn from_row(row: &tokio_postgres::Row) -> Trigger {
        Trigger {
            on: OnTable::from_row(row),
            definition: row.get(7),
            enabled: row.get(8),
            function: row.get(9),
            constraint: row.get(10),
            parent: row.get(11),
            relkind: row.get(12),
            extensions: row.get(13),
            extension_names: row.get(14),
            comment: row.get(15),
        }
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
