//! Checking a generation against its manifest, with nothing but the generation directory.
//!
//! Every file the manifest lists must exist as a regular file with the recorded size and
//! BLAKE3; the database archive must decode ([`verify_archive`]); every regular file present must be listed (the manifest itself aside); anything that
//! is neither a regular file nor a directory (a symlink, a socket) is reported. The manifest's
//! own trailer digest is checked first. Files are hashed streaming, one at a time.
//!
//! Every [`Problem`] is damage except an archive that cannot be checked rather than found
//! damaged (a newer archive version, a file the system will not let us read): its
//! [`Problem::kind`] says so, and `verify` exits with that kind when nothing is damaged.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::path::Path;

use crate::error::ErrorKind;
use crate::manifest::{self, FileEntry, MANIFEST_FILE};
use crate::objects::error::ObjectsError;
use crate::objects::generation_objects::GenerationObjects;
use crate::pg::restore::source::{Archive, SourceError};

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
    /// The database archive does not decode (TOC or a data stream), or cannot be checked: a
    /// version this build does not read ([`ErrorKind::NotSupported`]) or a file the system
    /// will not let us read ([`ErrorKind::Failure`]).
    Archive {
        /// What is wrong, naming the file.
        reason: String,
        /// Damage, not supported, or failure, as the archive reader decided.
        kind: ErrorKind,
    },
    /// An entry that is not a regular file or directory.
    Unexpected {
        /// The entry.
        path: String,
        /// What it is.
        kind: &'static str,
    },
}

impl Problem {
    /// Every problem is damage except an archive this build cannot check.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Problem::Archive { kind, .. } => *kind,
            _ => ErrorKind::Damage,
        }
    }

    /// `(kind, path, detail)` for machine-readable output.
    pub fn parts(&self) -> (&'static str, Option<&str>, Option<String>) {
        match self {
            Problem::Manifest(reason) => ("manifest", None, Some(reason.clone())),
            Problem::Archive { reason, .. } => ("archive", None, Some(reason.clone())),
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
        let p = |s: &str| crate::human::printable(s).into_owned();
        match self {
            Problem::Manifest(reason) => write!(f, "manifest    {reason}"),
            Problem::Archive { reason, .. } => write!(f, "archive     {reason}"),
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

/// The outcome of the last verification of a generation, kept in the root's
/// [`RESULTS_FILE`] (written by [`crate::results_file`]) so `status` can report it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LastVerify {
    /// When it finished, RFC 3339.
    pub at: String,
    /// Problems found.
    pub problems: usize,
    /// Files hashed.
    pub files: u64,
    /// Share of files hashed (100 for a full check).
    pub percent: f64,
}

/// File in the backup root holding the last verification of each generation.
pub const RESULTS_FILE: &str = ".verify-results.json";

/// Verifies the fullsite generation in `dir`.
pub fn verify_generation(dir: &Path) -> Report {
    verify_generation_sampled(dir, None)
}

/// A cheaper check: only a share of the files is hashed (presence, the manifest's digest and
/// unlisted files are always checked).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Percentage of files hashed, 0–100.
    pub percent: f64,
    /// Seed of the selection; the same seed selects the same files.
    pub seed: u64,
}

impl Sample {
    /// Whether the file at `path` is in the sample: a seeded hash of its path, so selections
    /// are reproducible and independent of file order.
    pub fn selects(&self, path: &str) -> bool {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.seed.to_le_bytes());
        hasher.update(path.as_bytes());
        let bytes = hasher.finalize();
        let value = u64::from_le_bytes(bytes.as_bytes()[..8].try_into().unwrap_or_default());
        (value as f64 / u64::MAX as f64) * 100.0 < self.percent
    }
}

