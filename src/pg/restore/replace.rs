//! Making room for the archive in the target: what a restore removes before it creates
//! anything, decided while nothing has changed yet and carried out as one transaction.
//!
//! A restore replaces the database with the backup's content. A pg_dump archive of a whole
//! database (every fullsite generation, every legacy `pg_dump -Fc`) holds two sorts of objects:
//!
//! - **Objects in schemas.** The schemas the archive creates or holds objects in, plus
//!   `public`, are dropped with `CASCADE` and created again (as the legacy script's `DROP
//!   SCHEMA public CASCADE` did). Schemas the archive knows nothing of are left alone.
//! - **Objects outside schemas**, of the kinds pg_dump dumps: event triggers, subscriptions,
//!   publications, user mappings, foreign servers and foreign-data wrappers, casts, transforms,
//!   access methods, procedural languages and large objects. The archive holds *every* such
//!   object the database had, so the target ends up with exactly the archive's: every one the
//!   target holds is dropped first — those the archive creates again (so its CREATE cannot fail
//!   with "already exists") and those made after the backup alike. Built-in objects (OIDs
//!   below 16384) and extension members are never touched, as pg_dump never dumps them;
//!   extensions themselves are created by the archive with `IF NOT EXISTS`.
//!
//! Details that matter:
//! - Event triggers go first, before any schema is dropped: a live `ddl_command_start` or
//!   `sql_drop` trigger would otherwise fire on (or veto) the restore's own statements. The
//!   archive's event triggers come back in the restore's last phase (see `plan`).
//! - A subscription is disabled and detached from its replication slot (`slot_name = NONE`)
//!   before it is dropped, so the drop never connects to the publisher and the slot there is
//!   kept: the archive's subscription (pg_dump writes it with `connect = false`, so it comes
//!   back disabled, as with pg_restore) names the same slot and resumes from it once enabled.
//! - The drops run after the schemas' (whatever depended on a dropped schema is gone by then)
//!   with `IF EXISTS` and without `CASCADE`: if an object in a schema the archive does not hold
//!   still depends on one of them (a foreign table on a server, a function in a language), the
//!   drop fails naming that object, and since everything here is one transaction, the target
//!   is left exactly as it was.
//! - Large objects are unlinked, every one: the archive creates its own with their OIDs.
//!
//! The inventory is read before anything changes (and logged); with `--single-transaction`
//! the whole restore, this included, is one transaction.

use tokio_postgres::Client;

use super::RestoreError;
use super::plan::RestorePlan;
use crate::pg::connect::Target;

/// What the target holds that the restore drops, read before anything changes.
#[derive(Debug, Clone, Default)]
pub struct Replacement {
    /// Drops of objects outside schemas that run before the schemas are dropped.
    first: Vec<String>,
    /// Drops of objects outside schemas that run after.
    after_schemas: Vec<String>,
    /// What is dropped, for the log: (kind, name).
    pub objects: Vec<(String, String)>,
    /// Large objects in the target.
    pub large_objects: i64,
    /// `server_version_num`.
    server_version: i32,
    /// The bootstrap superuser, `public`'s owner before PostgreSQL 15.
    bootstrap_superuser: String,
}

/// Every object outside schemas of a kind pg_dump dumps, other than built-in objects and
/// extension members: (step, kind, name, statement). Step 1 runs before the schemas are
/// dropped, the others after, in step order.
const INVENTORY: &str = "\
WITH member AS (
    SELECT d.classid, d.objid FROM pg_catalog.pg_depend d WHERE d.deptype = 'e'
)
SELECT 1 AS step, 'event trigger' AS kind, e.evtname::text AS name,
       pg_catalog.format('DROP EVENT TRIGGER IF EXISTS %I;', e.evtname) AS statement
  FROM pg_catalog.pg_event_trigger e
 WHERE e.oid >= 16384
   AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_catalog.pg_event_trigger'::pg_catalog.regclass AND m.objid = e.oid)
UNION ALL
SELECT 2, 'subscription', s.subname::text,
       pg_catalog.format('ALTER SUBSCRIPTION %1$I DISABLE; ALTER SUBSCRIPTION %1$I SET (slot_name = NONE); DROP SUBSCRIPTION %1$I;', s.subname)
  FROM pg_catalog.pg_subscription s
 WHERE s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
UNION ALL
SELECT 3, 'publication', p.pubname::text,
       pg_catalog.format('DROP PUBLICATION IF EXISTS %I;', p.pubname)
  FROM pg_catalog.pg_publication p
 WHERE p.oid >= 16384
   AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_catalog.pg_publication'::pg_catalog.regclass AND m.objid = p.oid)
