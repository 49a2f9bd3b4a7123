//! A backup run: settings → lock → partial generation → database dump (one snapshot) →
//! manifest header and the dump's files → object mirror (writing each object's records as it
//! lands) → rows per table, sequence values and rows → objects references → manifest trailer →
//! publish. Returns what was done as a [`BackupSummary`].
//!
//! Nothing is visible in the root until the final rename: a failed or stopped run leaves no
//! generation behind (its partial directory is removed when the guard drops).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Local;
use serde::Serialize;

use super::error::{Error, Result};
use crate::config::{DbSettings, S3Settings};
use crate::dedup::{DedupIndex, Outcome};
use crate::failpoint;
use crate::fsutil::IoContext;
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
use crate::progress::Progress;
use crate::refs::RefsQuery;

/// Everything a backup needs, resolved once from flags, variables and defaults.
#[derive(Debug, Clone)]
pub struct BackupSettings {
    /// The backup root.
    pub root: PathBuf,
    /// The new generation's name.
    pub name: GenerationName,
    /// The database to dump; `None` leaves the database out.
    pub db: Option<DbSettings>,
    /// The S3 server to mirror; `None` leaves the objects out.
    pub s3: Option<S3Settings>,
    /// Parallel database connections and compression threads.
    pub jobs: usize,
    /// How table data and large objects are compressed.
    pub compress: crate::config::Compress,
    /// Object downloads at once.
    pub transfers: usize,
    /// Accept a bucket that held objects in the previous generation and now lists empty.
    pub allow_empty_bucket: bool,
    /// Dump a server outside the tested versions.
    pub allow_untested_server: bool,
    /// Record owners.
    pub owners: bool,
    /// Dump privileges.
    pub privileges: bool,
    /// Longest silence from a server before the run fails.
    pub stall_timeout: Duration,
    /// How long the dump keeps trying to take its table locks.
    pub lock_wait_timeout: Duration,
    /// How long to wait for the root lock (`None`: fail at once when it is held).
    pub wait_lock: Option<Duration>,
    /// The rows → objects query, run inside the dump's snapshot (only with the database).
    pub refs: Option<RefsQuery>,
}

impl BackupSettings {
    /// The parts selected.
    pub fn parts(&self) -> Parts {
        Parts {
            db: self.db.is_some(),
            objects: self.s3.is_some(),
        }
    }
}

/// The database part of a backup.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DatabaseSummary {
    /// Tables whose data was copied.
    pub tables: usize,
    /// Rows copied.
    pub rows: u64,
    /// Archive TOC entries.
    pub entries: usize,
    /// Uncompressed COPY bytes.
    pub raw_bytes: u64,
    /// Bytes of the archive's files.
    pub stored_bytes: u64,
    /// Archive files hard-linked to earlier generations.
    pub linked_files: usize,
    /// Their bytes (not stored again).
    pub linked_bytes: u64,
    /// Wall time of the part.
    pub seconds: f64,
}

/// The object part of a backup.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ObjectsSummary {
    /// Buckets mirrored.
    pub buckets: u64,
    /// Objects in them.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Objects downloaded.
    pub downloaded: u64,
    /// Bytes downloaded.
    pub downloaded_bytes: u64,
    /// Unchanged objects linked from the previous generation.
    pub unchanged: u64,
    /// Downloaded objects linked to identical content.
    pub deduplicated: u64,
    /// Listed objects deleted before they were fetched (not in the generation).
    pub vanished: u64,
    /// The first few of them, as `bucket/key`.
    pub vanished_keys: Vec<String>,
    /// Listed objects replaced before they were fetched (stored as fetched).
    pub changed_during_backup: u64,
    /// Wall time of the part.
    pub seconds: f64,
}

/// A finished backup; its JSON form is `backup --json`'s output.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BackupSummary {
    /// Generation name.
    pub generation: String,
    /// Its path.
    pub path: String,
    /// End time, RFC 3339.
    pub finished_at: String,
    /// Unix time of the end.
    pub finished_unix: i64,
    /// Wall time of the whole backup.
    pub seconds: f64,
    /// The database part, if backed up.
    pub database: Option<DatabaseSummary>,
    /// The object part, if backed up.
    pub objects: Option<ObjectsSummary>,
    /// What the rows → objects query found, when one ran.
    pub references: Option<ReferencesSummary>,
    /// Distinct references to objects the generation lacks (`None`: no query ran, or the
    /// generation holds no objects).
    pub dangling_references: Option<u64>,
}

