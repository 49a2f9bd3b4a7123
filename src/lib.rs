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
//! - [`manifest`]: the per-generation record of every file; [`integrity`] checks a generation
//!   against it (what `verify` and `restore` run); [`results_file`] keeps the last outcomes.
//! - [`retention`]: which generations prune keeps and removes, and removing them.
//! - [`human`]: sizes, ages and printable names for terminals.
//! - [`commands`]: one module per subcommand, tying the above together; its
//!   [`commands::Error`] composes the errors of the layers below.
//! - [`error`]: [`error::ErrorKind`], what kind of thing went wrong. Every layer's error type
//!   says its kind (`fn kind`) where it arises; `main.rs` alone maps a kind to an exit code.
//! - [`fsutil`]: private files and directories, atomic writes and publishing, [`fsutil::FsError`].

pub mod cli;
pub mod commands;
pub mod config;
pub mod dedup;
pub mod error;
pub mod failpoint;
pub mod fsutil;
pub mod generation;
pub mod human;
pub mod integrity;
pub mod lock;
pub mod logging;
pub mod manifest;
pub mod objects;
pub mod pg;
pub mod progress;
pub mod results_file;
pub mod retention;
pub mod signals;
pub mod summary;

/// This build's version, as recorded in manifests.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
