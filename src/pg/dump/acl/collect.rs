//! Reading owners and ACLs from the catalogs (see the module above for what is collected).
//!
//! All queries run in the dump's snapshot. Role names are quoted by the server
//! (`quote_ident`), like every other identifier the dump writes.

use std::collections::HashMap;

use tokio_postgres::Row;

use super::commands::{self, Target, acl_role_name};
use super::{AclEntry, DetachedAcl, Privileges};
use crate::pg::connect::PgError;
use crate::pg::dump::schema::{CatalogSession, ObjKey, USER_SCHEMA, catalog};

/// Reads the owners (with `owners`) and the ACL entries (with `privileges`) of the database.
pub(crate) async fn collect(
    cx: &CatalogSession<'_>,
    owners: bool,
    privileges: bool,
) -> Result<Privileges, PgError> {
    let mut out = Privileges::default();
    if owners {
        out.owners = owners_of(cx).await?;
    }
    if privileges {
        let roles = RoleNames::read(cx).await?;
        acls(cx, &roles, owners, &mut out).await?;
    }
    Ok(out)
}

/// Role names as the dump quotes them.
#[derive(Debug, Clone, Default)]
pub(crate) struct RoleNames(HashMap<String, String>);

impl RoleNames {
    /// Reads every role's quoted name.
    pub(crate) async fn read(cx: &CatalogSession<'_>) -> Result<RoleNames, PgError> {
        let rows = cx
            .query(
                "role names",
                "SELECT rolname AS name, pg_catalog.quote_ident(rolname) AS quoted \
                 FROM pg_catalog.pg_roles",
                &[],
            )
            .await?;
        Ok(RoleNames(
            rows.iter()
                .map(|r| (r.get("name"), r.get("quoted")))
                .collect(),
        ))
    }

