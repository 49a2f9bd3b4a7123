//! `fullsite prune`: lock → clean leftovers → plan → apply (or print the plan with --dry-run).

use std::time::Duration;

use serde::Serialize;

use super::json;
use crate::cli::PruneArgs;
use crate::config::{self, Vars};
use crate::error::Result;
use crate::failpoint;
use crate::generation::{Catalog, remove_stale};
use crate::lock::RootLock;
use crate::prune::{self, Decision, PrunePlan, RetentionPolicy};

pub async fn run(args: PruneArgs, vars: &Vars) -> Result<()> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let calendar = args.keep_daily + args.keep_weekly + args.keep_monthly > 0;
    let policy = RetentionPolicy {
        retain_generations: args
            .retain_generations
            .unwrap_or(if calendar { 0 } else { 7 }),
        daily: args.keep_daily,
        weekly: args.keep_weekly,
        monthly: args.keep_monthly,
    };
    if policy.retain_generations == 0 && !calendar {
        tracing::warn!("--retain-generations 0: the newest complete generation is kept anyway");
    }
    if !root.is_dir() {
        tracing::info!(
            "backup root '{}' does not exist; nothing to prune",
            root.display()
        );
        return Ok(());
    }
    if args.dry_run {
        let plan = prune::plan(&Catalog::scan(&root)?, policy);
        if args.json {
            print_json(&plan, true, &[]);
        } else {
            print_plan(&plan);
        }
        return Ok(());
    }
    let _lock =
        RootLock::acquire(&root, "prune", args.lock.wait_lock.map(Duration::from_secs)).await?;
    failpoint::pause("prune:after-lock").await;
    let catalog = Catalog::scan(&root)?;
    remove_stale(&catalog.leftovers);
    let plan = prune::plan(&catalog, policy);
    for untouched in &plan.untouched {
        tracing::warn!("leaving '{}': {}", untouched.name, untouched.reason);
    }
    let removed = prune::apply(&plan)?;
    if args.json {
        print_json(&plan, false, &removed);
    }
    tracing::info!(
        "prune done: removed {}, kept {} in '{}'",
        removed.len(),
        plan.keep.len(),
        root.display()
    );
    Ok(())
}

/// `prune --json`: the plan, and what was removed (nothing with `--dry-run`); fields in
/// alphabetical order, see [`json`].
#[derive(Serialize)]
struct PruneJson<'a> {
    dry_run: bool,
    keep: Vec<DecisionJson<'a>>,
    remove: Vec<DecisionJson<'a>>,
    /// Names of the generations removed.
    removed: &'a [String],
    untouched: Vec<DecisionJson<'a>>,
}

/// A generation of the plan and why it is kept, removed or left alone.
#[derive(Serialize)]
struct DecisionJson<'a> {
    name: &'a str,
    reason: &'a str,
}

impl<'a> DecisionJson<'a> {
    fn all(decisions: &'a [Decision]) -> Vec<DecisionJson<'a>> {
        decisions
            .iter()
            .map(|d| DecisionJson {
                name: &d.name,
                reason: &d.reason,
            })
            .collect()
    }
}

fn print_json(plan: &PrunePlan, dry_run: bool, removed: &[String]) {
    json::print(&PruneJson {
        dry_run,
        keep: DecisionJson::all(&plan.keep),
        remove: DecisionJson::all(&plan.remove),
        removed,
        untouched: DecisionJson::all(&plan.untouched),
    });
}

fn print_plan(plan: &PrunePlan) {
    let rows = plan
        .remove
        .iter()
        .map(|d| ("remove", d))
        .chain(plan.keep.iter().map(|d| ("keep", d)))
        .chain(plan.untouched.iter().map(|d| ("leave", d)));
    for (action, decision) in rows {
        println!(
            "{action:<6} {}  ({})",
            crate::display::printable(&decision.name),
            decision.reason
        );
    }
}
