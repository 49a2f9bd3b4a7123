//! The exclusive lock on a backup root.
//!
//! `backup`, `prune` and `restore` hold an OS file lock (`flock`, via `std::fs::File::try_lock`)
//! on `ROOT/.lock` for their whole run. The kernel drops it when the process dies, however it
//! dies, so there are no stale locks to clean up. After taking the lock the holder writes who it
//! is (pid, host, command, start time) into the file, so a refused run can name it. The file's
//! content is only advisory; the flock is the lock. `list`, `status` and `verify` only read and
//! never lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Local};
use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::fsutil::FILE_MODE;

/// Name of the lock file inside the backup root.
pub const LOCK_FILE: &str = ".lock";

/// How often a waiting run retries the lock.
const RETRY_INTERVAL: Duration = Duration::from_millis(200);

/// Who holds (or last held) the lock, as recorded in the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// The command it runs (`backup`, `prune`, `restore`).
    pub command: String,
    /// When it took the lock.
    pub started_at: DateTime<Local>,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "'fullsite {}' (pid {} on {}, since {})",
            self.command,
            self.pid,
            self.host,
            self.started_at.format("%Y-%m-%d %H:%M:%S %:z")
        )
    }
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it.
    #[error("backup root '{root}' is locked by {}{}", holder_text(.holder), wait_text(*.waited))]
    Held {
        /// The backup root.
        root: PathBuf,
        /// The recorded holder, if the lock file could be read.
        holder: Option<LockHolder>,
        /// How long this run waited, if it was asked to.
        waited: Option<Duration>,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock '{path}': {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl LockError {
    /// A held lock is [`ErrorKind::LockHeld`]; a lock file that cannot be used is a failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LockError::Held { .. } => ErrorKind::LockHeld,
            LockError::Io { .. } => ErrorKind::Failure,
        }
    }
}

fn holder_text(holder: &Option<LockHolder>) -> String {
    match holder {
        Some(h) => h.to_string(),
        None => "another process (its lock file names no holder)".to_string(),
    }
}

fn wait_text(waited: Option<Duration>) -> String {
    match waited {
        Some(d) => format!("; gave up after waiting {}s", d.as_secs()),
        None => "; pass --wait-lock SECS to wait for it".to_string(),
    }
}

/// A held lock on a backup root; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct RootLock {
    _file: File,
}

impl RootLock {
    /// Takes the lock on `root` for `command`, retrying for up to `wait` if given.
    ///
    /// The root directory must exist. Waiting polls with a short sleep, so a SIGINT during
    /// the wait is handled by the caller's signal race like any other await point.
    pub async fn acquire(
        root: &Path,
        command: &str,
        wait: Option<Duration>,
    ) -> Result<RootLock, LockError> {
        let path = root.join(LOCK_FILE);
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(io_err)?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let deadline_passed = wait.is_none_or(|w| started.elapsed() >= w);
                    if deadline_passed {
                        return Err(LockError::Held {
                            root: root.to_path_buf(),
                            holder: read_holder(&mut file),
                            waited: wait,
                        });
                    }
                    tokio::time::sleep(RETRY_INTERVAL).await;
                }
                Err(TryLockError::Error(source)) => return Err(io_err(source)),
            }
        }
        let holder = LockHolder {
            pid: std::process::id(),
            host: host_name(),
            command: command.to_string(),
            started_at: Local::now(),
        };
        write_holder(&mut file, &holder).map_err(io_err)?;
        tracing::debug!("locked '{}'", path.display());
        Ok(RootLock { _file: file })
    }
}

fn write_holder(file: &mut File, holder: &LockHolder) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(holder).map_err(std::io::Error::other)?;
    line.push(b'\n');
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(&line)
}

fn read_holder(file: &mut File) -> Option<LockHolder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(4096).read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

/// This machine's host name, for lock records.
pub fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_lock_is_refused_with_the_holder_named() {
        let root = tempfile::tempdir().unwrap();
        let first = RootLock::acquire(root.path(), "backup", None)
            .await
            .unwrap();
        let err = RootLock::acquire(root.path(), "prune", None)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("'fullsite backup'"), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains("--wait-lock"), "{text}");
        assert_eq!(err.kind(), ErrorKind::LockHeld);
        drop(first);
        RootLock::acquire(root.path(), "prune", None).await.unwrap();
    }

    #[tokio::test]
    async fn waiting_gives_up_after_the_limit_and_succeeds_once_released() {
        let root = tempfile::tempdir().unwrap();
        let first = RootLock::acquire(root.path(), "backup", None)
            .await
            .unwrap();
        let started = Instant::now();
        let err = RootLock::acquire(root.path(), "prune", Some(Duration::from_millis(500)))
            .await
            .unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(500));
        assert!(err.to_string().contains("gave up after waiting"), "{err}");
        let root_path = root.path().to_path_buf();
        let waiter = tokio::spawn(async move {
            RootLock::acquire(&root_path, "prune", Some(Duration::from_secs(10))).await
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(first);
        assert!(waiter.await.unwrap().is_ok());
    }
}
