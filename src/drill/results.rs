//! `ROOT/.drill-results.json`: the outcome of recent drills, for `status` and monitors.
//!
//! Format: one JSON object mapping each generation name to its drills, oldest first, at most
//! [`HISTORY`] each; generations no longer in the root are dropped when a result is recorded.
//! Written atomically (temporary file, fsync, rename, fsync of the root), so a reader sees the
//! previous content or the new, never a torn file. Recording is best effort: a root that cannot
//! be written is logged, and the drill's outcome stands.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The file's name in the backup root.
pub const RESULTS_FILE: &str = ".drill-results.json";

/// Drills kept per generation.
pub const HISTORY: usize = 10;

/// One drill's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillResult {
    /// When it finished, RFC 3339.
    pub at: String,
    /// The generation drilled.
    pub generation: String,
    /// Whether everything matched.
    pub passed: bool,
    /// Tables compared.
    pub tables: u64,
    /// Rows restored in them.
    pub rows: u64,
    /// Wall time.
    pub seconds: f64,
    /// Mismatches found (verify problems included).
    pub mismatches: u64,
    /// Dangling references, when a rows → objects query ran.
    #[serde(default)]
    pub dangling_references: Option<u64>,
}

type History = BTreeMap<String, Vec<DrillResult>>;

fn read(root: &Path) -> History {
    std::fs::read(root.join(RESULTS_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Adds `result` to the root's history, keeping only generations in `existing`.
pub fn record(root: &Path, result: DrillResult, existing: &[String]) {
    let mut all = read(root);
    all.retain(|name, _| existing.contains(name) || *name == result.generation);
    let runs = all.entry(result.generation.clone()).or_default();
    runs.push(result);
    let excess = runs.len().saturating_sub(HISTORY);
    runs.drain(..excess);
    write(root, &all);
}

/// Writes the history atomically (see the module documentation).
fn write(root: &Path, all: &History) {
    let text = serde_json::to_vec_pretty(all).unwrap_or_default();
    if let Err(e) = crate::fsutil::write_file_atomic(&root.join(RESULTS_FILE), &text) {
        tracing::warn!("not recording the drill result: {e}");
    }
}

/// The most recent drill of any generation.
pub fn last(root: &Path) -> Option<DrillResult> {
    read(root)
        .into_values()
        .filter_map(|runs| runs.last().cloned())
        .max_by(|a, b| {
            let at = |r: &DrillResult| chrono::DateTime::parse_from_rfc3339(&r.at).ok();
            at(a).cmp(&at(b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(generation: &str, at: &str, passed: bool) -> DrillResult {
        DrillResult {
            at: at.into(),
            generation: generation.into(),
            passed,
            tables: 3,
            rows: 10,
            seconds: 1.5,
            mismatches: u64::from(!passed),
            dangling_references: None,
        }
    }

    #[test]
    fn history_is_bounded_per_generation_and_forgets_pruned_ones() {
        let dir = tempfile::tempdir().unwrap();
        let names = ["g1".to_string(), "g2".to_string()];
        for day in 10..25 {
            let at = format!("2026-01-{day}T03:00:00+00:00");
            record(dir.path(), result("g1", &at, day % 2 == 0), &names);
        }
        let all = read(dir.path());
        assert_eq!(all["g1"].len(), HISTORY);
        assert_eq!(all["g1"][0].at, "2026-01-15T03:00:00+00:00");
        record(
            dir.path(),
            result("g2", "2026-01-09T03:00:00Z", true),
            &names,
        );
        assert_eq!(read(dir.path()).len(), 2);
        let only_g1 = ["g1".to_string()];
        record(
            dir.path(),
            result("new", "2026-01-01T00:00:00Z", true),
            &only_g1,
        );
        let all = read(dir.path());
        assert!(!all.contains_key("g2"), "not in the root any more");
        assert_eq!(all.len(), 2);
        let last = last(dir.path()).unwrap();
        assert_eq!((last.generation.as_str(), last.passed), ("g1", true));
        assert!(
            !dir.path()
                .join(format!(".{RESULTS_FILE}.tmp.{}", std::process::id()))
                .exists()
        );
    }
}
