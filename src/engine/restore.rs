//! A restore run: generation → root lock → verify everything (manifest hashes, archive TOC,
//! every data stream, servers reachable, privileges) → only then replace the database, then
//! put the objects back. A selected part the generation does not hold is skipped with a notice.
//!
//! A fullsite generation's data streams are not decoded ahead: its manifest check has just
//! matched every file's BLAKE3, so they are the bytes the backup wrote. Generations without a
//! manifest (legacy, stock archives) have every data stream decoded before anything changes.
//! A generation whose manifest check finds problems is refused ([`Error::Damaged`]) after
//! they are reported to [`Progress::checked`].
//!
//! A table restore (`tables`, see `pg::restore::select`) checks only what it reads: the
//! manifest's digest, `toc.dat` (hashed before it is parsed), then the data files of the
//! selected tables; nothing else of the generation is hashed, so restoring one table from a
//! big generation is quick. Without a manifest, only the selected tables' data is decoded.
//!
//! With a selection of objects (`--bucket`, `--prefix`, `--key`, `--to-dir`; the database left
//! out), the selected objects are read from the manifest first (a selection naming what the
//! generation lacks is refused, kind usage, before anything is checked or changed) and only
//! their files are hashed against it: a one-object restore of a 200k-object generation reads
//! the manifest once and hashes one file. `--to-dir` writes the objects as files instead of
//! uploading them, and needs no S3 server.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::error::{Error, Result};
use crate::config::{self, DbSettings, S3Settings};
use crate::generation::{Catalog, Generation, GenerationKind, GenerationName};
use crate::integrity::{Report, verify_files, verify_generation, verify_objects};
use crate::lock::RootLock;
use crate::manifest::Parts;
use crate::objects::generation_objects::GenerationObjects;
use crate::objects::patience::Patience;
use crate::objects::restore_buckets::{ObjectRestoreOptions, ObjectsRestored, restore_objects};
use crate::objects::s3::S3Store;
use crate::objects::selection::ObjectSelection;
use crate::objects::to_dir::{WrittenToDir, check_target, restore_to_dir};
use crate::pg::connect::Target;
use crate::pg::restore::select::{Destination, TableSelection};
use crate::pg::restore::{
    DataCheck, RestoreOptions, TableRestore, check_archive, restore_database,
};
use crate::progress::Progress;

