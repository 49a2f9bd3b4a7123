//! `fullsite restore NAME`: settings → generation → verify everything (manifest hashes, archive
//! TOC, every data stream, servers reachable, privileges) → only then replace the database, then
//! put the objects back. A selected part the generation does not hold is skipped with a notice.
//!
//! A fullsite generation's data streams are not decoded ahead: its manifest check has just
//! matched every file's BLAKE3, so they are the bytes the backup wrote. Generations without a
//! manifest (legacy, stock archives) have every data stream decoded before anything changes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::error::{Error, Result};
use crate::cli::RestoreArgs;
use crate::config::{self, DbSettings, S3Settings, Vars};
use crate::generation::{Catalog, Generation, GenerationKind, GenerationName};
use crate::integrity::verify_generation;
use crate::lock::RootLock;
use crate::objects::patience::Patience;
use crate::objects::restore_buckets::{ObjectRestoreOptions, restore_objects};
use crate::objects::s3::S3Store;
use crate::pg::connect::Target;
use crate::pg::restore::{DataCheck, RestoreOptions, check_archive, restore_database};

pub async fn run(args: RestoreArgs, vars: &Vars) -> Result<()> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let name = GenerationName::parse(&args.name)?;
    let (db, objects) = (args.parts.db(), args.parts.objects());
    if !db && !objects {
        return Err(Error::Usage(
            "nothing to restore: --no-db and --no-objects leave no part selected".into(),
        ));
    }
    let settings = DbSettings::from_vars(vars)?;
    let s3_settings = objects.then(|| S3Settings::from_vars(vars)).transpose()?;
    let catalog = Catalog::scan(&root)?;
    let generation = catalog
        .get(name.as_str())
        .filter(|g| g.is_complete())
        .ok_or_else(|| Error::GenerationNotFound {
            name: name.to_string(),
            root: root.clone(),
        })?
        .clone();
    let db = db && present(&generation, "database", generation.has_db());
    let objects = objects && present(&generation, "objects", generation.has_objects());
    if !db && !objects {
        return Err(Error::Usage(format!(
            "generation '{name}' holds none of the parts selected to restore"
        )));
    }
    let database = args
        .into_db
        .clone()
        .unwrap_or_else(|| settings.name.clone());
    let stall = config::stall_timeout(args.stall.stall_timeout, vars)?;
    let target = Target::resolve(&settings, &database)?.with_stall(stall);
    let archive = db
        .then(|| archive_path(&generation, &settings))
        .transpose()?;
    let patience = Patience::new(stall);
    let s3 = match (&s3_settings, objects) {
        (Some(settings), true) => Some(S3Store::new(settings, stall)?),
        _ => None,
    };

    let _lock = RootLock::acquire(
        &root,
        "restore",
        args.lock.wait_lock.map(Duration::from_secs),
    )
    .await?;
    let started = Instant::now();
    let manifest = matches!(generation.kind, GenerationKind::Fullsite(_));
    if manifest {
        let path = generation.path.clone();
        let report = tokio::task::spawn_blocking(move || verify_generation(&path))
            .await
            .map_err(|source| Error::Task {
                what: "verification",
                source,
            })?;
        if !report.problems.is_empty() {
            for problem in &report.problems {
                println!("{problem}");
            }
            return Err(Error::Damaged {
                name: name.to_string(),
                problems: report.problems.len(),
            });
        }
        tracing::info!(
            "'{name}' verified: {} files match the manifest",
            report.files
        );
    }
    let jobs = if args.single_transaction {
        1
    } else {
        args.jobs.unwrap_or_else(crate::commands::default_jobs)
    };
    let checked = match &archive {
        Some(archive) => {
            let data = if manifest {
                DataCheck::Present
            } else {
                DataCheck::Decode
            };
            let threads = jobs.max(crate::commands::default_jobs());
            Some(check_archive(archive, threads, data).await?)
        }
        None => None,
    };
    if let Some(s3) = &s3 {
        crate::objects::listing::list_buckets(s3, &patience).await?;
    }
    if let Some(checked) = checked {
        if args.into_db.is_some() {
            create_database_if_missing(&settings, &database).await?;
        }
        // The legacy script dumped with `pg_dump --no-owner` and restored with `pg_restore
        // --no-owner`; its archives still name the dumping role in every entry, which the
        // restore must not turn into owners (that role may not even exist here).
        let legacy = matches!(generation.kind, GenerationKind::Legacy);
        if legacy && !args.no_owner {
            tracing::info!(
                "'{name}' was made by the legacy script (pg_dump --no-owner): its owners are not applied"
            );
        }
        let options = RestoreOptions {
            jobs,
            single_transaction: args.single_transaction,
            owners: !args.no_owner && !legacy,
            privileges: !args.no_privileges,
        };
        restore_db(checked, &target, options, &name, started).await?;
    }
    if let (Some(s3), Some(s3_settings)) = (&s3, &s3_settings) {
        let started = Instant::now();
        let options = ObjectRestoreOptions {
            concurrency: args.transfers,
            keep_extra: args.keep_extra,
            anon_download_buckets: s3_settings.anon_download_buckets.clone(),
            patience,
        };
        let done = restore_objects(s3, &generation, &options).await?;
        tracing::info!(
            "objects restored from '{name}': {} buckets, {} uploaded ({}), {} already present, {} extra deleted, in {:.1}s",
            done.buckets,
            done.uploaded,
            crate::human::bytes(done.bytes),
            done.skipped,
            done.deleted,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
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

async fn restore_db(
    checked: crate::pg::restore::Checked,
    target: &Target,
    options: RestoreOptions,
    name: &GenerationName,
    started: Instant,
) -> Result<()> {
    let summary = restore_database(checked, target, options).await?;
    tracing::info!(
        "restore done: '{name}' into {target}: {} tables, {} entries, {} of data in {:.1}s (checks {:.1}s)",
        summary.tables,
        summary.entries,
        crate::human::bytes(summary.bytes),
        started.elapsed().as_secs_f64(),
        summary.check_seconds
    );
    Ok(())
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
