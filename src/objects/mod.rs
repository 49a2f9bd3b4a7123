//! S3 objects: the object store behind a trait, key ↔ path mapping, the mirror that copies
//! buckets into a generation with hard-link deduplication, and the restore that puts them back
//! (`restore_buckets`); [`error::ObjectsError`] for both directions.

pub mod error;
#[cfg(test)]
mod faults;
pub mod generation_objects;
pub mod key_path;
pub mod listing;
#[cfg(test)]
pub(crate) mod memory;
pub mod mirror;
pub mod patience;
pub mod restore_buckets;
pub mod s3;
pub mod selection;
pub mod store;
pub mod to_dir;
pub mod unchanged;
