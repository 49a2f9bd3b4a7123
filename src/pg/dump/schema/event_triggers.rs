//! Event triggers, as pg_dump's `dumpEventTrigger` writes them: `CREATE EVENT TRIGGER ... ON
//! event [WHEN TAG IN (...)] EXECUTE FUNCTION f();`, then `ALTER EVENT TRIGGER ...
//! DISABLE | ENABLE ALWAYS | ENABLE REPLICA` unless the trigger is plainly enabled. pg_restore
//! runs them after everything else, so no trigger fires during the restore.

use super::{CatalogSession, Entry, Kind, ObjKey, row_not_extension_member};
use crate::pg::connect::PgError;

/// Collects event triggers.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT e.tableoid, e.oid, e.evtname, pg_catalog.quote_ident(e.evtname) AS quoted, \
                pg_catalog.quote_ident(e.evtevent) AS event, e.evtenabled::text AS enabled, \
                pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.quote_literal(t) \
                                                 FROM pg_catalog.unnest(e.evttags) AS t), ', ') AS tags, \
                e.evtfoid::pg_catalog.regproc::text AS function, e.evtfoid, \
                pg_catalog.obj_description(e.oid, 'pg_event_trigger') AS description \
         FROM pg_catalog.pg_event_trigger e WHERE {} ORDER BY e.evtname",
        row_not_extension_member("e")
    );
    let mut entries = Vec::new();
    for row in cx.query("event triggers", &sql, &[]).await? {
        let quoted: String = row.get("quoted");
        let mut defn = format!(
            "CREATE EVENT TRIGGER {quoted} ON {}",
            row.get::<_, String>("event")
        );
        let tags: String = row.get("tags");
        if !tags.is_empty() {
            defn.push_str(&format!("\n         WHEN TAG IN ({tags})"));
        }
        defn.push_str(&format!(
            "\n   EXECUTE FUNCTION {}();\n",
            row.get::<_, String>("function")
        ));
        let state = match row.get::<_, String>("enabled").as_str() {
            "O" => None,
            "D" => Some("DISABLE"),
            "A" => Some("ENABLE ALWAYS"),
            "R" => Some("ENABLE REPLICA"),
            _ => Some("ENABLE"),
        };
        if let Some(state) = state {
            defn.push_str(&format!("\nALTER EVENT TRIGGER {quoted} {state};\n"));
        }
        let mut entry = Entry::new(
            ObjKey::new(row.get("tableoid"), row.get("oid")),
            Kind::EventTrigger,
            "EVENT TRIGGER",
            row.get::<_, String>("evtname"),
            defn,
        );
        entry.drop_stmt = Some(format!("DROP EVENT TRIGGER {quoted};\n"));
        entry
            .deps
            .push(ObjKey::new(super::catalog::PROC, row.get("evtfoid")));
        entry.comment(
            row.get("description"),
            format!("EVENT TRIGGER {quoted}"),
            &format!("EVENT TRIGGER {quoted}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}
