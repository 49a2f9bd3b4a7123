//! Text search parsers, templates, dictionaries and configurations, as pg_dump's
//! `dumpTSParser`, `dumpTSTemplate`, `dumpTSDictionary` and `dumpTSConfig` write them.
//!
//! Parser and template functions are named through `regproc` (qualified unless in pg_catalog,
//! under the dump's empty search_path); a dictionary's template and a configuration's parser
//! always with their schema. A dictionary's options are carried as the catalog stores them
//! (`dictinitoption`, already SQL). A configuration is created with its parser alone, then one
//! `ALTER ... ADD MAPPING` per token type lists its dictionaries in order. Parsers and templates
//! have no owner in pg_dump's entries; dictionaries and configurations have one.

use std::collections::HashMap;

use super::{CatalogSession, Entry, Kind, ObjKey, USER_SCHEMA, row_not_extension_member};
use crate::pg::connect::PgError;

/// Collects text search parsers, templates, dictionaries and configurations.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let mut entries = parsers(cx).await?;
    entries.extend(templates(cx).await?);
    entries.extend(dictionaries(cx).await?);
    entries.extend(configurations(cx).await?);
    Ok(entries)
}

/// The columns and joins shared by the four catalogs: `x` is the object, `n` its schema.
fn select(columns: &str, catalog: &str, name: &str, namespace: &str) -> String {
    format!(
        "SELECT x.tableoid, x.oid, n.nspname, x.{name} AS name, \
                pg_catalog.quote_ident(x.{name}) AS quoted, \
                pg_catalog.format('%I.%I', n.nspname, x.{name}) AS qualified, \
                pg_catalog.obj_description(x.oid, '{catalog}') AS description, {columns} \
         FROM pg_catalog.{catalog} x JOIN pg_catalog.pg_namespace n ON n.oid = x.{namespace} \
         WHERE {USER_SCHEMA} AND {} ORDER BY n.nspname, x.{name}",
        row_not_extension_member("x")
    )
}

/// An entry of kind `kind` for one row of [`select`]; `what` is pg_dump's desc, which also
/// starts the DROP and COMMENT statements.
fn entry(row: &tokio_postgres::Row, kind: Kind, what: &'static str, defn: String) -> Entry {
    let qualified: String = row.get("qualified");
    let quoted: String = row.get("quoted");
    let mut entry = Entry::new(
        ObjKey::new(row.get("tableoid"), row.get("oid")),
        kind,
        what,
        row.get::<_, String>("name"),
        defn,
    );
    entry.namespace = Some(row.get("nspname"));
    entry.drop_stmt = Some(format!("DROP {what} {qualified};\n"));
    entry.comment(
        row.get("description"),
        format!("{what} {quoted}"),
        &format!("{what} {qualified}"),
    );
    entry
}

async fn parsers(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = select(
        "x.prsstart::pg_catalog.regproc::text AS start, \
         x.prstoken::pg_catalog.regproc::text AS gettoken, \
         x.prsend::pg_catalog.regproc::text AS finish, \
         CASE WHEN x.prsheadline <> 0 THEN x.prsheadline::pg_catalog.regproc::text END AS headline, \
         x.prslextype::pg_catalog.regproc::text AS lextypes",
        "pg_ts_parser",
        "prsname",
        "prsnamespace",
    );
    let mut entries = Vec::new();
    for row in cx.query("text search parsers", &sql, &[]).await? {
        let mut defn = format!(
            "CREATE TEXT SEARCH PARSER {} (\n    START = {},\n    GETTOKEN = {},\n    END = {},\n",
            row.get::<_, String>("qualified"),
            row.get::<_, String>("start"),
            row.get::<_, String>("gettoken"),
            row.get::<_, String>("finish"),
        );
        if let Some(headline) = row.get::<_, Option<String>>("headline") {
            defn.push_str(&format!("    HEADLINE = {headline},\n"));
        }
        defn.push_str(&format!(
            "    LEXTYPES = {} );\n",
            row.get::<_, String>("lextypes")
        ));
        entries.push(entry(
            &row,
            Kind::TextSearchParser,
            "TEXT SEARCH PARSER",
            defn,
        ));
    }
    Ok(entries)
}

async fn templates(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = select(
        "CASE WHEN x.tmplinit <> 0 THEN x.tmplinit::pg_catalog.regproc::text END AS init, \
         x.tmpllexize::pg_catalog.regproc::text AS lexize",
        "pg_ts_template",
        "tmplname",
        "tmplnamespace",
    );
    let mut entries = Vec::new();
    for row in cx.query("text search templates", &sql, &[]).await? {
        let mut defn = format!(
            "CREATE TEXT SEARCH TEMPLATE {} (\n",
            row.get::<_, String>("qualified")
        );
        if let Some(init) = row.get::<_, Option<String>>("init") {
            defn.push_str(&format!("    INIT = {init},\n"));
        }
        defn.push_str(&format!(
            "    LEXIZE = {} );\n",
            row.get::<_, String>("lexize")
        ));
        entries.push(entry(
            &row,
            Kind::TextSearchTemplate,
            "TEXT SEARCH TEMPLATE",
            defn,
        ));
    }
    Ok(entries)
}

