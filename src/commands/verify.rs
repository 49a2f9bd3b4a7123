//! `fullsite verify NAME | --all`: flags → [`VerifySettings`] → [`engine::verify`]. Problems on
//! stdout, one per line as each generation is done (prefixed by the generation with `--all`),
//! or one JSON document at the end with `--json`; exit 3 when any is damage, else the kind of
//! the first archive that could not be checked (2 for a version this build does not read, 1 for
//! a file it may not read).

use chrono::Local;

use super::progress::{CliProgress, ProblemLines};
use crate::cli::VerifyArgs;
use crate::config::{self, Vars};
use crate::engine::{self, VerifySettings, VerifySummary};
use crate::engine::{Error, Result};
use crate::error::ErrorKind;
use crate::generation::GenerationName;
use crate::integrity::{Problem, Sample};

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

/// `{"root", "generations": [{name, files, bytes, problems: [{kind, path, detail}]}]}`.
fn print_json(summary: &VerifySummary) {
    let generations: Vec<serde_json::Value> = summary
        .generations
        .iter()
        .map(|g| {
            let listed: Vec<serde_json::Value> = g
                .report
                .problems
                .iter()
                .map(|p| {
                    let (kind, path, detail) = p.parts();
                    serde_json::json!({"kind": kind, "path": path, "detail": detail})
                })
                .collect();
            serde_json::json!({
                "name": g.name,
                "files": g.report.files,
                "bytes": g.report.bytes,
                "problems": listed,
            })
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({"root": summary.root, "generations": generations})
    );
}