/// The rows → objects query's findings at backup.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ReferencesSummary {
    /// Rows the query returned.
    pub references: u64,
    /// Distinct objects among them.
    pub distinct: u64,
    /// The first dangling ones, as `bucket/key`.
    pub dangling_keys: Vec<String>,
}

impl BackupSummary {
    /// Takes the rows → objects findings from their manifest record.
    pub fn note_references(&mut self, record: &crate::manifest::ReferencesRecord) {
        self.dangling_references = record.dangling;
        self.references = Some(ReferencesSummary {
            references: record.references,
            distinct: record.distinct,
            dangling_keys: record
                .dangling_keys
                .iter()
                .map(|r| format!("{}/{}", r.bucket, r.key))
                .collect(),
        });
    }
}

/// Backs up into a new generation `settings.name` of `settings.root`.
pub async fn backup(settings: &BackupSettings, progress: &dyn Progress) -> Result<BackupSummary> {
    let run_started = Instant::now();
    let (root, name, parts) = (&settings.root, &settings.name, settings.parts());
    let stall = settings.stall_timeout;
    let target = settings
        .db
        .as_ref()
        .map(|db| Target::resolve(db, &db.name).map(|t| t.with_stall(stall)))
        .transpose()?;
    let s3 = settings
        .s3
        .as_ref()
        .map(|s3| S3Store::new(s3, stall))
        .transpose()?;
    let patience = Patience::new(stall);

    create_private_dir_all(root)?;
    let _lock = RootLock::acquire(root, "backup", settings.wait_lock).await?;
    failpoint::pause(failpoint::PausePoint::BackupAfterLock).await;
    let catalog = Catalog::scan(root)?;
    remove_stale(&catalog.leftovers);

    let started_at = Local::now().fixed_offset();
    let partial = PartialGeneration::begin(root, name)?;
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

    if let (Some(db), Some(target)) = (&settings.db, &target) {
        let started = Instant::now();
        let archive = format!("db/{}.dump", db.name);
        let options = DumpOptions {
            jobs: settings.jobs,
            compress: settings.compress,
            allow_untested_server: settings.allow_untested_server,
            owners: settings.owners,
            privileges: settings.privileges,
            lock_wait: settings.lock_wait_timeout,
        };
        let dumped = dump_database(
            target,
            &partial.dir().join(&archive),
            options,
            progress,
            settings.refs.as_ref(),
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
            crate::human::bytes(part.raw_bytes),
            crate::human::bytes(part.stored_bytes),
            part.seconds
        );
        if part.linked_files > 0 {
            tracing::info!(
                "{} unchanged archive file(s) ({}) hard-linked to earlier generations",
                part.linked_files,
                crate::human::bytes(part.linked_bytes)
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

    failpoint::pause(failpoint::PausePoint::BackupBetweenParts).await;
    let buckets = match (&s3, &settings.s3) {
        (Some(s3), Some(s3_settings)) => Some(match &s3_settings.buckets {
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
            concurrency: settings.transfers,
            allow_empty_bucket: settings.allow_empty_bucket,
            patience,
        };
        let (m, written) = mirror(
            s3,
            partial.dir(),
            &catalog,
            buckets,
            &options,
            manifest,
            progress,
        )
        .await?;
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
            crate::human::bytes(m.bytes),
            m.downloaded,
            crate::human::bytes(m.downloaded_bytes),
            m.unchanged,
            m.deduplicated,
            started.elapsed().as_secs_f64()
        );
    }
    // Rows per table, sequence values, and the references with their dangling ones.
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
    failpoint::pause(failpoint::PausePoint::BackupBeforeManifest).await;
    manifest.finish(Local::now().fixed_offset())?;
    failpoint::pause(failpoint::PausePoint::BackupBeforePublish).await;
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
