//! The rows → objects query: where it comes from, and running it.
//!
//! The query is prepared first, so a syntax error, an unknown table or column, or a result
//! that is not two text columns is refused as malformed (exit 2) before a row is read; any
//! other server failure is a failure (exit 1). It runs with the database's default
//! `search_path` (the dump's own session has an empty one), which is recorded so a drill runs it
//! the same way on the restored database. Rows stream through: memory grows with the distinct
//! pairs only.

use std::collections::BTreeSet;
use std::path::Path;

use futures_util::{StreamExt, pin_mut};
use tokio_postgres::Client;
use tokio_postgres::types::Type;

use super::{RefSet, RefsError};
use crate::config::Vars;
use crate::manifest::ObjectRef;
use crate::pg::connect::Target;

/// The environment variable holding the query.
pub const REFS_SQL_VAR: &str = "FULLSITE_OBJECT_REFS_SQL";

/// A rows → objects query and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefsQuery {
    /// The SELECT.
    pub sql: String,
    /// `FULLSITE_OBJECT_REFS_SQL` or `--refs-sql-file PATH`, for messages.
    pub origin: String,
}

impl RefsQuery {
    /// The query of `--refs-sql-file` when given, else of `FULLSITE_OBJECT_REFS_SQL`, else none.
    pub fn configured(file: Option<&Path>, vars: &Vars) -> Result<Option<RefsQuery>, RefsError> {
        if let Some(path) = file {
            let sql = std::fs::read_to_string(path).map_err(|source| RefsError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            return Ok(Some(RefsQuery {
                sql: sql.trim().to_string(),
                origin: format!("--refs-sql-file {}", path.display()),
            }));
        }
        Ok(vars.get(REFS_SQL_VAR).map(|sql| RefsQuery {
            sql: sql.to_string(),
            origin: REFS_SQL_VAR.to_string(),
        }))
    }
}

/// Runs `query` on `client` inside its current transaction (the dump's snapshot), with the
/// database's default `search_path`, which it restores to empty afterwards.
pub async fn collect(
    client: &Client,
    target: &Target,
    query: &RefsQuery,
) -> Result<RefSet, RefsError> {
    // The dump's session set `search_path` to '' for the session; the database's default is
    // what RESET would give (pg_settings.reset_val), set for the query's transaction only.
    let what = || "read the default search path on".to_string();
    let default_path: String = target
        .bounded(what, async {
            client
                .query_one(
                    "SELECT reset_val FROM pg_catalog.pg_settings WHERE name = 'search_path'",
                    &[],
                )
                .await
                .map_err(|e| target.error(what(), &e))
        })
        .await?
        .get("reset_val");
    // A failed query aborts the transaction (and the dump): its error is the one to report.
    let set = run_with_path(client, target, query, &default_path).await?;
    let restore = || "restore the dump's search path on".to_string();
    target
        .bounded(restore, async {
            client
                .batch_execute("SELECT pg_catalog.set_config('search_path', '', true)")
                .await
                .map_err(|e| target.error(restore(), &e))
        })
        .await?;
    Ok(set)
}

/// Runs `query` on `client` with `search_path` set to `path` for the current transaction (or
/// the session, outside one).
pub async fn run_with_path(
    client: &Client,
    target: &Target,
    query: &RefsQuery,
    path: &str,
) -> Result<RefSet, RefsError> {
    let what = || "run the rows → objects query on".to_string();
    target
        .bounded(what, async {
            client
                .query_one(
                    "SELECT pg_catalog.set_config('search_path', $1, true) AS search_path",
                    &[&path],
                )
                .await
                .map_err(|e| target.error(what(), &e))
        })
        .await?;
    let malformed = |problem: String| RefsError::Malformed {
        origin: query.origin.clone(),
        problem,
    };
    let prepared = target
        .bounded(what, async { Ok(client.prepare(&query.sql).await) })
        .await?;
    let statement = match prepared {
        Ok(statement) => statement,
        Err(e) if is_malformed(&e) => {
            return Err(malformed(crate::pg::connect::describe(&e)));
        }
        Err(e) => return Err(target.error(what(), &e).into()),
    };
    let columns: Vec<String> = statement
        .columns()
        .iter()
        .map(|c| format!("{} {}", c.name(), c.type_()))
        .collect();
    let text = |t: &Type| [Type::TEXT, Type::VARCHAR].contains(t);
    if columns.len() != 2 || !statement.columns().iter().all(|c| text(c.type_())) {
        return Err(malformed(format!(
            "it returns {} column(s) ({}); it must return two text columns, bucket and key",
            columns.len(),
            columns.join(", ")
        )));
    }
    let rows = target
        .bounded(what, async {
            client
                .query_raw(&statement, std::iter::empty::<&str>())
                .await
                .map_err(|e| target.error(what(), &e))
        })
        .await?;
    pin_mut!(rows);
    let mut references = 0u64;
    let mut distinct = BTreeSet::new();
    loop {
        let next = target
            .bounded(what, async { Ok(rows.next().await) })
            .await?;
        let row = match next {
            None => break,
            Some(Ok(row)) => row,
            Some(Err(e)) => return Err(target.error(what(), &e).into()),
        };
        let (bucket, key): (Option<String>, Option<String>) = (row.get(0), row.get(1));
        if let (Some(bucket), Some(key)) = (bucket, key) {
            references += 1;
            distinct.insert(ObjectRef { bucket, key });
        }
    }
    Ok(RefSet {
        sql: query.sql.clone(),
        search_path: path.to_string(),
        references,
        distinct,
    })
}

/// Whether the server refused the query itself (syntax, unknown names, wrong types: SQLSTATE
/// class 42 other than insufficient privilege, or a feature not supported), rather than failed
/// while running it.
fn is_malformed(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        let code = db.code().code();
        (code.starts_with("42") && code != "42501") || code == "0A000"
    })
}
