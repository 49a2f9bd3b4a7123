//! A verify run: one generation or every one in the root, each checked with nothing but its
//! directory (so it runs on an offsite copy), its outcome recorded for `status`. Fullsite
//! generations are checked against their manifest (and their database archive decoded, unless
//! sampling); legacy generations have no manifest: their database archive is decoded and their
//! files read, and the log says that is all that was checked.
//!
//! Each generation's report goes to [`Progress::checked`] as soon as it is done, and all of
//! them come back in the [`VerifySummary`]; finding problems is a result, not an error (the
//! command turns it into exit code 3).

use std::path::{Path, PathBuf};

use chrono::Local;

use super::error::{Error, Result};
use crate::generation::{Catalog, Generation, GenerationKind, GenerationName};
use crate::integrity::{
    LastVerify, Problem, RESULTS_FILE, Report, Sample, verify_archive, verify_generation_sampled,
};
use crate::progress::Progress;

/// Everything a verify needs, resolved once from flags, variables and defaults.
#[derive(Debug, Clone)]
pub struct VerifySettings {
    /// The backup root.
    pub root: PathBuf,
    /// The generation to verify; `None`: every generation in the root.
    pub name: Option<GenerationName>,
    /// Hash only a share of the files; `None`: all of them.
    pub sample: Option<Sample>,
}

/// One generation's check.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The generation.
    pub name: String,
    /// What was found.
    pub report: Report,
}

/// What a verify found.
#[derive(Debug, Clone)]
pub struct VerifySummary {
    /// The backup root.
    pub root: PathBuf,
    /// Each generation checked, in catalog order.
    pub generations: Vec<Verified>,
}

/// Verifies the generations `settings` selects.
pub fn verify(settings: &VerifySettings, progress: &dyn Progress) -> Result<VerifySummary> {
    let root = &settings.root;
    let catalog = Catalog::scan(root)?;
    let targets: Vec<&Generation> = match &settings.name {
        Some(name) => {
            let generation =
                catalog
                    .get(name.as_str())
                    .ok_or_else(|| Error::GenerationNotFound {
                        name: name.to_string(),
                        root: root.clone(),
                    })?;
            vec![generation]
        }
        None => catalog.generations.iter().collect(),
    };
    let sample = settings.sample;
    let names: Vec<String> = catalog.generations.iter().map(|g| g.name.clone()).collect();
    let mut summary = VerifySummary {
        root: root.clone(),
        generations: Vec::new(),
    };
    for generation in &targets {
        let report = verify_one(generation, sample);
        crate::results_file::record(
            root,
            RESULTS_FILE,
            &generation.name,
            LastVerify {
                at: Local::now().to_rfc3339(),
                problems: report.problems.len(),
                files: report.files,
                percent: sample.map_or(100.0, |s| s.percent),
            },
            &names,
        );
        progress.checked(&generation.name, &report);
        if report.problems.is_empty() {
            tracing::info!(
                "verified '{}': {} files, {} intact",
                crate::human::printable(&generation.name),
                report.files,
                crate::human::bytes(report.bytes)
            );
        }
        summary.generations.push(Verified {
            name: generation.name.clone(),
            report,
        });
    }
    Ok(summary)
}

fn verify_one(generation: &Generation, sample: Option<Sample>) -> Report {
    match &generation.kind {
        GenerationKind::Damaged(reason) => Report {
            problems: vec![Problem::Manifest(reason.clone())],
            ..Default::default()
        },
        GenerationKind::Fullsite(header) => {
            let mut report = verify_generation_sampled(&generation.path, sample);
            let archive = header
                .source
                .database
                .as_ref()
                .map(|d| generation.path.join(&d.archive));
            if let Some(archive) =
                archive.filter(|_| report.problems.is_empty() && sample.is_none())
            {
                verify_archive(&archive, &mut report);
            }
            report
        }
        GenerationKind::Legacy => {
            tracing::info!(
                "'{}' is a legacy-script generation without a manifest: only its database archive is \
                 decoded and its files read; nothing can be compared with what was backed up",
                crate::human::printable(&generation.name)
            );
            let mut report = Report::default();
            let archives: Vec<PathBuf> = std::fs::read_dir(generation.path.join("db"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "dump"))
                .collect();
            for archive in archives {
                verify_archive(&archive, &mut report);
            }
            read_tree(&generation.path, &mut report);
            report
        }
    }
}

/// Reads every file of a legacy generation to its end (unreadable files are problems).
fn read_tree(dir: &Path, report: &mut Report) {
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .flatten()
    {
        if !entry.file_type().is_file() {
            continue;
        }
        match crate::manifest::hash_file(entry.path()) {
            Ok((size, _)) => {
                report.files += 1;
                report.bytes += size;
            }
            Err(e) => report.problems.push(Problem::Changed {
                path: entry
                    .path()
                    .strip_prefix(dir)
                    .unwrap_or(entry.path())
                    .to_string_lossy()
                    .into_owned(),
                detail: format!("unreadable: {e}"),
            }),
        }
    }
}
