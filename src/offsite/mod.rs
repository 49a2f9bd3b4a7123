//! The offsite repository: generations copied to S3-compatible storage (AWS S3, R2, B2,
//! Wasabi, Garage, MinIO), content-addressed, sealed on the client, verified, and pulled back
//! after a disaster.
//!
//! ```text
//! settings (FULLSITE_OFFSITE_*) ─▶ repo: config + passphrase ─▶ keys (Argon2id, once per run)
//! push:   local generation ─▶ scan ─▶ upload missing content (sealed) ─▶ index, last
//! pull:   index ─▶ partial dir ◀─ content (opened, hashed) / hard links ─▶ atomic rename
//! verify: index ─▶ every content read back, authenticated, hashed
//! prune:  lock ─▶ retention plan ─▶ delete indexes ─▶ delete unreferenced content
//! ```
//!
//! Modules: [`settings`] (target), [`keys`] (config object, KDF, content names), [`seal`]
//! (authenticated encryption), [`repo`] (layout and requests), [`index`] (generation format),
//! [`scan`], [`push`], [`pull`], [`list`], [`verify`], [`prune`], [`lock`], [`metrics`], [`error`].

pub mod error;
pub mod index;
pub mod keys;
pub mod list;
pub mod lock;
pub mod metrics;
pub mod prune;
pub mod pull;
pub mod push;
pub mod repo;
pub mod scan;
pub mod seal;
pub mod settings;
pub mod verify;

#[cfg(test)]
mod tests;