UNION ALL
SELECT 4, 'user mapping', pg_catalog.format('%s on server %s', u.usename, u.srvname),
       pg_catalog.format('DROP USER MAPPING IF EXISTS FOR %s SERVER %I;',
                         CASE WHEN u.umuser = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(u.usename) END,
                         u.srvname)
  FROM pg_catalog.pg_user_mappings u
 WHERE u.srvid >= 16384
   AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_catalog.pg_foreign_server'::pg_catalog.regclass AND m.objid = u.srvid)
UNION ALL
SELECT 5, 'server', s.srvname::text, pg_catalog.format('DROP SERVER IF EXISTS %I;', s.srvname)
  FROM pg_catalog.pg_foreign_server s
 WHERE s.oid >= 16384
   AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_catalog.pg_foreign_server'::pg_catalog.regclass AND m.objid = s.oid)
UNION ALL
SELECT 6, 'foreign-data wrapper', w.fdwname::text,
       pg_catalog.format('DROP FOREIGN DATA WRAPPER IF EXISTS %I;', w.fdwname)
  FROM pg_catalog.pg_foreign_data_wrapper w
 WHERE w.oid >= 16384
   AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_catalog.pg_foreign_data_wrapper'::pg_catalog.regclass AND m.objid = w.oid)
UNION ALL
SELECT 7, 'cast', pg_catalog.format('(%s AS %s)', c.castsource::pg_catalog.regtype, c.casttarget::pg_catalog.regtype),
       pg_catalog.format('DROP CAST IF EXISTS (%s AS %s);', c.castsource::pg_catalog.regtype, c.casttarget::pg_catalog.regtype)
  FROM pg_catalog.pg_cast c
 WHERE c.oid >= 16384
   AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_catalog.pg_cast'::pg_catalog.regclass AND m.objid = c.oid)
UNION ALL
SELECT 8, 'transform', pg_catalog.format('for %s language %s', t.trftype::pg_catalog.regtype, l.lanname),
       pg_catalog.format('DROP TRANSFORM IF EXISTS FOR %s LANGUAGE %I;', t.trftype::pg_catalog.regtype, l.lanname)
  FROM pg_catalog.pg_transform t JOIN pg_catalog.pg_language l ON l.oid = t.trflang
 WHERE t.oid >= 16384
   AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_catalog.pg_transform'::pg_catalog.regclass AND m.objid = t.oid)
UNION ALL
SELECT 9, 'access method', a.amname::text, pg_catalog.format('DROP ACCESS METHOD IF EXISTS %I;', a.amname)
  FROM pg_catalog.pg_am a
 WHERE a.oid >= 16384
   AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_catalog.pg_am'::pg_catalog.regclass AND m.objid = a.oid)
UNION ALL
SELECT 10, 'procedural language', l.lanname::text, pg_catalog.format('DROP LANGUAGE IF EXISTS %I;', l.lanname)
  FROM pg_catalog.pg_language l
 WHERE l.oid >= 16384
   AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_catalog.pg_language'::pg_catalog.regclass AND m.objid = l.oid)
ORDER BY step, name";

/// Reads what the restore will drop outside schemas (nothing changes).
pub async fn inventory(client: &Client, target: &Target) -> Result<Replacement, RestoreError> {
    let error = |e: tokio_postgres::Error| {
        RestoreError::Pg(target.error("list the database-wide objects to replace in", &e))
    };
    let mut replacement = Replacement::default();
    for row in client.query(INVENTORY, &[]).await.map_err(error)? {
        let (step, statement): (i32, String) = (row.get("step"), row.get("statement"));
        replacement.objects.push((row.get("kind"), row.get("name")));
        if step == 1 {
            replacement.first.push(statement);
        } else {
            replacement.after_schemas.push(statement);
        }
    }
    let row = client
        .query_one(
            "SELECT pg_catalog.current_setting('server_version_num')::int4 AS version, \
                    (SELECT pg_catalog.count(*) FROM pg_catalog.pg_largeobject_metadata) AS large_objects, \
                    (SELECT r.rolname::text FROM pg_catalog.pg_roles r WHERE r.oid = 10) AS bootstrap",
            &[],
        )
        .await
        .map_err(error)?;
    replacement.server_version = row.get("version");
    replacement.large_objects = row.get("large_objects");
    replacement.bootstrap_superuser = row.get("bootstrap");
    Ok(replacement)
}

