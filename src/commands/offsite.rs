//! `fullsite offsite push|list|verify|pull|prune`: the offsite repository's settings from
//! `.env` and the environment, the repository opened (keys derived once), the engine in
//! [`crate::offsite`] run, its report printed (text, or one JSON document with `--json`).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::json;
use super::progress::{CliProgress, ProblemLines};
use crate::cli::{
    OffsiteCommand, OffsiteListArgs, OffsitePruneArgs, OffsitePullArgs, OffsitePushArgs,
    OffsiteVerifyArgs,
};
use crate::config::{self, Vars};
use crate::engine::Result;
use crate::human::{bytes, printable};
use crate::integrity::Sample;
use crate::objects::s3::S3Store;
use crate::offsite::error::OffsiteError;
use crate::offsite::keys::KdfParams;
use crate::offsite::repo::{Create, Repository, patience};
use crate::offsite::settings::TargetSettings;
use crate::offsite::{list, metrics, prune, pull, push, verify};
use crate::retention::RetentionPolicy;

/// `offsite list --json`.
#[derive(Serialize)]
struct ListJson<'a> {
    generations: &'a [list::RemoteGeneration],
    url: &'a str,
}

/// `offsite prune --json`.
#[derive(Serialize)]
struct PruneJson<'a> {
    deleted_bytes: u64,
    deleted_contents: u64,
    dry_run: bool,
    keep: Vec<DecisionJson<'a>>,
    remove: Vec<DecisionJson<'a>>,
}

fn decisions(list: &[(String, String)]) -> Vec<DecisionJson<'_>> {
    list.iter()
        .map(|(name, reason)| DecisionJson { name, reason })
        .collect()
}

/// A generation kept or removed, with why.
#[derive(Serialize)]
struct DecisionJson<'a> {
    name: &'a str,
    reason: &'a str,
}

/// Runs one offsite subcommand.
pub async fn run(command: OffsiteCommand, vars: &Vars) -> Result<()> {
    match command {
        OffsiteCommand::Push(args) => run_push(args, vars).await,
        OffsiteCommand::List(args) => run_list(args, vars).await,
        OffsiteCommand::Verify(args) => run_verify(args, vars).await,
        OffsiteCommand::Pull(args) => run_pull(args, vars).await,
        OffsiteCommand::Prune(args) => run_prune(args, vars).await,
    }
}

/// Opens the configured repository.
pub async fn open(
    vars: &Vars,
    stall_flag: Option<u64>,
    create: Create,
) -> Result<Arc<Repository<S3Store>>> {
    let target = TargetSettings::from_vars(vars)?;
    let stall: Duration = config::stall_timeout(stall_flag, vars)?;
    let store = S3Store::new(&target.s3, stall)?;
    let repo = Repository::open(store, &target, create, patience(stall)).await?;
    Ok(Arc::new(repo))
}

async fn run_push(args: OffsitePushArgs, vars: &Vars) -> Result<()> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let create = Create::IfMissing {
        no_encryption: args.no_encryption,
        params: KdfParams::DEFAULT,
    };
    let selection = if args.all {
        push::Selection::All
    } else {
        push::Selection::Names(args.names)
    };
    let transfers = args.transfers.transfers;
    let pushed = async {
        let repo = open(vars, args.stall.stall_timeout, create).await?;
        let report = push::push(
            Arc::clone(&repo),
            &root,
            &selection,
            transfers,
            &CliProgress::new(ProblemLines::Hidden),
        )
        .await?;
        let newest = list::list(&repo).await?.last().map(|g| g.time.timestamp());
        Ok::<_, crate::engine::Error>((report, newest))
    }
    .await;
    if let Some(path) = &args.metrics_file {
        let now = chrono::Utc::now().timestamp();
        let text = match &pushed {
            Ok((report, newest)) => metrics::success(report, now, *newest),
            Err(_) => metrics::failure(std::fs::read_to_string(path).ok().as_deref(), now),
        };
        if let Err(e) = super::summary::write_metrics(path, &text) {
            tracing::warn!("{e}");
        }
    }
    let (report, _) = pushed?;
    if args.json {
        json::print(&report);
        return Ok(());
    }
    for g in &report.generations {
        match g.status {
            "present" => println!("{}  already offsite", printable(&g.name)),
            _ => println!(
                "{}  pushed: {} files ({}), {} new contents ({}) stored as {}",
                printable(&g.name),
                g.files,
                bytes(g.bytes),
                g.uploaded,
                bytes(g.uploaded_bytes),
                bytes(g.stored_bytes)
            ),
        }
    }
    tracing::info!("offsite push done in {:.1}s", report.seconds);
    Ok(())
}

async fn run_list(args: OffsiteListArgs, vars: &Vars) -> Result<()> {
    let repo = open(vars, args.stall.stall_timeout, Create::No).await?;
    let generations = list::list(&repo).await?;
    if args.json {
        json::print(&ListJson {
            generations: &generations,
            url: repo.url(),
        });
        return Ok(());
    }
    if generations.is_empty() {
        tracing::info!(
            "no generations in the offsite repository at '{}'",
            repo.url()
        );
        return Ok(());
    }
    if std::io::stdout().is_terminal() {
        println!("NAME  DATE  KIND  FILES  SIZE  PUSHED");
    }
    for g in &generations {
        println!(
            "{}  {}  {}  {}  {}  {}",
            printable(&g.name),
            g.time.format("%Y-%m-%d %H:%M"),
            g.kind,
            g.files,
            bytes(g.bytes),
            g.pushed_at.format("%Y-%m-%d %H:%M")
        );
    }
    Ok(())
}

