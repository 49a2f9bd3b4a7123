//! Which objects of a generation a command works on: `--bucket B`..., `--prefix P`, `--key K`...
//! (`ls`, `diff`, `restore`).
//!
//! The parts combine with *and*: an object is selected when its bucket is one of the buckets
//! (any bucket when none is given), its key starts with the prefix (when given) and it is one of
//! the keys (when given). An empty selection selects everything. A restore with a selection
//! never uploads or deletes outside it; only a selection of whole buckets (no prefix, no keys)
//! touches bucket-level state (bucket policies).

use std::collections::BTreeSet;

/// A selection of objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectSelection {
    /// Only these buckets (all when empty).
    pub buckets: BTreeSet<String>,
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// Only these keys (all when empty).
    pub keys: BTreeSet<String>,
}

impl ObjectSelection {
    /// Whether it selects everything.
    pub fn is_everything(&self) -> bool {
        self.buckets.is_empty() && self.whole_buckets()
    }

    /// Whether it selects whole buckets (no prefix, no keys).
    pub fn whole_buckets(&self) -> bool {
        self.prefix.is_none() && self.keys.is_empty()
    }

    /// Whether bucket `name` is selected.
    pub fn selects_bucket(&self, name: &str) -> bool {
        self.buckets.is_empty() || self.buckets.contains(name)
    }

    /// Whether key `key` of a selected bucket is selected.
    pub fn selects_key(&self, key: &str) -> bool {
        self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && (self.keys.is_empty() || self.keys.contains(key))
    }

    /// Whether object `bucket`/`key` is selected.
    pub fn selects(&self, bucket: &str, key: &str) -> bool {
        self.selects_bucket(bucket) && self.selects_key(key)
    }

    /// The listing prefixes that cover the selection in one bucket: the prefix, or each key
    /// (a key is a prefix of itself), or the whole bucket (`""`).
    pub fn listing_prefixes(&self) -> Vec<String> {
        if !self.keys.is_empty() {
            return self.keys.iter().cloned().collect();
        }
        vec![self.prefix.clone().unwrap_or_default()]
    }

    /// A key given with `--key` that `--prefix` excludes (the flags contradict each other).
    pub fn key_outside_prefix(&self) -> Option<&str> {
        let prefix = self.prefix.as_deref()?;
        self.keys
            .iter()
            .find(|k| !k.starts_with(prefix))
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_combine_with_and() {
        let everything = ObjectSelection::default();
        assert!(everything.is_everything() && everything.selects("b", "k"));
        let selection = ObjectSelection {
            buckets: ["img".to_string()].into(),
            prefix: Some("u/".into()),
            keys: BTreeSet::new(),
        };
        assert!(selection.selects("img", "u/1.png"));
        assert!(!selection.selects("img", "v/1.png"));
        assert!(!selection.selects("doc", "u/1.png"));
        assert!(!selection.whole_buckets());
        let keys = ObjectSelection {
            keys: ["a".to_string(), "b/c".to_string()].into(),
            ..ObjectSelection::default()
        };
        assert!(keys.selects("any", "a") && !keys.selects("any", "a/x"));
        assert_eq!(keys.listing_prefixes(), ["a", "b/c"]);
        let contradicting = ObjectSelection {
            prefix: Some("u/".into()),
            ..keys
        };
        assert_eq!(contradicting.key_outside_prefix(), Some("a"));
    }
}
