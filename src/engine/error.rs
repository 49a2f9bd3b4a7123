//! The engine's error: everything that can make an operation (and so a subcommand) fail.
//!
//! The error graph runs one way. Each lower layer (`fsutil`, `generation`, `manifest`, `lock`,
//! `config`, `pg`, `objects`,
//! `offsite`) owns its error type and decides each variant's
//! [`ErrorKind`] where the error arises; none of them imports this module. This type composes
//! them with `#[from]`, keeping them as typed sources, and adds the failures only a command
//! knows about (a generation name not found, flags that contradict each other, damage found by
//! `verify` or a drill, a signal). [`Error::kind`] asks the source for its kind and never looks inside it;
//! the binary turns the kind into an exit code.
//!
//! It lives in the engine rather than in `src/error.rs` so that `src/error.rs` (the [`ErrorKind`] enum)
//! stays a leaf every layer can use without importing the layers above it.

use std::path::PathBuf;

use crate::browse::BrowseError;
use crate::config::ConfigError;
use crate::drill::DrillError;
use crate::error::ErrorKind;
use crate::failpoint::UnknownPausePoint;
use crate::fsutil::FsError;
use crate::generation::{GenerationError, NameError};
use crate::lock::LockError;
use crate::manifest::ManifestError;
use crate::objects::error::ObjectsError;
use crate::offsite::error::OffsiteError;
use crate::pg::connect::PgError;
use crate::pg::dump::DumpError;
use crate::pg::restore::RestoreError;
use crate::signals::StopSignal;

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

    /// Flags that make no sense together, or a part the generation does not hold.
    #[error("{0}")]
    Usage(String),

    /// The database dump failed.
    #[error(transparent)]
    Dump(#[from] DumpError),

    /// The database restore failed (or refused a damaged or unsupported archive).
    #[error(transparent)]
    Restore(#[from] RestoreError),

    /// A generation could not be browsed (`ls`, `diff`).
    #[error(transparent)]
    Browse(#[from] BrowseError),

    /// Mirroring or restoring the buckets failed.
    #[error(transparent)]
    Objects(#[from] ObjectsError),

    /// PostgreSQL refused or failed.
    #[error(transparent)]
    Pg(#[from] PgError),

    /// An offsite repository command failed.
    #[error(transparent)]
    Offsite(#[from] OffsiteError),

    /// `backup --name NAME` where NAME already exists in the root.
    #[error("{source}; choose another --name")]
    GenerationExists {
        /// The generation layer's refusal.
        #[source]
        source: GenerationError,
    },

    /// Building or publishing the generation failed.
    #[error(transparent)]
    Generation(GenerationError),

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

    /// Verification found no damage but could not check everything (an archive of a version
    /// this build does not read, a file the system will not let us read); the report was
    /// already printed.
    #[error("generation '{name}' could not be fully verified: {problems} problem(s) found")]
    Unverified {
        /// The generation name.
        name: String,
        /// How many problems were reported.
        problems: usize,
        /// Not supported or failure, as the archive reader decided.
        kind: ErrorKind,
    },

    /// A restore drill could not run to its end.
    #[error(transparent)]
    Drill(#[from] DrillError),

    /// A restore drill ran and found damage or mismatches; the report was already printed.
    #[error("drill of generation '{name}' failed: {mismatches} mismatch(es), first: {first}")]
    DrillFailed {
        /// The generation name.
        name: String,
        /// How many mismatches were reported.
        mismatches: usize,
        /// The first of them.
        first: String,
    },

    /// A freshness check failed (`status --max-age`).
    #[error("{0}")]
    Stale(String),

    /// A task the command waited for panicked or was cancelled.
    #[error("{what} failed to run: {source}")]
    Task {
        /// What the task was doing, e.g. "verification".
        what: &'static str,
        /// The runtime's report.
        #[source]
        source: tokio::task::JoinError,
    },

    /// The run was stopped by a signal after cleaning up.
    #[error("stopped by {0}; work in progress was removed")]
    Stopped(StopSignal),

    /// `FULLSITE_TEST_PAUSE_AT` names no pause point.
    #[error(transparent)]
    PausePoint(#[from] UnknownPausePoint),

    /// A filesystem operation failed.
    #[error(transparent)]
    Fs(#[from] FsError),
}

impl From<GenerationError> for Error {
    fn from(source: GenerationError) -> Error {
        if source.name_taken() {
            Error::GenerationExists { source }
        } else {
            Error::Generation(source)
        }
    }
}

impl Error {
    /// What kind of failure this is: the source's own kind, or the command's.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(e) => e.kind(),
            Error::Name(e) => e.kind(),
            Error::Lock(e) => e.kind(),
            Error::Manifest(e) => e.kind(),
            Error::Dump(e) => e.kind(),
            Error::Restore(e) => e.kind(),
            Error::Objects(e) => e.kind(),
            Error::Browse(e) => e.kind(),
            Error::Pg(e) => e.kind(),
            Error::Offsite(e) => e.kind(),
            Error::GenerationExists { source } | Error::Generation(source) => source.kind(),
            Error::Fs(e) => e.kind(),
            Error::PausePoint(e) => e.kind(),
            Error::Drill(e) => e.kind(),
            Error::Usage(_) | Error::GenerationNotFound { .. } => ErrorKind::Usage,
            Error::Damaged { .. } | Error::DrillFailed { .. } => ErrorKind::Damage,
            Error::Unverified { kind, .. } => *kind,
            Error::Stale(_) | Error::Task { .. } => ErrorKind::Failure,
            Error::Stopped(signal) => ErrorKind::Interrupted {
                signal: signal.number(),
            },
        }
    }
}

/// Result alias for the commands.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn io_errors_name_action_and_path() {
        let err = Error::from(FsError::new(
            "create directory",
            Path::new("/x/y"),
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        ));
        assert_eq!(
            err.to_string(),
            "cannot create directory '/x/y': permission denied"
        );
        assert_eq!(err.kind(), ErrorKind::Failure);
    }

    #[test]
    fn a_taken_name_advises_another_and_is_usage() {
        let err = Error::from(GenerationError::Exists {
            name: "g".into(),
            root: "/r".into(),
        });
        assert_eq!(
            err.to_string(),
            "generation 'g' already exists in '/r'; choose another --name"
        );
        assert_eq!(err.kind(), ErrorKind::Usage);
    }

    #[test]
    fn signals_are_interruptions_with_their_number() {
        assert_eq!(
            Error::Stopped(StopSignal::Interrupt).kind(),
            ErrorKind::Interrupted { signal: 2 }
        );
        assert_eq!(
            Error::Stopped(StopSignal::Terminate).kind(),
            ErrorKind::Interrupted { signal: 15 }
        );
    }

    #[test]
    fn a_task_that_panicked_is_a_failure_not_usage() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let joined =
            runtime.block_on(async { tokio::task::spawn_blocking(|| panic!("boom")).await });
        let err = Error::Task {
            what: "verification",
            source: joined.unwrap_err(),
        };
        assert!(err.to_string().starts_with("verification failed to run: "));
        assert_eq!(err.kind(), ErrorKind::Failure);
    }
}
