//! A prune run: root lock → clean leftovers → plan ([`crate::retention::plan`], where retention is
//! decided) → apply; or, with `dry_run`, only the plan, without the lock, changing nothing.

use std::path::PathBuf;
use std::time::Duration;

use super::error::Result;
use crate::failpoint;
use crate::generation::{Catalog, remove_stale};
use crate::lock::RootLock;
use crate::retention::{self, PrunePlan, RetentionPolicy};

/// Everything a prune needs, resolved once from flags, variables and defaults.
#[derive(Debug, Clone)]
pub struct PruneSettings {
    /// The backup root.
    pub root: PathBuf,
    /// What to keep.
    pub policy: RetentionPolicy,
    /// Plan only; change nothing.
    pub dry_run: bool,
    /// How long to wait for the root lock (`None`: fail at once when it is held).
    pub wait_lock: Option<Duration>,
}

/// What a prune decided and did.
#[derive(Debug, Clone)]
pub struct PruneSummary {
    /// The plan; `None` when the root does not exist (nothing to prune).
    pub plan: Option<PrunePlan>,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Generations removed (none in a dry run).
    pub removed: Vec<String>,
}

/// Prunes `settings.root`.
pub async fn prune(settings: &PruneSettings) -> Result<PruneSummary> {
    let (root, policy) = (&settings.root, settings.policy);
    let calendar = policy.daily + policy.weekly + policy.monthly > 0;
    if policy.retain_generations == 0 && !calendar {
        tracing::warn!("--retain-generations 0: the newest complete generation is kept anyway");
    }
    let mut summary = PruneSummary {
        plan: None,
        dry_run: settings.dry_run,
        removed: Vec::new(),
    };
    if !root.is_dir() {
        tracing::info!(
            "backup root '{}' does not exist; nothing to prune",
            root.display()
        );
        return Ok(summary);
    }
    if settings.dry_run {
        summary.plan = Some(retention::plan(&Catalog::scan(root)?, policy));
        return Ok(summary);
    }
    let _lock = RootLock::acquire(root, "prune", settings.wait_lock).await?;
    failpoint::pause(failpoint::PausePoint::PruneAfterLock).await;
    let catalog = Catalog::scan(root)?;
    remove_stale(&catalog.leftovers);
    let plan = retention::plan(&catalog, policy);
    for untouched in &plan.untouched {
        tracing::warn!("leaving '{}': {}", untouched.name, untouched.reason);
    }
    summary.removed = retention::apply(&plan)?;
    tracing::info!(
        "prune done: removed {}, kept {} in '{}'",
        summary.removed.len(),
        plan.keep.len(),
        root.display()
    );
    summary.plan = Some(plan);
    Ok(summary)
}
