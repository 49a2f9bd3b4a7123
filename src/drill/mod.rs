//! Restore drills: prove a generation restores, without touching the live database or buckets.
//!
//! Steps, in order:
//! 1. verify the generation (every file against the manifest and the archive decoded, or a
//!    `--sample` of the files), as `verify` does; damage ends the drill here;
//! 2. create a scratch database on the configured server ([`scratch`]) and restore the archive
//!    into it with the normal parallel restore;
//! 3. compare each table's rows and each sequence's value with what the manifest recorded at
//!    dump time ([`compare`]; manifests before version 3 record none: said so, not compared);
//! 4. run the rows → objects query on the restored database: the same set as at backup
//!    (count and digest), dangling references and orphans against the generation's objects;
//! 5. drop the scratch database, on every path: success, mismatch, failure, SIGINT/SIGTERM
//!    (the stop signal is raced against steps 1–4 only, so the drop itself runs to its end);
//!    `--keep` leaves it and names it.
//!
//! The outcome is a [`DrillReport`]: passed when there was no damage and no mismatch. A
//! restore that fails midway on a server that still answers is a finding (the generation does
//! not restore), not a failure of the drill; a server that stops answering is a failure.

pub mod compare;
pub mod report;
pub mod results;
pub mod scratch;

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};

use chrono::Local;

use self::report::{DrillReport, RecordedReferences, ReferencesCheck, RestoreCheck, VerifyCheck};
use self::scratch::{Scratch, ScratchError, scratch_name};
use crate::config::DbSettings;
use crate::error::ErrorKind;
use crate::generation::{Generation, GenerationKind};
use crate::integrity::Sample;
use crate::manifest::{ObjectRef, Record, ReferencesRecord, SequenceValue, TableRows};
use crate::pg::connect::PgError;
use crate::pg::restore::{DataCheck, RestoreError, RestoreOptions};
use crate::refs::{RefsError, RefsQuery};
use crate::signals::StopSignal;

/// What a drill needs, resolved from flags and configuration.
#[derive(Debug, Clone)]
pub struct DrillSettings {
    /// The complete generation to drill.
    pub generation: Generation,
    /// Hash only a sample of the files.
    pub sample: Option<Sample>,
    /// Leave the scratch database in place.
    pub keep: bool,
    /// Parallel connections for the restore and the counts.
    pub jobs: usize,
    /// The stall timeout for PostgreSQL waits.
    pub stall: Duration,
    /// The server (the configured database is only read, to create the scratch one).
    pub db: DbSettings,
    /// The rows → objects query configured now (else the one the backup recorded runs).
    pub refs: Option<RefsQuery>,
}