async fn dictionaries(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = select(
        "(SELECT pg_catalog.format('%I.%I', tn.nspname, t.tmplname) \
            FROM pg_catalog.pg_ts_template t \
            JOIN pg_catalog.pg_namespace tn ON tn.oid = t.tmplnamespace \
           WHERE t.oid = x.dicttemplate) AS template, \
         x.dictinitoption",
        "pg_ts_dict",
        "dictname",
        "dictnamespace",
    );
    let mut entries = Vec::new();
    for row in cx.query("text search dictionaries", &sql, &[]).await? {
        let mut defn = format!(
            "CREATE TEXT SEARCH DICTIONARY {} (\n    TEMPLATE = {}",
            row.get::<_, String>("qualified"),
            row.get::<_, String>("template")
        );
        if let Some(options) = row.get::<_, Option<String>>("dictinitoption") {
            defn.push_str(&format!(",\n    {options}"));
        }
        defn.push_str(" );\n");
        entries.push(entry(
            &row,
            Kind::TextSearchDictionary,
            "TEXT SEARCH DICTIONARY",
            defn,
        ));
    }
    Ok(entries)
}

async fn configurations(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let mut mappings = mappings(cx).await?;
    let sql = select(
        "(SELECT pg_catalog.format('%I.%I', pn.nspname, p.prsname) \
            FROM pg_catalog.pg_ts_parser p \
            JOIN pg_catalog.pg_namespace pn ON pn.oid = p.prsnamespace \
           WHERE p.oid = x.cfgparser) AS parser",
        "pg_ts_config",
        "cfgname",
        "cfgnamespace",
    );
    let mut entries = Vec::new();
    for row in cx.query("text search configurations", &sql, &[]).await? {
        let qualified: String = row.get("qualified");
        let mut defn = format!(
            "CREATE TEXT SEARCH CONFIGURATION {qualified} (\n    PARSER = {} );\n",
            row.get::<_, String>("parser")
        );
        let oid: u32 = row.get("oid");
        let mut mappings = mappings.remove(&oid).unwrap_or_default().into_iter();
        if let Some((mut token, dictionary)) = mappings.next() {
            defn.push_str(&format!(
                "\nALTER TEXT SEARCH CONFIGURATION {qualified}\n    ADD MAPPING FOR {token} WITH {dictionary}"
            ));
            for (next, dictionary) in mappings {
                if next == token {
                    defn.push_str(&format!(", {dictionary}"));
                } else {
                    defn.push_str(&format!(
                        ";\n\nALTER TEXT SEARCH CONFIGURATION {qualified}\n    ADD MAPPING FOR {next} WITH {dictionary}"
                    ));
                    token = next;
                }
            }
            defn.push_str(";\n");
        }
        entries.push(entry(
            &row,
            Kind::TextSearchConfiguration,
            "TEXT SEARCH CONFIGURATION",
            defn,
        ));
    }
    Ok(entries)
}

/// Each user configuration's mappings in token type and sequence order: (quoted token alias,
/// dictionary as `regdictionary` prints it).
async fn mappings(cx: &CatalogSession<'_>) -> Result<HashMap<u32, Vec<(String, String)>>, PgError> {
    let sql = format!(
        "SELECT m.mapcfg, \
                pg_catalog.quote_ident((SELECT t.alias FROM pg_catalog.ts_token_type(x.cfgparser) t \
                                         WHERE t.tokid = m.maptokentype)) AS token, \
                m.mapdict::pg_catalog.regdictionary::text AS dictionary \
         FROM pg_catalog.pg_ts_config_map m \
         JOIN pg_catalog.pg_ts_config x ON x.oid = m.mapcfg \
         JOIN pg_catalog.pg_namespace n ON n.oid = x.cfgnamespace \
         WHERE {USER_SCHEMA} AND {} \
         ORDER BY m.mapcfg, m.maptokentype, m.mapseqno",
        row_not_extension_member("x")
    );
    let mut mappings: HashMap<u32, Vec<(String, String)>> = HashMap::new();
    for row in cx
        .query("text search configuration mappings", &sql, &[])
        .await?
    {
        mappings
            .entry(row.get("mapcfg"))
            .or_default()
            .push((row.get("token"), row.get("dictionary")));
    }
    Ok(mappings)
}
