//! Filesystem primitives with the guarantees the backup root relies on.
//!
//! - Everything `fullsite` creates is private: directories 0700, files 0600 (a generation holds
//!   password hashes). Modes are set at creation, never widened later.
//! - Publishing is crash-safe: data is flushed with `syncfs`, then a directory appears by one
//!   atomic `rename` that refuses to replace an existing name, then the parent is fsynced.
//!
//! Every function returns [`FsError`]: the operating system's error with the action and path it
//! concerns, always a failure of the run (exit 1). Callers with their own error type wrap it
//! (`#[from]`/`#[source]`); [`IoContext::at`] gives the same context to other `std::io` calls.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::ErrorKind;

/// A filesystem operation that failed, naming what was done and to which path.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} '{path}': {source}")]
pub struct FsError {
    /// What was being done, e.g. "create directory".
    pub action: &'static str,
    /// The path it was done to.
    pub path: PathBuf,
    /// The operating system's error.
    #[source]
    pub source: io::Error,
}

impl FsError {
    /// Wraps `source` with the action and path it concerns.
    pub fn new(action: &'static str, path: &Path, source: io::Error) -> FsError {
        FsError {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Always [`ErrorKind::Failure`]: the disk or the operating system refused.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Failure
    }
}

/// Result of a filesystem operation.
pub type Result<T, E = FsError> = std::result::Result<T, E>;

/// Adds action and path to `std::io::Result`.
pub trait IoContext<T> {
    /// Turns an `io::Error` into an [`FsError`] naming `action` and `path`.
    fn at(self, action: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| FsError::new(action, path, source))
    }
}

/// Mode of every directory `fullsite` creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file `fullsite` creates.
pub const FILE_MODE: u32 = 0o600;

/// Creates one private directory; fails if it exists.
pub fn create_private_dir(path: &Path) -> Result<()> {
    DirBuilder::new()
        .mode(DIR_MODE)
        .create(path)
        .at("create directory", path)
}

/// Creates a private directory and any missing parents (existing ones are left as they are).
pub fn create_private_dir_all(path: &Path) -> Result<()> {
    DirBuilder::new()
        .mode(DIR_MODE)
        .recursive(true)
        .create(path)
        .at("create directory", path)
}

/// Creates a new private file for writing; fails if it exists.
pub fn create_private_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .at("create file", path)
}

/// Writes `bytes` to `path` through a temporary name in the same directory, fsyncs it, and
/// renames it into place, so readers see the old content or the new, never a torn file.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp.{}", std::process::id()));
    let written = (|| {
        let mut file = create_private_file(&tmp)?;
        file.write_all(bytes).at("write", &tmp)?;
        file.sync_all().at("fsync", &tmp)?;
        std::fs::rename(&tmp, path).at("rename into place", path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Fsyncs a directory, making renames and creations inside it durable.
pub fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .at("fsync directory", path)
}

/// Flushes every dirty page of the filesystem holding `path` (one `syncfs` call instead of an
/// fsync per file).
pub fn sync_filesystem(path: &Path) -> Result<()> {
    let dir = File::open(path).at("open", path)?;
    rustix::fs::syncfs(&dir)
        .map_err(io::Error::from)
        .at("sync filesystem of", path)
}

/// Renames `from` to `to` atomically, failing with `AlreadyExists` instead of replacing `to`.
pub fn rename_no_replace(from: &Path, to: &Path) -> Result<()> {
    rustix::fs::renameat_with(
        rustix::fs::CWD,
        from,
        rustix::fs::CWD,
        to,
        rustix::fs::RenameFlags::NOREPLACE,
    )
    .map_err(io::Error::from)
    .at("rename into place", to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_things_are_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        create_private_dir_all(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        let file = dir.join("f");
        create_private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert!(
            create_private_file(&file).is_err(),
            "create_new must not reuse a file"
        );
        write_file_atomic(&dir.join("g"), b"x").unwrap();
        assert_eq!(mode(&dir.join("g")), 0o600);
        assert_eq!(std::fs::read(dir.join("g")).unwrap(), b"x");
    }

    #[test]
    fn rename_no_replace_refuses_existing_targets() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        create_private_dir(&a).unwrap();
        create_private_dir(&b).unwrap();
        let err = rename_no_replace(&a, &b).unwrap_err();
        assert!(err.to_string().contains("exists"), "{err}");
        std::fs::remove_dir(&b).unwrap();
        rename_no_replace(&a, &b).unwrap();
        assert!(b.is_dir() && !a.exists());
        sync_filesystem(tmp.path()).unwrap();
    }
}
