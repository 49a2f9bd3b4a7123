//! Looking into generations without restoring them: `fullsite ls` (what one holds) and
//! `fullsite diff` (what changed between two), from their manifests and archive TOCs alone, so
//! they work on an offsite copy pulled back, with no database or S3 server.
//!
//! Objects are read sorted through [`crate::objects::generation_objects`] (bounded memory);
//! the database part is small (one record per table, one TOC entry per schema object) and is
//! read whole ([`database`]). [`diff`] merges two generations.

pub mod database;
pub mod diff;

use std::path::PathBuf;

use crate::error::ErrorKind;
use crate::manifest::ManifestError;
use crate::objects::error::ObjectsError;
use crate::pg::archive::read::ReadError;

/// Why a generation could not be browsed.
#[derive(Debug, thiserror::Error)]
pub enum BrowseError {
    /// The manifest could not be read or is not intact.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The objects could not be read.
    #[error(transparent)]
    Objects(#[from] ObjectsError),
    /// The database archive's TOC could not be read.
    #[error("cannot read the TOC of '{}': {source}", path.display())]
    Archive {
        /// The TOC file (or custom-format archive).
        path: PathBuf,
        /// The reader's error.
        #[source]
        source: ReadError,
    },
}

impl BrowseError {
    /// As the source decided.
    pub fn kind(&self) -> ErrorKind {
        match self {
            BrowseError::Manifest(e) => e.kind(),
            BrowseError::Objects(e) => e.kind(),
            BrowseError::Archive { source, .. } => source.kind(),
        }
    }
}
