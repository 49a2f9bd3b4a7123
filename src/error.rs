//! The engine's error type and the fixed exit codes it maps to.
//!
//! Every variant names its subject (a path, a generation, a setting) so the one line an operator
//! sees at 3 a.m. says what is wrong and where. The exit codes are part of the contract in
//! `SPEC.md`: 0 success, 1 failure, 2 usage or configuration, 3 damage found by verify, 11 lock
//! held, and 128+N when stopped by signal N.

use std::io;
use std::path::{Path, PathBuf};

use crate::config::ConfigError;
use crate::generation::NameError;
use crate::lock::LockError;
use crate::manifest::ManifestError;
use crate::signals::StopSignal;

/// Exit status of a `fullsite` run, as documented in `--help` and README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: the command did what it was asked.
    Success,
    /// 1: the command failed; nothing half-done was left as a generation.
    Failure,
    /// 2: bad flags, arguments or configuration; nothing was changed.
    Usage,
    /// 3: verify found missing, extra or damaged files.
    Damage,
    /// 11: another run holds the lock on the backup root.
    LockHeld,
    /// 128+N: stopped by signal N (130 for SIGINT, 143 for SIGTERM) after cleaning up.
    Stopped(StopSignal),
}

impl ExitStatus {
    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Damage => 3,
            ExitStatus::LockHeld => 11,
            ExitStatus::Stopped(signal) => 128 + signal.number(),
        }
    }
}

/// Everything that can make a command fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Settings could not be resolved (`.env`, environment, flags).
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// A generation name given on the command line is not acceptable.
    #[error(transparent)]
    Name(#[from] NameError),

    /// The root lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),

    /// A manifest could not be written or read.
    #[error(transparent)]
    Manifest(#[from] ManifestError),

    /// Flags that make no sense together.
    #[error("{0}")]
    Usage(String),

    /// The database dump failed.
    #[error(transparent)]
    Dump(#[from] crate::pg::dump::DumpError),

    /// The database restore failed (or refused a damaged archive).
    #[error(transparent)]
    Restore(#[from] crate::pg::restore::RestoreError),

    /// Mirroring the buckets failed.
    #[error(transparent)]
    Mirror(#[from] crate::objects::mirror::MirrorError),

    /// PostgreSQL refused or failed.
    #[error(transparent)]
    Pg(#[from] crate::pg::connect::PgError),

    /// The caller asked for something this version cannot do yet; nothing was changed.
    #[error(
        "{what} is not available in fullsite {} yet; nothing was changed{hint}",
        crate::VERSION
    )]
    NotAvailable {
        /// What was asked for, e.g. "restore".
        what: String,
        /// Advice, starting with "; ", or empty.
        hint: String,
    },

    /// `backup --name NAME` where NAME already exists in the root.
    #[error("generation '{name}' already exists in '{root}'; choose another --name")]
    GenerationExists {
        /// The generation name.
        name: String,
        /// The backup root.
        root: PathBuf,
    },

    /// A named generation is not in the root (or is not a complete generation).
    #[error("no complete generation named '{name}' in '{root}'")]
    GenerationNotFound {
        /// The generation name.
        name: String,
        /// The backup root.
        root: PathBuf,
    },

    /// Verification found damage; the report was already printed.
    #[error("generation '{name}' is damaged: {problems} problem(s) found")]
    Damaged {
        /// The generation name.
        name: String,
        /// How many problems were reported.
        problems: usize,
    },

    /// A freshness check failed (`status --max-age`).
    #[error("{0}")]
    Stale(String),

    /// An offsite repository command failed (its kind decides the exit code).
    #[error(transparent)]
    Offsite(#[from] crate::offsite::error::OffsiteError),

    /// The run was stopped by a signal after cleaning up.
    #[error("stopped by {0}; work in progress was removed")]
    Stopped(StopSignal),

    /// A filesystem operation failed.
    #[error("cannot {action} '{path}': {source}")]
    Io {
        /// What was being done, e.g. "create directory".
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with the action and path it concerns.
    pub fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The exit status this error maps to.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Config(_) | Error::Name(_) | Error::Usage(_) | Error::NotAvailable { .. } => {
                ExitStatus::Usage
            }
            Error::GenerationExists { .. } | Error::GenerationNotFound { .. } => ExitStatus::Usage,
            Error::Dump(crate::pg::dump::DumpError::UntestedServer { .. }) => ExitStatus::Usage,
            Error::Restore(crate::pg::restore::RestoreError::MissingRoles { .. }) => {
                ExitStatus::Usage
            }
            Error::Restore(crate::pg::restore::RestoreError::Source(
                crate::pg::restore::source::SourceError::Unsupported { .. },
            )) => ExitStatus::Usage,
            Error::Lock(LockError::Held { .. }) => ExitStatus::LockHeld,
            Error::Damaged { .. } => ExitStatus::Damage,
            Error::Restore(crate::pg::restore::RestoreError::Source(
                crate::pg::restore::source::SourceError::Damaged { .. },
            )) => ExitStatus::Damage,
            Error::Stopped(signal) => ExitStatus::Stopped(*signal),
            Error::Offsite(e) => match e.kind() {
                crate::offsite::error::OffsiteErrorKind::Usage => ExitStatus::Usage,
                crate::offsite::error::OffsiteErrorKind::Damage => ExitStatus::Damage,
                crate::offsite::error::OffsiteErrorKind::LockHeld => ExitStatus::LockHeld,
                crate::offsite::error::OffsiteErrorKind::Failure => ExitStatus::Failure,
            },
            Error::Lock(_)
            | Error::Manifest(_)
            | Error::Dump(_)
            | Error::Restore(_)
            | Error::Mirror(_)
            | Error::Pg(_)
            | Error::Stale(_)
            | Error::Io { .. } => ExitStatus::Failure,
        }
    }
}

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds path context to `std::io::Result`.
pub trait IoContext<T> {
    /// Turns an `io::Error` into [`Error::Io`] naming `action` and `path`.
    fn at(self, action: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| Error::io(action, path, source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_match_the_contract() {
        assert_eq!(ExitStatus::Success.code(), 0);
        assert_eq!(ExitStatus::Failure.code(), 1);
        assert_eq!(ExitStatus::Usage.code(), 2);
        assert_eq!(ExitStatus::Damage.code(), 3);
        assert_eq!(ExitStatus::LockHeld.code(), 11);
        assert_eq!(ExitStatus::Stopped(StopSignal::Interrupt).code(), 130);
        assert_eq!(ExitStatus::Stopped(StopSignal::Terminate).code(), 143);
    }

    #[test]
    fn io_errors_name_action_and_path() {
        let err = Error::io(
            "create directory",
            Path::new("/x/y"),
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(
            err.to_string(),
            "cannot create directory '/x/y': permission denied"
        );
        assert_eq!(err.exit_status(), ExitStatus::Failure);
    }
}
