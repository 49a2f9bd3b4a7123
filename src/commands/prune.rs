//! `fullsite prune`: flags → [`PruneSettings`] → [`engine::prune`] → the plan on stdout with
//! `--dry-run` (text or JSON), the JSON record with `--json`.

use std::time::Duration;

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

/// `{"dry_run", "keep": [{name, reason}], "remove": [...], "untouched": [...], "removed": [names]}`.
fn print_json(plan: &PrunePlan, dry_run: bool, removed: &[String]) {
    let decisions = |list: &[Decision]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|d| serde_json::json!({"name": d.name, "reason": d.reason}))
            .collect()
    };
    println!(
        "{}",
        serde_json::json!({
            "dry_run": dry_run,
            "keep": decisions(&plan.keep),
            "remove": decisions(&plan.remove),
            "untouched": decisions(&plan.untouched),
            "removed": removed,
        })
    );
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
