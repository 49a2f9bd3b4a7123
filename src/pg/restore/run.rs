//! Carrying out a [`RestorePlan`] against a database (see `plan` for the phases).
//!
//! Every connection gets pg_restore's session settings (no timeouts, the archive's encoding,
//! its search_path, `check_function_bodies = false`, `row_security = off`), plus
//! `synchronous_commit = off` (an interrupted restore is incomplete anyway, so waiting for each
//! commit's WAL flush buys nothing) and a larger `maintenance_work_mem` for index builds. COPY data is read
//! and decompressed on the blocking pool and streamed through a small bounded channel, so memory
//! does not grow with table size. With `single_transaction`, everything runs in order on one
//! connection inside one transaction, so a failure leaves the target exactly as it was.

use std::collections::{BTreeSet, VecDeque};
use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::Client;

use super::RestoreError;
use super::plan::RestorePlan;
use super::source::Archive;
use crate::pg::archive::TocEntry;
use crate::pg::connect::Target;
use crate::pg::quote::literal;

/// Bytes per COPY message.
const COPY_CHUNK: usize = 256 * 1024;

/// The SQL setting up a restore session.
pub fn session_setup(plan: &RestorePlan) -> String {
    format!(
        "SET statement_timeout = 0;\nSET lock_timeout = 0;\nSET idle_in_transaction_session_timeout = 0;\n\
         SET client_encoding = {};\nSET standard_conforming_strings = {};\n{}\
         SET check_function_bodies = false;\nSET xmloption = content;\n\
         SET client_min_messages = warning;\nSET row_security = off;\n\
         SET synchronous_commit = off;\nSET maintenance_work_mem = '256MB';\n",
        literal(&plan.encoding),
        if plan.std_strings { "on" } else { "off" },
        plan.search_path.clone().unwrap_or_default()
    )
}

/// The statements for one entry: per-entry settings, then its definition.
pub fn entry_sql(plan: &RestorePlan, entry: &TocEntry) -> String {
    let mut sql = String::new();
    if plan.search_path.is_none()
        && let Some(namespace) = &entry.namespace
    {
        sql.push_str(&format!(
            "SET search_path = {}, pg_catalog;\n",
            ident(namespace)
        ));
    }
    if let Some(tablespace) = &entry.tablespace {
        sql.push_str(&format!(
            "SET default_tablespace = {};\n",
            literal(tablespace)
        ));
    }
    if let Some(access_method) = &entry.tableam {
        sql.push_str(&format!(
            "SET default_table_access_method = {};\n",
            ident(access_method)
        ));
    }
    sql.push_str(entry.defn.as_deref().unwrap_or_default());
    sql
}

/// A double-quoted identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Connects and applies the session settings.
pub async fn session(target: &Target, plan: &RestorePlan) -> Result<Client, RestoreError> {
    let client = target.connect().await?;
    client
        .batch_execute(&session_setup(plan))
        .await
        .map_err(|e| RestoreError::Pg(target.error("set up a restore session on", &e)))?;
    Ok(client)
}

async fn execute(
    client: &Client,
    target: &Target,
    entry: &TocEntry,
    sql: &str,
) -> Result<(), RestoreError> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| failed(target, entry, &e))
}

fn failed(target: &Target, entry: &TocEntry, error: &tokio_postgres::Error) -> RestoreError {
    RestoreError::Pg(target.error(
        format!(
            "restore {} {} (entry {}) into",
            entry.desc, entry.tag, entry.dump_id
        ),
        error,
    ))
}

/// Drops and recreates the archive's schemas, then runs pre-data entries in order.
pub async fn replace_and_create(
    client: &Client,
    target: &Target,
    archive: &Archive,
    plan: &RestorePlan,
) -> Result<(), RestoreError> {
    let mut sql = String::new();
    for schema in &plan.drop_schemas {
        sql.push_str(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE;\n",
            ident(schema)
        ));
    }
    for schema in &plan.create_schemas {
        sql.push_str(&format!("CREATE SCHEMA {};\n", ident(schema)));
    }
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| RestoreError::Pg(target.error("replace the archive's schemas in", &e)))?;
    if plan.create_schemas.iter().any(|s| s == "public") {
        // A new database's public schema: owned by the database owner, usable by everyone.
        let template = "ALTER SCHEMA public OWNER TO pg_database_owner;\n\
                        GRANT USAGE ON SCHEMA public TO PUBLIC;\n\
                        COMMENT ON SCHEMA public IS 'standard public schema';\n";
        if let Err(e) = client.batch_execute(template).await {
            tracing::warn!(
                "public schema recreated without its standard owner and privileges: {}",
                crate::pg::connect::describe(&e)
            );
        }
    }
    for &index in &plan.pre_data {
        let entry = &archive.entries[index];
        execute(client, target, entry, &entry_sql(plan, entry)).await?;
    }
    Ok(())
}