    /// `name` quoted as an identifier (a name no role has, which ACLs never hold, is quoted
    /// unless it is plainly lowercase).
    pub(crate) fn quote(&self, name: &str) -> String {
        match self.0.get(name) {
            Some(quoted) => quoted.clone(),
            None if name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') =>
            {
                name.to_string()
            }
            None => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }
}

/// Whether the server knows the MAINTAIN privilege.
pub(crate) fn has_maintain(cx: &CatalogSession<'_>) -> bool {
    cx.major() >= 17
}

/// An error for an ACL that cannot be read.
pub(crate) fn acl_error(cx: &CatalogSession<'_>, error: commands::AclError) -> PgError {
    PgError {
        target: cx.target.to_string(),
        action: "read privileges from".into(),
        message: error.to_string(),
    }
}

/// `(catalog, owner column, joins and conditions)` giving every object's owner; objects that
/// have no owner of their own take their table's, type's, server's or publication's.
const OWNERS: &[(&str, &str, &str)] = &[
    ("pg_class", "x.relowner", "WHERE x.oid >= 16384"),
    ("pg_proc", "x.proowner", "WHERE x.oid >= 16384"),
    ("pg_type", "x.typowner", "WHERE x.oid >= 16384"),
    ("pg_namespace", "x.nspowner", ""),
    ("pg_language", "x.lanowner", ""),
    ("pg_foreign_data_wrapper", "x.fdwowner", ""),
    ("pg_foreign_server", "x.srvowner", ""),
    ("pg_largeobject_metadata", "x.lomowner", ""),
    ("pg_collation", "x.collowner", "WHERE x.oid >= 16384"),
    ("pg_conversion", "x.conowner", "WHERE x.oid >= 16384"),
    ("pg_operator", "x.oprowner", "WHERE x.oid >= 16384"),
    ("pg_opclass", "x.opcowner", "WHERE x.oid >= 16384"),
    ("pg_opfamily", "x.opfowner", "WHERE x.oid >= 16384"),
    ("pg_ts_dict", "x.dictowner", "WHERE x.oid >= 16384"),
    ("pg_ts_config", "x.cfgowner", "WHERE x.oid >= 16384"),
    ("pg_statistic_ext", "x.stxowner", ""),
    ("pg_event_trigger", "x.evtowner", ""),
    ("pg_publication", "x.pubowner", ""),
    (
        "pg_subscription",
        "x.subowner",
        "WHERE x.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d \
         WHERE d.datname = pg_catalog.current_database())",
    ),
    ("pg_default_acl", "x.defaclrole", ""),
    (
        "pg_constraint",
        "COALESCE(c.relowner, t.typowner)",
        "LEFT JOIN pg_catalog.pg_class c ON c.oid = x.conrelid \
         LEFT JOIN pg_catalog.pg_type t ON t.oid = x.contypid WHERE x.oid >= 16384",
    ),
    (
        "pg_trigger",
        "c.relowner",
        "JOIN pg_catalog.pg_class c ON c.oid = x.tgrelid WHERE x.oid >= 16384",
    ),
    (
        "pg_rewrite",
        "c.relowner",
        "JOIN pg_catalog.pg_class c ON c.oid = x.ev_class WHERE x.oid >= 16384",
    ),
    (
        "pg_policy",
        "c.relowner",
        "JOIN pg_catalog.pg_class c ON c.oid = x.polrelid",
    ),
    (
        "pg_attrdef",
        "c.relowner",
        "JOIN pg_catalog.pg_class c ON c.oid = x.adrelid WHERE x.oid >= 16384",
    ),
    (
        "pg_publication_rel",
        "p.pubowner",
        "JOIN pg_catalog.pg_publication p ON p.oid = x.prpubid",
    ),
];

/// The owner of every object that can have an entry.
async fn owners_of(cx: &CatalogSession<'_>) -> Result<HashMap<ObjKey, String>, PgError> {
    let mut selects: Vec<String> = OWNERS
        .iter()
        .map(|(table, owner, rest)| {
            format!(
                "SELECT 'pg_catalog.{table}'::pg_catalog.regclass::pg_catalog.oid AS classid, \
                        x.oid AS objid, pg_catalog.pg_get_userbyid({owner}) AS owner \
                 FROM pg_catalog.{table} x {rest}"
            )
        })
        .collect();
    // pg_user_mapping itself is readable by superusers only; the view is not
    selects.push(
        "SELECT 'pg_catalog.pg_user_mapping'::pg_catalog.regclass::pg_catalog.oid, x.umid, \
                pg_catalog.pg_get_userbyid(s.srvowner) \
         FROM pg_catalog.pg_user_mappings x JOIN pg_catalog.pg_foreign_server s ON s.oid = x.srvid"
            .into(),
    );
    if cx.major() >= 15 {
        selects.push(
            "SELECT 'pg_catalog.pg_publication_namespace'::pg_catalog.regclass::pg_catalog.oid, \
                    x.oid, pg_catalog.pg_get_userbyid(p.pubowner) \
             FROM pg_catalog.pg_publication_namespace x \
             JOIN pg_catalog.pg_publication p ON p.oid = x.pnpubid"
                .into(),
        );
    }
    let rows = cx
        .query("owners", &selects.join(" UNION ALL "), &[])
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                ObjKey::new(r.get("classid"), r.get("objid")),
                r.get("owner"),
            )
        })
        .collect())
}

/// One catalog of objects with ACLs: the GRANT object type, the name GRANT takes, the ACL
/// column, `acldefault`'s kind letter, joins, scope and whether an object is built in.
struct AclCatalog {
    table: &'static str,
    kind: &'static str,
    name: &'static str,
    owner: &'static str,
    acl: &'static str,
    default_kind: &'static str,
    /// Joins; `n` is the object's schema (for a schema, itself).
    joins: &'static str,
    /// `n.nspname` for objects in a schema, else NULL.
    schema: &'static str,
    /// Whether `n` is joined: only objects in user schemas and `pg_catalog` are read.
    scoped: bool,
    condition: &'static str,
    builtin: &'static str,
}

