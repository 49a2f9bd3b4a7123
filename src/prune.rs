//! Retention: deciding which generations to remove ([`plan`], pure) and removing them
//! ([`apply`]).
//!
//! Rules:
//! - Only complete generations (fullsite and legacy) are counted and removed. Damaged ones are
//!   reported and left for an operator; hidden work-in-progress directories are never counted.
//! - The newest `N` complete generations are kept, and never fewer than one: the newest complete
//!   generation is never removed, whatever `N` is (so `--retain-generations 0` keeps one).
//! - A generation is removed by first renaming it to `.NAME.pruning.PID` (atomic: it vanishes
//!   from `list`, `restore` and rsync at once), then deleting that directory. Deleting unlinks
//!   names only: content shared with kept generations through hard links stays, and symbolic
//!   links are removed, never followed.

use std::path::PathBuf;

use crate::error::Result;
use crate::fsutil::{rename_no_replace, sync_dir};
use crate::generation::{Catalog, Generation};

/// How many generations to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep this many of the newest complete generations (at least one is always kept).
    pub retain_generations: u32,
}

/// The decision for one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Generation name.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// Why it is kept or removed, for the log and `--dry-run`.
    pub reason: String,
}

/// What a prune will do; nothing has been changed when one exists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrunePlan {
    /// Generations kept, oldest first.
    pub keep: Vec<Decision>,
    /// Generations to remove, oldest first.
    pub remove: Vec<Decision>,
    /// Damaged generations, left alone.
    pub untouched: Vec<Decision>,
}

/// Decides what to keep and what to remove. Pure: reads nothing but `catalog`.
pub fn plan(catalog: &Catalog, policy: RetentionPolicy) -> PrunePlan {
    let complete: Vec<&Generation> = catalog.complete().collect();
    let keep_count = (policy.retain_generations as usize).max(1);
    let first_kept = complete.len().saturating_sub(keep_count);
    let mut plan = PrunePlan::default();
    for (index, generation) in complete.iter().enumerate() {
        let rank = complete.len() - index;
        let decision = |reason: String| Decision {
            name: generation.name.clone(),
            path: generation.path.clone(),
            reason,
        };
        if index >= first_kept {
            let reason = if rank == 1 {
                "newest complete generation".to_string()
            } else {
                format!("one of the newest {keep_count}")
            };
            plan.keep.push(decision(reason));
        } else {
            plan.remove
                .push(decision(format!("older than the newest {keep_count}")));
        }
    }
    for generation in catalog.generations.iter().filter(|g| !g.is_complete()) {
        plan.untouched.push(Decision {
            name: generation.name.clone(),
            path: generation.path.clone(),
            reason: "damaged: never pruned automatically; check it with 'fullsite verify'".into(),
        });
    }
    plan
}

/// Carries out `plan`; the caller holds the root lock. Returns the names removed.
pub fn apply(plan: &PrunePlan) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for decision in &plan.remove {
        let Some(root) = decision.path.parent() else {
            continue;
        };
        let doomed = root.join(format!(".{}.pruning.{}", decision.name, std::process::id()));
        rename_no_replace(&decision.path, &doomed)?;
        sync_dir(root)?;
        std::fs::remove_dir_all(&doomed).map_err(|e| crate::Error::io("remove", &doomed, e))?;
        tracing::info!(
            "removed generation '{}' ({})",
            decision.name,
            decision.reason
        );
        removed.push(decision.name.clone());
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generation::GenerationKind;
    use chrono::{Duration, Local};

    fn catalog(kinds: &[(&str, GenerationKind)]) -> Catalog {
        let start = Local::now() - Duration::days(30);
        Catalog {
            generations: kinds
                .iter()
                .enumerate()
                .map(|(i, (name, kind))| Generation {
                    name: name.to_string(),
                    path: PathBuf::from("/root").join(name),
                    kind: kind.clone(),
                    time: start + Duration::days(i as i64),
                })
                .collect(),
            leftovers: Vec::new(),
        }
    }

    fn names(list: &[Decision]) -> Vec<&str> {
        list.iter().map(|d| d.name.as_str()).collect()
    }

    fn legacy(n: usize) -> Vec<(String, GenerationKind)> {
        (1..=n)
            .map(|i| (format!("g{i}"), GenerationKind::Legacy))
            .collect()
    }

    fn plan_for(kinds: &[(String, GenerationKind)], retain: u32) -> PrunePlan {
        let borrowed: Vec<(&str, GenerationKind)> =
            kinds.iter().map(|(n, k)| (n.as_str(), k.clone())).collect();
        plan(
            &catalog(&borrowed),
            RetentionPolicy {
                retain_generations: retain,
            },
        )
    }

    #[test]
    fn keeps_the_newest_n() {
        let p = plan_for(&legacy(5), 3);
        assert_eq!(names(&p.keep), ["g3", "g4", "g5"]);
        assert_eq!(names(&p.remove), ["g1", "g2"]);
        assert_eq!(p.remove[0].reason, "older than the newest 3");
        assert_eq!(p.keep[0].reason, "one of the newest 3");
    }

    #[test]
    fn fewer_generations_than_n_removes_nothing() {
        let p = plan_for(&legacy(2), 7);
        assert!(p.remove.is_empty());
        assert_eq!(names(&p.keep), ["g1", "g2"]);
        assert!(plan_for(&[], 7) == PrunePlan::default());
    }

    #[test]
    fn zero_still_keeps_the_newest_complete_generation() {
        let p = plan_for(&legacy(3), 0);
        assert_eq!(names(&p.keep), ["g3"]);
        assert_eq!(p.keep[0].reason, "newest complete generation");
        assert_eq!(names(&p.remove), ["g1", "g2"]);
    }

    #[test]
    fn damaged_generations_are_neither_counted_nor_removed() {
        let mut kinds = legacy(3);
        kinds.insert(
            0,
            ("old-damaged".into(), GenerationKind::Damaged("x".into())),
        );
        kinds.push(("new-damaged".into(), GenerationKind::Damaged("x".into())));
        let p = plan_for(&kinds, 1);
        assert_eq!(names(&p.keep), ["g3"]);
        assert_eq!(names(&p.remove), ["g1", "g2"]);
        assert_eq!(names(&p.untouched), ["old-damaged", "new-damaged"]);
    }
}