/// The statements that drop what `plan` and `replacement` say and create the schemas the
/// archive does not create itself (without `public`'s standard settings: see
/// [`public_schema_sql`]).
pub fn replace_sql(plan: &RestorePlan, replacement: &Replacement) -> String {
    let mut sql = String::new();
    for statement in &replacement.first {
        sql.push_str(statement);
        sql.push('\n');
    }
    for schema in &plan.drop_schemas {
        sql.push_str(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE;\n",
            ident(schema)
        ));
    }
    for statement in &replacement.after_schemas {
        sql.push_str(statement);
        sql.push('\n');
    }
    if replacement.large_objects > 0 {
        sql.push_str(
            "SELECT pg_catalog.lo_unlink(l.oid) FROM pg_catalog.pg_largeobject_metadata l;\n",
        );
    }
    for schema in &plan.create_schemas {
        sql.push_str(&format!("CREATE SCHEMA {};\n", ident(schema)));
    }
    sql
}

/// A new database's `public` schema: its owner (`pg_database_owner` from PostgreSQL 15 on,
/// the bootstrap superuser before), privileges and comment.
pub fn public_schema_sql(replacement: &Replacement) -> String {
    if replacement.server_version >= 150_000 {
        "ALTER SCHEMA public OWNER TO pg_database_owner;\n\
         GRANT USAGE ON SCHEMA public TO PUBLIC;\n\
         COMMENT ON SCHEMA public IS 'standard public schema';\n"
            .to_string()
    } else {
        format!(
            "ALTER SCHEMA public OWNER TO {};\n\
             GRANT ALL ON SCHEMA public TO PUBLIC;\n\
             COMMENT ON SCHEMA public IS 'standard public schema';\n",
            ident(&replacement.bootstrap_superuser)
        )
    }
}

/// Drops and recreates as [`replace_sql`] says, in one transaction unless `in_transaction`
/// (the caller's, with `--single-transaction`), then gives a recreated `public` its standard
/// settings (a role that may not is warned about, not stopped).
pub async fn replace(
    client: &Client,
    target: &Target,
    plan: &RestorePlan,
    replacement: &Replacement,
    in_transaction: bool,
) -> Result<(), RestoreError> {
    let mut sql = replace_sql(plan, replacement);
    if !in_transaction {
        sql = format!("BEGIN;\n{sql}");
    }
    let failed = |e: tokio_postgres::Error| {
        RestoreError::Pg(target.error(
            "replace the archive's schemas and database-wide objects in",
            &e,
        ))
    };
    let what = || "replace the archive's schemas and database-wide objects in".to_string();
    let replaced = target.batch(client, &sql, what).await;
    if let Err(e) = replaced {
        if !in_transaction {
            let _ = client.batch_execute("ROLLBACK").await;
        }
        return Err(RestoreError::Pg(e));
    }
    if plan.create_schemas.iter().any(|s| s == "public") {
        let public = format!(
            "SAVEPOINT fullsite_public;\n{}RELEASE SAVEPOINT fullsite_public;\n",
            public_schema_sql(replacement)
        );
        if let Err(e) = client.batch_execute(&public).await {
            tracing::warn!(
                "public schema recreated without its standard owner and privileges: {}",
                crate::pg::connect::describe(&e)
            );
            client
                .batch_execute(
                    "ROLLBACK TO SAVEPOINT fullsite_public; RELEASE SAVEPOINT fullsite_public;",
                )
                .await
                .map_err(failed)?;
        }
    }
    if !in_transaction {
        client.batch_execute("COMMIT").await.map_err(failed)?;
    }
    Ok(())
}

/// A double-quoted identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_triggers_go_first_then_schemas_then_the_rest() {
        let plan = RestorePlan {
            drop_schemas: vec!["app".into(), "public".into()],
            create_schemas: vec!["public".into()],
            ..RestorePlan::default()
        };
        let replacement = Replacement {
            first: vec!["DROP EVENT TRIGGER IF EXISTS audit;".into()],
            after_schemas: vec!["DROP SERVER IF EXISTS files;".into()],
            large_objects: 2,
            server_version: 140_011,
            bootstrap_superuser: "postgres".into(),
            ..Replacement::default()
        };
        let sql = replace_sql(&plan, &replacement);
        let position = |text: &str| sql.find(text).unwrap();
        assert!(position("DROP EVENT TRIGGER") < position("DROP SCHEMA IF EXISTS \"app\""));
        assert!(position("DROP SCHEMA IF EXISTS \"public\"") < position("DROP SERVER"));
        assert!(position("DROP SERVER") < position("lo_unlink"));
        assert!(position("lo_unlink") < position("CREATE SCHEMA \"public\""));
        assert!(public_schema_sql(&replacement).contains("OWNER TO \"postgres\""));
        let newer = Replacement {
            server_version: 180_001,
            ..replacement
        };
        assert!(public_schema_sql(&newer).contains("pg_database_owner"));
    }
}