async fn run_verify(args: OffsiteVerifyArgs, vars: &Vars) -> Result<()> {
    let repo = open(vars, args.stall.stall_timeout, Create::No).await?;
    let sample = args.sample.map(|percent| Sample {
        percent,
        seed: args.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        }),
    });
    let names = args.name.map(|n| vec![n]);
    let report = verify::verify(
        &repo,
        names,
        sample,
        args.transfers.transfers,
        &CliProgress::new(ProblemLines::Hidden),
    )
    .await?;
    if args.json {
        json::print(&report);
    }
    for g in &report.generations {
        if !args.json {
            for p in &g.problems {
                println!(
                    "{}  {}  {}  {}",
                    printable(&g.name),
                    p.kind,
                    printable(p.path.as_deref().unwrap_or("-")),
                    p.detail
                );
            }
        }
        if g.problems.is_empty() {
            tracing::info!(
                "verified offsite '{}': {} files ({}), {} read back",
                printable(&g.name),
                g.files,
                bytes(g.bytes),
                g.checked
            );
        }
    }
    let problems = report.problems();
    if problems > 0 {
        let generations = report
            .generations
            .iter()
            .filter(|g| !g.problems.is_empty())
            .count();
        return Err(OffsiteError::VerifyFailed {
            problems,
            generations,
        }
        .into());
    }
    Ok(())
}

async fn run_pull(args: OffsitePullArgs, vars: &Vars) -> Result<()> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let repo = open(vars, args.stall.stall_timeout, Create::No).await?;
    let report = pull::pull(
        &repo,
        &root,
        &args.name,
        args.transfers.transfers,
        &CliProgress::new(ProblemLines::Hidden),
    )
    .await?;
    tracing::info!(
        "pulled '{}' into '{}': {} files ({}), {} downloaded ({}), {} linked to local generations, in {:.1}s",
        printable(&report.name),
        report.path.display(),
        report.files,
        bytes(report.bytes),
        report.downloaded,
        bytes(report.downloaded_bytes),
        report.linked,
        report.seconds
    );
    Ok(())
}

async fn run_prune(args: OffsitePruneArgs, vars: &Vars) -> Result<()> {
    let calendar = args.keep_daily + args.keep_weekly + args.keep_monthly > 0;
    let policy = RetentionPolicy {
        retain_generations: args
            .retain_generations
            .unwrap_or(if calendar { 0 } else { 7 }),
        daily: args.keep_daily,
        weekly: args.keep_weekly,
        monthly: args.keep_monthly,
    };
    let repo = open(vars, args.stall.stall_timeout, Create::No).await?;
    let report = prune::prune(repo, policy, args.dry_run).await?;
    if args.json {
        json::print(&PruneJson {
            deleted_bytes: report.deleted_bytes,
            deleted_contents: report.deleted_contents,
            dry_run: report.dry_run,
            keep: decisions(&report.keep),
            remove: decisions(&report.remove),
        });
        return Ok(());
    }
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for (name, reason) in &report.keep {
        println!("keep    {}  ({reason})", printable(name));
    }
    for (name, reason) in &report.remove {
        println!("{verb}  {}  ({reason})", printable(name));
    }
    println!(
        "{verb} {} unreferenced content object(s), {}",
        report.deleted_contents,
        bytes(report.deleted_bytes)
    );
    Ok(())
}

/// What `status` shows about the offsite repository (its `--json` field `offsite`).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum OffsiteStatus {
    /// The repository answered.
    Known {
        /// Generations stored there.
        generations: usize,
        /// The newest one (null when there is none).
        newest: Option<OffsiteNewest>,
        /// The repository URL.
        url: String,
    },
    /// The error that hid the repository (the local status does not fail because of it).
    Unknown {
        /// The one-line error.
        error: String,
    },
}

/// The newest offsite generation and its age.
#[derive(Debug, Serialize)]
pub struct OffsiteNewest {
    /// Hours since the generation's time, two decimals.
    pub age_hours: f64,
    /// Generation name.
    pub name: String,
    /// The generation's time (RFC 3339).
    pub time: String,
}

/// What `status` shows about the offsite repository: `None` when no target is configured.
pub async fn status_section(vars: &Vars) -> Option<OffsiteStatus> {
    if !TargetSettings::configured(vars) {
        return None;
    }
    let found = async {
        let repo = open(vars, None, Create::No).await?;
        let generations = list::list(&repo).await?;
        Ok::<_, crate::engine::Error>((repo.url().to_string(), generations))
    }
    .await;
    Some(match found {
        Ok((url, generations)) => OffsiteStatus::Known {
            generations: generations.len(),
            newest: generations.last().map(|g| {
                let hours =
                    (chrono::Local::now().fixed_offset() - g.time).num_seconds() as f64 / 3600.0;
                OffsiteNewest {
                    age_hours: (hours * 100.0).round() / 100.0,
                    name: g.name.clone(),
                    time: g.time.to_rfc3339(),
                }
            }),
            url,
        },
        Err(e) => {
            tracing::warn!("offsite status: {e}");
            OffsiteStatus::Unknown {
                error: e.to_string(),
            }
        }
    })
}
