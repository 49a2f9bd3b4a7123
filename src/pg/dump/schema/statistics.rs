//! Extended statistics (`CREATE STATISTICS`), deparsed by `pg_get_statisticsobjdef`, with a
//! statistics target set by `ALTER STATISTICS ... SET STATISTICS` carried over.
//!
//! `stxstattarget` exists from PostgreSQL 13; until 16 the default is -1, from 17 it is NULL.

use super::{Cx, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member};
use crate::pg::connect::PgError;

/// Collects extended statistics objects.
pub async fn collect(cx: &Cx<'_>) -> Result<Vec<Entry>, PgError> {
    let target = if cx.version >= 130000 {
        "CASE WHEN s.stxstattarget >= 0 THEN s.stxstattarget::int END"
    } else {
        "NULL::int"
    };
    let sql = format!(
        "SELECT s.oid, n.nspname, s.stxname, pg_catalog.format('%I.%I', n.nspname, s.stxname), \
                pg_catalog.pg_get_statisticsobjdef(s.oid), {target}, s.stxrelid, \
                pg_catalog.obj_description(s.oid, 'pg_statistic_ext') \
         FROM pg_catalog.pg_statistic_ext s JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace \
         WHERE {USER_SCHEMA} AND {} ORDER BY n.nspname, s.stxname",
        not_extension_member(catalog::STATISTIC_EXT, "s.oid")
    );
    let mut entries = Vec::new();
    for row in cx.query("extended statistics", &sql, &[]).await? {
        let name: String = row.get(2);
        let qualified: String = row.get(3);
        let mut defn = format!("{};\n", row.get::<_, String>(4));
        if let Some(target) = row.get::<_, Option<i32>>(5) {
            defn.push_str(&format!(
                "ALTER STATISTICS {qualified} SET STATISTICS {target};\n"
            ));
        }
        let mut entry = Entry::new(
            ObjKey::new(catalog::STATISTIC_EXT, row.get(0)),
            Kind::Statistics,
            "STATISTICS",
            &name,
            defn,
        );
        entry.namespace = Some(row.get(1));
        entry.drop_stmt = Some(format!("DROP STATISTICS {qualified};\n"));
        entry.deps.push(ObjKey::new(catalog::CLASS, row.get(6)));
        entry.comment(
            row.get::<_, Option<String>>(7),
            format!("STATISTICS {name}"),
            &format!("STATISTICS {qualified}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}
