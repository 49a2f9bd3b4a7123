//! The native restore: an archive back into a database, without `pg_restore`.
//!
//! It restores what pg_dump 14–18 write (and what fullsite's dumper writes, the same entries):
//! directory and custom archives, versions 1.12 to 1.16, uncompressed, gzip, zstd or LZ4,
//! every entry kind, large objects included, in pg_restore's order (see `plan`).
//!
//! Safety first: before the first statement that changes the target, the whole TOC is parsed
//! and planned, every data stream (tables' COPY data, large objects) is decoded to its end (or,
//! for files just proven intact by their BLAKE3 against a fullsite manifest, found present: see
//! [`DataCheck`]), the target is reached, the role is checked for the privileges the restore
//! needs (CREATE on the database, ownership of every schema it will replace), and what the
//! target holds outside schemas is listed (see `replace`). Any failure up to there leaves the
//! target exactly as it was: an archive newer than this version reads is not supported, a
//! damaged or inconsistent one damage, a file the system will not let us read a failure (see
//! [`SourceError::kind`]). Then, in one transaction, the schemas the archive holds and every
//! database-wide object are dropped and the schemas recreated (see `replace`: the target ends up
//! with exactly the archive's objects), and the plan runs phase by phase (see `plan`).

mod blobs;
mod custom;
pub(crate) mod decode;
pub(crate) mod plan;
pub(crate) mod privileges;
mod replace;
pub(crate) mod roles;
pub(crate) mod run;
pub mod select;
pub mod source;
mod statements;
mod tables;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use self::plan::RestorePlan;
use self::select::{Destination, SelectError, Selected, TableSelection};
use self::source::{Archive, SourceError};
use crate::error::ErrorKind;
use crate::pg::connect::{PgError, Target};

/// Restore settings.
#[derive(Debug, Clone, Copy)]
pub struct RestoreOptions {
    /// Parallel connections for data and post-data (1 with `single_transaction`).
    pub jobs: usize,
    /// Everything in one transaction on one connection: all or nothing.
    pub single_transaction: bool,
    /// Give objects the owners the archive records (`ALTER ... OWNER TO`), as pg_restore
    /// does unless `--no-owner`.
    pub owners: bool,
    /// Run the archive's ACL and DEFAULT ACL entries, as pg_restore does unless
    /// `--no-privileges`.
    pub privileges: bool,
}

/// How much of the data streams [`check_archive`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataCheck {
    /// Decode every stream to its end: a missing file, a flipped byte or a truncated member
    /// is found before the target changes.
    Decode,
    /// Only make sure every data file is there. For archives whose every byte was just matched
    /// against the BLAKE3 the backup recorded in its manifest: they are the very bytes the
    /// backup's encoder wrote, so decoding them again would find nothing new.
    Present,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct RestoreSummary {
    /// Tables whose data was loaded.
    pub tables: usize,
    /// TOC entries run.
    pub entries: usize,
    /// COPY bytes sent.
    pub bytes: u64,
    /// Seconds spent checking before changing anything.
    pub check_seconds: f64,
    /// A table restore's tables, as `schema.name` (empty for a whole-database restore).
    pub selected_tables: Vec<String>,
}