const ACL_CATALOGS: &[AclCatalog] = &[
    AclCatalog {
        table: "pg_namespace",
        kind: "'SCHEMA'",
        name: "pg_catalog.quote_ident(x.nspname)",
        owner: "x.nspowner",
        acl: "x.nspacl",
        default_kind: "'n'",
        joins: "JOIN pg_catalog.pg_namespace n ON n.oid = x.oid",
        schema: "NULL::text",
        scoped: true,
        condition: "(x.nspacl IS NOT NULL OR x.nspname = 'public')",
        builtin: "x.nspname = 'pg_catalog'",
    },
    AclCatalog {
        table: "pg_class",
        kind: "CASE WHEN x.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END",
        name: "pg_catalog.quote_ident(x.relname)",
        owner: "x.relowner",
        acl: "x.relacl",
        default_kind: "CASE WHEN x.relkind = 'S' THEN 's' ELSE 'r' END",
        joins: "JOIN pg_catalog.pg_namespace n ON n.oid = x.relnamespace",
        schema: "n.nspname",
        scoped: true,
        condition: "x.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND (x.relacl IS NOT NULL \
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = x.oid \
                        AND a.attacl IS NOT NULL AND NOT a.attisdropped) \
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_init_privs c WHERE c.objoid = x.oid \
                        AND c.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                        AND c.objsubid <> 0))",
        builtin: "n.nspname = 'pg_catalog'",
    },
    AclCatalog {
        table: "pg_proc",
        kind: "CASE WHEN x.prokind = 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END",
        name: "pg_catalog.quote_ident(x.proname) || '(' || CASE WHEN x.prokind = 'a' AND \
               x.pronargs = 0 THEN '*' ELSE pg_catalog.pg_get_function_identity_arguments(x.oid) \
               END || ')'",
        owner: "x.proowner",
        acl: "x.proacl",
        default_kind: "'f'",
        joins: "JOIN pg_catalog.pg_namespace n ON n.oid = x.pronamespace",
        schema: "n.nspname",
        scoped: true,
        condition: "x.proacl IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend i \
             WHERE i.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND i.objid = x.oid \
             AND i.deptype = 'i')",
        builtin: "n.nspname = 'pg_catalog'",
    },
    AclCatalog {
        table: "pg_type",
        kind: "'TYPE'",
        name: "pg_catalog.quote_ident(x.typname)",
        owner: "x.typowner",
        acl: "x.typacl",
        default_kind: "'T'",
        joins: "JOIN pg_catalog.pg_namespace n ON n.oid = x.typnamespace",
        schema: "n.nspname",
        scoped: true,
        // not array, multirange, shell or pseudo types, nor the row types of relations
        condition: "x.typacl IS NOT NULL AND x.typisdefined AND x.typtype IN ('b', 'c', 'd', 'e', 'r') \
             AND NOT (x.typname LIKE '\\_%' AND x.typelem <> 0 AND (SELECT e.typarray \
                      FROM pg_catalog.pg_type e WHERE e.oid = x.typelem) = x.oid) \
             AND NOT (x.typrelid <> 0 AND (SELECT r.relkind FROM pg_catalog.pg_class r \
                      WHERE r.oid = x.typrelid) <> 'c')",
        builtin: "n.nspname = 'pg_catalog'",
    },
    AclCatalog {
        table: "pg_language",
        kind: "'LANGUAGE'",
        name: "pg_catalog.quote_ident(x.lanname)",
        owner: "x.lanowner",
        acl: "x.lanacl",
        default_kind: "'l'",
        joins: "",
        schema: "NULL::text",
        scoped: false,
        // untrusted languages have no usable privileges
        condition: "x.lanacl IS NOT NULL AND x.lanpltrusted",
        builtin: "x.oid < 16384",
    },
    AclCatalog {
        table: "pg_foreign_data_wrapper",
        kind: "'FOREIGN DATA WRAPPER'",
        name: "pg_catalog.quote_ident(x.fdwname)",
        owner: "x.fdwowner",
        acl: "x.fdwacl",
        default_kind: "'F'",
        joins: "",
        schema: "NULL::text",
        scoped: false,
        condition: "x.fdwacl IS NOT NULL",
        builtin: "false",
    },
    AclCatalog {
        table: "pg_foreign_server",
        kind: "'FOREIGN SERVER'",
        name: "pg_catalog.quote_ident(x.srvname)",
        owner: "x.srvowner",
        acl: "x.srvacl",
        default_kind: "'S'",
        joins: "",
        schema: "NULL::text",
        scoped: false,
        condition: "x.srvacl IS NOT NULL",
        builtin: "false",
    },
    AclCatalog {
        table: "pg_largeobject_metadata",
        kind: "'LARGE OBJECT'",
        name: "x.oid::pg_catalog.text",
        owner: "x.lomowner",
        acl: "x.lomacl",
        default_kind: "'L'",
        joins: "",
        schema: "NULL::text",
        scoped: false,
        condition: "x.lomacl IS NOT NULL",
        builtin: "false",
    },
];

