//! Building a generation: a hidden partial directory, published by one atomic rename.
//!
//! Invariants:
//! - The caller holds the root lock for the whole life of a [`PartialGeneration`].
//! - Everything is written under `ROOT/.NAME.partial.PID`; the name `ROOT/NAME` appears only
//!   through [`PartialGeneration::publish`]: `syncfs` (all data on disk), then a `rename` that
//!   refuses to replace an existing entry, then an fsync of the root.
//! - A partial generation that is dropped without being published (error, cancellation by
//!   SIGINT/SIGTERM) removes its directory. After SIGKILL or a crash the next locked run removes
//!   it (see `leftover`).

use std::path::{Path, PathBuf};

use super::MARKER_FILE;
use super::name::GenerationName;
use crate::error::ErrorKind;
use crate::fsutil::{
    FsError, create_private_dir, create_private_file, rename_no_replace, sync_dir, sync_filesystem,
};

/// Why a generation could not be started or published.
#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    /// The name is already taken in the root (found at the start, or at the final rename).
    #[error("generation '{name}' already exists in '{root}'")]
    Exists {
        /// The generation name.
        name: String,
        /// The backup root.
        root: PathBuf,
    },
    /// Creating, syncing or renaming failed.
    #[error(transparent)]
    Fs(#[from] FsError),
}

impl GenerationError {
    /// A taken name is the caller's to change ([`ErrorKind::Usage`]); the rest is failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            GenerationError::Exists { .. } => ErrorKind::Usage,
            GenerationError::Fs(e) => e.kind(),
        }
    }

    /// Whether the name is already taken (the command layer advises another one).
    pub fn name_taken(&self) -> bool {
        matches!(self, GenerationError::Exists { .. })
    }
}

/// A generation under construction.
#[derive(Debug)]
pub struct PartialGeneration {
    root: PathBuf,
    name: GenerationName,
    dir: PathBuf,
    published: bool,
}

impl PartialGeneration {
    /// Starts `NAME` in `root`: refuses an existing name, creates the partial directory (0700)
    /// and the legacy marker file (empty, 0600).
    pub fn begin(root: &Path, name: &GenerationName) -> Result<PartialGeneration, GenerationError> {
        let target = root.join(name.as_str());
        if target.symlink_metadata().is_ok() {
            return Err(GenerationError::Exists {
                name: name.to_string(),
                root: root.to_path_buf(),
            });
        }
        let dir = root.join(format!(".{name}.partial.{}", std::process::id()));
        create_private_dir(&dir)?;
        let partial = PartialGeneration {
            root: root.to_path_buf(),
            name: name.clone(),
            dir,
            published: false,
        };
        create_private_file(&partial.dir.join(MARKER_FILE))?;
        Ok(partial)
    }

    /// The directory being built.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes the generation durable and visible under its name; returns its path.
    pub fn publish(mut self) -> Result<PathBuf, GenerationError> {
        let target = self.root.join(self.name.as_str());
        sync_filesystem(&self.dir)?;
        rename_no_replace(&self.dir, &target).map_err(|e| {
            if e.source.kind() == std::io::ErrorKind::AlreadyExists {
                GenerationError::Exists {
                    name: self.name.to_string(),
                    root: self.root.clone(),
                }
            } else {
                GenerationError::Fs(e)
            }
        })?;
        self.published = true;
        sync_dir(&self.root)?;
        Ok(target)
    }
}

impl Drop for PartialGeneration {
    fn drop(&mut self) {
        if self.published {
            return;
        }
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => tracing::info!("removed incomplete generation '{}'", self.dir.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(
                "cannot remove incomplete generation '{}': {e}; the next backup or prune removes it",
                self.dir.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> GenerationName {
        GenerationName::parse(s).unwrap()
    }

    #[test]
    fn publish_renames_and_drop_cleans_up() {
        let root = tempfile::tempdir().unwrap();
        let partial = PartialGeneration::begin(root.path(), &name("g1")).unwrap();
        assert!(partial.dir().join(MARKER_FILE).is_file());
        let dir = partial.dir().to_path_buf();
        let published = partial.publish().unwrap();
        assert_eq!(published, root.path().join("g1"));
        assert!(published.join(MARKER_FILE).is_file() && !dir.exists());

        let partial = PartialGeneration::begin(root.path(), &name("g2")).unwrap();
        let dir = partial.dir().to_path_buf();
        std::fs::write(dir.join("half-written"), b"x").unwrap();
        drop(partial);
        assert!(!dir.exists() && !root.path().join("g2").exists());
    }

    #[test]
    fn an_existing_name_is_refused_before_and_at_publish() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("g")).unwrap();
        let err = PartialGeneration::begin(root.path(), &name("g")).unwrap_err();
        assert!(err.name_taken() && err.kind() == ErrorKind::Usage, "{err}");

        let partial = PartialGeneration::begin(root.path(), &name("h")).unwrap();
        std::fs::create_dir(root.path().join("h")).unwrap();
        let dir = partial.dir().to_path_buf();
        let err = partial.publish().unwrap_err();
        assert!(err.name_taken() && err.kind() == ErrorKind::Usage, "{err}");
        assert!(!dir.exists(), "the failed partial is removed");
    }
}