/// Everything a restore needs, resolved once from flags, variables and defaults.
#[derive(Debug, Clone)]
pub struct RestoreSettings {
    /// The backup root.
    pub root: PathBuf,
    /// The generation to restore.
    pub name: GenerationName,
    /// The parts selected (at least one); a part the generation does not hold is skipped.
    pub parts: Parts,
    /// The configured database: the target unless `into_db` is given, and the connection used
    /// to create `into_db`.
    pub db: DbSettings,
    /// The S3 server, when the objects are selected.
    pub s3: Option<S3Settings>,
    /// Restore into this database instead (created if missing).
    pub into_db: Option<String>,
    /// Restore only these tables (`--table`, `--schema`), replacing just them.
    pub tables: Option<TableSelection>,
    /// All or nothing, on one connection.
    pub single_transaction: bool,
    /// Apply the owners the archive records (never for legacy generations).
    pub owners: bool,
    /// Apply the privileges the archive records.
    pub privileges: bool,
    /// Leave objects the generation does not hold.
    pub keep_extra: bool,
    /// Which objects to restore (everything by default).
    pub objects_selection: ObjectSelection,
    /// Write the selected objects as files under this directory instead of uploading them.
    pub to_dir: Option<PathBuf>,
    /// Parallel connections for table data and indexes (1 with `single_transaction`).
    pub jobs: usize,
    /// Object uploads at once.
    pub transfers: usize,
    /// Longest silence from a server before the run fails.
    pub stall_timeout: Duration,
    /// How long to wait for the root lock (`None`: fail at once when it is held).
    pub wait_lock: Option<Duration>,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct RestoreSummary {
    /// The database part, if restored.
    pub database: Option<crate::pg::restore::RestoreSummary>,
    /// The object part, if restored.
    pub objects: Option<ObjectsRestored>,
    /// The object part, if written to a directory.
    pub to_dir: Option<WrittenToDir>,
    /// Wall time from taking the lock to the end.
    pub seconds: f64,
}

/// Restores generation `settings.name`.
pub async fn restore(
    settings: &RestoreSettings,
    progress: &dyn Progress,
) -> Result<RestoreSummary> {
    let (root, name) = (&settings.root, &settings.name);
    let catalog = Catalog::scan(root)?;
    let generation = catalog
        .get(name.as_str())
        .filter(|g| g.is_complete())
        .ok_or_else(|| Error::GenerationNotFound {
            name: name.to_string(),
            root: root.clone(),
        })?
        .clone();
    let db = settings.parts.db && present(&generation, "database", generation.has_db());
    let objects =
        settings.parts.objects && present(&generation, "objects", generation.has_objects());
    if !db && !objects {
        return Err(Error::Usage(format!(
            "generation '{name}' holds none of the parts selected to restore"
        )));
    }
    let database = settings
        .into_db
        .clone()
        .unwrap_or_else(|| settings.db.name.clone());
    let stall = settings.stall_timeout;
    // Resolved only when the database is restored (an object selection needs no database host).
    let target = db
        .then(|| Target::resolve(&settings.db, &database).map(|t| t.with_stall(stall)))
        .transpose()?;
    let archive = db
        .then(|| archive_path(&generation, &settings.db))
        .transpose()?;
    let patience = Patience::new(stall);
    let s3 = match (&settings.s3, objects, &settings.to_dir) {
        (Some(s3), true, None) => Some(S3Store::new(s3, stall)?),
        _ => None,
    };
    if let Some(dir) = &settings.to_dir {
        check_target(dir)?;
    }

    let _lock = RootLock::acquire(root, "restore", settings.wait_lock).await?;
    let started = Instant::now();
    // The selected objects, sorted (a selection naming what the generation lacks is refused
    // here, before anything is checked or changed).
    let mut selected = match objects {
        true => Some(read_objects(&generation, &settings.objects_selection).await?),
        false => None,
    };
    // Only a selection of objects (no database) is verified by its own files alone.
    let objects_partial =
        !db && (settings.to_dir.is_some() || !settings.objects_selection.is_everything());
    let manifest = matches!(generation.kind, GenerationKind::Fullsite(_));
    let tables = settings.tables.clone().map(|selection| TableRestore {
        selection,
        destination: if settings.into_db.is_some() {
            Destination::OtherDatabase
        } else {
            Destination::LiveDatabase
        },
    });
    let threads = settings.jobs.max(config::cores());
    let data = if manifest {
        DataCheck::Present
    } else {
        DataCheck::Decode
    };
    if tables.is_some() && archive.is_none() {
        return Err(Error::Usage(format!(
            "generation '{name}' holds no database to restore tables from"
        )));
    }
    // A table restore alone reads only the TOC and the selected tables' data: only those are
    // hashed (the TOC before it is parsed). Anything else checks the whole generation.
    let tables_partial = manifest && tables.is_some() && !objects;
    let mut report = Report::default();
    if tables_partial && let Some(archive) = &archive {
        check_files(&generation, &[toc_file(archive)], &mut report).await?;
        refuse_problems(name.as_str(), &report, progress)?;
    } else if manifest {
        let path = generation.path.clone();
        report = match (objects_partial, selected.take()) {
            (true, Some(mut objects)) => {
                let (report, objects) = tokio::task::spawn_blocking(move || {
                    (verify_objects(&path, &mut objects), objects)
                })
                .await
                .map_err(|source| Error::Task {
                    what: "verification",
                    source,
                })?;
                selected = Some(objects);
                report?
            }
            (_, objects) => {
                selected = objects;
                tokio::task::spawn_blocking(move || verify_generation(&path))
                    .await
                    .map_err(|source| Error::Task {
                        what: "verification",
                        source,
                    })?
            }
        };
        refuse_problems(name.as_str(), &report, progress)?;
        tracing::info!(
            "'{name}' verified: {} files match the manifest",
            report.files
        );
    }
    let checked = match &archive {
        Some(archive) => Some(check_archive(archive, threads, data, tables).await?),
        None => None,
    };
    if tables_partial && let Some(checked) = &checked {
        check_files(&generation, &checked.data_files()?, &mut report).await?;
        refuse_problems(name.as_str(), &report, progress)?;
        tracing::info!(
            "'{name}' checked for a table restore: {} files ({}) match the manifest",
            report.files,
            crate::human::bytes(report.bytes)
        );
    }
    if let Some(s3) = &s3 {
        crate::objects::listing::list_buckets(s3, &patience).await?;
    }
    let mut summary = RestoreSummary {
        database: None,
        objects: None,
        to_dir: None,
        seconds: 0.0,
    };
    if let (Some(checked), Some(target)) = (checked, &target) {
        if settings.into_db.is_some() {
            create_database_if_missing(&settings.db, &database).await?;
        }
        // The legacy script dumped with `pg_dump --no-owner` and restored with `pg_restore
        // --no-owner`; its archives still name the dumping role in every entry, which the
        // restore must not turn into owners (that role may not even exist here).
        let legacy = matches!(generation.kind, GenerationKind::Legacy);
        if legacy && settings.owners {
            tracing::info!(
                "'{name}' was made by the legacy script (pg_dump --no-owner): its owners are not applied"
            );
        }
        let options = RestoreOptions {
            jobs: settings.jobs,
            single_transaction: settings.single_transaction,
            owners: settings.owners && !legacy,
            privileges: settings.privileges,
        };
        let done = restore_database(checked, target, options).await?;
        tracing::info!(
            "restore done: '{name}' into {target}: {} tables, {} entries, {} of data in {:.1}s (checks {:.1}s)",
            done.tables,
            done.entries,
            crate::human::bytes(done.bytes),
            started.elapsed().as_secs_f64(),
            done.check_seconds
        );
        summary.database = Some(done);
    }
    if let Some(dir) = &settings.to_dir
        && let Some(mut objects) = selected.take()
    {
        let started = Instant::now();
        let (target, from) = (dir.clone(), generation.clone());
        let done =
            tokio::task::spawn_blocking(move || restore_to_dir(&from, &mut objects, &target))
                .await
                .map_err(|source| Error::Task {
                    what: "writing the objects",
                    source,
                })??;
        tracing::info!(
            "objects of '{name}' written to '{}': {} buckets, {} files ({}), in {:.1}s",
            crate::human::printable(&dir.to_string_lossy()),
            done.buckets,
            done.files,
            crate::human::bytes(done.bytes),
            started.elapsed().as_secs_f64()
        );
        summary.to_dir = Some(done);
    }
    if let (Some(s3), Some(s3_settings), Some(mut objects)) = (&s3, &settings.s3, selected) {
        let started = Instant::now();
        let options = ObjectRestoreOptions {
            concurrency: settings.transfers,
            keep_extra: settings.keep_extra,
            anon_download_buckets: s3_settings.anon_download_buckets.clone(),
            patience,
            selection: settings.objects_selection.clone(),
        };
        let done = restore_objects(s3, &generation, &mut objects, &options, progress).await?;
        tracing::info!(
            "objects restored from '{name}': {} buckets, {} uploaded ({}), {} already present, {} extra deleted, in {:.1}s",
            done.buckets,
            done.uploaded,
            crate::human::bytes(done.bytes),
            done.skipped,
            done.deleted,
            started.elapsed().as_secs_f64()
        );
        summary.objects = Some(done);
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The file holding a database archive's TOC: `toc.dat` of a directory archive, or the
/// custom-format file itself.
fn toc_file(archive: &std::path::Path) -> PathBuf {
    if archive.is_dir() {
        archive.join("toc.dat")
    } else {
        archive.to_path_buf()
    }
}

/// Hashes `files` (inside the generation) against the manifest, adding to `report`.
async fn check_files(
    generation: &Generation,
    files: &[PathBuf],
    report: &mut Report,
) -> Result<()> {
    let dir = generation.path.clone();
    let paths = files
        .iter()
        .map(|f| {
            f.strip_prefix(&dir)
                .map(|p| p.to_string_lossy().into_owned())
                .map_err(|_| {
                    Error::Usage(format!(
                        "'{}' is outside generation '{}'",
                        f.display(),
                        generation.name
                    ))
                })
        })
        .collect::<Result<std::collections::BTreeSet<String>>>()?;
    let found = tokio::task::spawn_blocking(move || verify_files(&dir, &paths))
        .await
        .map_err(|source| Error::Task {
            what: "verification",
            source,
        })?;
    report.files += found.files;
    report.bytes += found.bytes;
    report.problems.extend(found.problems);
    Ok(())
}

/// Refuses a generation whose check found problems, after reporting them to `progress`.
fn refuse_problems(name: &str, report: &Report, progress: &dyn Progress) -> Result<()> {
    if report.problems.is_empty() {
        return Ok(());
    }
    progress.checked(name, report);
    Err(Error::Damaged {
        name: name.to_string(),
        problems: report.problems.len(),
    })
}

/// The selected objects of `generation`, sorted; a selection naming what it lacks is refused.
async fn read_objects(
    generation: &Generation,
    selection: &ObjectSelection,
) -> Result<GenerationObjects> {
    let (generation, selection) = (generation.clone(), selection.clone());
    let objects = tokio::task::spawn_blocking(move || {
        let objects = GenerationObjects::read(&generation, &selection)?;
        objects.check_selection(&selection)?;
        Ok::<_, crate::objects::error::ObjectsError>(objects)
    })
    .await
    .map_err(|source| Error::Task {
        what: "reading the objects",
        source,
    })??;
    Ok(objects)
}

/// Whether the generation holds `part`; says so when it does not.
fn present(generation: &Generation, part: &str, held: bool) -> bool {
    if !held {
        tracing::info!(
            "generation '{}' holds no {part}; skipping that part",
            generation.name
        );
    }
    held
}

/// The database archive of a generation: the manifest's record, else `db/<name>.dump`.
fn archive_path(generation: &Generation, settings: &DbSettings) -> Result<PathBuf> {
    let relative = match &generation.kind {
        GenerationKind::Fullsite(header) => {
            if !header.parts.db {
                return Err(Error::Usage(format!(
                    "generation '{}' holds no database (it was made with --no-db)",
                    generation.name
                )));
            }
            header.source.database.as_ref().map_or_else(
                || format!("db/{}.dump", settings.name),
                |d| d.archive.clone(),
            )
        }
        // The legacy script always wrote db/stgy.dump, whatever the database was called.
        _ if generation.path.join("db/stgy.dump").exists() => "db/stgy.dump".to_string(),
        _ => format!("db/{}.dump", settings.name),
    };
    let path = generation.path.join(&relative);
    if !path.exists() {
        return Err(Error::Usage(format!(
            "generation '{}' has no database archive '{relative}'",
            generation.name
        )));
    }
    Ok(path)
}

/// `--into-db`: creates the database when it does not exist yet.
async fn create_database_if_missing(settings: &DbSettings, database: &str) -> Result<()> {
    let admin = Target::resolve(settings, &settings.name)?;
    let client = admin.connect().await?;
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1",
            &[&database],
        )
        .await
        .map_err(|e| admin.error("look up databases on", &e))?
        .is_some();
    if !exists {
        let sql = format!("CREATE DATABASE \"{}\"", database.replace('"', "\"\""));
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| admin.error(format!("create database {database} on"), &e))?;
        tracing::info!("created database {database}");
    }
    Ok(())
}