/// Why a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The archive is damaged or unsupported.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The server refused or failed.
    #[error(transparent)]
    Pg(#[from] PgError),
    /// Roles the archive gives objects to, or grants privileges to or from, do not exist on
    /// the target.
    #[error(
        "cannot restore into {target}: the archive names {} role(s) that do not exist there: {}; \
         create them first, or restore with {}",
        .roles.len(),
        .roles.join(", "),
        .hint
    )]
    MissingRoles {
        /// The target, as `user@host:port/database`.
        target: String,
        /// The missing roles, quoted where needed.
        roles: Vec<String>,
        /// The flags that would leave them out (`--no-owner`, `--no-privileges`).
        hint: String,
    },
    /// `--table` / `--schema` name something the archive does not hold.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// A table restore would take away what other objects of the target depend on.
    #[error(
        "cannot replace the selected table(s) in {target}: {}; {hint}",
        .dependents.join("; ")
    )]
    Dependents {
        /// The target, as `user@host:port/database`.
        target: String,
        /// What depends on them, one phrase each.
        dependents: Vec<String>,
        /// What the operator can do.
        hint: &'static str,
    },
    /// A bug: the plan cannot be run as it is.
    #[error("internal error: {0}")]
    Internal(String),
    /// A worker task panicked or was cancelled.
    #[error("internal error: {what} failed: {source}")]
    Task {
        /// Which task.
        what: &'static str,
        /// The runtime's report.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl RestoreError {
    /// The archive's errors say their own kind; roles missing on the target are for the
    /// operator to create ([`ErrorKind::Usage`]); the rest fails the restore.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RestoreError::Source(e) => e.kind(),
            RestoreError::Pg(e) => e.kind(),
            RestoreError::Select(e) => e.kind(),
            RestoreError::MissingRoles { .. } | RestoreError::Dependents { .. } => ErrorKind::Usage,
            RestoreError::Internal(_) | RestoreError::Task { .. } => ErrorKind::Failure,
        }
    }
}

/// An archive that passed every check that needs no database.
#[derive(Debug, Clone)]
pub struct Checked {
    archive: Arc<Archive>,
    plan: RestorePlan,
    /// Decoded bytes, when the data streams were decoded.
    bytes: Option<u64>,
    seconds: f64,
    /// A table restore's selection (`None`: the whole database).
    selected: Option<Selected>,
}

/// A table restore: what to restore and where (see `select`).
#[derive(Debug, Clone)]
pub struct TableRestore {
    /// The tables and schemas named.
    pub selection: TableSelection,
    /// The live database, or another one.
    pub destination: Destination,
}

impl Checked {
    /// The files holding the data this restore loads: for a directory archive, the data files
    /// of the planned streams; for a custom-format archive, the archive file.
    pub fn data_files(&self) -> Result<Vec<std::path::PathBuf>, RestoreError> {
        if self.archive.custom.is_some() {
            return Ok(vec![self.archive.toc_path()]);
        }
        let mut files = Vec::new();
        for index in self.plan.streams() {
            if self.archive.holds_large_objects(index) {
                return Err(RestoreError::Internal(
                    "a table restore plans no large objects".into(),
                ));
            }
            files.push(self.archive.data_file(index)?.0);
        }
        Ok(files)
    }
}

/// Checks the archive at `path` without touching any database: TOC, plan (of the tables
/// `tables` selects, or of everything), and the data streams of the plan as `data` says.
pub async fn check_archive(
    path: &Path,
    threads: usize,
    data: DataCheck,
    tables: Option<TableRestore>,
) -> Result<Checked, RestoreError> {
    let path = path.to_path_buf();
    let started = Instant::now();
    tokio::task::spawn_blocking(move || {
        let archive = Archive::open(&path)?;
        let selected = tables
            .map(|t| select::select(&archive.entries, &t.selection, t.destination))
            .transpose()?;
        let planned = match &selected {
            Some(selected) => plan::plan_only(&archive.entries, |i| selected.keep[i]),
            None => plan::plan(&archive.entries),
        };
        let plan = planned.map_err(|source| SourceError::Plan {
            path: archive.toc_path(),
            source,
        })?;
        let streams = plan.streams();
        let bytes = match data {
            DataCheck::Decode => Some(archive.check(&streams, threads)?),
            DataCheck::Present => {
                archive.check_present(&streams)?;
                None
            }
        };
        Ok(Checked {
            archive: Arc::new(archive),
            plan,
            bytes,
            seconds: started.elapsed().as_secs_f64(),
            selected,
        })
    })
    .await
    .map_err(|source| RestoreError::Task {
        what: "archive check",
        source,
    })?
}

