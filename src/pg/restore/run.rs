//! Carrying out a [`RestorePlan`] against a database (see `plan` for the phases).
//!
//! Every connection gets pg_restore's session settings (no timeouts, the archive's encoding,
//! its search_path, `check_function_bodies = false`, `row_security = off`), plus
//! `synchronous_commit = off` (an interrupted restore is incomplete anyway, so waiting for each
//! commit's WAL flush buys nothing) and a larger `maintenance_work_mem` for index builds. COPY data is read
//! and decompressed on the blocking pool and streamed through a small bounded channel, so memory
//! does not grow with table size. With `single_transaction`, everything runs in order on one
//! connection inside one transaction, so a failure leaves the target exactly as it was.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::Client;

use super::RestoreError;
use super::plan::{Needs, RestorePlan};
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
    if !plan.skip_owners {
        sql.push_str(&super::privileges::alter_owner(entry));
    }
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

/// How a table's COPY runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// As the archive says, in the session's transaction.
    Plain,
    /// The table was created by this restore and this is its only data: in a transaction of
    /// its own that first empties it (`TRUNCATE ONLY`, a no-op on a fresh table), so that the
    /// COPY may use `FREEZE`. Frozen rows carry their hint bits and visibility-map bits from
    /// the start, so the index builds and foreign-key checks that read the table next do not
    /// dirty (and write out) every page of it again.
    Frozen,
}

/// Streams one table's data with COPY FROM STDIN on `client`; returns the bytes sent.
pub async fn copy_table(
    client: &Client,
    target: &Target,
    archive: Arc<Archive>,
    index: usize,
    load: Load,
) -> Result<u64, RestoreError> {
    let entry = archive.entries[index].clone();
    let copy = entry.copy_stmt.clone().unwrap_or_default();
    let copy = copy.trim_end();
    let frozen = match (load, copy.strip_suffix(';'), &entry.namespace) {
        (Load::Frozen, Some(statement), Some(namespace)) => {
            let truncate = format!(
                "BEGIN;\nTRUNCATE ONLY {}.{};\n",
                ident(namespace),
                ident(&entry.tag)
            );
            execute(client, target, &entry, &truncate).await?;
            Some(format!("{statement} WITH (FREEZE)"))
        }
        _ => None,
    };
    let sink = client
        .copy_in::<_, Bytes>(frozen.as_deref().unwrap_or(copy))
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
    if frozen.is_some() {
        execute(client, target, &entry, "COMMIT").await?;
    }
    Ok(sent)
}

/// One unit of the parallel phase.
#[derive(Debug, Clone, Copy)]
enum Work {
    /// A TABLE DATA entry (index into [`RestorePlan::data`]).
    Copy(usize),
    /// A post-data step (index into [`RestorePlan::post_data`]).
    Post(usize),
}

