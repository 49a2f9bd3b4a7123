//! Publications, as pg_dump's `dumpPublication`, `dumpPublicationTable` and
//! `dumpPublicationNamespace` write them (post-data).
//!
//! `CREATE PUBLICATION` carries only `FOR ALL TABLES` and the options: the publish list
//! (always written, even empty), `publish_via_partition_root = true` and, from 18,
//! `publish_generated_columns = stored`. Each published table is its own PUBLICATION TABLE
//! entry (`ALTER PUBLICATION ... ADD TABLE ONLY t [(columns)] [WHERE (filter)]`, column lists
//! and row filters from 15), tagged `<publication> <table>` in the table's schema; each
//! published schema (15+) a PUBLICATION TABLES IN SCHEMA entry tagged `<publication> <schema>`.
//! Neither has a DROP: dropping the table or schema drops the membership.

use super::{CatalogSession, Entry, Kind, ObjKey, USER_SCHEMA, row_not_extension_member};
use crate::pg::connect::PgError;

/// Collects publications and their tables and schemas.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let mut entries = publications(cx).await?;
    entries.extend(tables(cx).await?);
    if cx.major() >= 15 {
        entries.extend(schemas(cx).await?);
    }
    Ok(entries)
}

async fn publications(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let generated = if cx.major() >= 18 {
        "p.pubgencols::text"
    } else {
        "'n'"
    };
    let sql = format!(
        "SELECT p.tableoid, p.oid, p.pubname, pg_catalog.quote_ident(p.pubname) AS quoted, \
                p.puballtables, p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate, \
                p.pubviaroot, {generated} AS pubgencols, \
                pg_catalog.obj_description(p.oid, 'pg_publication') AS description \
         FROM pg_catalog.pg_publication p WHERE {} ORDER BY p.pubname",
        row_not_extension_member("p")
    );
    let mut entries = Vec::new();
    for row in cx.query("publications", &sql, &[]).await? {
        let quoted: String = row.get("quoted");
        let mut defn = format!("CREATE PUBLICATION {quoted}");
        if row.get::<_, bool>("puballtables") {
            defn.push_str(" FOR ALL TABLES");
        }
        let publish: Vec<&str> = [
            ("pubinsert", "insert"),
            ("pubupdate", "update"),
            ("pubdelete", "delete"),
            ("pubtruncate", "truncate"),
        ]
        .into_iter()
        .filter(|(column, _)| row.get::<_, bool>(*column))
        .map(|(_, action)| action)
        .collect();
        defn.push_str(&format!(" WITH (publish = '{}'", publish.join(", ")));
        if row.get::<_, bool>("pubviaroot") {
            defn.push_str(", publish_via_partition_root = true");
        }
        if row.get::<_, String>("pubgencols") == "s" {
            defn.push_str(", publish_generated_columns = stored");
        }
        defn.push_str(");\n");
        let mut entry = Entry::new(
            ObjKey::new(row.get("tableoid"), row.get("oid")),
            Kind::Publication,
            "PUBLICATION",
            row.get::<_, String>("pubname"),
            defn,
        );
        entry.drop_stmt = Some(format!("DROP PUBLICATION {quoted};\n"));
        entry.comment(
            row.get("description"),
            format!("PUBLICATION {quoted}"),
            &format!("PUBLICATION {quoted}"),
        );
        entries.push(entry);
    }
    Ok(entries)
}

/// Published tables of user schemas.
async fn tables(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let (filter, columns) = if cx.major() >= 15 {
        (
            "pg_catalog.pg_get_expr(r.prqual, r.prrelid)",
            "(SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.i) \
                FROM pg_catalog.unnest(r.prattrs::pg_catalog.int2[]) WITH ORDINALITY AS k(attnum, i) \
                JOIN pg_catalog.pg_attribute a ON a.attrelid = r.prrelid AND a.attnum = k.attnum)",
        )
    } else {
        ("NULL::text", "NULL::text")
    };
    let sql = format!(
        "SELECT r.tableoid, r.oid, r.prpubid, r.prrelid, p.pubname, \
                pg_catalog.quote_ident(p.pubname) AS quoted_publication, \
                n.nspname, c.relname, pg_catalog.format('%I.%I', n.nspname, c.relname) AS qualified, \
                {filter} AS filter, {columns} AS columns \
         FROM pg_catalog.pg_publication_rel r \
         JOIN pg_catalog.pg_publication p ON p.oid = r.prpubid \
         JOIN pg_catalog.pg_class c ON c.oid = r.prrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE {USER_SCHEMA} AND {} \
         ORDER BY p.pubname, n.nspname, c.relname",
        row_not_extension_member("p")
    );
    let mut entries = Vec::new();
    for row in cx.query("published tables", &sql, &[]).await? {
        let mut defn = format!(
            "ALTER PUBLICATION {} ADD TABLE ONLY {}",
            row.get::<_, String>("quoted_publication"),
            row.get::<_, String>("qualified")
        );
        if let Some(columns) = row.get::<_, Option<String>>("columns") {
            defn.push_str(&format!(" ({columns})"));
        }
        if let Some(filter) = row.get::<_, Option<String>>("filter") {
            // pg_get_expr leaves a bare constant like `true` unparenthesised
            defn.push_str(&format!(" WHERE ({filter})"));
        }
        defn.push_str(";\n");
        let mut entry = Entry::new(
            ObjKey::new(row.get("tableoid"), row.get("oid")),
            Kind::PublicationTable,
            "PUBLICATION TABLE",
            format!(
                "{} {}",
                row.get::<_, String>("pubname"),
                row.get::<_, String>("relname")
            ),
            defn,
        );
        entry.namespace = Some(row.get("nspname"));
        entries.push(entry);
    }
    Ok(entries)
}

/// Published schemas (PostgreSQL 15+).
async fn schemas(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT s.tableoid, s.oid, p.pubname, pg_catalog.quote_ident(p.pubname) AS quoted_publication, \
                n.nspname, pg_catalog.quote_ident(n.nspname) AS quoted_schema \
         FROM pg_catalog.pg_publication_namespace s \
         JOIN pg_catalog.pg_publication p ON p.oid = s.pnpubid \
         JOIN pg_catalog.pg_namespace n ON n.oid = s.pnnspid \
         WHERE {USER_SCHEMA} AND {} ORDER BY p.pubname, n.nspname",
        row_not_extension_member("p")
    );
    let mut entries = Vec::new();
    for row in cx.query("published schemas", &sql, &[]).await? {
        let schema: String = row.get("nspname");
        let mut entry = Entry::new(
            ObjKey::new(row.get("tableoid"), row.get("oid")),
            Kind::PublicationTablesInSchema,
            "PUBLICATION TABLES IN SCHEMA",
            format!("{} {schema}", row.get::<_, String>("pubname")),
            format!(
                "ALTER PUBLICATION {} ADD TABLES IN SCHEMA {};\n",
                row.get::<_, String>("quoted_publication"),
                row.get::<_, String>("quoted_schema")
            ),
        );
        entry.namespace = Some(schema);
        entries.push(entry);
    }
    Ok(entries)
}
