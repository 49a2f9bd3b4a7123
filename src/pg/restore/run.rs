//! Carrying out a [`RestorePlan`] against a database (see `plan` for the phases).
//!
//! Every connection gets pg_restore's session settings (no timeouts, the archive's encoding,
//! its search_path, `check_function_bodies = false`, `row_security = off`), plus
//! `synchronous_commit = off` (an interrupted restore is incomplete anyway, so waiting for each
//! commit's WAL flush buys nothing) and a larger `maintenance_work_mem` for index builds. COPY data
//! and large objects are read and decompressed on the blocking pool and streamed through a small
//! bounded channel, so memory does not grow with the size of a table or an object. With
//! `single_transaction`, everything runs in order on one connection inside one transaction, so a
//! failure leaves the target exactly as it was.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio_postgres::Client;

use super::RestoreError;
use super::plan::{Needs, RestorePlan};
use super::source::{Archive, SourceError, unreadable};
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
    // A partitioned table has no storage: its access method (archives 1.16+ record the relkind)
    // is set on it after its creation, as pg_restore does, not through the default.
    let partitioned = entry.relkind == i32::from(b'p');
    if let Some(access_method) = entry.tableam.as_ref().filter(|_| !partitioned) {
        sql.push_str(&format!(
            "SET default_table_access_method = {};\n",
            ident(access_method)
        ));
    }
    let defn = entry.defn.as_deref().unwrap_or_default();
    if entry.desc == "BLOB METADATA" {
        // The definition lists the group's OIDs, one a line (checked by `plan`).
        for oid in defn.split_whitespace() {
            sql.push_str(&format!("SELECT pg_catalog.lo_create('{oid}');\n"));
        }
    } else {
        sql.push_str(defn);
    }
    if let (true, Some(access_method), Some(namespace)) =
        (partitioned, &entry.tableam, &entry.namespace)
    {
        sql.push_str(&format!(
            "\nALTER TABLE {}.{} SET ACCESS METHOD {};\n",
            ident(namespace),
            ident(&entry.tag),
            ident(access_method)
        ));
    }
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
    target
        .batch(client, sql, || doing(entry))
        .await
        .map_err(RestoreError::Pg)
}

/// What restoring `entry` is called in messages.
fn doing(entry: &TocEntry) -> String {
    format!(
        "restore {} {} (entry {}) into",
        entry.desc, entry.tag, entry.dump_id
    )
}

fn failed(target: &Target, entry: &TocEntry, error: &tokio_postgres::Error) -> RestoreError {
    RestoreError::Pg(target.error(doing(entry), error))
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

/// Streams one table's data with COPY FROM STDIN on `client` (or, for data dumped as INSERT
/// commands, runs them); returns the bytes sent.
pub async fn copy_table(
    client: &Client,
    target: &Target,
    archive: Arc<Archive>,
    index: usize,
    load: Load,
    std_strings: bool,
) -> Result<u64, RestoreError> {
    let entry = archive.entries[index].clone();
    let copy = entry.copy_stmt.clone().unwrap_or_default();
    let copy = copy.trim_end();
    if copy.is_empty() {
        return run_inserts(client, target, archive, index, std_strings).await;
    }
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
    let what = || doing(&entry);
    let pg = |e: tokio_postgres::Error| target.error(what(), &e);
    let sink = target
        .bounded(what, async {
            client
                .copy_in::<_, Bytes>(frozen.as_deref().unwrap_or(copy))
                .await
                .map_err(pg)
        })
        .await?;
    futures_util::pin_mut!(sink);
    let (mut rx, reader) = stream_data(archive, index);
    let mut sent = 0u64;
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk?;
        sent += chunk.len() as u64;
        target
            .bounded(what, async { sink.send(chunk).await.map_err(pg) })
            .await?;
        crate::failpoint::pause(crate::failpoint::PausePoint::RestoreMidCopy).await;
    }
    target
        .bounded(what, async { sink.as_mut().finish().await.map_err(pg) })
        .await?;
    reader.await.map_err(|source| RestoreError::Task {
        what: "data reader",
        source,
    })?;
    if frozen.is_some() {
        execute(client, target, &entry, "COMMIT").await?;
    }
    Ok(sent)
}

