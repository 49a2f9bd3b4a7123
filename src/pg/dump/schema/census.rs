//! The census: every user object in the database, so that nothing is silently left out.
//!
//! It lists objects from every catalog that can hold application objects (relations, types,
//! functions, constraints (NOT NULL ones too, on 18), triggers, rules, policies, statistics,
//! collations, operators, text search, foreign data, publications, large objects, event
//! triggers, casts, languages, ...), skipping system schemas and objects that exist implicitly
//! (array types, relation row types, TOAST tables, internal triggers, and anything with an
//! internal dependency on another object, such as a range type's constructor functions: the
//! owner is checked instead). Extension members are skipped, and so is everything that belongs
//! to one (depends on it automatically or internally, however indirectly): the constraints of
//! an extension's domain or table, its tables' indexes and triggers. The dump compares this
//! list with what the collectors claimed; any object left over is of a kind fullsite cannot
//! dump yet, and the dump fails naming it via `pg_describe_object`.

use std::collections::HashSet;

use super::{CatalogSession, ObjKey, USER_SCHEMA};
use crate::pg::connect::PgError;

/// One user object: its identity and a human description (`table public.posts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CensusItem {
    /// Identity.
    pub key: ObjKey,
    /// `pg_describe_object` text.
    pub description: String,
}

/// `(catalog, oid column, namespace column or None, extra condition)` for each catalog.
const CATALOGS: &[(&str, &str, Option<&str>, &str)] = &[
    (
        "pg_class",
        "oid",
        Some("relnamespace"),
        "relkind NOT IN ('t')",
    ),
    (
        "pg_type",
        "oid",
        Some("typnamespace"),
        // array types and the row types of tables, views and sequences exist implicitly
        "NOT (typelem <> 0 AND typlen = -1) AND NOT (typrelid <> 0 AND \
         (SELECT r.relkind FROM pg_catalog.pg_class r WHERE r.oid = typrelid) <> 'c')",
    ),
    ("pg_proc", "oid", Some("pronamespace"), "true"),
    ("pg_constraint", "oid", Some("connamespace"), "true"),
    ("pg_collation", "oid", Some("collnamespace"), "true"),
    ("pg_conversion", "oid", Some("connamespace"), "true"),
    ("pg_operator", "oid", Some("oprnamespace"), "true"),
    ("pg_opclass", "oid", Some("opcnamespace"), "true"),
    ("pg_opfamily", "oid", Some("opfnamespace"), "true"),
    ("pg_statistic_ext", "oid", Some("stxnamespace"), "true"),
    ("pg_ts_config", "oid", Some("cfgnamespace"), "true"),
    ("pg_ts_dict", "oid", Some("dictnamespace"), "true"),
    ("pg_ts_parser", "oid", Some("prsnamespace"), "true"),
    ("pg_ts_template", "oid", Some("tmplnamespace"), "true"),
    ("pg_extension", "oid", None, "extname <> 'plpgsql'"),
    ("pg_namespace", "oid", None, "true"),
    ("pg_event_trigger", "oid", None, "true"),
    ("pg_foreign_data_wrapper", "oid", None, "true"),
    ("pg_foreign_server", "oid", None, "true"),
    ("pg_publication", "oid", None, "true"),
    ("pg_largeobject_metadata", "oid", None, "true"),
    ("pg_language", "oid", None, "oid >= 16384"),
    ("pg_cast", "oid", None, "oid >= 16384"),
    ("pg_transform", "oid", None, "true"),
    ("pg_am", "oid", None, "oid >= 16384"),
];

/// Lists every user object.
pub async fn take(cx: &CatalogSession<'_>) -> Result<Vec<CensusItem>, PgError> {
    let mut selects = Vec::new();
    for (catalog, oid, namespace, condition) in CATALOGS {
        let from = match namespace {
            Some(column) => format!(
                "pg_catalog.{catalog} x JOIN pg_catalog.pg_namespace n ON n.oid = x.{column} \
                 WHERE {USER_SCHEMA} AND"
            ),
            None if *catalog == "pg_namespace" => {
                format!(
                    "pg_catalog.{catalog} x JOIN pg_catalog.pg_namespace n ON n.oid = x.oid WHERE {USER_SCHEMA} AND"
                )
            }
            None => format!("pg_catalog.{catalog} x WHERE"),
        };
        // large objects are identified through pg_largeobject (as pg_describe_object wants)
        let classid = match *catalog {
            "pg_largeobject_metadata" => "pg_largeobject",
            other => other,
        };
        selects.push(format!(
            "SELECT 'pg_catalog.{classid}'::pg_catalog.regclass::oid AS classid, x.{oid} AS objid \
             FROM {from} ({condition})"
        ));
    }
    selects.push(
        "SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass::oid, x.oid \
         FROM pg_catalog.pg_trigger x JOIN pg_catalog.pg_class c ON c.oid = x.tgrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT x.tgisinternal AND "
            .to_string()
            + USER_SCHEMA,
    );
    selects.push(
        "SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass::oid, x.oid \
         FROM pg_catalog.pg_rewrite x JOIN pg_catalog.pg_class c ON c.oid = x.ev_class \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE "
            .to_string()
            + USER_SCHEMA,
    );
    selects.push(
        "SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass::oid, x.oid \
         FROM pg_catalog.pg_policy x JOIN pg_catalog.pg_class c ON c.oid = x.polrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE "
            .to_string()
            + USER_SCHEMA,
    );
    let sql = format!(
        "WITH RECURSIVE extension_owned(classid, objid) AS ( \
             SELECT e.classid, e.objid FROM pg_catalog.pg_depend e WHERE e.deptype = 'e' \
             UNION \
             SELECT d.classid, d.objid FROM pg_catalog.pg_depend d \
             JOIN extension_owned o ON d.refclassid = o.classid AND d.refobjid = o.objid \
             WHERE d.deptype IN ('a', 'i')) \
         SELECT o.classid AS classid, o.objid AS objid, \
                pg_catalog.pg_describe_object(o.classid, o.objid, 0) AS description \
         FROM ({}) o \
         WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend i WHERE i.classid = o.classid \
                             AND i.objid = o.objid AND i.deptype = 'i') \
           AND NOT EXISTS (SELECT 1 FROM extension_owned e WHERE e.classid = o.classid \
                             AND e.objid = o.objid) \
         ORDER BY 3",
        selects.join(" UNION ALL ")
    );
    let rows = cx.query("the list of user objects", &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| CensusItem {
            key: ObjKey::new(row.get("classid"), row.get("objid")),
            description: row.get("description"),
        })
        .collect())
}

/// The census items nobody claimed.
pub fn unclaimed<'a>(census: &'a [CensusItem], claimed: &HashSet<ObjKey>) -> Vec<&'a CensusItem> {
    census
        .iter()
        .filter(|item| !claimed.contains(&item.key))
        .collect()
}
