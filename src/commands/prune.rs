//! `fullsite prune`: flags → [`PruneSettings`] → [`engine::prune`] → the plan on stdout with
//! `--dry-run` (text or JSON), the JSON record with `--json`.

use std::time::Duration;

use serde::Serialize;

use super::json;
use crate::cli::PruneArgs;
use crate::config::{self, Vars};
use crate::engine::Result;
use crate::engine::{self, PruneSettings};
use crate::retention::{Decision, PrunePlan, RetentionPolicy};

pub async fn run(args: PruneArgs, vars: &Vars) -> Result<()> {
    let summary = engine::prune(&settings(&args, vars)).await?;
    let Some(plan) = &summary.plan else {
        return Ok(());
    };
    if args.json {
        print_json(plan, summary.dry_run, &summary.removed);
    } else if summary.dry_run {
        print_plan(plan);
    }
    Ok(())
}

/// The flags, over the variables, over the defaults.
fn settings(args: &PruneArgs, vars: &Vars) -> PruneSettings {
    let calendar = args.keep_daily + args.keep_weekly + args.keep_monthly > 0;
    PruneSettings {
        root: config::backup_root(args.root.root.as_deref(), vars),
        policy: RetentionPolicy {
            retain_generations: config::retain_generations(args.retain_generations, calendar),
            daily: args.keep_daily,
            weekly: args.keep_weekly,
            monthly: args.keep_monthly,
        },
        dry_run: args.dry_run,
        wait_lock: args.lock.wait_lock.map(Duration::from_secs),
    }
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
            crate::human::printable(&decision.name),
            decision.reason
        );
    }
}
