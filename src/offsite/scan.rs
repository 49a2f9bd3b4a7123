//! Reading a local generation into a [`GenerationIndex`]: every directory and regular file
//! with its mode and mtime, hard links within the generation, and each file's BLAKE3 — taken
//! from the generation's manifest where it lists the file (the upload re-hashes what it sends
//! and refuses a mismatch), computed for the rest (the manifest itself, legacy generations).
//!
//! Anything but directories and regular files (a symlink planted in the root, a socket) is
//! refused: a generation holds nothing else, and pull could not recreate it faithfully.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use chrono::Local;

use super::error::{OffsiteError, OffsiteResult};
use super::index::{DirEntry, FORMAT, FileRecord, GenerationHead, GenerationIndex, VERSION};
use crate::fsutil::{FsError, IoContext};
use crate::generation::{Generation, GenerationKind};
use crate::manifest::{self, hash_file};

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.mtime().saturating_mul(1_000_000_000) + meta.mtime_nsec()
}

/// Scans `generation` (blocking: run it off the async reactor).
pub fn scan(generation: &Generation) -> OffsiteResult<GenerationIndex> {
    let dir = &generation.path;
    let mut listed: HashMap<String, (u64, String)> = HashMap::new();
    let (kind, header) = match &generation.kind {
        GenerationKind::Fullsite(header) => {
            manifest::read_all(dir, |entry| {
                listed.insert(entry.path, (entry.size, entry.blake3));
            })
            .map_err(|e| OffsiteError::LocalDamage {
                path: dir.join(manifest::MANIFEST_FILE),
                reason: e.to_string(),
            })?;
            ("fullsite", Some((**header).clone()))
        }
        GenerationKind::Legacy => ("legacy", None),
        GenerationKind::Damaged(reason) => {
            return Err(OffsiteError::LocalDamage {
                path: dir.clone(),
                reason: reason.clone(),
            });
        }
    };
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
    let mut bytes = 0u64;
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            FsError::new("read", &path, std::io::Error::other(e.to_string()))
        })?;
        let relative = relative_path(dir, entry.path())?;
        let meta = entry.metadata().map_err(|e| {
            FsError::new("stat", entry.path(), std::io::Error::other(e.to_string()))
        })?;
        let (mode, mtime) = (meta.mode() & 0o7777, mtime_ns(&meta));
        if meta.is_dir() {
            dirs.push(DirEntry {
                path: relative,
                mode,
                mtime_ns: mtime,
            });
            continue;
        }
        if !meta.is_file() {
            return Err(OffsiteError::LocalDamage {
                path: entry.path().to_path_buf(),
                reason: "it is neither a directory nor a regular file".into(),
            });
        }
        let link = inodes.get(&(meta.dev(), meta.ino())).cloned();
        let blake3 = match (&link, listed.get(&relative)) {
            (Some(first), _) => files
                .iter()
                .rev()
                .find(|f: &&FileRecord| &f.path == first)
                .map(|f| f.blake3.clone())
                .unwrap_or_default(),
            (None, Some((size, hash))) if *size == meta.len() => hash.clone(),
            (None, Some((size, _))) => {
                return Err(OffsiteError::LocalDamage {
                    path: entry.path().to_path_buf(),
                    reason: format!("{} bytes where the manifest records {size}", meta.len()),
                });
            }
            (None, None) => {
                let (_, hash) = hash_file(entry.path()).at("read", entry.path())?;
                hash.to_hex().to_string()
            }
        };
        if link.is_none() && meta.nlink() > 1 {
            inodes.insert((meta.dev(), meta.ino()), relative.clone());
        }
        bytes += meta.len();
        files.push(FileRecord {
            path: relative,
            size: meta.len(),
            blake3,
            mode,
            mtime_ns: mtime,
            link,
        });
    }
    let now = Local::now().fixed_offset();
    Ok(GenerationIndex {
        head: GenerationHead {
            format: FORMAT.into(),
            version: VERSION,
            name: generation.name.clone(),
            time: generation.time.fixed_offset(),
            kind: kind.into(),
            manifest: header,
            pushed_at: now,
            host: crate::lock::host_name(),
            tool_version: crate::VERSION.into(),
            files: files.len() as u64,
            bytes,
        },
        dirs,
        files,
    })
}

fn relative_path(dir: &Path, path: &Path) -> OffsiteResult<String> {
    let relative = path.strip_prefix(dir).unwrap_or(path);
    let mut parts = Vec::new();
    for part in relative.components() {
        match part.as_os_str().to_str() {
            Some(text) => parts.push(text),
            None => {
                return Err(OffsiteError::LocalDamage {
                    path: path.to_path_buf(),
                    reason: "its name is not UTF-8".into(),
                });
            }
        }
    }
    Ok(parts.join("/"))
}