/// Streams one table's data with COPY FROM STDIN on `client`; returns the bytes sent.
pub async fn copy_table(
    client: &Client,
    target: &Target,
    archive: Arc<Archive>,
    index: usize,
) -> Result<u64, RestoreError> {
    let entry = archive.entries[index].clone();
    let copy = entry.copy_stmt.clone().unwrap_or_default();
    let sink = client
        .copy_in::<_, Bytes>(copy.trim_end())
        .await
        .map_err(|e| failed(target, &entry, &e))?;
    futures_util::pin_mut!(sink);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, String>>(4);
    let reader_archive = archive.clone();
    let reader = tokio::task::spawn_blocking(move || {
        let (path, mut reader) = match reader_archive.data_reader(index) {
            Ok(pair) => pair,
            Err(e) => {
                let _ = tx.blocking_send(Err(e.to_string()));
                return;
            }
        };
        loop {
            let mut buffer = vec![0u8; COPY_CHUNK];
            match reader.read(&mut buffer) {
                Ok(0) => return,
                Ok(n) => {
                    buffer.truncate(n);
                    if tx.blocking_send(Ok(Bytes::from(buffer))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(format!("cannot read '{}': {e}", path.display())));
                    return;
                }
            }
        }
    });
    let mut sent = 0u64;
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk.map_err(RestoreError::Internal)?;
        sent += chunk.len() as u64;
        sink.send(chunk)
            .await
            .map_err(|e| failed(target, &entry, &e))?;
        crate::failpoint::pause("restore:mid-copy").await;
    }
    sink.as_mut()
        .finish()
        .await
        .map_err(|e| failed(target, &entry, &e))?;
    reader
        .await
        .map_err(|e| RestoreError::Internal(format!("data reader failed: {e}")))?;
    Ok(sent)
}

/// Copies all tables with up to `jobs` connections, largest first; returns the bytes sent.
pub async fn copy_all(
    target: &Target,
    archive: Arc<Archive>,
    plan: &RestorePlan,
    jobs: usize,
) -> Result<u64, RestoreError> {
    let mut order: Vec<usize> = plan.data.clone();
    order.sort_by_key(|&i| std::cmp::Reverse(archive.data_size(i)));
    let queue = Arc::new(std::sync::Mutex::new(VecDeque::from(order)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..jobs.clamp(1, plan.data.len().max(1)) {
        let (target, archive, queue, plan) =
            (target.clone(), archive.clone(), queue.clone(), plan.clone());
        tasks.spawn(async move {
            let client = session(&target, &plan).await?;
            let mut sent = 0;
            loop {
                let next = queue
                    .lock()
                    .map_err(|_| RestoreError::Internal("work queue poisoned".into()))?
                    .pop_front();
                let Some(index) = next else { break };
                sent += copy_table(&client, &target, archive.clone(), index).await?;
            }
            Ok::<u64, RestoreError>(sent)
        });
    }
    let mut total = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(sent)) => total += sent,
            Ok(Err(e)) => {
                tasks.abort_all();
                return Err(e);
            }
            Err(e) => {
                tasks.abort_all();
                return Err(RestoreError::Internal(format!(
                    "a restore worker failed: {e}"
                )));
            }
        }
    }
    Ok(total)
}

/// Runs the post-data steps with up to `jobs` connections: a step starts once the steps it
/// waits for are done and no running step touches one of its tables.
pub async fn post_data(
    target: &Target,
    archive: &Archive,
    plan: &RestorePlan,
    jobs: usize,
) -> Result<(), RestoreError> {
    let steps = &plan.post_data;
    let mut free: Vec<Client> = Vec::new();
    let mut opened = 0;
    let mut started = vec![false; steps.len()];
    let mut finished = vec![false; steps.len()];
    let mut busy: BTreeSet<i32> = BTreeSet::new();
    let mut running = tokio::task::JoinSet::new();
    let mut remaining = steps.len();
    while remaining > 0 {
        while running.len() < jobs.max(1) {
            let next = (0..steps.len()).find(|&i| {
                !started[i]
                    && steps[i].after.iter().all(|&a| finished[a])
                    && steps[i].tables.is_disjoint(&busy)
            });
            let Some(i) = next else { break };
            let client = match free.pop() {
                Some(client) => client,
                None => {
                    opened += 1;
                    session(target, plan).await?
                }
            };
            started[i] = true;
            busy.extend(&steps[i].tables);
            let entry = archive.entries[steps[i].entry].clone();
            let sql = entry_sql(plan, &entry);
            let target = target.clone();
            running.spawn(async move {
                let result = execute(&client, &target, &entry, &sql).await;
                (i, client, result)
            });
        }
        let Some(joined) = running.join_next().await else {
            return Err(RestoreError::Internal(
                "post-data steps wait on each other in a cycle".into(),
            ));
        };
        let (i, client, result) =
            joined.map_err(|e| RestoreError::Internal(format!("a restore worker failed: {e}")))?;
        if let Err(e) = result {
            running.abort_all();
            return Err(e);
        }
        finished[i] = true;
        remaining -= 1;
        for table in &steps[i].tables {
            busy.remove(table);
        }
        free.push(client);
    }
    tracing::debug!("post-data ran on {opened} connection(s)");
    Ok(())
}

/// Runs `entries` in order on `client`.
pub async fn serial(
    client: &Client,
    target: &Target,
    archive: &Archive,
    plan: &RestorePlan,
    entries: &[usize],
) -> Result<(), RestoreError> {
    for &index in entries {
        let entry = &archive.entries[index];
        execute(client, target, entry, &entry_sql(plan, entry)).await?;
    }
    Ok(())
}