/// Reads entry `index`'s data on the blocking pool, in chunks sent through a small channel.
fn stream_data(
    archive: Arc<Archive>,
    index: usize,
) -> (
    tokio::sync::mpsc::Receiver<Result<Bytes, SourceError>>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, SourceError>>(4);
    let reader = tokio::task::spawn_blocking(move || {
        let (path, mut reader) = match archive.data_reader(index) {
            Ok(pair) => pair,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        let _ = send_chunks(&tx, &path, &mut reader, |chunk| chunk);
    });
    (rx, reader)
}

/// Sends `reader`'s bytes through `tx` in full [`COPY_CHUNK`] pieces (the last may be
/// shorter), each wrapped by `wrap`; `Err(())` when the receiver is gone or reading failed
/// (the error was sent). Pieces are filled whatever a decoder returns per read (LZ4's returns
/// one block of 64 KiB or less), so each allocation carries a whole chunk.
fn send_chunks<T>(
    tx: &tokio::sync::mpsc::Sender<Result<T, SourceError>>,
    path: &std::path::Path,
    reader: &mut dyn Read,
    wrap: impl Fn(Bytes) -> T,
) -> Result<(), ()> {
    loop {
        let mut buffer = Vec::with_capacity(COPY_CHUNK);
        match reader.take(COPY_CHUNK as u64).read_to_end(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                tx.blocking_send(Ok(wrap(Bytes::from(buffer))))
                    .map_err(drop)?;
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(unreadable(path, e)));
                return Err(());
            }
        }
    }
}

/// Bytes of INSERT statements sent per round trip.
const INSERT_BATCH: usize = 1 << 20;

/// Runs the INSERT commands of a TABLE DATA entry without a COPY statement (see `statements`),
/// in batches; returns the bytes sent.
async fn run_inserts(
    client: &Client,
    target: &Target,
    archive: Arc<Archive>,
    index: usize,
    std_strings: bool,
) -> Result<u64, RestoreError> {
    let entry = archive.entries[index].clone();
    let (mut rx, reader) = stream_data(archive, index);
    let mut splitter = super::statements::Splitter::new(std_strings);
    let mut batch: Vec<u8> = Vec::new();
    let mut sent = 0u64;
    let mut run = async |batch: &mut Vec<u8>| -> Result<(), RestoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let sql = String::from_utf8(std::mem::take(batch)).map_err(|_| {
            RestoreError::Internal(format!("the data of {} is not UTF-8", entry.tag))
        })?;
        sent += sql.len() as u64;
        execute(client, target, &entry, &sql).await
    };
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk?;
        splitter.feed(&chunk, &mut |statement| {
            batch.extend_from_slice(statement);
            batch.push(b'\n');
        });
        if batch.len() >= INSERT_BATCH {
            run(&mut batch).await?;
        }
    }
    if let Some(rest) = splitter.rest() {
        batch.extend_from_slice(rest);
    }
    run(&mut batch).await?;
    reader.await.map_err(|source| RestoreError::Task {
        what: "data reader",
        source,
    })?;
    Ok(sent)
}

/// Writes the large objects of BLOBS entry `index` (created already by their BLOB or BLOB
/// METADATA entries) with `lo_put`, streamed in chunks, in a transaction of its own unless
/// `in_transaction`; returns the bytes written.
pub async fn load_large_objects(
    client: &Client,
    target: &Target,
    archive: Arc<Archive>,
    index: usize,
    in_transaction: bool,
) -> Result<u64, RestoreError> {
    /// What the reader hands over: the next object, or a piece of the current one.
    enum Piece {
        Object(u32),
        Bytes(Bytes),
    }
    let entry = archive.entries[index].clone();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Piece, SourceError>>(4);
    let reader = tokio::task::spawn_blocking(move || {
        let result = archive.for_each_large_object(index, &mut |oid, path, stream| {
            let stopped = || SourceError::Damaged {
                path: path.to_path_buf(),
                reason: "the restore stopped reading it".into(),
            };
            tx.blocking_send(Ok(Piece::Object(oid)))
                .map_err(|_| stopped())?;
            send_chunks(&tx, path, stream, Piece::Bytes).map_err(|()| stopped())
        });
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(e));
        }
    });
    if !in_transaction {
        execute(client, target, &entry, "BEGIN").await?;
    }
    let put = client
        .prepare(
            "SELECT pg_catalog.count(pg_catalog.lo_put(p.object, p.at, p.bytes)) \
             FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.oid[]), \
                             pg_catalog.unnest($2::pg_catalog.int8[]), \
                             pg_catalog.unnest($3::pg_catalog.bytea[])) AS p(object, at, bytes)",
        )
        .await
        .map_err(|e| failed(target, &entry, &e))?;
    let mut batch = PutBatch::default();
    let (mut oid, mut offset, mut sent) = (0u32, 0i64, 0u64);
    while let Some(piece) = rx.recv().await {
        match piece? {
            Piece::Object(next) => (oid, offset) = (next, 0),
            Piece::Bytes(bytes) => {
                let len = bytes.len();
                batch.push(oid, offset, bytes);
                offset += len as i64;
                sent += len as u64;
                if batch.bytes >= COPY_CHUNK || batch.objects.len() >= PUT_BATCH_PIECES {
                    batch.send(client, target, &entry, &put).await?;
                }
            }
        }
    }
    batch.send(client, target, &entry, &put).await?;
    reader.await.map_err(|source| RestoreError::Task {
        what: "large object reader",
        source,
    })?;
    if !in_transaction {
        execute(client, target, &entry, "COMMIT").await?;
    }
    Ok(sent)
}

