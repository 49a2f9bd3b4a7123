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

use crate::fsutil::{IoContext, Result, rename_no_replace, sync_dir};
use crate::generation::{Catalog, Generation};

/// How many generations to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Keep this many of the newest complete generations (at least one is always kept).
    pub retain_generations: u32,
    /// Keep the newest generation of each of the N most recent days that have one.
    pub daily: u32,
    /// Keep the newest generation of each of the N most recent ISO weeks that have one.
    pub weekly: u32,
    /// Keep the newest generation of each of the N most recent months that have one.
    pub monthly: u32,
}

impl RetentionPolicy {
    /// Keep the newest `n` complete generations, nothing else.
    #[cfg(test)]
    pub fn newest(n: u32) -> RetentionPolicy {
        RetentionPolicy {
            retain_generations: n,
            daily: 0,
            weekly: 0,
            monthly: 0,
        }
    }
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

/// The calendar period a generation belongs to (its day, ISO week or month).
type PeriodOf = fn(&Generation) -> String;

/// Decides what to keep and what to remove. Pure: reads nothing but `catalog`.
pub fn plan(catalog: &Catalog, policy: RetentionPolicy) -> PrunePlan {
    let complete: Vec<&Generation> = catalog.complete().collect();
    let mut reasons: Vec<Vec<String>> = vec![Vec::new(); complete.len()];
    if let Some(last) = reasons.last_mut() {
        last.push("newest complete generation".into());
    }
    let newest = policy.retain_generations as usize;
    for reason in reasons.iter_mut().rev().take(newest) {
        reason.push(format!("one of the newest {newest}"));
    }
    // Calendar rules: walk newest first; the first generation met in each period is that
    // period's newest; only periods that hold a generation count.
    let rules: [(u32, &str, PeriodOf); 3] = [
        (policy.daily, "daily", |g| {
            g.time.format("%Y-%m-%d").to_string()
        }),
        (policy.weekly, "weekly", |g| {
            g.time.format("%G-W%V").to_string()
        }),
        (policy.monthly, "monthly", |g| {
            g.time.format("%Y-%m").to_string()
        }),
    ];
    for (count, label, period_of) in rules {
        let mut periods_seen: Vec<String> = Vec::new();
        for (index, generation) in complete.iter().enumerate().rev() {
            if periods_seen.len() as u32 >= count {
                break;
            }
            let period = period_of(generation);
            if !periods_seen.contains(&period) {
                reasons[index].push(format!("{label} {period}"));
                periods_seen.push(period);
            }
        }
    }
    let mut plan = PrunePlan::default();
    for (generation, reasons) in complete.iter().zip(reasons) {
        let decision = |reason: String| Decision {
            name: generation.name.clone(),
            path: generation.path.clone(),
            reason,
        };
        if reasons.is_empty() {
            plan.remove
                .push(decision("matched by no retention rule".into()));
        } else {
            plan.keep.push(decision(reasons.join(", ")));
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
        std::fs::remove_dir_all(&doomed).at("remove", &doomed)?;
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
    use chrono::{Duration, Local, NaiveDate, TimeZone};

    /// Generations at 02:30 on the given dates (a synthetic calendar).
    fn calendar(dates: &[&str]) -> Catalog {
        Catalog {
            generations: dates
                .iter()
                .map(|d| {
                    let date = NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
                    Generation {
                        name: format!("full-site-{d}"),
                        path: PathBuf::from("/root").join(d),
                        kind: GenerationKind::Legacy,
                        time: Local
                            .from_local_datetime(&date.and_hms_opt(2, 30, 0).unwrap())
                            .unwrap(),
                    }
                })
                .collect(),
            leftovers: Vec::new(),
        }
    }

    fn kept(catalog: &Catalog, policy: RetentionPolicy) -> Vec<String> {
        plan(catalog, policy)
            .keep
            .iter()
            .map(|d| d.name.trim_start_matches("full-site-").to_string())
            .collect()
    }

    fn gfs(daily: u32, weekly: u32, monthly: u32) -> RetentionPolicy {
        RetentionPolicy {
            retain_generations: 0,
            daily,
            weekly,
            monthly,
        }
    }

    #[test]
    fn daily_rules_count_days_that_have_a_generation_not_calendar_days() {
        // nights of 01-04 and 01-05 failed: they must not push 01-02 out of "the last 3 days"
        let c = calendar(&["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-06"]);
        assert_eq!(
            kept(&c, gfs(3, 0, 0)),
            ["2026-01-02", "2026-01-03", "2026-01-06"]
        );
    }

    #[test]
    fn weekly_and_monthly_keep_each_periods_newest_across_boundaries() {
        let c = calendar(&[
            "2025-12-28", // Sunday, ISO week 2025-W52
            "2025-12-31", // Wednesday, 2026-W01 (ISO week of Jan 1), month 2025-12
            "2026-01-01", // Thursday, 2026-W01
            "2026-01-04", // Sunday, 2026-W01
            "2026-01-05", // Monday, 2026-W02
            "2026-02-28", // Saturday, 2026-W09
            "2026-03-01", // Sunday, 2026-W09 too, but month 2026-03
        ]);
        assert_eq!(
            kept(&c, gfs(0, 3, 0)),
            ["2026-01-04", "2026-01-05", "2026-03-01"]
        );
        assert_eq!(
            kept(&c, gfs(0, 0, 3)),
            ["2026-01-05", "2026-02-28", "2026-03-01"]
        );
        assert_eq!(
            kept(&c, gfs(0, 0, 12)),
            ["2025-12-31", "2026-01-05", "2026-02-28", "2026-03-01"]
        );
        assert_eq!(
            kept(&c, gfs(0, 52, 0)),
            ["2025-12-28", "2026-01-04", "2026-01-05", "2026-03-01"]
        );
    }

    #[test]
    fn rules_combine_and_say_why_each_generation_is_kept() {
        let c = calendar(&[
            "2026-01-10",
            "2026-01-20",
            "2026-02-01",
            "2026-02-02",
            "2026-02-03",
        ]);
        let p = plan(
            &c,
            RetentionPolicy {
                retain_generations: 1,
                daily: 2,
                weekly: 0,
                monthly: 2,
            },
        );
        let kept: Vec<(&str, &str)> = p
            .keep
            .iter()
            .map(|d| (&d.name[10..], d.reason.as_str()))
            .collect();
        assert_eq!(
            kept,
            [
                ("2026-01-20", "monthly 2026-01"),
                ("2026-02-02", "daily 2026-02-02"),
                (
                    "2026-02-03",
                    "newest complete generation, one of the newest 1, daily 2026-02-03, monthly 2026-02"
                ),
            ]
        );
        assert_eq!(
            names(&p.remove),
            ["full-site-2026-01-10", "full-site-2026-02-01"]
        );
    }

    #[test]
    fn calendar_rules_alone_still_keep_the_newest() {
        let c = calendar(&["2026-01-01", "2026-01-02"]);
        assert_eq!(kept(&c, gfs(0, 0, 0)), ["2026-01-02"]);
    }

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
        plan(&catalog(&borrowed), RetentionPolicy::newest(retain))
    }

    #[test]
    fn keeps_the_newest_n() {
        let p = plan_for(&legacy(5), 3);
        assert_eq!(names(&p.keep), ["g3", "g4", "g5"]);
        assert_eq!(names(&p.remove), ["g1", "g2"]);
        assert_eq!(p.remove[0].reason, "matched by no retention rule");
        assert_eq!(p.keep[0].reason, "one of the newest 3");
        assert_eq!(
            p.keep[2].reason,
            "newest complete generation, one of the newest 3"
        );
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
