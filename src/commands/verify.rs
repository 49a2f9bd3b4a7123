//! `fullsite verify NAME | --all`: problems on stdout, one per line (prefixed by the generation
//! with `--all`); exit 3 when there are any. Needs nothing but the generation directory, so it
//! runs on an offsite copy. Legacy generations have no manifest: their database archive is
//! decoded and their object tree read, and the log says that is all that was checked.

use std::path::PathBuf;

use serde::Serialize;

use super::json;
use crate::cli::VerifyArgs;
use crate::config::{self, Vars};
use crate::error::{Error, Result};
use crate::generation::{Catalog, Generation, GenerationKind, GenerationName};
use chrono::Local;

use crate::verify::{
    LastVerify, Problem, Report, Sample, record, verify_archive, verify_generation_sampled,
};

/// `verify --json`: every generation checked, with its problems (fields in alphabetical order,
/// see [`json`]).
#[derive(Serialize)]
struct VerifyJson {
    generations: Vec<VerifiedGeneration>,
    root: String,
}

/// One generation of `verify --json`.
#[derive(Serialize)]
struct VerifiedGeneration {
    /// Bytes hashed.
    bytes: u64,
    /// Files hashed.
    files: u64,
    name: String,
    problems: Vec<ProblemJson>,
}

/// One problem of `verify --json`: its kind, the file concerned and what is wrong, where the
/// kind has them.
#[derive(Serialize)]
struct ProblemJson {
    detail: Option<String>,
    kind: &'static str,
    path: Option<String>,
}

impl From<&Problem> for ProblemJson {
    fn from(problem: &Problem) -> ProblemJson {
        let (kind, path, detail) = problem.parts();
        ProblemJson {
            detail,
            kind,
            path: path.map(str::to_string),
        }
    }
}

pub fn run(args: VerifyArgs, vars: &Vars) -> Result<()> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let catalog = Catalog::scan(&root)?;
    let targets: Vec<&Generation> = match &args.name {
        Some(name) => {
            let name = GenerationName::parse(name)?;
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
    let mut damaged = Vec::new();
    let mut problems = 0;
    let mut verified = Vec::new();
    let sample = args.sample.filter(|p| *p < 100.0).map(|percent| Sample {
        percent,
        seed: args
            .seed
            .unwrap_or_else(|| Local::now().timestamp_nanos_opt().unwrap_or_default() as u64),
    });
    let names: Vec<String> = catalog.generations.iter().map(|g| g.name.clone()).collect();
    for generation in &targets {
        let report = verify_one(generation, sample);
        record(
            &root,
            &generation.name,
            LastVerify {
                at: Local::now().to_rfc3339(),
                problems: report.problems.len(),
                files: report.files,
                percent: sample.map_or(100.0, |s| s.percent),
            },
            &names,
        );
        if args.json {
            verified.push(VerifiedGeneration {
                bytes: report.bytes,
                files: report.files,
                name: generation.name.clone(),
                problems: report.problems.iter().map(ProblemJson::from).collect(),
            });
        }
        for problem in report.problems.iter().filter(|_| !args.json) {
            if args.all {
                println!("{}  {problem}", crate::display::printable(&generation.name));
            } else {
                println!("{problem}");
            }
        }
        if report.problems.is_empty() {
            tracing::info!(
                "verified '{}': {} files, {} intact",
                crate::display::printable(&generation.name),
                report.files,
                crate::display::bytes(report.bytes)
            );
        } else {
            problems += report.problems.len();
            damaged.push(generation.name.clone());
        }
    }
    if args.json {
        json::print(&VerifyJson {
            generations: verified,
            root: root.to_string_lossy().into_owned(),
        });
    }
    match damaged.len() {
        0 => Ok(()),
        1 => Err(Error::Damaged {
            name: damaged.remove(0),
            problems,
        }),
        n => Err(Error::Damaged {
            name: format!("{n} generations ({})", damaged.join(", ")),
            problems,
        }),
    }
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
                crate::display::printable(&generation.name)
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
fn read_tree(dir: &std::path::Path, report: &mut Report) {
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