impl AclCatalog {
    fn select(&self) -> String {
        let classid = format!(
            "'pg_catalog.{}'::pg_catalog.regclass::pg_catalog.oid",
            self.table
        );
        // user schemas (objects the dump creates) and pg_catalog (built-in objects, whose
        // changed privileges pg_dump keeps)
        let scope = if self.scoped {
            format!("(n.nspname = 'pg_catalog' OR ({USER_SCHEMA})) AND ")
        } else {
            String::new()
        };
        format!(
            "SELECT {classid} AS classid, x.oid AS objid, {kind} AS kind, {name} AS name, \
                    {schema} AS namespace, pg_catalog.quote_ident({schema}) AS namespace_quoted, \
                    {itself} AS schema_itself, \
                    pg_catalog.pg_get_userbyid({owner}) AS owner, {acl}::pg_catalog.text AS acl, \
                    pg_catalog.acldefault(({default_kind})::\"char\", {owner})::pg_catalog.text \
                      AS acldefault, \
                    ip.initprivs::pg_catalog.text AS initprivs, ({builtin}) AS builtin, \
                    (SELECT e.refobjid FROM pg_catalog.pg_depend e WHERE e.classid = {classid} \
                       AND e.objid = x.oid AND e.deptype = 'e' LIMIT 1) AS extension \
             FROM pg_catalog.{table} x {joins} \
             LEFT JOIN pg_catalog.pg_init_privs ip ON ip.objoid = x.oid \
                  AND ip.classoid = {classid} AND ip.objsubid = 0 \
             WHERE {scope}{condition}",
            kind = self.kind,
            name = self.name,
            itself = if self.table == "pg_namespace" {
                "x.nspname::pg_catalog.text"
            } else {
                "NULL::pg_catalog.text"
            },
            schema = self.schema,
            owner = self.owner,
            acl = self.acl,
            default_kind = self.default_kind,
            builtin = self.builtin,
            table = self.table,
            joins = self.joins,
            condition = self.condition,
        )
    }
}

/// Column privileges of every relation that has any: relation OID → (quoted column, ACL,
/// initial privileges), in column order.
type ColumnAcls = HashMap<u32, Vec<(String, Option<String>, Option<String>)>>;

async fn column_acls(cx: &CatalogSession<'_>) -> Result<ColumnAcls, PgError> {
    let rows = cx
        .query(
            "column privileges",
            "SELECT a.attrelid AS relid, pg_catalog.quote_ident(a.attname) AS name, \
                    a.attacl::pg_catalog.text AS acl, ip.initprivs::pg_catalog.text AS initprivs \
             FROM pg_catalog.pg_attribute a \
             LEFT JOIN pg_catalog.pg_init_privs ip ON ip.objoid = a.attrelid \
                  AND ip.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                  AND ip.objsubid = a.attnum \
             WHERE NOT a.attisdropped AND (a.attacl IS NOT NULL OR ip.initprivs IS NOT NULL) \
             ORDER BY a.attrelid, a.attnum",
            &[],
        )
        .await?;
    let mut out: ColumnAcls = HashMap::new();
    for row in rows {
        out.entry(row.get("relid")).or_default().push((
            row.get("name"),
            row.get("acl"),
            row.get("initprivs"),
        ));
    }
    Ok(out)
}