/// Most pieces of large objects written by one statement.
const PUT_BATCH_PIECES: usize = 1000;

/// Pieces of large objects written together by one `lo_put` statement, so that many small
/// objects cost one round trip rather than one each (a big object's pieces go one by one:
/// a piece is as big as a batch).
#[derive(Default)]
struct PutBatch {
    objects: Vec<u32>,
    offsets: Vec<i64>,
    pieces: Vec<Bytes>,
    bytes: usize,
}

impl PutBatch {
    fn push(&mut self, oid: u32, offset: i64, bytes: Bytes) {
        self.bytes += bytes.len();
        self.objects.push(oid);
        self.offsets.push(offset);
        self.pieces.push(bytes);
    }

    /// Writes the pieces, if any, and empties the batch.
    async fn send(
        &mut self,
        client: &Client,
        target: &Target,
        entry: &TocEntry,
        put: &tokio_postgres::Statement,
    ) -> Result<(), RestoreError> {
        if self.objects.is_empty() {
            return Ok(());
        }
        let pieces: Vec<&[u8]> = self.pieces.iter().map(|b| &b[..]).collect();
        client
            .query_one(put, &[&self.objects, &self.offsets, &pieces])
            .await
            .map_err(|e| {
                let (first, last) = (self.objects[0], self.objects[self.objects.len() - 1]);
                RestoreError::Pg(target.error(
                    format!(
                        "write large objects {first}..{last} (entry {}) into",
                        entry.dump_id
                    ),
                    &e,
                ))
            })?;
        *self = PutBatch::default();
        Ok(())
    }
}

/// One unit of the parallel phase.
#[derive(Debug, Clone, Copy)]
enum Work {
    /// A TABLE DATA entry (index into [`RestorePlan::data`]).
    Copy(usize),
    /// A post-data step (index into [`RestorePlan::post_data`]).
    Post(usize),
    /// A BLOBS entry (index into [`RestorePlan::large_objects`]).
    LargeObjects(usize),
}

