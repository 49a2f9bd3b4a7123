//! `fullsite verify NAME | --all`: flags → [`VerifySettings`] → [`engine::verify`]. Problems on
//! stdout, one per line as each generation is done (prefixed by the generation with `--all`),
//! or one JSON document at the end with `--json`; exit 3 when any is damage, else the kind of
//! the first archive that could not be checked (2 for a version this build does not read, 1 for
//! a file it may not read).

use serde::Serialize;

use super::json;
use chrono::Local;

use super::progress::{CliProgress, ProblemLines};
use crate::cli::VerifyArgs;
use crate::config::{self, Vars};
use crate::engine::{self, VerifySettings, VerifySummary};
use crate::engine::{Error, Result};
use crate::error::ErrorKind;
use crate::generation::GenerationName;
use crate::integrity::{Problem, Sample};

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
    let settings = settings(&args, vars)?;
    let lines = match (args.json, args.all) {
        (true, _) => ProblemLines::Hidden,
        (false, true) => ProblemLines::Named,
        (false, false) => ProblemLines::Plain,
    };
    let summary = engine::verify(&settings, &CliProgress::new(lines))?;
    if args.json {
        print_json(&summary);
    }
    let damaged: Vec<&str> = summary
        .generations
        .iter()
        .filter(|g| !g.report.problems.is_empty())
        .map(|g| g.name.as_str())
        .collect();
    let problems = summary
        .generations
        .iter()
        .map(|g| g.report.problems.len())
        .sum();
    let kinds: Vec<ErrorKind> = summary
        .generations
        .iter()
        .flat_map(|g| g.report.problems.iter().map(Problem::kind))
        .collect();
    let name = match damaged.as_slice() {
        [] => return Ok(()),
        [one] => one.to_string(),
        many => format!("{} generations ({})", many.len(), many.join(", ")),
    };
    // Damage anywhere decides the exit; otherwise the first archive that could not be checked.
    match kinds.first() {
        Some(&kind) if !kinds.contains(&ErrorKind::Damage) => Err(Error::Unverified {
            name,
            problems,
            kind,
        }),
        _ => Err(Error::Damaged { name, problems }),
    }
}

/// The flags, over the defaults.
fn settings(args: &VerifyArgs, vars: &Vars) -> Result<VerifySettings> {
    Ok(VerifySettings {
        root: config::backup_root(args.root.root.as_deref(), vars),
        name: args
            .name
            .as_deref()
            .map(GenerationName::parse)
            .transpose()?,
        sample: args.sample.filter(|p| *p < 100.0).map(|percent| Sample {
            percent,
            seed: args
                .seed
                .unwrap_or_else(|| Local::now().timestamp_nanos_opt().unwrap_or_default() as u64),
        }),
    })
}

fn print_json(summary: &VerifySummary) {
    json::print(&VerifyJson {
        generations: summary
            .generations
            .iter()
            .map(|g| VerifiedGeneration {
                bytes: g.report.bytes,
                files: g.report.files,
                name: g.name.clone(),
                problems: g.report.problems.iter().map(ProblemJson::from).collect(),
            })
            .collect(),
        root: summary.root.to_string_lossy().into_owned(),
    });
}
