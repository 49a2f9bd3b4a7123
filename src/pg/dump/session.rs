//! One consistent snapshot for the whole dump, shared by every connection.
//!
//! The leader opens a `REPEATABLE READ, READ ONLY` transaction, exports its snapshot with
//! `pg_export_snapshot()`, reads the catalogs and takes `ACCESS SHARE` locks on the tables it
//! will dump (so no DDL can change them underneath). Workers open their own transactions and
//! adopt the exported snapshot with `SET TRANSACTION SNAPSHOT` before copying any data, so every
//! table is read as of the same instant. The leader's transaction stays open until all workers
//! have started theirs (the exported snapshot is only importable while it is).
//!
//! Session settings match pg_dump's: an empty `search_path` (the server then schema-qualifies
//! every name it deparses), ISO dates, `extra_float_digits = 3` (floats round-trip),
//! `row_security = off` (a policy must not silently hide rows), and no timeouts.

use tokio_postgres::Client;

use crate::pg::connect::{PgError, Target};

const SESSION_SETUP: &str = "\
SET client_encoding = 'UTF8';
SET DateStyle = ISO;
SET IntervalStyle = postgres;
SET extra_float_digits = 3;
SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET synchronize_seqscans = off;
SET row_security = off;
SELECT pg_catalog.set_config('search_path', '', false);";

/// The leader connection holding the exported snapshot.
pub struct Leader {
    /// The connection, inside the snapshot transaction.
    pub client: Client,
    /// The exported snapshot id.
    pub snapshot: String,
    /// `server_version` as the server reports it.
    pub server_version: String,
    /// `server_version_num`, e.g. 150019.
    pub server_version_num: i32,
}

impl Leader {
    /// Connects, starts the snapshot transaction and exports it.
    pub async fn start(target: &Target) -> Result<Leader, PgError> {
        let client = target.connect().await?;
        client
            .batch_execute(SESSION_SETUP)
            .await
            .map_err(|e| target.error("set up a session on", &e))?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(|e| target.error("start the snapshot transaction on", &e))?;
        let row = client
            .query_one(
                "SELECT pg_catalog.pg_export_snapshot(), \
                 pg_catalog.current_setting('server_version'), \
                 pg_catalog.current_setting('server_version_num')::int",
                &[],
            )
            .await
            .map_err(|e| target.error("export a snapshot from", &e))?;
        let leader = Leader {
            snapshot: row.get(0),
            server_version: row.get(1),
            server_version_num: row.get(2),
            client,
        };
        if leader.server_version_num < 120000 {
            return Err(PgError {
                target: target.to_string(),
                action: "dump".into(),
                message: format!(
                    "server version {} is not supported (PostgreSQL 12 or newer is)",
                    leader.server_version
                ),
            });
        }
        Ok(leader)
    }

    /// Takes `ACCESS SHARE` locks on the given (already quoted, qualified) table names.
    pub async fn lock_tables(&self, target: &Target, tables: &[String]) -> Result<(), PgError> {
        for batch in tables.chunks(500) {
            let sql = format!("LOCK TABLE {} IN ACCESS SHARE MODE", batch.join(", "));
            self.client
                .batch_execute(&sql)
                .await
                .map_err(|e| target.error("lock the tables to dump on", &e))?;
        }
        Ok(())
    }
}

/// Opens a worker connection reading the leader's snapshot.
pub async fn worker(target: &Target, snapshot: &str) -> Result<Client, PgError> {
    let client = target.connect().await?;
    client
        .batch_execute(SESSION_SETUP)
        .await
        .map_err(|e| target.error("set up a session on", &e))?;
    // SET TRANSACTION SNAPSHOT must be the first statement after BEGIN, so it gets its own
    // round trip rather than sharing an implicit transaction with the setup.
    let join = format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSET TRANSACTION SNAPSHOT {};",
        crate::pg::quote::literal(snapshot)
    );
    client
        .batch_execute(&join)
        .await
        .map_err(|e| target.error("join the dump snapshot on", &e))?;
    Ok(client)
}
