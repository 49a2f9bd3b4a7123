//! fullsite: full-site backup and restore of a PostgreSQL database and S3 buckets into dated,
//! hard-link-deduplicated generation directories.
//!
//! # Data flow of a backup
//!
//! ```text
//! flags ─┐
//! env ───┼─▶ settings (config) ─▶ root lock (lock) ─▶ partial dir .NAME.partial.PID (generation)
//! .env ──┘                                               │
//!                          database dump ∥ object mirror ─┤   (later versions)
//!                                                        ▼
//!                     manifest.jsonl written last (manifest) ─▶ syncfs + atomic rename ─▶ NAME
//! ```
//!
//! Everything that changes the root holds the root lock. A generation becomes visible only by
//! the final rename, so a failed or interrupted run leaves nothing that looks like a backup.
//! Removal (prune) is planned as a pure value first, then applied.
//!
//! # Modules
//! - [`cli`]: flags; [`config`]: `.env` + environment + flags → typed settings.
//! - [`lock`]: the root's flock; [`signals`]: SIGINT/SIGTERM → clean stop.
//! - [`generation`]: names, the catalog of a root, building and publishing.
//! - [`manifest`]: the per-generation record of every file; [`verify`] checks against it.
//! - [`prune`]: retention planning and removal.
//! - [`offsite`]: the S3 offsite repository (push, pull, verify, prune).
//! - [`commands`]: one module per subcommand, tying the above together.

pub mod cli;
pub mod commands;
pub mod config;
pub mod dedup;
pub mod display;
pub mod error;
pub mod failpoint;
pub mod fsutil;
pub mod generation;
pub mod lock;
pub mod logging;
pub mod manifest;
pub mod objects;
pub mod offsite;
pub mod pg;
pub mod progress;
pub mod prune;
pub mod signals;
pub mod summary;
pub mod verify;

pub use error::{Error, ExitStatus, Result};

/// This build's version, as recorded in manifests.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
