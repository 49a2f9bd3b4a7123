//! Default privileges (`ALTER DEFAULT PRIVILEGES`), as pg_dump's dumpDefaultACL writes them:
//! one `DEFAULT ACL` entry per `pg_default_acl` row, tagged `DEFAULT PRIVILEGES FOR TABLES`
//! (SEQUENCES, FUNCTIONS, TYPES, SCHEMAS, LARGE OBJECTS), in the schema it applies to.
//!
//! A global row (no schema) replaces the built-in default for its object type, so it is
//! written as the changes from `acldefault()`; a per-schema row can only add privileges, so it
//! is written as grants from an empty ACL. Rows for schemas the dump leaves out (system
//! schemas other than `pg_catalog`) are left out too. Collected only for `--privileges`;
//! restores run these entries after every object is created, so they change only objects
//! created later.

use super::{CatalogSession, Entry, Kind, ObjKey, USER_SCHEMA};
use crate::pg::connect::PgError;
use crate::pg::dump::acl::collect::{RoleNames, acl_error, has_maintain};
use crate::pg::dump::acl::commands::{Target, commands};

/// OID of `pg_default_acl`.
const PG_DEFAULT_ACL: u32 = 826;

/// Collects default privileges (ALTER DEFAULT PRIVILEGES).
pub async fn collect(cx: &CatalogSession<'_>) -> Result<Vec<Entry>, PgError> {
    let sql = format!(
        "SELECT d.oid AS oid, pg_catalog.pg_get_userbyid(d.defaclrole) AS role, \
                d.defaclobjtype::pg_catalog.text AS objtype, n.nspname AS namespace, \
                pg_catalog.quote_ident(n.nspname) AS namespace_quoted, \
                d.defaclacl::pg_catalog.text AS acl, \
                CASE WHEN d.defaclnamespace = 0 THEN pg_catalog.acldefault( \
                    CASE WHEN d.defaclobjtype = 'S' THEN 's'::\"char\" ELSE d.defaclobjtype END, \
                    d.defaclrole) ELSE '{{}}' END::pg_catalog.text AS acldefault \
         FROM pg_catalog.pg_default_acl d \
         LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace \
         WHERE d.defaclnamespace = 0 OR n.nspname = 'pg_catalog' OR ({USER_SCHEMA}) \
         ORDER BY n.nspname NULLS FIRST, d.defaclobjtype, 2"
    );
    let rows = cx.query("default privileges", &sql, &[]).await?;
    let roles = RoleNames::read(cx).await?;
    let quote = |name: &str| roles.quote(name);
    let mut entries = Vec::new();
    for row in rows {
        let objtype: String = row.get("objtype");
        let Some(kind) = object_types(&objtype) else {
            return Err(acl_error(
                cx,
                crate::pg::dump::acl::commands::AclError {
                    acl: row.get("acl"),
                    kind: format!("default privileges of object type {objtype:?}"),
                    name: row.get("role"),
                },
            ));
        };
        let role: String = row.get("role");
        let namespace: Option<String> = row.get("namespace");
        let namespace_quoted: Option<String> = row.get("namespace_quoted");
        let mut prefix = format!("ALTER DEFAULT PRIVILEGES FOR ROLE {} ", quote(&role));
        if let Some(schema) = &namespace_quoted {
            prefix.push_str(&format!("IN SCHEMA {schema} "));
        }
        let target = Target {
            kind,
            name: "",
            column: None,
            schema: None,
            owner: Some(&role),
            prefix: &prefix,
            maintain: has_maintain(cx),
        };
        let acl: String = row.get("acl");
        let base: String = row.get("acldefault");
        let defn = commands(&target, &acl, &base, &quote).map_err(|e| acl_error(cx, e))?;
        let mut entry = Entry::new(
            ObjKey::new(PG_DEFAULT_ACL, row.get("oid")),
            Kind::DefaultAcl,
            "DEFAULT ACL",
            format!("DEFAULT PRIVILEGES FOR {kind}"),
            defn,
        );
        entry.namespace = namespace;
        entries.push(entry);
    }
    Ok(entries)
}

/// The object type ALTER DEFAULT PRIVILEGES names for a `defaclobjtype`.
fn object_types(objtype: &str) -> Option<&'static str> {
    Some(match objtype {
        "r" => "TABLES",
        "S" => "SEQUENCES",
        "f" => "FUNCTIONS",
        "T" => "TYPES",
        "n" => "SCHEMAS",
        "L" => "LARGE OBJECTS",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_object_type_has_its_plural() {
        for (letter, kind) in [
            ("r", "TABLES"),
            ("S", "SEQUENCES"),
            ("f", "FUNCTIONS"),
            ("T", "TYPES"),
            ("n", "SCHEMAS"),
            ("L", "LARGE OBJECTS"),
        ] {
            assert_eq!(super::object_types(letter), Some(kind));
        }
        assert_eq!(super::object_types("x"), None);
    }
}