/// Loads every table's data and runs the post-data steps with up to `jobs` connections (see
/// `plan`, phase 4); returns the COPY bytes sent.
pub async fn load_and_index(
    target: &Target,
    archive: Arc<Archive>,
    plan: &RestorePlan,
    jobs: usize,
) -> Result<u64, RestoreError> {
    let steps = &plan.post_data;
    let size: Vec<u64> = plan.data.iter().map(|&i| archive.data_size(i)).collect();
    let mut copies: Vec<usize> = (0..plan.data.len()).collect();
    copies.sort_by_key(|&d| std::cmp::Reverse(size[d]));
    let mut copies = VecDeque::from(copies);
    // A step's priority: the most data among the tables it waits for.
    let weight: Vec<u64> = steps
        .iter()
        .map(|step| match &step.needs {
            Needs::Tables(loads) => loads.iter().map(|&d| size[d]).max().unwrap_or(0),
            Needs::AllData => 0,
        })
        .collect();
    // Two TABLE DATA entries for one table (pg_dump never writes that) must not empty it.
    let mut names: std::collections::HashMap<(Option<&str>, &str), usize> = Default::default();
    for &index in &plan.data {
        let entry = &archive.entries[index];
        *names
            .entry((entry.namespace.as_deref(), entry.tag.as_str()))
            .or_default() += 1;
    }
    let load: Vec<Load> = plan
        .data
        .iter()
        .map(|&index| {
            let entry = &archive.entries[index];
            if names[&(entry.namespace.as_deref(), entry.tag.as_str())] == 1 {
                Load::Frozen
            } else {
                Load::Plain
            }
        })
        .collect();
    let mut loaded = vec![false; plan.data.len()];
    let mut unloaded = plan.data.len();
    let mut started = vec![false; steps.len()];
    let mut finished = vec![false; steps.len()];
    let mut active: Vec<usize> = Vec::new();
    let mut free: Vec<Client> = Vec::new();
    let mut opened = 0;
    let mut running = tokio::task::JoinSet::new();
    let mut remaining = plan.data.len() + steps.len();
    let mut total = 0;
    while remaining > 0 {
        while running.len() < jobs.max(1) {
            let ready = (0..steps.len())
                .filter(|&i| {
                    let step = &steps[i];
                    !started[i]
                        && step.after.iter().all(|&a| finished[a])
                        && match &step.needs {
                            Needs::Tables(loads) => loads.iter().all(|&d| loaded[d]),
                            Needs::AllData => unloaded == 0,
                        }
                        && active.iter().all(|&j| {
                            !(step.exclusive || steps[j].exclusive)
                                || step.tables.is_disjoint(&steps[j].tables)
                        })
                })
                .max_by_key(|&i| (weight[i], std::cmp::Reverse(i)));
            let work = match (copies.front(), ready) {
                (Some(&d), Some(i)) if weight[i] > size[d] => Work::Post(i),
                (Some(&d), _) => Work::Copy(d),
                (None, Some(i)) => Work::Post(i),
                (None, None) => break,
            };
            let client = match free.pop() {
                Some(client) => client,
                None => {
                    opened += 1;
                    session(target, plan).await?
                }
            };
            let target = target.clone();
            match work {
                Work::Copy(d) => {
                    copies.pop_front();
                    let (archive, index, load) = (archive.clone(), plan.data[d], load[d]);
                    running.spawn(async move {
                        let result = copy_table(&client, &target, archive, index, load).await;
                        (work, client, result)
                    });
                }
                Work::Post(i) => {
                    started[i] = true;
                    active.push(i);
                    let entry = archive.entries[steps[i].entry].clone();
                    let sql = entry_sql(plan, &entry);
                    running.spawn(async move {
                        let result = execute(&client, &target, &entry, &sql).await.map(|()| 0);
                        (work, client, result)
                    });
                }
            }
        }
        let Some(joined) = running.join_next().await else {
            return Err(RestoreError::Internal(
                "post-data steps wait on each other in a cycle".into(),
            ));
        };
        let (work, client, result) =
            joined.map_err(|e| RestoreError::Internal(format!("a restore worker failed: {e}")))?;
        match result {
            Ok(sent) => total += sent,
            Err(e) => {
                running.abort_all();
                return Err(e);
            }
        }
        match work {
            Work::Copy(d) => {
                loaded[d] = true;
                unloaded -= 1;
            }
            Work::Post(i) => {
                finished[i] = true;
                active.retain(|&j| j != i);
            }
        }
        remaining -= 1;
        free.push(client);
    }
    tracing::debug!("data and post-data ran on {opened} connection(s)");
    Ok(total)
}

/// Runs the privileges pass (ACL and DEFAULT ACL entries) in order on `client`; an ACL entry of
/// a group of large objects is run for each of them.
pub async fn privileges(
    client: &Client,
    target: &Target,
    archive: &Archive,
    plan: &RestorePlan,
) -> Result<(), RestoreError> {
    for &index in &plan.privileges {
        let entry = &archive.entries[index];
        let blobs = entry.dependencies.first().and_then(|id| {
            archive
                .entries
                .iter()
                .find(|e| e.dump_id == *id && e.desc == "BLOB METADATA")
        });
        let mut expanded = entry.clone();
        expanded.defn = Some(super::privileges::acl_sql(entry, blobs));
        execute(client, target, entry, &entry_sql(plan, &expanded)).await?;
    }
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
