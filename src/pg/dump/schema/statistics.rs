//! Extended statistics, as pg_dump's getExtendedStatistics / dumpStatisticsExt write them:
//! `pg_get_statisticsobjdef`'s `CREATE STATISTICS`, then `ALTER STATISTICS ... SET STATISTICS`
//! when the statistics target is not the default (-1 until PostgreSQL 16, NULL from 17).

use super::{CatalogSession, Entry, Kind, ObjKey, USER_SCHEMA, catalog, not_extension_member};
use crate::pg::connect::PgError;

/// Collects extended statistics objects.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT s.oid AS oid, n.nspname AS schema, s.stxname AS name, \
                pg_catalog.quote_ident(s.stxname) AS quoted, \
                pg_catalog.format('%I.%I', n.nspname, s.stxname) AS qualified, \
                pg_catalog.pg_get_statisticsobjdef(s.oid) AS definition, \
                s.stxstattarget::int AS target, s.stxrelid AS table_oid, \
                pg_catalog.obj_description(s.oid, 'pg_statistic_ext') AS comment \
         FROM pg_catalog.pg_statistic_ext s \
         JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace \
         WHERE {USER_SCHEMA} AND {member} ORDER BY n.nspname, s.stxname",
        member = not_extension_member(catalog::STATISTIC_EXT, "s.oid")
    );
    let mut entries = Vec::new();
    for row in cx.query("extended statistics", &sql, &[]).await? {
        let name: String = row.get("name");
        let quoted: String = row.get("quoted");
        let qualified: String = row.get("qualified");
        let mut defn = format!("{};\n", row.get::<_, String>("definition"));
        if let Some(target) = row.get::<_, Option<i32>>("target").filter(|t| *t >= 0) {
            defn.push_str(&format!(
                "ALTER STATISTICS {qualified} SET STATISTICS {target};\n"
            ));
        }
        let mut entry = Entry::new(
            ObjKey::new(catalog::STATISTIC_EXT, row.get("oid")),
            Kind::Statistics,
            "STATISTICS",
            &name,
            defn,
        );
        entry.namespace = Some(row.get("schema"));
        entry.drop_stmt = Some(format!("DROP STATISTICS {qualified};\n"));
        entry
            .deps
            .push(ObjKey::new(catalog::CLASS, row.get("table_oid")));
        entry.comment(
            row.get("comment"),
            format!("STATISTICS {quoted}"),
            &format!("STATISTICS {qualified}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}
