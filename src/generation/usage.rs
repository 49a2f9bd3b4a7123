//! How much a generation holds, and how much of it no older generation already holds.
//!
//! Generations share unchanged content through hard links, so "size" alone overstates disk use.
//! [`measure`] walks generations oldest first and counts a file's bytes as *new* only the first
//! time its inode is seen — the same accounting as `du` over the whole root. Memory grows with
//! the number of distinct inodes (16 bytes each), not with their size.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;

use super::catalog::Generation;
use crate::fsutil::{FsError, Result};

/// Size figures for one generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Regular files in the generation.
    pub files: u64,
    /// Their total size in bytes (what a plain copy would take).
    pub bytes: u64,
    /// Bytes in inodes that no older generation in the list shares (what it added on disk).
    pub new_bytes: u64,
}

/// Measures `generations` (which must be ordered oldest first).
pub fn measure(generations: &[&Generation]) -> Result<Vec<Usage>> {
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut usages = Vec::with_capacity(generations.len());
    for generation in generations {
        let mut usage = Usage::default();
        for entry in walkdir::WalkDir::new(&generation.path).follow_links(false) {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(&generation.path).to_path_buf();
                FsError::new("walk", &path, e.into())
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let meta = entry
                .metadata()
                .map_err(|e| FsError::new("inspect", entry.path(), e.into()))?;
            usage.files += 1;
            usage.bytes += meta.len();
            if seen.insert((meta.dev(), meta.ino())) {
                usage.new_bytes += meta.len();
            }
        }
        usages.push(usage);
    }
    Ok(usages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generation::GenerationKind;
    use chrono::Local;

    #[test]
    fn hard_linked_files_count_as_new_only_once() {
        let root = tempfile::tempdir().unwrap();
        let (a, b) = (root.path().join("a"), root.path().join("b"));
        std::fs::create_dir_all(a.join("sub")).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("sub/big"), vec![0u8; 1000]).unwrap();
        std::fs::write(a.join("small"), b"12345").unwrap();
        std::fs::hard_link(a.join("sub/big"), b.join("big")).unwrap();
        std::fs::write(b.join("changed"), b"123").unwrap();
        let generation = |name: &str, path| Generation {
            name: name.into(),
            path,
            kind: GenerationKind::Legacy,
            time: Local::now(),
        };
        let (ga, gb) = (generation("a", a), generation("b", b));
        let usage = measure(&[&ga, &gb]).unwrap();
        assert_eq!(
            usage[0],
            Usage {
                files: 2,
                bytes: 1005,
                new_bytes: 1005
            }
        );
        assert_eq!(
            usage[1],
            Usage {
                files: 2,
                bytes: 1003,
                new_bytes: 3
            }
        );
    }
}