/// Restores a checked archive into `target` (which must exist).
pub async fn restore_database(
    checked: Checked,
    target: &Target,
    options: RestoreOptions,
) -> Result<RestoreSummary, RestoreError> {
    let started = Instant::now();
    let Checked {
        archive,
        mut plan,
        bytes,
        seconds,
        selected,
    } = checked;
    plan.restrict(options.owners, options.privileges);
    if let Some(selected) = selected {
        let checked = Checked {
            archive,
            plan,
            bytes,
            seconds,
            selected: None,
        };
        return restore_tables(checked, selected, target, started).await;
    }
    let client = run::session(target, &plan).await?;
    check_privileges(&client, target, &plan).await?;
    roles::check(&client, target, &archive.entries, &plan).await?;
    let replacement = replace::inventory(&client, target).await?;
    let check_seconds = seconds + started.elapsed().as_secs_f64();
    let data = match bytes {
        Some(bytes) => format!("{} of data decoded", crate::human::bytes(bytes)),
        None => "data files present and matching the manifest".to_string(),
    };
    tracing::info!(
        "archive checked in {check_seconds:.1}s: {} entries, {} tables, {} large object group(s), {data}; restoring into {target}",
        archive.entries.len(),
        plan.data.len(),
        plan.large_objects.len(),
    );
    log_replacement(&plan, &replacement);

    let sent = if options.single_transaction {
        client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| RestoreError::Pg(target.error("begin a transaction on", &e)))?;
        replace::replace(&client, target, &plan, &replacement, true).await?;
        run::serial(&client, target, &archive, &plan, &plan.pre_data).await?;
        run::serial(&client, target, &archive, &plan, &plan.after_data).await?;
        let mut sent = 0;
        for &index in &plan.data {
            let (load, std_strings) = (run::Load::Plain, plan.std_strings);
            sent +=
                run::copy_table(&client, target, archive.clone(), index, load, std_strings).await?;
        }
        for &index in &plan.large_objects {
            sent += run::load_large_objects(&client, target, archive.clone(), index, true).await?;
        }
        finish_in_transaction(&client, target, &archive, &plan).await?;
        sent
    } else {
        replace::replace(&client, target, &plan, &replacement, false).await?;
        run::serial(&client, target, &archive, &plan, &plan.pre_data).await?;
        run::serial(&client, target, &archive, &plan, &plan.after_data).await?;
        let sent = run::load_and_index(target, archive.clone(), &plan, options.jobs).await?;
        run::privileges(&client, target, &archive, &plan).await?;
        run::serial(&client, target, &archive, &plan, &plan.last).await?;
        sent
    };
    Ok(RestoreSummary {
        tables: plan.data.len(),
        entries: plan.entries(),
        bytes: sent,
        check_seconds,
        selected_tables: Vec::new(),
    })
}

/// A table restore (see `select` and `tables`): after the checks, one transaction on one
/// connection drops the selected tables and creates them again with their data, indexes,
/// constraints and the rest, so the target ends with the tables as the archive holds them,
/// or, on any failure, exactly as it was.
async fn restore_tables(
    checked: Checked,
    selected: Selected,
    target: &Target,
    started: Instant,
) -> Result<RestoreSummary, RestoreError> {
    let Checked {
        archive,
        plan,
        bytes,
        seconds,
        ..
    } = checked;
    let client = run::session(target, &plan).await?;
    roles::check(&client, target, &archive.entries, &plan).await?;
    let into_other = selected.destination == Destination::OtherDatabase;
    tables::refuse_dependents(&client, target, &selected, into_other).await?;
    let missing = tables::missing_schemas(&client, target, &selected).await?;
    let check_seconds = seconds + started.elapsed().as_secs_f64();
    let names: Vec<String> = selected
        .tables
        .iter()
        .map(|(s, n)| select::display_qualified(s, n))
        .collect();
    let data = match bytes {
        Some(bytes) => format!("{} of data decoded", crate::human::bytes(bytes)),
        None => "their data files present and matching the manifest".to_string(),
    };
    let action = if into_other { "creating" } else { "replacing" };
    tracing::info!(
        "archive checked in {check_seconds:.1}s: {} table(s) selected ({}), {data}; {action} them in {target}, in one transaction",
        names.len(),
        names.join(", ")
    );
    for (index, reason) in &selected.skipped {
        let entry = &archive.entries[*index];
        tracing::info!("not restoring {} {}: {reason}", entry.desc, entry.tag);
    }

    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| RestoreError::Pg(target.error("begin a transaction on", &e)))?;
    tables::make_room(&client, target, &selected, &missing).await?;
    run::serial(&client, target, &archive, &plan, &plan.pre_data).await?;
    run::serial(&client, target, &archive, &plan, &plan.after_data).await?;
    let mut sent = 0;
    for &index in &plan.data {
        let (load, std_strings) = (run::Load::Plain, plan.std_strings);
        sent += run::copy_table(&client, target, archive.clone(), index, load, std_strings).await?;
    }
    finish_in_transaction(&client, target, &archive, &plan).await?;
    Ok(RestoreSummary {
        tables: plan.data.len(),
        entries: plan.entries(),
        bytes: sent,
        check_seconds,
        selected_tables: names,
    })
}