/// Reads every object's ACL and turns those that differ from their base into entries.
async fn acls(
    cx: &CatalogSession<'_>,
    roles: &RoleNames,
    owners: bool,
    out: &mut Privileges,
) -> Result<(), PgError> {
    let sql = ACL_CATALOGS
        .iter()
        .map(AclCatalog::select)
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let rows = cx.query("privileges", &sql, &[]).await?;
    let columns = column_acls(cx).await?;
    let quote = |name: &str| roles.quote(name);
    let mut detached: Vec<((Option<String>, String), DetachedAcl)> = Vec::new();
    for row in &rows {
        let object = AclObject::from_row(row);
        let key = ObjKey::new(row.get("classid"), row.get("objid"));
        let relation_columns = if key.classid == catalog::CLASS {
            columns
                .get(&key.objid)
                .map(Vec::as_slice)
                .unwrap_or_default()
        } else {
            &[]
        };
        let entries = object
            .entries(relation_columns, has_maintain(cx), &quote, owners)
            .map_err(|e| acl_error(cx, e))?;
        if entries.is_empty() {
            continue;
        }
        let extension: Option<u32> = row.get("extension");
        let builtin: bool = row.get("builtin");
        if builtin || extension.is_some() {
            detached.push((
                (object.namespace.clone(), object.tag()),
                DetachedAcl {
                    entries,
                    extension: extension.map(|e| ObjKey::new(catalog::EXTENSION, e)),
                },
            ));
        } else {
            out.acls.insert(super::normalise(key), entries);
        }
    }
    // a stable order: by schema and object
    detached.sort_by(|a, b| a.0.cmp(&b.0));
    out.detached = detached.into_iter().map(|(_, d)| d).collect();
    Ok(())
}

/// One object's ACL as read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AclObject {
    kind: String,
    name: String,
    namespace: Option<String>,
    namespace_quoted: Option<String>,
    /// For a schema, the schema.
    schema_itself: Option<String>,
    owner: String,
    acl: Option<String>,
    acldefault: String,
    initprivs: Option<String>,
}

impl AclObject {
    fn from_row(row: &Row) -> AclObject {
        AclObject {
            kind: row.get("kind"),
            name: row.get("name"),
            namespace: row.get("namespace"),
            namespace_quoted: row.get("namespace_quoted"),
            schema_itself: row.get("schema_itself"),
            owner: row.get("owner"),
            acl: row.get("acl"),
            acldefault: row.get("acldefault"),
            initprivs: row.get("initprivs"),
        }
    }

    /// pg_dump's tag of the object's ACL entry.
    fn tag(&self) -> String {
        format!("{} {}", self.kind, self.name)
    }

    /// The object's ACL entry (if its ACL differs from its base) and its columns'.
    fn entries(
        &self,
        columns: &[(String, Option<String>, Option<String>)],
        maintain: bool,
        quote: &dyn Fn(&str) -> String,
        owners: bool,
    ) -> Result<Vec<AclEntry>, commands::AclError> {
        // The public schema is compared with what a new database gives it, owned by its owner.
        let public_base = (self.kind == "SCHEMA" && self.name == "public").then(|| {
            let owner = acl_role_name(&self.owner);
            array_text(&[format!("{owner}=UC/{owner}"), format!("=U/{owner}")])
        });
        let initprivs = public_base
            .or_else(|| self.initprivs.clone())
            .filter(|i| !i.is_empty());
        let (acl, base) = match &initprivs {
            Some(initprivs) => (
                self.acl.clone().unwrap_or_else(|| self.acldefault.clone()),
                initprivs.clone(),
            ),
            None => (
                self.acl.clone().unwrap_or_default(),
                self.acldefault.clone(),
            ),
        };
        let mut target = Target {
            kind: &self.kind,
            name: &self.name,
            column: None,
            schema: self.namespace_quoted.as_deref(),
            owner: Some(&self.owner),
            prefix: "",
            maintain,
        };
        let owner = if owners {
            self.owner.clone()
        } else {
            String::new()
        };
        let mut entries = Vec::new();
        let defn = commands::commands(&target, &acl, &base, quote)?;
        if !defn.is_empty() {
            entries.push(AclEntry {
                tag: self.tag(),
                namespace: self.namespace.clone(),
                owner: owner.clone(),
                defn,
                column: false,
                schema: self.schema_itself.clone(),
            });
        }
        for (column, acl, initprivs) in columns {
            target.kind = "TABLE";
            target.column = Some(column);
            let (acl, base) = match initprivs.as_deref().filter(|i| !i.is_empty()) {
                Some(initprivs) => (
                    acl.clone().unwrap_or_else(|| "{}".into()),
                    initprivs.to_string(),
                ),
                None => (acl.clone().unwrap_or_default(), "{}".to_string()),
            };
            let defn = commands::commands(&target, &acl, &base, quote)?;
            if !defn.is_empty() {
                entries.push(AclEntry {
                    tag: format!("COLUMN {}.{column}", self.name),
                    namespace: self.namespace.clone(),
                    owner: owner.clone(),
                    defn,
                    column: true,
                    schema: None,
                });
            }
        }
        Ok(entries)
    }
}

