//! `fullsite status`: the newest complete generation and its age, for humans and monitors.
//! The newest drill of any generation is shown too. With `--max-age HOURS` the exit code is 1
//! when that generation is older (or missing).

use chrono::Local;
use serde::Serialize;

use super::json::{self, Parts};
use crate::cli::StatusArgs;
use crate::config::{self, Vars};
use crate::drill::results::DrillResult;
use crate::engine::{Error, Result};
use crate::generation::Catalog;
use crate::human::{age, printable};
use crate::integrity::{LastVerify, RESULTS_FILE};
/// `status --json` (fields in alphabetical order, see [`json`]).
#[derive(Serialize)]
struct StatusJson<'a> {
    /// Whether the newest complete generation is within `--max-age` (null without it).
    fresh: Option<bool>,
    /// Complete generations in the root.
    generations: usize,
    /// The newest drill of any generation (null before any drill).
    last_drill: Option<DrilledJson<'a>>,
    max_age_hours: Option<f64>,
    newest: Option<NewestJson<'a>>,
    /// The offsite repository's newest generation; only when a target is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    offsite: Option<super::offsite::OffsiteStatus>,
    root: String,
}

/// The newest complete generation in `status --json`.
#[derive(Serialize)]
struct NewestJson<'a> {
    /// Rounded to two decimals.
    age_hours: f64,
    last_verify: Option<VerifiedJson<'a>>,
    name: &'a str,
    parts: Parts,
    status: &'static str,
    /// RFC 3339.
    time: String,
}

/// The last verification of the newest generation, as recorded in the root.
#[derive(Serialize)]
struct VerifiedJson<'a> {
    at: &'a str,
    files: u64,
    percent: f64,
    problems: usize,
}

impl<'a> From<&'a LastVerify> for VerifiedJson<'a> {
    fn from(last: &'a LastVerify) -> VerifiedJson<'a> {
        VerifiedJson {
            at: &last.at,
            files: last.files,
            percent: last.percent,
            problems: last.problems,
        }
    }
}

/// The newest drill of any generation, as recorded in the root.
#[derive(Serialize)]
struct DrilledJson<'a> {
    at: &'a str,
    dangling_references: Option<u64>,
    generation: &'a str,
    mismatches: u64,
    passed: bool,
    rows: u64,
    seconds: f64,
    tables: u64,
}

impl<'a> From<&'a DrillResult> for DrilledJson<'a> {
    fn from(last: &'a DrillResult) -> DrilledJson<'a> {
        DrilledJson {
            at: &last.at,
            dangling_references: last.dangling_references,
            generation: &last.generation,
            mismatches: last.mismatches,
            passed: last.passed,
            rows: last.rows,
            seconds: last.seconds,
            tables: last.tables,
        }
    }
}

pub async fn run(args: StatusArgs, vars: &Vars) -> Result<()> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let catalog = Catalog::scan(&root)?;
    let newest = catalog.newest_complete();
    let hours = newest.map(|g| (Local::now() - g.time).num_seconds() as f64 / 3600.0);
    let fresh = match (args.max_age, hours) {
        (Some(max), Some(hours)) => Some(hours <= max),
        (Some(_), None) => Some(false),
        (None, _) => None,
    };
    let last_verify: Option<LastVerify> =
        newest.and_then(|g| crate::results_file::read(&root, RESULTS_FILE, &g.name));
    let last_drill = crate::drill::results::last(&root);
    let offsite = super::offsite::status_section(vars).await;
    if args.json {
        json::print(&StatusJson {
            fresh,
            generations: catalog.complete().count(),
            last_drill: last_drill.as_ref().map(DrilledJson::from),
            max_age_hours: args.max_age,
            newest: newest.zip(hours).map(|(g, h)| NewestJson {
                age_hours: (h * 100.0).round() / 100.0,
                last_verify: last_verify.as_ref().map(VerifiedJson::from),
                name: &g.name,
                parts: Parts::of(g),
                status: g.status(),
                time: g.time.to_rfc3339(),
            }),
            offsite,
            root: root.to_string_lossy().into_owned(),
        });
    } else {
        print_text(&root, &catalog, newest, hours);
        if newest.is_some() {
            match &last_verify {
                Some(v) if v.problems == 0 => {
                    println!("verified: {} ok ({:.0}% of files hashed)", v.at, v.percent)
                }
                Some(v) => println!("verified: {} DAMAGED ({} problems)", v.at, v.problems),
                None => println!("verified: never"),
            }
        }
        match &last_drill {
            Some(d) => println!(
                "drilled: {} {} {} ({} tables, {} rows, {:.1}s)",
                d.at,
                if d.passed { "ok" } else { "FAILED" },
                printable(&d.generation),
                d.tables,
                d.rows,
                d.seconds
            ),
            None => println!("drilled: never"),
        }
        if let Some(offsite) = &offsite {
            print_offsite(offsite);
        }
    }
    match (newest, args.max_age, hours) {
        (None, Some(_), _) => Err(Error::Stale(format!(
            "no complete generation in '{}'",
            root.display()
        ))),
        (Some(newest), Some(max), Some(hours)) if hours > max => Err(Error::Stale(format!(
            "newest complete generation '{}' is {} old, older than --max-age {max}h",
            printable(&newest.name),
            age(hours)
        ))),
        _ => Ok(()),
    }
}

fn print_text(
    root: &std::path::Path,
    catalog: &Catalog,
    newest: Option<&crate::generation::Generation>,
    hours: Option<f64>,
) {
    println!("root: {}", root.display());
    println!("generations: {}", catalog.complete().count());
    let (Some(newest), Some(hours)) = (newest, hours) else {
        println!("newest: none");
        return;
    };
    println!("newest: {}", printable(&newest.name));
    println!("status: {}", newest.status());
    println!("time: {}", newest.time.format("%Y-%m-%d %H:%M:%S %:z"));
    println!("age: {}", age(hours));
    println!("db: {}", if newest.has_db() { "yes" } else { "no" });
    println!(
        "objects: {}",
        if newest.has_objects() { "yes" } else { "no" }
    );
}

/// The offsite lines of the text output.
fn print_offsite(offsite: &super::offsite::OffsiteStatus) {
    use super::offsite::OffsiteStatus;
    match offsite {
        OffsiteStatus::Unknown { error } => println!("offsite: unknown ({error})"),
        OffsiteStatus::Known { newest: None, .. } => println!("offsite: none"),
        OffsiteStatus::Known {
            newest: Some(newest),
            ..
        } => println!(
            "offsite: {} ({} old)",
            printable(&newest.name),
            age(newest.age_hours)
        ),
    }
}