/// Says what the replace step drops.
/// The end of a restore in one transaction: post-data entries, privileges, the last entries,
/// then COMMIT.
async fn finish_in_transaction(
    client: &tokio_postgres::Client,
    target: &Target,
    archive: &Archive,
    plan: &RestorePlan,
) -> Result<(), RestoreError> {
    let post: Vec<usize> = plan.post_data.iter().map(|s| s.entry).collect();
    run::serial(client, target, archive, plan, &post).await?;
    run::privileges(client, target, archive, plan).await?;
    run::serial(client, target, archive, plan, &plan.last).await?;
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| RestoreError::Pg(target.error("commit the restore on", &e)))?;
    Ok(())
}

fn log_replacement(plan: &RestorePlan, replacement: &replace::Replacement) {
    let mut parts = vec![format!("schema(s) {}", plan.drop_schemas.join(", "))];
    if !replacement.objects.is_empty() {
        let names: Vec<String> = replacement
            .objects
            .iter()
            .map(|(kind, name)| format!("{kind} {name}"))
            .collect();
        parts.push(names.join(", "));
    }
    if replacement.large_objects > 0 {
        parts.push(format!("{} large object(s)", replacement.large_objects));
    }
    tracing::info!("replacing {}", parts.join("; "));
}

/// Refuses early when the role cannot create schemas or does not own a schema to replace.
async fn check_privileges(
    client: &tokio_postgres::Client,
    target: &Target,
    plan: &RestorePlan,
) -> Result<(), RestoreError> {
    let row = client
        .query_one(
            "SELECT r.rolsuper AS superuser, \
                    pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE') AS can_create, \
                    COALESCE((SELECT pg_catalog.array_agg(n.nspname ORDER BY n.nspname) \
                                FROM pg_catalog.pg_namespace n \
                               WHERE n.nspname = ANY ($1) AND NOT pg_catalog.pg_has_role(n.nspowner, 'USAGE')), '{}') AS not_owned \
             FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
            &[&plan.drop_schemas],
        )
        .await
        .map_err(|e| target.error("check privileges on", &e))?;
    let (superuser, can_create, not_owned): (bool, bool, Vec<String>) = (
        row.get("superuser"),
        row.get("can_create"),
        row.get("not_owned"),
    );
    let problem = if superuser {
        None
    } else if !can_create {
        Some("the role may not create schemas in this database".to_string())
    } else if !not_owned.is_empty() {
        Some(format!(
            "the role does not own schema(s) {} that the restore replaces",
            not_owned.join(", ")
        ))
    } else {
        None
    };
    match problem {
        Some(message) => Err(RestoreError::Pg(PgError {
            target: target.to_string(),
            action: "restore into".into(),
            message,
        })),
        None => Ok(()),
    }
}