/// Loads every table's data and large object and runs the post-data steps with up to `jobs`
/// connections (see `plan`, phase 4); returns the data bytes sent. Large objects start first:
/// their size is not known ahead, and a BLOBS entry is one unit of work that cannot be split.
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
    // Two TABLE DATA entries for one table (pg_dump never writes that) must not empty it (nor
    // may other loads: see `may_empty_and_freeze`).
    let mut names: std::collections::HashMap<(Option<&str>, &str), usize> = Default::default();
    for &index in &plan.data {
        let entry = &archive.entries[index];
        *names
            .entry((entry.namespace.as_deref(), entry.tag.as_str()))
            .or_default() += 1;
    }
    let by_id: std::collections::HashMap<i32, &TocEntry> =
        archive.entries.iter().map(|e| (e.dump_id, e)).collect();
    let load: Vec<Load> = plan
        .data
        .iter()
        .map(|&index| {
            let entry = &archive.entries[index];
            if names[&(entry.namespace.as_deref(), entry.tag.as_str())] == 1
                && super::plan::may_empty_and_freeze(&by_id, entry)
            {
                Load::Frozen
            } else {
                Load::Plain
            }
        })
        .collect();
    let std_strings = plan.std_strings;
    let mut loaded = vec![false; plan.data.len()];
    let mut unloaded = plan.data.len();
    let mut started = vec![false; steps.len()];
    let mut finished = vec![false; steps.len()];
    let mut active: Vec<usize> = Vec::new();
    let mut free: Vec<Client> = Vec::new();
    let mut opened = 0;
    let mut running = tokio::task::JoinSet::new();
    let mut blobs: VecDeque<usize> = (0..plan.large_objects.len()).collect();
    let mut remaining = plan.data.len() + steps.len() + blobs.len();
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
                _ if !blobs.is_empty() => Work::LargeObjects(blobs[0]),
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
                        let result =
                            copy_table(&client, &target, archive, index, load, std_strings).await;
                        (work, client, result)
                    });
                }
                Work::LargeObjects(b) => {
                    blobs.pop_front();
                    let (archive, index) = (archive.clone(), plan.large_objects[b]);
                    running.spawn(async move {
                        let result =
                            load_large_objects(&client, &target, archive, index, false).await;
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
        let (work, client, result) = joined.map_err(|source| RestoreError::Task {
            what: "a restore worker",
            source,
        })?;
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
            Work::LargeObjects(_) => {}
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

/// Most consecutive BLOB entries sent in one round trip.
const BLOB_BATCH: usize = 1000;

/// Runs `entries` in order on `client`. Consecutive BLOB entries (archives up to 1.15 have one
/// per large object, each a `lo_create`) go [`BLOB_BATCH`] at a time, in one round trip; a
/// failure among them names the first and last.
pub async fn serial(
    client: &Client,
    target: &Target,
    archive: &Archive,
    plan: &RestorePlan,
    entries: &[usize],
) -> Result<(), RestoreError> {
    let mut rest = entries;
    while let Some(&index) = rest.first() {
        let entry = &archive.entries[index];
        let run = rest
            .iter()
            .take(BLOB_BATCH)
            .take_while(|&&i| archive.entries[i].desc == "BLOB")
            .count();
        if run > 1 {
            let group = &rest[..run];
            let sql: String = group
                .iter()
                .map(|&i| entry_sql(plan, &archive.entries[i]))
                .collect();
            let last = &archive.entries[group[run - 1]];
            let what = || {
                format!(
                    "restore BLOB {}..{} (entries {}..{}) into",
                    entry.tag, last.tag, entry.dump_id, last.dump_id
                )
            };
            target.batch(client, &sql, what).await?;
            rest = &rest[run..];
        } else {
            execute(client, target, entry, &entry_sql(plan, entry)).await?;
            rest = &rest[1..];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_methods_large_object_groups_and_search_paths() {
        let plan = RestorePlan {
            search_path: Some("SELECT pg_catalog.set_config('search_path', '', false);\n".into()),
            ..RestorePlan::default()
        };
        let mut table = TocEntry {
            desc: "TABLE".into(),
            tag: "events".into(),
            namespace: Some("app".into()),
            tableam: Some("heap2".into()),
            relkind: i32::from(b'r'),
            defn: Some("CREATE TABLE app.events (id integer);\n".into()),
            ..TocEntry::default()
        };
        assert_eq!(
            entry_sql(&plan, &table),
            "SET default_table_access_method = \"heap2\";\nCREATE TABLE app.events (id integer);\n"
        );
        table.relkind = i32::from(b'p');
        assert_eq!(
            entry_sql(&plan, &table),
            "CREATE TABLE app.events (id integer);\n\nALTER TABLE \"app\".\"events\" SET ACCESS METHOD \"heap2\";\n"
        );
        let metadata = TocEntry {
            desc: "BLOB METADATA".into(),
            defn: Some("16400\n16401\n".into()),
            ..TocEntry::default()
        };
        assert_eq!(
            entry_sql(&plan, &metadata),
            "SELECT pg_catalog.lo_create('16400');\nSELECT pg_catalog.lo_create('16401');\n"
        );
        let without = RestorePlan::default();
        assert!(
            entry_sql(&without, &table).starts_with("SET search_path = \"app\", pg_catalog;\n")
        );
    }

    /// A reader that hands out at most `step` bytes per call, as the LZ4 decoder does.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.data.len().min(self.step).min(buf.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn pieces_are_full_whatever_each_read_returns() {
        let data: Vec<u8> = (0..COPY_CHUNK * 2 + 1000)
            .map(|i| (i % 251) as u8)
            .collect();
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let mut reader = Trickle {
            data: &data,
            step: 65_536 + 7,
        };
        send_chunks(&tx, std::path::Path::new("t"), &mut reader, |chunk| chunk).unwrap();
        drop(tx);
        let mut sizes = Vec::new();
        let mut joined = Vec::new();
        while let Some(Ok(piece)) = rx.blocking_recv() {
            sizes.push(piece.len());
            joined.extend_from_slice(&piece);
        }
        assert_eq!(sizes, [COPY_CHUNK, COPY_CHUNK, 1000]);
        assert_eq!(joined, data);
    }
}