/// The text of an array of `items`, each quoted when it must be.
fn array_text(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|item| {
            let plain = !item.is_empty()
                && !item.eq_ignore_ascii_case("NULL")
                && !item
                    .chars()
                    .any(|c| matches!(c, '"' | '\\' | '{' | '}' | ',') || c.is_whitespace());
            if plain {
                item.clone()
            } else {
                format!("\"{}\"", item.replace('\\', "\\\\").replace('"', "\\\""))
            }
        })
        .collect();
    format!("{{{}}}", quoted.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(name: &str) -> String {
        if name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            name.to_string()
        } else {
            format!("\"{}\"", name.replace('"', "\"\""))
        }
    }

    fn object(kind: &str, name: &str, acl: Option<&str>, default: &str) -> AclObject {
        AclObject {
            kind: kind.into(),
            name: name.into(),
            namespace: Some("app".into()),
            namespace_quoted: Some("app".into()),
            schema_itself: None,
            owner: "o".into(),
            acl: acl.map(String::from),
            acldefault: default.into(),
            initprivs: None,
        }
    }

    #[test]
    fn arrays_are_written_so_that_they_read_back() {
        let items = vec!["\"x y\"=UC/\"x y\"".to_string(), "=U/o".to_string()];
        let text = array_text(&items);
        assert_eq!(text, r#"{"\"x y\"=UC/\"x y\"",=U/o}"#);
        assert_eq!(commands::parse_array(&text), Some(items));
    }

    #[test]
    fn the_public_schema_is_compared_with_a_new_databases() {
        let mut public = object("SCHEMA", "public", Some("{o=UC/o,=U/o}"), "{o=UC/o}");
        public.namespace = None;
        public.namespace_quoted = None;
        // pg_init_privs says otherwise (the owner changed since initdb): ignored
        public.initprivs = Some("{pg_database_owner=UC/pg_database_owner}".into());
        assert!(public.entries(&[], true, &quote, true).unwrap().is_empty());
        public.acl = Some("{o=UC/o,=UC/o}".into());
        let entries = public.entries(&[], true, &quote, true).unwrap();
        assert_eq!(entries[0].tag, "SCHEMA public");
        // items are compared whole, as pg_dump compares them
        assert_eq!(
            entries[0].defn,
            "REVOKE USAGE ON SCHEMA public FROM PUBLIC;\nGRANT ALL ON SCHEMA public TO PUBLIC;\n"
        );
    }

    #[test]
    fn initial_privileges_are_the_base_when_recorded() {
        let mut function = object(
            "FUNCTION",
            "similarity(text, text)",
            Some("{o=X/o,r=X/o}"),
            "{=X/o,o=X/o}",
        );
        function.initprivs = Some("{=X/o,o=X/o}".into());
        let entries = function.entries(&[], true, &quote, false).unwrap();
        assert_eq!(
            entries[0].defn,
            "REVOKE ALL ON FUNCTION app.similarity(text, text) FROM PUBLIC;\n\
             GRANT ALL ON FUNCTION app.similarity(text, text) TO r;\n"
        );
        assert_eq!(entries[0].owner, "", "no owner without --owners");
        // an unchanged extension member gives nothing
        function.acl = function.initprivs.clone();
        assert!(
            function
                .entries(&[], true, &quote, false)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn column_privileges_follow_the_tables_and_are_tagged_by_column() {
        let table = object("TABLE", "t", None, "{o=arwdDxt/o}");
        let columns = vec![
            ("a".to_string(), Some("{r=r/o}".to_string()), None),
            ("\"B\"".to_string(), None, None),
        ];
        let entries = table.entries(&columns, false, &quote, true).unwrap();
        assert_eq!(entries.len(), 1, "no table ACL, one column with privileges");
        assert_eq!(entries[0].tag, "COLUMN t.a");
        assert!(entries[0].column);
        assert_eq!(entries[0].owner, "o");
        assert_eq!(entries[0].defn, "GRANT SELECT(a) ON TABLE app.t TO r;\n");
    }
}
