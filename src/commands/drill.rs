//! `fullsite drill [NAME]`: settings → the drill (see `crate::drill`) → report on stdout (text
//! or `--json`), `.drill-results.json`, the metrics file; exit 3 when anything did not match.
//!
//! The drill takes no lock on the root: it only reads the generation (as `verify` does) and
//! writes its results file atomically, so it never holds up the nightly backup or prune.

use chrono::Local;

use crate::cli::DrillArgs;
use crate::config::{self, DbSettings, Vars};
use crate::drill::report::{DrillReport, prometheus_failure};
use crate::drill::results::{self, DrillResult};
use crate::drill::{DrillError, DrillSettings, drill};
use crate::engine::{Error, Result};
use crate::generation::{Catalog, GenerationName};
use crate::integrity::Sample;
use crate::refs::RefsQuery;
use crate::signals::wait_for_stop;

pub async fn run(args: DrillArgs, vars: &Vars) -> Result<()> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let catalog = Catalog::scan(&root)?;
    let generation = match args
        .name
        .as_deref()
        .map(GenerationName::parse)
        .transpose()?
    {
        Some(name) => catalog
            .get(name.as_str())
            .filter(|g| g.is_complete())
            .ok_or_else(|| Error::GenerationNotFound {
                name: name.to_string(),
                root: root.clone(),
            })?,
        None => catalog
            .newest_complete()
            .ok_or_else(|| DrillError::NoGeneration { root: root.clone() })?,
    };
    let names: Vec<String> = catalog.generations.iter().map(|g| g.name.clone()).collect();
    let settings = DrillSettings {
        generation: generation.clone(),
        sample: args.sample.filter(|p| *p < 100.0).map(|percent| Sample {
            percent,
            seed: args
                .seed
                .unwrap_or_else(|| Local::now().timestamp_nanos_opt().unwrap_or_default() as u64),
        }),
        keep: args.keep,
        jobs: config::jobs(args.jobs),
        stall: config::stall_timeout(args.stall.stall_timeout, vars)?,
        db: DbSettings::from_vars(vars)?,
        refs: RefsQuery::configured(args.refs.refs_sql_file.as_deref(), vars)
            .map_err(DrillError::from)?,
    };
    let started = std::time::Instant::now();
    let stop = wait_for_stop();
    tokio::pin!(stop);
    let outcome = drill(&settings, stop.as_mut()).await;
    let previous = args
        .metrics_file
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok());
    let metrics = match &outcome {
        Ok(report) => report.prometheus(previous.as_deref()),
        Err(_) => prometheus_failure(previous.as_deref(), started.elapsed().as_secs_f64()),
    };
    if let Some(path) = &args.metrics_file
        && let Err(e) = super::summary::write_metrics(path, &metrics)
    {
        tracing::warn!("{e}");
    }
    let report = outcome?;
    record(&root, &names, &report);
    if args.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        print!("{}", report.text());
    }
    if report.passed {
        tracing::info!(
            "drill of '{}' passed in {:.1}s",
            crate::human::printable(&report.generation),
            report.seconds
        );
        return Ok(());
    }
    Err(Error::DrillFailed {
        name: report.generation.clone(),
        mismatches: report.mismatches.len(),
        first: report.mismatches.first().cloned().unwrap_or_default(),
    })
}

/// Adds the drill to `.drill-results.json`.
fn record(root: &std::path::Path, names: &[String], report: &DrillReport) {
    results::record(
        root,
        DrillResult {
            at: report.finished_at.clone(),
            generation: report.generation.clone(),
            passed: report.passed,
            tables: report.tables.len() as u64,
            rows: report.rows_restored,
            seconds: report.seconds,
            mismatches: report.mismatches.len() as u64,
            dangling_references: report
                .references
                .as_ref()
                .and_then(|r| r.dangling_references),
        },
        names,
    );
}