/// Why a drill could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// The root holds no complete generation.
    #[error("no complete generation to drill in '{root}'")]
    NoGeneration {
        /// The backup root.
        root: PathBuf,
    },
    /// The generation holds no database to restore.
    #[error("generation '{name}' holds no database archive to drill (made with --no-db?)")]
    NoDatabase {
        /// The name.
        name: String,
    },
    /// The scratch database could not be made.
    #[error(transparent)]
    Scratch(#[from] ScratchError),
    /// The restore could not run (an unsupported archive, missing roles, a server that stopped
    /// answering).
    #[error(transparent)]
    Restore(#[from] RestoreError),
    /// The server failed.
    #[error(transparent)]
    Pg(#[from] PgError),
    /// The rows → objects query is malformed or failed.
    #[error(transparent)]
    Refs(#[from] RefsError),
    /// A task could not be run.
    #[error("internal error: {0}")]
    Internal(String),
    /// Stopped by a signal; the scratch database was dropped.
    #[error("stopped by {0}; the scratch database was dropped")]
    Stopped(StopSignal),
}

impl DrillError {
    /// What kind of failure this is: a generation without a database is usage, a stop is an
    /// interruption; wrapped errors say their own kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DrillError::NoDatabase { .. } => ErrorKind::Usage,
            DrillError::Scratch(e) => e.kind(),
            DrillError::Restore(e) => e.kind(),
            DrillError::Pg(e) => e.kind(),
            DrillError::Refs(e) => e.kind(),
            DrillError::Stopped(signal) => ErrorKind::Interrupted {
                signal: signal.number(),
            },
            DrillError::NoGeneration { .. } | DrillError::Internal(_) => ErrorKind::Failure,
        }
    }
}

/// What the manifest recorded for the drill to compare with.
#[derive(Debug, Default)]
struct Recorded {
    /// Whether row counts were recorded (manifest version 3).
    counted: bool,
    /// A generation of the legacy script (restored without owners, as it was).
    legacy: bool,
    tables: Vec<TableRows>,
    sequences: Vec<SequenceValue>,
    references: Option<ReferencesRecord>,
    /// The generation's objects and sizes, when it holds an objects part.
    objects: Option<Vec<(ObjectRef, u64)>>,
}

/// Runs a drill; `stop` resolves on SIGINT/SIGTERM (see the module documentation).
pub async fn drill(
    settings: &DrillSettings,
    mut stop: Pin<&mut impl Future<Output = StopSignal>>,
) -> Result<DrillReport, DrillError> {
    let started = Instant::now();
    let mut report = DrillReport {
        started_at: Local::now().to_rfc3339(),
        ..Default::default()
    };
    let prepared = tokio::select! {
        biased;
        signal = &mut stop => return Err(DrillError::Stopped(signal)),
        prepared = prepare(settings, &mut report) => prepared?,
    };
    if let Some((archive, recorded)) = prepared {
        let name = scratch_name(&report.generation, std::process::id());
        // Not raced against the signal: a CREATE DATABASE cut short could leave a database
        // nobody drops. A signal meanwhile is seen by the race below at once.
        let scratch = Scratch::create(&settings.db, settings.stall, &name).await?;
        report.scratch_database = name;
        let outcome = tokio::select! {
            biased;
            signal = &mut stop => Err(DrillError::Stopped(signal)),
            done = exercise(settings, &archive, &recorded, &scratch, &mut report) => done,
        };
        if settings.keep {
            report.kept = true;
            let kept = scratch.keep();
            tracing::info!("kept scratch database {kept} (--keep)");
        } else if let Err(e) = scratch.drop_database().await {
            tracing::error!("{e}");
            outcome?;
            return Err(e.into());
        }
        outcome?;
    }
    report.passed = report.mismatches.is_empty();
    let finished = Local::now();
    report.finished_at = finished.to_rfc3339();
    report.finished_unix = finished.timestamp();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Steps before any database: verify the generation, check its archive, read what its
/// manifest recorded. `None` when verification found damage (recorded in `report`).
async fn prepare(
    settings: &DrillSettings,
    report: &mut DrillReport,
) -> Result<Option<(crate::pg::restore::Checked, Recorded)>, DrillError> {
    let generation = settings.generation.clone();
    report.generation = generation.name.clone();
    if !generation.has_db() {
        return Err(DrillError::NoDatabase {
            name: generation.name,
        });
    }
    let archive = archive_path(&generation, &settings.db)?;
    tracing::info!(
        "drilling '{}': verifying it first",
        crate::human::printable(&generation.name)
    );
    let (check, recorded) = {
        let (generation, archive, sample) = (generation.clone(), archive.clone(), settings.sample);
        tokio::task::spawn_blocking(move || verify(&generation, &archive, sample))
            .await
            .map_err(|e| DrillError::Internal(format!("verification failed to run: {e}")))?
    };
    report.verify = check;
    if !report.verify.problems.is_empty() {
        report.mismatches.extend(
            report
                .verify
                .problems
                .iter()
                .map(|p| format!("verify: {p}")),
        );
        return Ok(None);
    }
    let threads = settings.jobs.max(crate::config::cores());
    let checked =
        crate::pg::restore::check_archive(&archive, threads, DataCheck::Present, None).await?;
    Ok(Some((checked, recorded)))
}

/// The generation's database archive.
fn archive_path(generation: &Generation, settings: &DbSettings) -> Result<PathBuf, DrillError> {
    let relative = match &generation.kind {
        GenerationKind::Fullsite(header) => header.source.database.as_ref().map_or_else(
            || format!("db/{}.dump", settings.name),
            |d| d.archive.clone(),
        ),
        _ if generation.path.join("db/stgy.dump").exists() => "db/stgy.dump".to_string(),
        _ => format!("db/{}.dump", settings.name),
    };
    let path = generation.path.join(relative);
    if !path.exists() {
        return Err(DrillError::NoDatabase {
            name: generation.name.clone(),
        });
    }
    Ok(path)
}

/// Verifies the generation as `verify` does, and reads what its manifest recorded.
fn verify(
    generation: &Generation,
    archive: &Path,
    sample: Option<Sample>,
) -> (VerifyCheck, Recorded) {
    let mut recorded = Recorded::default();
    let report = match &generation.kind {
        GenerationKind::Fullsite(header) => {
            let mut report = crate::integrity::verify_generation_sampled(&generation.path, sample);
            if report.problems.is_empty() && sample.is_none() {
                crate::integrity::verify_archive(archive, &mut report);
            }
            let mut objects = Vec::new();
            let read = crate::manifest::read_records(&generation.path, |record| match record {
                Record::Table(t) => recorded.tables.push(t),
                Record::Sequence(s) => recorded.sequences.push(s),
                Record::References(r) => recorded.references = Some(r),
                Record::Object(o) => objects.push((
                    ObjectRef {
                        bucket: o.bucket,
                        key: o.key,
                    },
                    o.size,
                )),
                _ => {}
            });
            if let Ok((header, _)) = read {
                recorded.counted = header.version >= 3;
            }
            recorded.objects = header.parts.objects.then_some(objects);
            report
        }
        GenerationKind::Legacy => {
            recorded.legacy = true;
            let mut report = crate::integrity::Report::default();
            crate::integrity::verify_archive(archive, &mut report);
            report
        }
        GenerationKind::Damaged(reason) => crate::integrity::Report {
            problems: vec![crate::integrity::Problem::Manifest(reason.clone())],
            ..Default::default()
        },
    };
    let check = VerifyCheck {
        files: report.files,
        bytes: report.bytes,
        percent: sample.map_or(100.0, |s| s.percent),
        problems: report.problems.iter().map(|p| p.to_string()).collect(),
    };
    (check, recorded)
}

/// Steps 2 to 4 on the scratch database.
async fn exercise(
    settings: &DrillSettings,
    checked: &crate::pg::restore::Checked,
    recorded: &Recorded,
    scratch: &Scratch,
    report: &mut DrillReport,
) -> Result<(), DrillError> {
    let started = Instant::now();
    let options = RestoreOptions {
        jobs: settings.jobs,
        single_transaction: false,
        // Legacy generations were dumped and restored with --no-owner (see `restore`).
        owners: !recorded.legacy,
        privileges: true,
    };
    let restored =
        crate::pg::restore::restore_database(checked.clone(), scratch.target(), options).await;
    let seconds = started.elapsed().as_secs_f64();
    let summary = match restored {
        Ok(summary) => summary,
        Err(e) => return restore_failed(e, scratch, seconds, report).await,
    };
    report.restore = Some(RestoreCheck {
        seconds,
        tables: summary.tables,
        entries: summary.entries,
        error: None,
    });
    tracing::info!(
        "restored '{}' into {} in {seconds:.1}s; comparing",
        crate::human::printable(&report.generation),
        scratch.name()
    );
    crate::failpoint::pause(crate::failpoint::PausePoint::DrillAfterRestore).await;
    if recorded.counted {
        report.rows_compared = true;
        report.tables =
            compare::count_tables(scratch.target(), &recorded.tables, settings.jobs).await?;
        report.sequences = compare::read_sequences(scratch.target(), &recorded.sequences).await?;
        report.rows_expected = report.tables.iter().map(|t| t.rows_expected).sum();
        report.rows_restored = report.tables.iter().filter_map(|t| t.rows_restored).sum();
        let tables = report
            .tables
            .iter()
            .filter_map(compare::TableCheck::mismatch);
        let sequences = report
            .sequences
            .iter()
            .filter_map(compare::SequenceCheck::mismatch);
        let found: Vec<String> = tables.chain(sequences).collect();
        report.mismatches.extend(found);
    } else {
        tracing::info!(
            "'{}' was made before fullsite recorded row counts: rows and sequences cannot be \
             compared, only restored",
            crate::human::printable(&report.generation)
        );
    }
    references(settings, recorded, scratch, report).await
}

/// A restore that failed: a finding when the server still answers, else a failure.
async fn restore_failed(
    error: RestoreError,
    scratch: &Scratch,
    seconds: f64,
    report: &mut DrillReport,
) -> Result<(), DrillError> {
    let finding = match &error {
        RestoreError::Pg(_) => scratch.target().connect().await.is_ok(),
        RestoreError::Source(crate::pg::restore::source::SourceError::Damaged { .. }) => true,
        _ => false,
    };
    if !finding {
        return Err(error.into());
    }
    let text = error.to_string();
    tracing::warn!("the restore into {} failed: {text}", scratch.name());
    report.mismatches.push(format!("restore failed: {text}"));
    report.restore = Some(RestoreCheck {
        seconds,
        error: Some(text),
        ..Default::default()
    });
    Ok(())
}

/// Step 4: the rows → objects query on the restored database.
async fn references(
    settings: &DrillSettings,
    recorded: &Recorded,
    scratch: &Scratch,
    report: &mut DrillReport,
) -> Result<(), DrillError> {
    let query = match (&settings.refs, &recorded.references) {
        (Some(query), _) => query.clone(),
        (None, Some(record)) => RefsQuery {
            sql: record.sql.clone(),
            origin: "the query the backup recorded".into(),
        },
        (None, None) => return Ok(()),
    };
    let search_path = recorded
        .references
        .as_ref()
        .map_or("\"$user\", public", |r| r.search_path.as_str());
    let target = scratch.target();
    let client = target.connect().await?;
    let begin = "SET row_security = off; BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    client
        .batch_execute(begin)
        .await
        .map_err(|e| target.error("start a transaction on", &e))?;
    let set = crate::refs::query::run_with_path(&client, target, &query, search_path).await?;
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| target.error("end a transaction on", &e))?;
    let mut check = ReferencesCheck {
        origin: query.origin.clone(),
        references: set.references,
        distinct: set.distinct.len() as u64,
        digest: set.digest(),
        recorded: recorded.references.as_ref().map(|r| RecordedReferences {
            references: r.references,
            distinct: r.distinct,
            digest: r.digest.clone(),
        }),
        ..Default::default()
    };
    if let Some(record) = recorded.references.as_ref().filter(|r| r.sql == query.sql) {
        let same = record.references == check.references
            && record.distinct == check.distinct
            && record.digest == check.digest;
        check.matches_backup = Some(same);
        if !same {
            report.mismatches.push(format!(
                "references: {} rows, {} distinct objects at backup; {} rows, {} distinct restored{}",
                record.references,
                record.distinct,
                check.references,
                check.distinct,
                if record.distinct == check.distinct {
                    " (a different set)"
                } else {
                    ""
                }
            ));
        }
    }
    if let Some(objects) = &recorded.objects {
        let held: BTreeSet<&ObjectRef> = objects.iter().map(|(o, _)| o).collect();
        let dangling = set.dangling(|r| held.contains(r));
        if dangling.count > 0 {
            tracing::warn!(
                "{} dangling reference(s) in the restored rows: {}",
                dangling.count,
                crate::refs::list_for_log(
                    &dangling.first,
                    dangling.count,
                    crate::refs::DANGLING_WARNED
                )
            );
        }
        check.dangling_references = Some(dangling.count);
        check.dangling_keys = dangling.first;
        check.orphans = Some(set.orphans(objects.iter().map(|(o, s)| (o, *s))));
    }
    report.references = Some(check);
    Ok(())
}
