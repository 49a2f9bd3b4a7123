//! `offsite prune`: the local retention rules ([`crate::retention::plan`]) applied to the
//! repository's generations, then removal of the content no remaining generation references.
//!
//! Plan first (a pure value, printed by `--dry-run`), then apply under the exclusive
//! repository lock (see [`super::lock`]): the removed generations' indexes are deleted first
//! (so they vanish whole), then every index that remains is read to collect the content it
//! needs, and only content objects none of them names are deleted. Content left by an
//! interrupted push (no index names it yet) is deleted too: the lock guarantees no push is
//! running, and the next push uploads it again. Expired lock records are deleted as well.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Local;
use serde::Serialize;

use super::error::OffsiteResult;
use super::list::{RemoteGeneration, list};
use super::lock::{LockKind, RepoLock, records};
use super::pull::read_index;
use super::repo::{DATA, GENERATIONS, Repository};
use crate::generation::{Catalog, Generation, GenerationKind};
use crate::objects::store::ObjectStore;
use crate::retention::{PrunePlan, RetentionPolicy, plan};

/// What a prune did (or, dry, would do).
#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// Generations kept, with why.
    pub keep: Vec<(String, String)>,
    /// Generations removed (or to remove), with why.
    pub remove: Vec<(String, String)>,
    /// Content objects deleted (dry run: that would be, counting only the removed generations).
    pub deleted_contents: u64,
    /// Their stored size.
    pub deleted_bytes: u64,
}

/// The retention plan over the remote generations.
pub fn plan_remote(generations: &[RemoteGeneration], policy: RetentionPolicy) -> PrunePlan {
    let catalog = Catalog {
        generations: generations
            .iter()
            .map(|g| Generation {
                name: g.name.clone(),
                path: PathBuf::from(&g.name),
                kind: match &g.head.manifest {
                    Some(header) => GenerationKind::Fullsite(Box::new(header.clone())),
                    None => GenerationKind::Legacy,
                },
                time: g.time.with_timezone(&Local),
            })
            .collect(),
        leftovers: Vec::new(),
    };
    plan(&catalog, policy)
}

/// Prunes the repository.
pub async fn prune<S: ObjectStore + 'static>(
    repo: Arc<Repository<S>>,
    policy: RetentionPolicy,
    dry_run: bool,
) -> OffsiteResult<PruneReport> {
    let lock = if dry_run {
        None
    } else {
        Some(RepoLock::acquire(Arc::clone(&repo), LockKind::Prune).await?)
    };
    let result = prune_locked(&repo, policy, dry_run).await;
    if let Some(lock) = lock
        && let Err(e) = lock.release().await
    {
        tracing::warn!("cannot remove the offsite lock record: {e}; it expires by itself");
    }
    result
}

async fn prune_locked<S: ObjectStore>(
    repo: &Repository<S>,
    policy: RetentionPolicy,
    dry_run: bool,
) -> OffsiteResult<PruneReport> {
    let generations = list(repo).await?;
    let plan = plan_remote(&generations, policy);
    let mut report = PruneReport {
        dry_run,
        keep: plan
            .keep
            .iter()
            .map(|d| (d.name.clone(), d.reason.clone()))
            .collect(),
        remove: plan
            .remove
            .iter()
            .map(|d| (d.name.clone(), d.reason.clone()))
            .collect(),
        deleted_contents: 0,
        deleted_bytes: 0,
    };
    if !dry_run {
        let names: Vec<String> = plan
            .remove
            .iter()
            .map(|d| format!("{GENERATIONS}{}", d.name))
            .collect();
        repo.delete(&names).await?;
        for decision in &plan.remove {
            tracing::info!(
                "removed offsite generation '{}' ({})",
                decision.name,
                decision.reason
            );
        }
    }
    let mut needed: HashSet<String> = HashSet::new();
    for decision in &plan.keep {
        let index = read_index(repo, &decision.name).await?;
        for file in &index.files {
            if let Some(hash) = file.hash() {
                needed.insert(repo.keys().content_id(&hash));
            }
        }
    }
    let mut doomed = Vec::new();
    if dry_run {
        // Only what the removed generations alone reference: content of a running push stays.
        let mut candidates = HashSet::new();
        for decision in &plan.remove {
            let index = read_index(repo, &decision.name).await?;
            for file in &index.files {
                if let Some(hash) = file.hash() {
                    candidates.insert(repo.keys().content_id(&hash));
                }
            }
        }
        for listed in repo.list(DATA).await? {
            let id = listed.key.strip_prefix(DATA).unwrap_or_default();
            if candidates.contains(id) && !needed.contains(id) {
                report.deleted_contents += 1;
                report.deleted_bytes += listed.size;
            }
        }
        return Ok(report);
    }
    for listed in repo.list(DATA).await? {
        let id = listed.key.strip_prefix(DATA).unwrap_or_default();
        if !needed.contains(id) {
            report.deleted_contents += 1;
            report.deleted_bytes += listed.size;
            doomed.push(listed.key);
        }
    }
    repo.delete(&doomed).await?;
    let (_, expired) = records(repo, None).await?;
    repo.delete(&expired).await?;
    tracing::info!(
        "offsite prune: kept {} generation(s), removed {}, deleted {} unreferenced content object(s) ({})",
        report.keep.len(),
        report.remove.len(),
        report.deleted_contents,
        crate::human::bytes(report.deleted_bytes)
    );
    Ok(report)
}
