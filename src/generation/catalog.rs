//! What a backup root holds: complete generations, damaged ones, and leftovers of work in
//! progress.
//!
//! Invariants:
//! - Hidden entries (starting with `.`) are never generations: `.NAME.partial.PID` is a backup
//!   in progress (or one that died), `.NAME.pruning.PID` a generation being removed, `.lock` the
//!   lock file. They are never listed, verified, restored or pruned as generations.
//! - A visible directory with `manifest.jsonl` is a fullsite generation; if its header cannot be
//!   read it is *damaged*, shown but never counted as complete.
//! - A visible directory without a manifest is a legacy-script generation when the legacy script
//!   would have listed it: name `full-site-*`, the marker file, `db/stgy.dump`, or `objects/`.
//! - Symbolic links are never followed or treated as generations.
//! - Generations are ordered oldest first by their time: the manifest's start time, else the
//!   date in a `full-site-YYYY-MM-DD` name, else the directory's modification time.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Local, TimeZone};

use super::MARKER_FILE;
use super::name::date_in_name;
use crate::fsutil::{FsError, IoContext, Result};
use crate::manifest::{self, Header, MANIFEST_FILE};

/// What kind of generation a directory is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenerationKind {
    /// Made by fullsite: has a readable manifest header.
    Fullsite(Box<Header>),
    /// Made by the legacy `backup-full-site.sh` (no manifest).
    Legacy,
    /// Has a manifest whose header cannot be read.
    Damaged(String),
}

/// One generation directory in the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Directory name.
    pub name: String,
    /// Full path.
    pub path: PathBuf,
    /// Kind and, for fullsite generations, the manifest header.
    pub kind: GenerationKind,
    /// The time it is ordered by (see the module docs).
    pub time: DateTime<Local>,
}

impl Generation {
    /// True for generations prune counts and restore accepts: fullsite and legacy ones.
    pub fn is_complete(&self) -> bool {
        !matches!(self.kind, GenerationKind::Damaged(_))
    }

    /// One-word status for `list`.
    pub fn status(&self) -> &'static str {
        match self.kind {
            GenerationKind::Fullsite(_) => "complete",
            GenerationKind::Legacy => "legacy",
            GenerationKind::Damaged(_) => "damaged",
        }
    }

    /// Whether the generation holds a database archive.
    pub fn has_db(&self) -> bool {
        match &self.kind {
            GenerationKind::Fullsite(h) => h.parts.db,
            _ => self.path.join("db").is_dir(),
        }
    }

    /// Whether the generation holds an object mirror.
    pub fn has_objects(&self) -> bool {
        match &self.kind {
            GenerationKind::Fullsite(h) => h.parts.objects,
            _ => self.path.join("objects").is_dir(),
        }
    }
}

/// Work in progress left in the root, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeftoverKind {
    /// `.NAME.partial.PID`: a backup being built, or one that died.
    Partial,
    /// `.NAME.pruning.PID`: a generation being removed.
    Pruning,
}

/// A hidden work-in-progress directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// Partial or pruning.
    pub kind: LeftoverKind,
    /// The generation name it belongs to.
    pub name: String,
    /// The process that made it.
    pub pid: u32,
    /// Full path.
    pub path: PathBuf,
}

/// Parses `.NAME.partial.PID` or `.NAME.pruning.PID`.
pub fn parse_leftover(entry: &str) -> Option<(LeftoverKind, String, u32)> {
    let rest = entry.strip_prefix('.')?;
    let (stem, pid) = rest.rsplit_once('.')?;
    let pid: u32 = pid.parse().ok()?;
    if let Some(name) = stem.strip_suffix(".partial") {
        Some((LeftoverKind::Partial, name.to_string(), pid))
    } else {
        let name = stem.strip_suffix(".pruning")?;
        Some((LeftoverKind::Pruning, name.to_string(), pid))
    }
}

/// The contents of a backup root.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Generations, oldest first.
    pub generations: Vec<Generation>,
    /// Work-in-progress directories.
    pub leftovers: Vec<Leftover>,
}

impl Catalog {
    /// Reads the root. A root that does not exist is empty.
    pub fn scan(root: &Path) -> Result<Catalog> {
        let entries = match std::fs::read_dir(root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Catalog::default()),
            Err(e) => return Err(FsError::new("read backup root", root, e)),
        };
        let mut catalog = Catalog::default();
        for entry in entries {
            let entry = entry.at("read backup root", root)?;
            let file_type = entry.file_type().at("inspect", &entry.path())?;
            if !file_type.is_dir() {
                continue;
            }
            let Ok(name) = entry.file_name().into_string() else {
                tracing::warn!(
                    "ignoring '{}': its name is not UTF-8",
                    entry.path().display()
                );
                continue;
            };
            let path = entry.path();
            if name.starts_with('.') {
                if let Some((kind, name, pid)) = parse_leftover(&name) {
                    catalog.leftovers.push(Leftover {
                        kind,
                        name,
                        pid,
                        path,
                    });
                }
                continue;
            }
            if let Some(generation) = classify(name, path)? {
                catalog.generations.push(generation);
            }
        }
        catalog
            .generations
            .sort_by(|a, b| (a.time, &a.name).cmp(&(b.time, &b.name)));
        catalog.leftovers.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(catalog)
    }

    /// Complete generations, oldest first.
    pub fn complete(&self) -> impl DoubleEndedIterator<Item = &Generation> {
        self.generations.iter().filter(|g| g.is_complete())
    }

    /// The newest complete generation.
    pub fn newest_complete(&self) -> Option<&Generation> {
        self.complete().next_back()
    }

    /// The generation called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Generation> {
        self.generations.iter().find(|g| g.name == name)
    }
}

fn classify(name: String, path: PathBuf) -> Result<Option<Generation>> {
    let modified = || -> Result<DateTime<Local>> {
        let meta = std::fs::metadata(&path).at("inspect", &path)?;
        Ok(meta.modified().at("inspect", &path)?.into())
    };
    if path.join(MANIFEST_FILE).exists() {
        let (kind, time) = match manifest::read_header(&path) {
            Ok(header) => {
                let time = header.started_at.with_timezone(&Local);
                (GenerationKind::Fullsite(Box::new(header)), time)
            }
            Err(e) => (GenerationKind::Damaged(e.to_string()), modified()?),
        };
        return Ok(Some(Generation {
            name,
            path,
            kind,
            time,
        }));
    }
    let legacy = name.starts_with(super::name::DEFAULT_PREFIX)
        || path.join(MARKER_FILE).is_file()
        || path.join("db/stgy.dump").exists()
        || path.join("objects").is_dir();
    if !legacy {
        return Ok(None);
    }
    let time = match date_in_name(&name).and_then(|d| d.and_hms_opt(0, 0, 0)) {
        Some(midnight) => match Local.from_local_datetime(&midnight).earliest() {
            Some(t) => t,
            None => modified()?,
        },
        None => modified()?,
    };
    Ok(Some(Generation {
        name,
        path,
        kind: GenerationKind::Legacy,
        time,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftover_names_parse() {
        assert_eq!(
            parse_leftover(".full-site-2026-01-01.partial.123"),
            Some((LeftoverKind::Partial, "full-site-2026-01-01".into(), 123))
        );
        assert_eq!(
            parse_leftover(".a.b.pruning.9"),
            Some((LeftoverKind::Pruning, "a.b".into(), 9))
        );
        assert_eq!(parse_leftover(".lock"), None);
        assert_eq!(parse_leftover(".x.partial.abc"), None);
        assert_eq!(parse_leftover("x.partial.1"), None);
    }
}
