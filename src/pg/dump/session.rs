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
//!
//! Lock courtesy: the table locks are taken with `NOWAIT`, a batch per statement, and tried
//! again with a short backoff while another session holds or awaits a conflicting lock. So the
//! dump never sits in a table's lock queue: an application's queries never queue behind it
//! waiting for a migration, and a migration that comes first goes first. Only when the locks
//! still cannot be had after the lock wait does the dump fail, naming the table and the
//! sessions in the way. (Once taken, the ACCESS SHARE locks are held to the end of the dump, as
//! pg_dump holds them: an `ALTER TABLE` issued meanwhile waits for the dump to finish.)

use std::time::{Duration, Instant};

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::error::ErrorKind;
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
        run(target, &client, "set up a session on", SESSION_SETUP).await?;
        let begin = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
        run(target, &client, "start the snapshot transaction on", begin).await?;
        let what = || "export a snapshot from".to_string();
        let row = target
            .bounded(what, async {
                client
                    .query_one(
                        "SELECT pg_catalog.pg_export_snapshot() AS snapshot, \
                         pg_catalog.current_setting('server_version') AS server_version, \
                         pg_catalog.current_setting('server_version_num')::int AS version_num",
                        &[],
                    )
                    .await
                    .map_err(|e| target.error(what(), &e))
            })
            .await?;
        let leader = Leader {
            snapshot: row.get("snapshot"),
            server_version: row.get("server_version"),
            server_version_num: row.get("version_num"),
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

    /// Takes `ACCESS SHARE` locks on `tables` (OID and quoted, qualified name), without ever
    /// queueing (see the module documentation), trying for up to `wait`.
    pub async fn lock_tables(
        &self,
        target: &Target,
        tables: &[(u32, String)],
        wait: Duration,
    ) -> Result<(), LockError> {
        let started = Instant::now();
        let failed = |e: &tokio_postgres::Error| target.error("lock the tables to dump on", e);
        for batch in tables.chunks(500) {
            let names: Vec<&str> = batch.iter().map(|(_, name)| name.as_str()).collect();
            let sql = format!(
                "SAVEPOINT fullsite_lock; LOCK TABLE {} IN ACCESS SHARE MODE NOWAIT; \
                 RELEASE SAVEPOINT fullsite_lock",
                names.join(", ")
            );
            let mut backoff = Duration::from_millis(50);
            loop {
                let attempt = target
                    .bounded(|| "lock the tables to dump on".to_string(), async {
                        Ok(self.client.batch_execute(&sql).await)
                    })
                    .await?;
                match attempt {
                    Ok(()) => break,
                    Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                        self.client
                            .batch_execute("ROLLBACK TO SAVEPOINT fullsite_lock")
                            .await
                            .map_err(|e| failed(&e))?;
                        if started.elapsed() >= wait {
                            let oids: Vec<u32> = batch.iter().map(|(oid, _)| *oid).collect();
                            let blockers = self.blockers(&oids).await.map_err(|e| failed(&e))?;
                            return Err(LockError::Timeout {
                                target: target.to_string(),
                                waited: wait,
                                blockers,
                            });
                        }
                        tokio::time::sleep(backoff.min(wait.saturating_sub(started.elapsed())))
                            .await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                    Err(e) => return Err(failed(&e).into()),
                }
            }
        }
        Ok(())
    }

    /// The other sessions holding or awaiting a lock that conflicts with ACCESS SHARE (that
    /// is, ACCESS EXCLUSIVE) on any of `tables`, holders first.
    async fn blockers(&self, tables: &[u32]) -> Result<Vec<Blocker>, tokio_postgres::Error> {
        let rows = self
            .client
            .query(
                "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS table_name, \
                        a.pid, a.application_name, l.granted, \
                        pg_catalog.to_char(a.query_start, 'YYYY-MM-DD HH24:MI:SS TZ') AS since, \
                        a.state, \
                        pg_catalog.split_part(pg_catalog.btrim(a.query), E'\n', 1) AS query \
                 FROM pg_catalog.pg_locks l \
                 JOIN pg_catalog.pg_class c ON c.oid = l.relation \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' \
                   AND l.pid <> pg_catalog.pg_backend_pid() AND l.relation = ANY($1) \
                 ORDER BY l.granted DESC, a.query_start",
                &[&tables],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| Blocker {
                table: row.get("table_name"),
                pid: row.get("pid"),
                application: row.get("application_name"),
                holds: row.get("granted"),
                since: row.get("since"),
                state: row.get("state"),
                query: row.get("query"),
            })
            .collect())
    }
}

/// Opens a worker connection reading the leader's snapshot.
pub async fn worker(target: &Target, snapshot: &str) -> Result<Client, PgError> {
    let client = target.connect().await?;
    run(target, &client, "set up a session on", SESSION_SETUP).await?;
    // SET TRANSACTION SNAPSHOT must be the first statement after BEGIN, so it gets its own
    // round trip rather than sharing an implicit transaction with the setup.
    let join = format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSET TRANSACTION SNAPSHOT {};",
        crate::pg::quote::literal(snapshot)
    );
    run(target, &client, "join the dump snapshot on", &join).await?;
    Ok(client)
}

/// Runs `sql` on `client` under the stall watch.
async fn run(target: &Target, client: &Client, what: &str, sql: &str) -> Result<(), PgError> {
    target.batch(client, sql, || what.to_string()).await
}

/// A session in the way of the dump's table locks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    /// The table, quoted and qualified.
    pub table: String,
    /// The session's process id.
    pub pid: Option<i32>,
    /// Its `application_name`.
    pub application: Option<String>,
    /// Whether it holds the lock (else it awaits it, ahead of the dump in the queue).
    pub holds: bool,
    /// When its current query started.
    pub since: Option<String>,
    /// Its state (`active`, `idle in transaction`, ...).
    pub state: Option<String>,
    /// The first line of its current (or last) query.
    pub query: Option<String>,
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
        write!(
            f,
            "session {} (application '{}', {}, query started {}) {} ACCESS EXCLUSIVE on {}: {}",
            self.pid.map_or("?".into(), |p| p.to_string()),
            opt(&self.application),
            opt(&self.state),
            opt(&self.since),
            if self.holds { "holds" } else { "awaits" },
            self.table,
            crate::human::printable(&opt(&self.query)),
        )
    }
}

/// Why the dump's table locks could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Other sessions held or awaited conflicting locks for the whole lock wait.
    #[error(
        "cannot dump postgresql://{target}: could not lock its tables within {}s (--lock-wait-timeout): {}",
        .waited.as_secs(),
        describe_blockers(.blockers)
    )]
    Timeout {
        /// The server and database.
        target: String,
        /// The lock wait.
        waited: Duration,
        /// The sessions in the way (empty when they were gone by the time they were looked up).
        blockers: Vec<Blocker>,
    },
    /// The server refused or failed.
    #[error(transparent)]
    Pg(#[from] PgError),
}

impl LockError {
    /// Always [`ErrorKind::Failure`]: the database was busy or failed.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Failure
    }
}

fn describe_blockers(blockers: &[Blocker]) -> String {
    if blockers.is_empty() {
        return "another session held a conflicting lock (it was gone when looked up)".into();
    }
    blockers
        .iter()
        .map(Blocker::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
