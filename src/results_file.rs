//! Results files in the backup root: the last outcome of a check, per generation, for `status`
//! to report (`.verify-results.json` today; any later check keeps its own file the same way).
//!
//! Format: one JSON object, pretty-printed, mapping a generation name to the latest record for
//! it (the record type is the caller's, through serde). History is bounded: a write keeps one
//! record per generation and drops the records of generations no longer in the root.
//!
//! Writing rule: **last writer wins**, without the root lock. The checks that write these files
//! (`verify`) never lock: they run on read-only offsite copies and must not wait an hour behind
//! a backup holding the lock. So a write is a read-modify-write whose last step is atomic
//! (`fsutil::write_file_atomic`: a temporary file named after this process, fsync, rename,
//! fsync of the root): a reader sees the old file or the new one, never a torn one. Two runs
//! writing at once may lose one's record (the later rename wins); that only makes `status` show
//! an older outcome until the next check records again. Writing is best effort: a root that
//! cannot be written (a read-only copy) leaves the file as it was, with a debug log line.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Records `entry` as the latest for `generation` in `root/file_name`, dropping the records of
/// generations not in `existing`; best effort (see the module docs).
pub fn record<T: Serialize + DeserializeOwned>(
    root: &Path,
    file_name: &str,
    generation: &str,
    entry: T,
    existing: &[String],
) {
    let path = root.join(file_name);
    let mut all: BTreeMap<String, T> = read_all(&path).unwrap_or_default();
    all.retain(|name, _| existing.contains(name));
    all.insert(generation.to_string(), entry);
    let written = serde_json::to_vec_pretty(&all)
        .map_err(|e| e.to_string())
        .and_then(|text| crate::fsutil::write_file_atomic(&path, &text).map_err(|e| e.to_string()));
    if let Err(e) = written {
        tracing::debug!("not recording the result in '{}': {e}", path.display());
    }
}

/// The latest record for `generation` in `root/file_name`, if any.
pub fn read<T: DeserializeOwned>(root: &Path, file_name: &str, generation: &str) -> Option<T> {
    read_all(&root.join(file_name))?.remove(generation)
}

fn read_all<T: DeserializeOwned>(path: &Path) -> Option<BTreeMap<String, T>> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Outcome {
        problems: usize,
    }

    #[test]
    fn records_the_latest_per_generation_and_forgets_removed_ones() {
        let root = tempfile::tempdir().unwrap();
        let existing = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        record(
            root.path(),
            ".x.json",
            "a",
            Outcome { problems: 1 },
            &existing(&["a"]),
        );
        record(
            root.path(),
            ".x.json",
            "b",
            Outcome { problems: 2 },
            &existing(&["a", "b"]),
        );
        record(
            root.path(),
            ".x.json",
            "a",
            Outcome { problems: 0 },
            &existing(&["a", "b"]),
        );
        assert_eq!(
            read(root.path(), ".x.json", "a"),
            Some(Outcome { problems: 0 })
        );
        assert_eq!(
            read(root.path(), ".x.json", "b"),
            Some(Outcome { problems: 2 })
        );
        record(
            root.path(),
            ".x.json",
            "c",
            Outcome { problems: 3 },
            &existing(&["b", "c"]),
        );
        assert_eq!(read::<Outcome>(root.path(), ".x.json", "a"), None);
        let text = std::fs::read_to_string(root.path().join(".x.json")).unwrap();
        assert_eq!(
            text,
            "{\n  \"b\": {\n    \"problems\": 2\n  },\n  \"c\": {\n    \"problems\": 3\n  }\n}"
        );
    }

    #[test]
    fn a_root_that_cannot_be_written_is_left_alone() {
        let missing = Path::new("/nonexistent/fullsite-root");
        record(missing, ".x.json", "a", Outcome { problems: 0 }, &[]);
        assert_eq!(read::<Outcome>(missing, ".x.json", "a"), None);
    }
}
