//! The offsite repository's error type, and the kind of each error (decided where it arises).
//!
//! Kinds map to the contract's exit codes: usage or configuration (2: a missing or wrong
//! passphrase, an unsupported repository version, a generation that does not exist), damage
//! (3: a stored object missing, cut short, altered, or failing authentication), failure (1:
//! the network, the disk), lock held (11: a prune and a push meeting). Every message names its
//! subject (an object key, a generation, a file).

use std::path::PathBuf;

use crate::error::ErrorKind;
use crate::fsutil::FsError;
use crate::generation::{GenerationError, NameError};
use crate::lock::LockError;
use crate::manifest::ManifestError;
use crate::objects::store::StoreError;

/// Everything that can go wrong talking to the offsite repository.
#[derive(Debug, thiserror::Error)]
pub enum OffsiteError {
    /// A `FULLSITE_OFFSITE_*` setting is missing or invalid.
    #[error("{var} {reason}")]
    Setting {
        /// The variable (or flag).
        var: &'static str,
        /// What is wrong with it (never the value of a secret).
        reason: String,
    },
    /// The passphrase does not open the repository.
    #[error(
        "the passphrase does not open the offsite repository at '{url}' (wrong FULLSITE_OFFSITE_PASSPHRASE?); nothing was written"
    )]
    WrongPassphrase {
        /// The repository URL.
        url: String,
    },
    /// The repository needs something the run does not have, or the run asks for something
    /// the repository cannot do.
    #[error("{0}")]
    Refused(String),
    /// The repository's format is newer than this build reads.
    #[error(
        "the offsite repository at '{url}' has format version {found}; this fullsite reads up to {supported}: upgrade fullsite"
    )]
    NewerFormat {
        /// The repository URL.
        url: String,
        /// Version found.
        found: u32,
        /// Newest version this build reads.
        supported: u32,
    },
    /// A named generation is not in the repository or the root.
    #[error("no generation named '{name}' in {place}")]
    NoSuchGeneration {
        /// The generation name.
        name: String,
        /// Where it was looked for.
        place: String,
    },
    /// The local generation already exists (pull refuses to replace it).
    #[error("generation '{name}' already exists in '{root}'; remove it first to pull it again")]
    Exists {
        /// The generation name.
        name: String,
        /// The backup root.
        root: PathBuf,
    },
    /// A stored object is damaged: it fails authentication, is cut short, or does not hash to
    /// what the generation records.
    #[error("offsite object '{key}' is damaged: {reason}")]
    Damaged {
        /// The object key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A stored object a generation needs is missing.
    #[error("offsite object '{key}' is missing{context}")]
    Missing {
        /// The object key.
        key: String,
        /// Which generation and file need it, starting with " (", or empty.
        context: String,
    },
    /// A local file changed since its generation's manifest recorded it.
    #[error(
        "'{path}' does not match its generation's manifest ({reason}); run 'fullsite verify' on it"
    )]
    LocalDamage {
        /// The file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// Verification found problems (already reported).
    #[error("offsite verify found {problems} problem(s) in {generations} generation(s)")]
    VerifyFailed {
        /// Number of problems.
        problems: usize,
        /// Number of generations with problems.
        generations: usize,
    },
    /// Another run holds the repository lock.
    #[error("the offsite repository at '{url}' is locked by {holder}")]
    Locked {
        /// The repository URL.
        url: String,
        /// Who holds it, and until when.
        holder: String,
    },
    /// A request to the target failed.
    #[error("offsite {action} '{key}' failed: {source}")]
    Store {
        /// What was being done, e.g. "upload".
        action: &'static str,
        /// The object key (or prefix).
        key: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// A local file operation failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// A generation name given on the command line is not acceptable.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The local generation could not be created or published.
    #[error(transparent)]
    Generation(#[from] GenerationError),
    /// The backup root's lock could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// A local generation's manifest could not be read or written.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

impl OffsiteError {
    /// The kind, for the exit code: decided here for the repository's own failures, asked of
    /// the source for the local layers' errors.
    pub fn kind(&self) -> ErrorKind {
        match self {
            OffsiteError::Setting { .. }
            | OffsiteError::WrongPassphrase { .. }
            | OffsiteError::Refused(_)
            | OffsiteError::NewerFormat { .. }
            | OffsiteError::NoSuchGeneration { .. }
            | OffsiteError::Exists { .. } => ErrorKind::Usage,
            OffsiteError::Damaged { .. }
            | OffsiteError::Missing { .. }
            | OffsiteError::LocalDamage { .. }
            | OffsiteError::VerifyFailed { .. } => ErrorKind::Damage,
            OffsiteError::Locked { .. } => ErrorKind::LockHeld,
            OffsiteError::Store { .. } => ErrorKind::Failure,
            OffsiteError::Fs(e) => e.kind(),
            OffsiteError::Name(e) => e.kind(),
            OffsiteError::Generation(e) => e.kind(),
            OffsiteError::Lock(e) => e.kind(),
            OffsiteError::Manifest(e) => e.kind(),
        }
    }

    /// Wraps a store error with its action and key.
    pub fn store(action: &'static str, key: impl Into<String>, source: StoreError) -> Self {
        OffsiteError::Store {
            action,
            key: key.into(),
            source,
        }
    }
}

/// Result alias for the offsite engine.
pub type OffsiteResult<T> = Result<T, OffsiteError>;
