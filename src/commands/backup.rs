//! `fullsite backup`: settings → lock → partial generation → database dump (one snapshot) →
//! manifest header and the dump's files → object mirror (writing each object's records as it
//! lands) → manifest trailer → publish.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Local;

use crate::cli::BackupArgs;
use crate::config::{self, DbSettings, S3Settings, Vars};
use crate::dedup::{DedupIndex, Outcome};
use crate::error::{Error, IoContext, Result};
use crate::failpoint;
use crate::fsutil::create_private_dir_all;
use crate::generation::{Catalog, GenerationName, MARKER_FILE, PartialGeneration, remove_stale};
use crate::lock::{RootLock, host_name};
use crate::manifest::{
    self, DatabaseSource, FileEntry, Header, ManifestWriter, Parts, Source, StorageSource,
};
use crate::objects::listing::list_buckets;
use crate::objects::mirror::{MirrorOptions, mirror};
use crate::objects::patience::Patience;
use crate::objects::s3::S3Store;
use crate::objects::store::ObjectStore;
use crate::pg::connect::Target;
use crate::pg::dump::{DumpOptions, dump_database};
use crate::summary::{BackupSummary, DatabaseSummary, ObjectsSummary};

/// gzip level of table data: zlib's default, as pg_dump uses.
const GZIP_LEVEL: u32 = 6;

pub async fn run(args: BackupArgs, vars: &Vars) -> Result<()> {
    let result = back_up(&args, vars).await;
    if let Some(path) = &args.metrics_file {
        let text = match &result {
            Ok(summary) => summary.prometheus(),
            Err(_) => {
                let previous = std::fs::read_to_string(path).ok();
                crate::summary::prometheus_failure(previous.as_deref(), Local::now().timestamp())
            }
        };
        if let Err(e) = crate::summary::write_metrics(path, &text) {
            tracing::warn!("{e}");
        }
    }
    let summary = result?;
    if tracing::enabled!(tracing::Level::INFO) {
        eprint!("{}", summary.text());
    }
    if args.json {
        println!("{}", serde_json::to_string(&summary).unwrap_or_default());
    }
    Ok(())
}

