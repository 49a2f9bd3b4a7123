//! Triggers, including constraint triggers (whose `pg_constraint` row they claim), deparsed by
//! `pg_get_triggerdef`. Internal triggers (those implementing foreign keys) are never dumped, nor
//! are triggers a partition inherited from its parent's (the parent's trigger recreates them).
//! A disabled trigger, or one set to fire always or on replicas only, gets its ALTER TABLE.

use super::{
    Cx, Entry, Kind, ObjKey, OnTable, USER_SCHEMA, catalog, not_extension_member, on_table_columns,
};
use crate::pg::connect::PgError;

/// Collects triggers.
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    let inherited = if cx.version >= 130000 {
        "x.tgparentid <> 0"
    } else {
        "false"
    };
    let sql = format!(
        "SELECT {}, pg_catalog.pg_get_triggerdef(x.oid, false), x.tgenabled::text, x.tgfoid, \
                x.tgconstraint, {inherited}, pg_catalog.obj_description(x.oid, 'pg_trigger') \
         FROM pg_catalog.pg_trigger x \
         JOIN pg_catalog.pg_class c ON c.oid = x.tgrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT x.tgisinternal AND {USER_SCHEMA} AND {} \
         ORDER BY n.nspname, c.relname, x.tgname",
        on_table_columns("tgname"),
        not_extension_member(catalog::CLASS, "c.oid")
    );
    let mut entries = Vec::new();
    for row in cx.query("triggers", &sql, &[]).await? {
        let OnTable {
            oid,
            namespace,
            table,
            qualified,
            table_key,
            name,
            quoted,
        } = OnTable::from_row(&row);
        let definition: String = row.get(7);
        let enabled: String = row.get(8);
        let function = ObjKey::new(catalog::PROC, row.get(9));
        let constraint: u32 = row.get(10);
        let inherited: bool = row.get(11);
        let mut entry = Entry::new(
            ObjKey::new(catalog::TRIGGER, oid),
            Kind::Trigger,
            "TRIGGER",
            format!("{table} {name}"),
            "",
        );
        entry.namespace = Some(namespace);
        if constraint != 0 {
            entry
                .claims
                .push(ObjKey::new(catalog::CONSTRAINT, constraint));
        }
        if inherited {
            entries.push(entry);
            continue;
        }
        let mut defn = format!("{definition};\n");
        let state = match enabled.as_str() {
            "D" => Some("DISABLE TRIGGER"),
            "A" => Some("ENABLE ALWAYS TRIGGER"),
            "R" => Some("ENABLE REPLICA TRIGGER"),
            _ => None,
        };
        if let Some(state) = state {
            defn.push_str(&format!("ALTER TABLE {qualified} {state} {quoted};\n"));
        }
        entry.defn = defn;
        entry.drop_stmt = Some(format!("DROP TRIGGER {quoted} ON {qualified};\n"));
        entry.deps = vec![table_key, function];
        entry.comment(
            row.get(12),
            format!("TRIGGER {name} ON {table}"),
            &format!("TRIGGER {quoted} ON {qualified}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}
