//! Making room for a table restore (see `select`) in the target: the selected tables are
//! replaced, nothing else is touched.
//!
//! Before anything changes, the target is asked what depends on the selected tables from
//! outside the selection: a foreign key of another table referencing one of them (its rows
//! would lose their referenced rows, and dropping the table would need `CASCADE`, which would
//! silently drop the foreign key), or a view or materialized view reading one of them (which
//! `DROP TABLE` would refuse, or `CASCADE` drop). Either refuses the restore
//! ([`RestoreError::Dependents`], a usage error naming them): the operator restores those
//! tables too, or restores into another database with `--into-db`.
//!
//! Then, inside the restore's one transaction: the schemas of the selected tables that the
//! target lacks are created, the selected tables (`DROP TABLE IF EXISTS`, which takes their
//! indexes, constraints, triggers, policies, owned sequences and partitions with them) and the
//! sequences the archive creates for them are dropped, without `CASCADE`: anything else still
//! depending on them makes the drop fail, and the transaction leaves the target as it was.

use tokio_postgres::Client;

use super::RestoreError;
use super::select::Selected;
use crate::pg::connect::Target;

/// What outside the selection depends on a selected table: (description, the table).
const DEPENDENTS: &str = "\
WITH wanted AS (
    SELECT c.oid
      FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[])) AS w(nsp, rel)
      JOIN pg_catalog.pg_namespace n ON n.nspname = w.nsp
      JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = w.rel
)
SELECT pg_catalog.format('foreign key %I of table %I.%I references %I.%I',
                         k.conname, rn.nspname, r.relname, tn.nspname, t.relname) AS dependent
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_class r ON r.oid = k.conrelid
  JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
  JOIN pg_catalog.pg_class t ON t.oid = k.confrelid
  JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
 WHERE k.contype = 'f' AND k.conparentid = 0
   AND k.confrelid IN (SELECT oid FROM wanted) AND k.conrelid NOT IN (SELECT oid FROM wanted)
UNION
SELECT pg_catalog.format('%s %I.%I reads %I.%I',
                         CASE v.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END,
                         vn.nspname, v.relname, tn.nspname, t.relname)
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_rewrite w ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND w.oid = d.objid
  JOIN pg_catalog.pg_class v ON v.oid = w.ev_class
  JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace
  JOIN pg_catalog.pg_class t ON d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND t.oid = d.refobjid
  JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
 WHERE d.deptype = 'n' AND t.oid IN (SELECT oid FROM wanted) AND v.oid NOT IN (SELECT oid FROM wanted)
ORDER BY 1";

/// Refuses when something outside the selection depends on a selected table (see the module
/// docs); `into_other` says whether the target is another database than the live one (the
/// hint differs).
pub async fn refuse_dependents(
    client: &Client,
    target: &Target,
    selected: &Selected,
    into_other: bool,
) -> Result<(), RestoreError> {
    let (schemas, names): (Vec<String>, Vec<String>) = selected.tables.iter().cloned().unzip();
    let rows = client
        .query(DEPENDENTS, &[&schemas, &names])
        .await
        .map_err(|e| target.error("look up what depends on the selected tables in", &e))?;
    let dependents: Vec<String> = rows.iter().map(|r| r.get("dependent")).collect();
    if dependents.is_empty() {
        return Ok(());
    }
    Err(RestoreError::Dependents {
        target: target.to_string(),
        dependents,
        hint: if into_other {
            "restore those tables too (--table)"
        } else {
            "restore those tables too (--table), or restore into another database with --into-db"
        },
    })
}

/// The schemas among `selected.schemas` that the target lacks.
pub async fn missing_schemas(
    client: &Client,
    target: &Target,
    selected: &Selected,
) -> Result<Vec<String>, RestoreError> {
    let wanted: Vec<String> = selected.schemas.iter().cloned().collect();
    let rows = client
        .query(
            "SELECT w.name FROM pg_catalog.unnest($1::pg_catalog.text[]) AS w(name) \
             WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = w.name) \
             ORDER BY 1",
            &[&wanted],
        )
        .await
        .map_err(|e| target.error("look up schemas in", &e))?;
    Ok(rows.iter().map(|r| r.get("name")).collect())
}

/// The statements making room for the selected tables (inside the caller's transaction).
pub fn make_room_sql(selected: &Selected, missing_schemas: &[String]) -> String {
    let mut sql = String::new();
    for schema in missing_schemas {
        sql.push_str(&format!("CREATE SCHEMA {};\n", ident(schema)));
    }
    let list = |names: &[(String, String)]| -> String {
        names
            .iter()
            .map(|(s, n)| format!("{}.{}", ident(s), ident(n)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !selected.tables.is_empty() {
        sql.push_str(&format!(
            "DROP TABLE IF EXISTS {};\n",
            list(&selected.tables)
        ));
    }
    if !selected.sequences.is_empty() {
        sql.push_str(&format!(
            "DROP SEQUENCE IF EXISTS {};\n",
            list(&selected.sequences)
        ));
    }
    sql
}

/// Runs [`make_room_sql`] on `client`.
pub async fn make_room(
    client: &Client,
    target: &Target,
    selected: &Selected,
    missing_schemas: &[String],
) -> Result<(), RestoreError> {
    let sql = make_room_sql(selected, missing_schemas);
    let what = || "drop the selected tables in".to_string();
    target
        .batch(client, &sql, what)
        .await
        .map_err(RestoreError::Pg)
}

/// A double-quoted identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_schemas_first_then_tables_then_their_sequences() {
        let selected = Selected {
            tables: vec![
                ("app".into(), "tickets".into()),
                ("Mixed Case".into(), "Odd \"Table\"".into()),
            ],
            sequences: vec![("app".into(), "ticket_seq".into())],
            destination: super::super::select::Destination::LiveDatabase,
            keep: Vec::new(),
            schemas: Default::default(),
            skipped: Vec::new(),
        };
        assert_eq!(
            make_room_sql(&selected, &["Mixed Case".into()]),
            "CREATE SCHEMA \"Mixed Case\";\n\
             DROP TABLE IF EXISTS \"app\".\"tickets\", \"Mixed Case\".\"Odd \"\"Table\"\"\";\n\
             DROP SEQUENCE IF EXISTS \"app\".\"ticket_seq\";\n"
        );
    }
}
