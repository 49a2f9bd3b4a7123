//! Checking a generation against its manifest, with nothing but the generation directory.
//!
//! Every file the manifest lists must exist as a regular file with the recorded size and
//! BLAKE3; the database archive must decode ([`verify_archive`]); every regular file present must be listed (the manifest itself aside); anything that
//! is neither a regular file nor a directory (a symlink, a socket) is reported. The manifest's
//! own trailer digest is checked first. Files are hashed streaming, one at a time.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use crate::manifest::{self, FileEntry, MANIFEST_FILE};

/// One thing wrong with a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The manifest is unreadable, truncated or edited.
    Manifest(String),
    /// A listed file is absent.
    Missing(String),
    /// A listed file's size or content differs.
    Changed {
        /// The file.
        path: String,
        /// What differs.
        detail: String,
    },
    /// A file the manifest does not list.
    Extra(String),
    /// The database archive does not decode (TOC or a data stream).
    Archive(String),
    /// An entry that is not a regular file or directory.
    Unexpected {
        /// The entry.
        path: String,
        /// What it is.
        kind: &'static str,
    },
}

impl Problem {
    /// `(kind, path, detail)` for machine-readable output.
    pub fn parts(&self) -> (&'static str, Option<&str>, Option<String>) {
        match self {
            Problem::Manifest(reason) => ("manifest", None, Some(reason.clone())),
            Problem::Archive(reason) => ("archive", None, Some(reason.clone())),
            Problem::Missing(path) => ("missing", Some(path), None),
            Problem::Changed { path, detail } => ("changed", Some(path), Some(detail.clone())),
            Problem::Extra(path) => ("extra", Some(path), None),
            Problem::Unexpected { path, kind } => {
                ("unexpected", Some(path), Some((*kind).to_string()))
            }
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = |s: &str| crate::display::printable(s).into_owned();
        match self {
            Problem::Manifest(reason) => write!(f, "manifest    {reason}"),
            Problem::Archive(reason) => write!(f, "archive     {reason}"),
            Problem::Missing(path) => write!(f, "missing     {}", p(path)),
            Problem::Changed { path, detail } => write!(f, "changed     {} ({detail})", p(path)),
            Problem::Extra(path) => write!(f, "extra       {}", p(path)),
            Problem::Unexpected { path, kind } => write!(f, "unexpected  {} ({kind})", p(path)),
        }
    }
}

/// What verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Files checked.
    pub files: u64,
    /// Bytes hashed.
    pub bytes: u64,
    /// Everything wrong, in the order found.
    pub problems: Vec<Problem>,
}

/// Verifies the fullsite generation in `dir`.
pub fn verify_generation(dir: &Path) -> Report {
    let mut report = Report::default();
    let mut listed: HashSet<String> = HashSet::new();
    let mut entries: Vec<FileEntry> = Vec::new();
    if let Err(e) = manifest::read_all(dir, |entry| entries.push(entry)) {
        report.problems.push(Problem::Manifest(e.to_string()));
    }
    for entry in entries {
        check_file(dir, &entry, &mut report);
        listed.insert(entry.path);
    }
    find_unlisted(dir, &listed, &mut report);
    report
}

/// Decodes a database archive (directory or custom format) without a database: the whole TOC
/// is parsed and planned and every data stream read to its end.
pub fn verify_archive(path: &Path, report: &mut Report) {
    let checked = crate::pg::restore::source::Archive::open(path)
        .map_err(|e| e.to_string())
        .and_then(|archive| {
            let plan =
                crate::pg::restore::plan::plan(&archive.entries).map_err(|e| e.to_string())?;
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
            archive
                .check(&plan.data, threads)
                .map_err(|e| e.to_string())
        });
    if let Err(reason) = checked {
        report.problems.push(Problem::Archive(reason));
    }
}

fn check_file(dir: &Path, entry: &FileEntry, report: &mut Report) {
    let path = dir.join(&entry.path);
    match std::fs::symlink_metadata(&path) {
        Err(_) => report.problems.push(Problem::Missing(entry.path.clone())),
        Ok(meta) if !meta.is_file() => {} // reported by the walk as unexpected
        Ok(_) => match manifest::hash_file(&path) {
            Err(e) => report.problems.push(Problem::Changed {
                path: entry.path.clone(),
                detail: format!("unreadable: {e}"),
            }),
            Ok((size, hash)) => {
                report.files += 1;
                report.bytes += size;
                if size != entry.size {
                    report.problems.push(Problem::Changed {
                        path: entry.path.clone(),
                        detail: format!("{size} bytes, manifest says {}", entry.size),
                    });
                } else if hash.to_hex().as_str() != entry.blake3 {
                    report.problems.push(Problem::Changed {
                        path: entry.path.clone(),
                        detail: "content differs from its BLAKE3".into(),
                    });
                }
            }
        },
    }
}

fn find_unlisted(dir: &Path, listed: &HashSet<String>, report: &mut Report) {
    for entry in walkdir::WalkDir::new(dir).min_depth(1).follow_links(false) {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let path = e
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                report.problems.push(Problem::Unexpected {
                    path,
                    kind: "unreadable",
                });
                continue;
            }
        };
        let relative = entry
            .path()
            .strip_prefix(dir)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .into_owned();
        let file_type = entry.file_type();
        if file_type.is_dir() || relative == MANIFEST_FILE {
            continue;
        }
        if file_type.is_file() {
            if !listed.contains(&relative) {
                report.problems.push(Problem::Extra(relative));
            }
        } else {
            let kind = if file_type.is_symlink() {
                "symbolic link"
            } else {
                "not a regular file"
            };
            report.problems.push(Problem::Unexpected {
                path: relative,
                kind,
            });
        }
    }
}