/// [`verify_generation`], hashing only the files `sample` selects (all when `None`).
pub fn verify_generation_sampled(dir: &Path, sample: Option<Sample>) -> Report {
    let mut report = Report::default();
    let mut listed: HashSet<String> = HashSet::new();
    // Each file is checked as its record is read (memory holds only the listed paths); a
    // manifest that turns out truncated or edited is reported after the files it did list.
    let read = manifest::read_all(dir, |entry| {
        if sample.is_none_or(|s| s.selects(&entry.path)) {
            check_file(dir, &entry, &mut report);
        } else if std::fs::symlink_metadata(dir.join(&entry.path)).is_err() {
            report.problems.push(Problem::Missing(entry.path.clone()));
        }
        listed.insert(entry.path);
    });
    if let Err(e) = read {
        report.problems.push(Problem::Manifest(e.to_string()));
    }
    find_unlisted(dir, &listed, &mut report);
    report
}

/// Checks only the files `paths` (relative to `dir`) against the manifest, whose own digest is
/// checked too: what a partial restore reads (see `engine::restore`), so a one-table restore
/// from a big generation hashes one table's data. A path the manifest does not list is a
/// problem (the manifest lists every file of a generation).
pub fn verify_files(dir: &Path, paths: &BTreeSet<String>) -> Report {
    let mut report = Report::default();
    let mut found: HashSet<String> = HashSet::new();
    let mut entries: Vec<FileEntry> = Vec::new();
    let read = manifest::read_all(dir, |entry| {
        if paths.contains(&entry.path) {
            entries.push(entry);
        }
    });
    if let Err(e) = read {
        report.problems.push(Problem::Manifest(e.to_string()));
        return report;
    }
    for entry in entries {
        check_file(dir, &entry, &mut report);
        found.insert(entry.path);
    }
    for path in paths.iter().filter(|p| !found.contains(*p)) {
        report.problems.push(Problem::Manifest(format!(
            "it does not list '{}', which the restore reads",
            crate::human::printable(path)
        )));
    }
    report
}

/// The check a restore of a selection of objects needs: only the selected objects' files
/// against their recorded size and BLAKE3 (the manifest's own digest was checked when they
/// were read). Legacy generations record no hashes: nothing to check.
pub fn verify_objects(dir: &Path, objects: &mut GenerationObjects) -> Result<Report, ObjectsError> {
    let mut report = Report::default();
    if objects.legacy {
        return Ok(report);
    }
    for object in objects.iter()? {
        let object = object?;
        let entry = FileEntry {
            path: object.path,
            size: object.size,
            blake3: object.blake3,
        };
        check_file(dir, &entry, &mut report);
    }
    Ok(report)
}

/// Decodes a database archive (directory or custom format) without a database: the whole TOC
/// is parsed and planned and every data stream read to its end.
pub fn verify_archive(path: &Path, report: &mut Report) {
    let source_error = |e: SourceError| (e.to_string(), e.kind());
    let checked = Archive::open(path)
        .map_err(source_error)
        .and_then(|archive| {
            let plan = crate::pg::restore::plan::plan(&archive.entries)
                .map_err(|e| (e.to_string(), e.kind()))?;
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
            archive
                .check(&plan.streams(), threads)
                .map_err(source_error)
        });
    if let Err((reason, kind)) = checked {
        report.problems.push(Problem::Archive { reason, kind });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_selects_about_its_share_reproducibly() {
        let sample = Sample {
            percent: 25.0,
            seed: 7,
        };
        let paths: Vec<String> = (0..10_000).map(|i| format!("objects/b/{i}.jpg")).collect();
        let chosen = paths.iter().filter(|p| sample.selects(p)).count();
        assert!((2_200..2_800).contains(&chosen), "{chosen}");
        let again = paths.iter().filter(|p| sample.selects(p)).count();
        assert_eq!(chosen, again);
        assert!(paths.iter().all(|p| {
            Sample {
                percent: 100.0,
                seed: 1,
            }
            .selects(p)
        }));
        assert!(!paths.iter().any(|p| {
            Sample {
                percent: 0.0,
                seed: 1,
            }
            .selects(p)
        }));
    }
}
