//! Foreign-data wrappers, foreign servers and user mappings, as pg_dump's
//! `dumpForeignDataWrapper`, `dumpForeignServer` and `dumpUserMappings` write them.
//!
//! Wrappers and servers live outside schemas. Options are written one per line, sorted by
//! name, each as `quote_ident(name) quote_literal(value)`. User mappings are read from the
//! `pg_user_mappings` view (as pg_dump does) and dumped right after their server; PUBLIC's
//! mapping is tagged and written with the name `public`. (Foreign tables are relations and
//! belong with the tables.)

use super::{CatalogSession, Entry, Kind, ObjKey, row_not_extension_member};
use crate::pg::connect::PgError;

/// Collects foreign-data wrappers, servers and user mappings.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let mut entries = wrappers(cx).await?;
    entries.extend(servers(cx).await?);
    entries.extend(user_mappings(cx).await?);
    Ok(entries)
}

/// SQL for the options of column `column`: `name 'value'` pairs sorted by name, one per line.
fn options(column: &str) -> String {
    format!(
        "pg_catalog.array_to_string(ARRAY(\
             SELECT pg_catalog.quote_ident(option_name) || ' ' || pg_catalog.quote_literal(option_value) \
             FROM pg_catalog.pg_options_to_table({column}) ORDER BY option_name), E',\\n    ')"
    )
}

/// ` OPTIONS (\n    ...\n)` when there are options.
fn options_clause(options: &str) -> String {
    if options.is_empty() {
        String::new()
    } else {
        format!(" OPTIONS (\n    {options}\n)")
    }
}

async fn wrappers(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT w.tableoid, w.oid, w.fdwname, pg_catalog.quote_ident(w.fdwname) AS quoted, \
                CASE WHEN w.fdwhandler <> 0 THEN w.fdwhandler::pg_catalog.regproc::text END AS handler, \
                CASE WHEN w.fdwvalidator <> 0 THEN w.fdwvalidator::pg_catalog.regproc::text END AS validator, \
                {} AS options, \
                pg_catalog.obj_description(w.oid, 'pg_foreign_data_wrapper') AS description \
         FROM pg_catalog.pg_foreign_data_wrapper w WHERE {} ORDER BY w.fdwname",
        options("w.fdwoptions"),
        row_not_extension_member("w")
    );
    let mut entries = Vec::new();
    for row in cx.query("foreign-data wrappers", &sql, &[]).await? {
        let quoted: String = row.get("quoted");
        let mut defn = format!("CREATE FOREIGN DATA WRAPPER {quoted}");
        if let Some(handler) = row.get::<_, Option<String>>("handler") {
            defn.push_str(&format!(" HANDLER {handler}"));
        }
        if let Some(validator) = row.get::<_, Option<String>>("validator") {
            defn.push_str(&format!(" VALIDATOR {validator}"));
        }
        defn.push_str(&options_clause(row.get("options")));
        defn.push_str(";\n");
        let mut entry = Entry::new(
            ObjKey::new(row.get("tableoid"), row.get("oid")),
            Kind::ForeignDataWrapper,
            "FOREIGN DATA WRAPPER",
            row.get::<_, String>("fdwname"),
            defn,
        );
        entry.drop_stmt = Some(format!("DROP FOREIGN DATA WRAPPER {quoted};\n"));
        entry.comment(
            row.get("description"),
            format!("FOREIGN DATA WRAPPER {quoted}"),
            &format!("FOREIGN DATA WRAPPER {quoted}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}

async fn servers(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT s.tableoid, s.oid, s.srvname, pg_catalog.quote_ident(s.srvname) AS quoted, \
                pg_catalog.quote_ident(w.fdwname) AS wrapper, s.srvtype, s.srvversion, \
                {} AS options, \
                pg_catalog.obj_description(s.oid, 'pg_foreign_server') AS description \
         FROM pg_catalog.pg_foreign_server s \
         JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw \
         WHERE {} ORDER BY s.srvname",
        options("s.srvoptions"),
        row_not_extension_member("s")
    );
    let mut entries = Vec::new();
    for row in cx.query("foreign servers", &sql, &[]).await? {
        let quoted: String = row.get("quoted");
        let mut defn = format!("CREATE SERVER {quoted}");
        for (clause, column) in [("TYPE", "srvtype"), ("VERSION", "srvversion")] {
            if let Some(value) = row
                .get::<_, Option<String>>(column)
                .filter(|v| !v.is_empty())
            {
                defn.push_str(&format!(" {clause} {}", crate::pg::quote::literal(&value)));
            }
        }
        defn.push_str(&format!(
            " FOREIGN DATA WRAPPER {}",
            row.get::<_, String>("wrapper")
        ));
        defn.push_str(&options_clause(row.get("options")));
        defn.push_str(";\n");
        let mut entry = Entry::new(
            ObjKey::new(row.get("tableoid"), row.get("oid")),
            Kind::ForeignServer,
            "SERVER",
            row.get::<_, String>("srvname"),
            defn,
        );
        entry.drop_stmt = Some(format!("DROP SERVER {quoted};\n"));
        entry.comment(
            row.get("description"),
            format!("SERVER {quoted}"),
            &format!("SERVER {quoted}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}

async fn user_mappings(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT 'pg_catalog.pg_user_mapping'::pg_catalog.regclass::oid AS tableoid, \
                u.umid, u.usename, pg_catalog.quote_ident(u.usename) AS quoted_user, \
                u.srvname, pg_catalog.quote_ident(u.srvname) AS quoted_server, \
                {} AS options \
         FROM pg_catalog.pg_user_mappings u \
         JOIN pg_catalog.pg_foreign_server s ON s.oid = u.srvid \
         WHERE {} ORDER BY u.srvname, u.usename",
        options("u.umoptions"),
        row_not_extension_member("s")
    );
    let mut entries = Vec::new();
    for row in cx.query("user mappings", &sql, &[]).await? {
        let user: String = row.get("quoted_user");
        let server: String = row.get("quoted_server");
        let mut defn = format!("CREATE USER MAPPING FOR {user} SERVER {server}");
        defn.push_str(&options_clause(row.get("options")));
        defn.push_str(";\n");
        let mut entry = Entry::new(
            ObjKey::new(row.get("tableoid"), row.get("umid")),
            Kind::ForeignServer,
            "USER MAPPING",
            format!(
                "USER MAPPING {} SERVER {}",
                row.get::<_, String>("usename"),
                row.get::<_, String>("srvname")
            ),
            defn,
        );
        entry.drop_stmt = Some(format!("DROP USER MAPPING FOR {user} SERVER {server};\n"));
        entries.push(entry);
    }
    Ok(entries)
}
