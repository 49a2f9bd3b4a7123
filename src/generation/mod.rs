//! Generations: the dated directories a backup root holds, how they are named, found, built
//! and published. See `catalog` for what counts as a generation and `partial` for how one comes
//! into being atomically.

mod catalog;
mod leftover;
mod name;
mod partial;
mod usage;

pub use catalog::{Catalog, Generation, GenerationKind};
pub use leftover::remove_stale;
pub use name::{GenerationName, NameError};
pub use partial::{GenerationError, PartialGeneration};
pub use usage::measure;

/// Marker file at the top of every generation, as the legacy script writes it (empty).
pub const MARKER_FILE: &str = ".stgy-full-site-backup";
