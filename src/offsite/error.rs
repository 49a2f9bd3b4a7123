//! The offsite repository's error type, and the kind of each error (decided where it arises).
//!
//! Kinds map to the contract's exit codes: usage or configuration (2: a missing or wrong
//! passphrase, an unsupported repository version, a generation that does not exist), damage
//! (3: a stored object missing, cut short, altered, or failing authentication), failure (1:
//! the network, the disk), lock held (11: a prune and a push meeting). Every message names its
//! subject (an object key, a generation, a file).

use std::path::PathBuf;

use crate::objects::store::StoreError;

/// What kind of failure an [`OffsiteError`] is; the binary maps it to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsiteErrorKind {
    /// Bad settings, flags or passphrase; something this version does not support (exit 2).
    Usage,
    /// A stored object or a local file is missing, damaged or does not match its record (exit 3).
    Damage,
    /// Another offsite run holds the repository lock (exit 11).
    LockHeld,
    /// Anything else: the network, the disk (exit 1).
    Failure,
}

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
    #[error("cannot {action} '{path}': {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The local generation could not be read, created or published.
    #[error(transparent)]
    Local(Box<crate::error::Error>),
}

impl OffsiteError {
    /// The kind, for the exit code.
    pub fn kind(&self) -> OffsiteErrorKind {
        match self {
            OffsiteError::Setting { .. }
            | OffsiteError::WrongPassphrase { .. }
            | OffsiteError::Refused(_)
            | OffsiteError::NewerFormat { .. }
            | OffsiteError::NoSuchGeneration { .. }
            | OffsiteError::Exists { .. } => OffsiteErrorKind::Usage,
            OffsiteError::Damaged { .. }
            | OffsiteError::Missing { .. }
            | OffsiteError::LocalDamage { .. }
            | OffsiteError::VerifyFailed { .. } => OffsiteErrorKind::Damage,
            OffsiteError::Locked { .. } => OffsiteErrorKind::LockHeld,
            OffsiteError::Store { .. } | OffsiteError::Io { .. } => OffsiteErrorKind::Failure,
            OffsiteError::Local(inner) => match inner.exit_status() {
                crate::ExitStatus::Usage => OffsiteErrorKind::Usage,
                crate::ExitStatus::Damage => OffsiteErrorKind::Damage,
                crate::ExitStatus::LockHeld => OffsiteErrorKind::LockHeld,
                _ => OffsiteErrorKind::Failure,
            },
        }
    }

    /// Wraps an I/O error with its action and path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        OffsiteError::Io {
            action,
            path: path.into(),
            source,
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

impl From<crate::error::Error> for OffsiteError {
    fn from(error: crate::error::Error) -> Self {
        OffsiteError::Local(Box::new(error))
    }
}

/// Result alias for the offsite engine.
pub type OffsiteResult<T> = Result<T, OffsiteError>;
