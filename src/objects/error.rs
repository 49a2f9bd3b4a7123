//! The objects layer's error: what can fail while mirroring buckets into a generation
//! (`mirror`, `listing`, `unchanged`) or putting them back (`restore_buckets`).
//!
//! One type for both directions: a store that refuses, a bucket that is missing or suddenly
//! empty, the generation's files, the manifest. [`ObjectsError::kind`] decides the exit code's
//! kind where the error arises.

use super::store::{ObjectStore, StoreError};
use crate::error::ErrorKind;
use crate::fsutil::FsError;
use crate::manifest::ManifestError;

/// Why mirroring or restoring buckets failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    /// The object store refused or failed.
    #[error("cannot {action} at {endpoint}: {source}")]
    Store {
        /// What was being done, naming the bucket and key.
        action: String,
        /// The endpoint.
        endpoint: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// A bucket the configuration names does not exist.
    #[error("cannot list bucket '{bucket}' at {endpoint}: the bucket does not exist")]
    NoSuchBucket {
        /// The bucket.
        bucket: String,
        /// The endpoint.
        endpoint: String,
    },
    /// A bucket that held objects is now empty or missing.
    #[error(
        "bucket '{bucket}' lists {now} at {endpoint} but held {before} object(s) in generation '{generation}'; \
         refusing an empty backup of it (wrong endpoint or credentials?); pass --allow-empty-bucket if it is really empty"
    )]
    EmptyBucket {
        /// The bucket.
        bucket: String,
        /// "no objects" or "as missing".
        now: &'static str,
        /// The endpoint.
        endpoint: String,
        /// Objects in the previous generation.
        before: u64,
        /// That generation.
        generation: String,
    },
    /// Writing the generation failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// Writing the manifest failed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A selection names a bucket or key the generation does not hold (`--bucket`, `--key`,
    /// `--prefix`).
    #[error("generation '{generation}' holds no {what}")]
    NotInGeneration {
        /// What is absent: "bucket 'b'", "key 'k'", "object under prefix 'p'".
        what: String,
        /// The generation.
        generation: String,
    },
    /// A manifest's object path that would leave its bucket's directory.
    #[error("object path '{path}' in the manifest is not a plain path under its bucket")]
    UnsafePath {
        /// The path as recorded.
        path: String,
    },
    /// `restore --to-dir DIR` where DIR exists and is not an empty directory.
    #[error("cannot restore into '{}': it is not an empty directory", path.display())]
    TargetNotEmpty {
        /// The directory.
        path: std::path::PathBuf,
    },
}

impl ObjectsError {
    /// A manifest error says its own kind; everything else (the store, the disk, a bucket
    /// that is missing or suddenly empty) fails the run.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ObjectsError::Manifest(e) => e.kind(),
            ObjectsError::NotInGeneration { .. } | ObjectsError::TargetNotEmpty { .. } => {
                ErrorKind::Usage
            }
            ObjectsError::UnsafePath { .. } => ErrorKind::Damage,
            ObjectsError::Store { .. }
            | ObjectsError::NoSuchBucket { .. }
            | ObjectsError::EmptyBucket { .. }
            | ObjectsError::Fs(_) => ErrorKind::Failure,
        }
    }

    /// A failure of `store` while doing `action`.
    pub fn store<S: ObjectStore>(store: &S, action: String, source: StoreError) -> ObjectsError {
        ObjectsError::Store {
            action,
            endpoint: store.endpoint().to_string(),
            source,
        }
    }
}