async fn back_up(args: &BackupArgs, vars: &Vars) -> Result<BackupSummary> {
    let run_started = Instant::now();
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let name = match &args.name {
        Some(name) => GenerationName::parse(name)?,
        None => GenerationName::for_date(Local::now().date_naive()),
    };
    let parts = Parts {
        db: args.parts.db(),
        objects: args.parts.objects(),
    };
    let db = parts.db.then(|| DbSettings::from_vars(vars)).transpose()?;
    let s3_settings = parts
        .objects
        .then(|| S3Settings::from_vars(vars))
        .transpose()?;
    let jobs = args.jobs.unwrap_or_else(super::default_jobs);
    let stall = config::stall_timeout(args.stall.stall_timeout, vars)?;
    let lock_wait = config::lock_wait_timeout(args.lock_wait_timeout, vars)?;
    let target = db
        .as_ref()
        .map(|db| Target::resolve(db, &db.name).map(|t| t.with_stall(stall)))
        .transpose()?;
    let s3 = s3_settings
        .as_ref()
        .map(|settings| S3Store::new(settings, stall))
        .transpose()?;
    let patience = Patience::new(stall);
    let refs = match &db {
        Some(_) => crate::refs::RefsQuery::configured(args.refs.refs_sql_file.as_deref(), vars)
            .map_err(crate::pg::dump::DumpError::from)?,
        None => None,
    };

    create_private_dir_all(&root)?;
    let _lock = RootLock::acquire(
        &root,
        "backup",
        args.lock.wait_lock.map(Duration::from_secs),
    )
    .await?;
    failpoint::pause("backup:after-lock").await;
    let catalog = Catalog::scan(&root)?;
    remove_stale(&catalog.leftovers);

    let started_at = Local::now().fixed_offset();
    let partial = PartialGeneration::begin(&root, &name)?;
    tracing::info!(
        "backing up into '{}' (db: {}, objects: {})",
        root.join(name.as_str()).display(),
        yes_no(parts.db),
        yes_no(parts.objects)
    );
    let mut files: Vec<FileEntry> =
        vec![file_entry(partial.dir(), &partial.dir().join(MARKER_FILE))?];
    let mut source = Source::default();
    let mut summary = BackupSummary::default();
    let mut db_records = (Vec::new(), Vec::new(), None);

    if let (Some(db), Some(target)) = (&db, &target) {
        let started = Instant::now();
        let archive = format!("db/{}.dump", db.name);
        let options = DumpOptions {
            jobs,
            level: GZIP_LEVEL,
            allow_untested_server: args.allow_untested_server,
            owners: args.owners,
            privileges: args.privileges,
            lock_wait,
        };
        let dumped = dump_database(
            target,
            &partial.dir().join(&archive),
            options,
            refs.as_ref(),
        )
        .await?;
        let dedup = DedupIndex::load(&catalog, "db/");
        let mut part = DatabaseSummary {
            tables: dumped.tables,
            rows: dumped.rows,
            entries: dumped.entries,
            raw_bytes: dumped.raw_bytes,
            ..Default::default()
        };
        for file in &dumped.files {
            part.stored_bytes += file.size;
            if dedup.link_identical(&file.path, file.size, &file.blake3) == Outcome::Linked {
                part.linked_files += 1;
                part.linked_bytes += file.size;
            }
            files.push(FileEntry {
                path: relative(partial.dir(), &file.path)?,
                size: file.size,
                blake3: file.blake3.to_hex().to_string(),
            });
        }
        part.seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            "database dumped: {} tables, {} entries, {} of data stored as {} in {:.1}s",
            part.tables,
            part.entries,
            crate::display::bytes(part.raw_bytes),
            crate::display::bytes(part.stored_bytes),
            part.seconds
        );
        if part.linked_files > 0 {
            tracing::info!(
                "{} unchanged archive file(s) ({}) hard-linked to earlier generations",
                part.linked_files,
                crate::display::bytes(part.linked_bytes)
            );
        }
        summary.database = Some(part);
        db_records = (dumped.table_rows, dumped.sequences, dumped.references);
        source.database = Some(DatabaseSource {
            name: db.name.clone(),
            server: format!("{}:{}", db.host, db.port),
            server_version: dumped.server_version,
            archive,
        });
    }

    failpoint::pause("backup:between-parts").await;
    let buckets = match (&s3, &s3_settings) {
        (Some(s3), Some(settings)) => Some(match &settings.buckets {
            Some(list) => list.clone(),
            None => list_buckets(s3, &patience).await?,
        }),
        _ => None,
    };
    if let (Some(s3), Some(buckets)) = (&s3, &buckets) {
        source.storage = Some(StorageSource {
            endpoint: s3.endpoint().to_string(),
            buckets: buckets.clone(),
        });
    }
    let mut manifest = ManifestWriter::create(
        partial.dir(),
        Header {
            format: manifest::FORMAT.into(),
            version: manifest::VERSION,
            tool_version: crate::VERSION.into(),
            generation: name.to_string(),
            started_at,
            host: host_name(),
            parts,
            source,
        },
    )?;
    for file in files {
        manifest.add_file(file)?;
    }
    if let (Some(s3), Some(buckets)) = (&s3, &buckets) {
        let started = Instant::now();
        let options = MirrorOptions {
            concurrency: args.transfers,
            allow_empty_bucket: args.allow_empty_bucket,
            patience,
        };
        let (m, written) = mirror(s3, partial.dir(), &catalog, buckets, &options, manifest).await?;
        manifest = written;
        summary.objects = Some(ObjectsSummary {
            buckets: m.buckets,
            objects: m.objects,
            bytes: m.bytes,
            downloaded: m.downloaded,
            downloaded_bytes: m.downloaded_bytes,
            unchanged: m.unchanged,
            deduplicated: m.deduplicated,
            vanished: m.vanished,
            vanished_keys: m.vanished_keys.clone(),
            changed_during_backup: m.changed_during_backup,
            seconds: started.elapsed().as_secs_f64(),
        });
        tracing::info!(
            "objects mirrored: {} buckets, {} objects ({}): {} downloaded ({}), {} unchanged and linked, \
             {} deduplicated by content, in {:.1}s",
            m.buckets,
            m.objects,
            crate::display::bytes(m.bytes),
            m.downloaded,
            crate::display::bytes(m.downloaded_bytes),
            m.unchanged,
            m.deduplicated,
            started.elapsed().as_secs_f64()
        );
    }
    // Issue 17: rows per table, sequence values, and the references with their dangling ones.
    let (tables, sequences, references) = db_records;
    for table in tables {
        manifest.add_record(&manifest::Record::Table(table))?;
    }
    for sequence in sequences {
        manifest.add_record(&manifest::Record::Sequence(sequence))?;
    }
    if let Some(set) = references {
        let record = crate::refs::backup_findings(&set, parts.objects.then_some(partial.dir()));
        summary.note_references(&record);
        manifest.add_record(&manifest::Record::References(record))?;
    }
    failpoint::pause("backup:before-manifest").await;
    manifest.finish(Local::now().fixed_offset())?;
    failpoint::pause("backup:before-publish").await;
    let path = partial.publish()?;
    tracing::info!("backup done: '{}'", path.display());
    let finished = Local::now();
    summary.generation = name.to_string();
    summary.path = path.display().to_string();
    summary.finished_at = finished.to_rfc3339();
    summary.finished_unix = finished.timestamp();
    summary.seconds = run_started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The manifest record of a file that was written without hashing on the way.
fn file_entry(generation: &Path, path: &Path) -> Result<FileEntry> {
    let (size, hash) = manifest::hash_file(path).at("hash", path)?;
    Ok(FileEntry {
        path: relative(generation, path)?,
        size,
        blake3: hash.to_hex().to_string(),
    })
}

/// `path` relative to the generation directory, `/`-separated.
fn relative(generation: &Path, path: &Path) -> Result<String> {
    let relative = path.strip_prefix(generation).unwrap_or(path);
    relative
        .to_str()
        .map(str::to_string)
        .ok_or_else(|| Error::Usage(format!("path '{}' is not UTF-8", relative.display())))
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
