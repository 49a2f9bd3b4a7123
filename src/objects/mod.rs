//! S3 objects: the client, key ↔ path mapping, and the mirror that copies buckets into a
//! generation with hard-link deduplication.

pub mod client;
pub mod key_path;
pub mod listing;
pub mod mirror;
pub mod restore;
pub mod unchanged;
