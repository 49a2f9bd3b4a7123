//! fullsite: full-site backup and restore of a PostgreSQL database and S3 buckets into dated,
//! hard-link-deduplicated generation directories.
//!
//! # Layers
//!
//! ```text
//! main.rs + cli ─▶ commands ─▶ engine ─▶ pg, objects, generation, manifest, lock, retention, integrity
//!   flags, logging,  settings once,   one function per operation:
//!   exit code        render output,   settings in, summary out
//!                    show progress
//! ```
//!
//! # Data flow of a backup
//!
//! ```text
//! flags ─┐
//! env ───┼─▶ BackupSettings (commands + config) ─▶ engine::backup:
//! .env ──┘     root lock (lock) ─▶ partial dir .NAME.partial.PID (generation)
//!                                                        │
//!                          database dump (pg) ∥ object mirror (objects)
//!                                                        ▼
//!                     manifest.jsonl written last (manifest) ─▶ syncfs + atomic rename ─▶ NAME
//!              ─▶ BackupSummary ─▶ text on stderr, --json on stdout, --metrics-file (commands)
//! ```
//!
//! Everything that changes the root holds the root lock. A generation becomes visible only by
//! the final rename, so a failed or interrupted run leaves nothing that looks like a backup.
//! Removal (prune) is planned as a pure value first, then applied. The engine reads no flags,
//! environment or verbosity for presentation and prints nothing: it logs through `tracing`,
//! reports progress to a [`progress::Progress`] and returns a summary.
//!
//! # Visibility
//! Public: [`cli`], [`commands`] (`run`), [`error`] (`ErrorKind`) and [`logging`], which
//! `main.rs` uses, and [`manifest`] and `pg::restore::source`, which the integration tests read
//! generations with. Every other module is `pub(crate)`, so the compiler reports dead code.
//!
//! # Modules
//! - [`cli`]: flags; [`config`]: `.env` + environment + flags → typed settings, and defaults.
//! - [`commands`]: one module per subcommand: settings from flags, the engine call, output;
//!   how progress is shown ([`commands::progress`]) and the backup summary rendered.
//! - [`engine`]: [`engine::backup()`], [`engine::restore()`], [`engine::prune()`],
//!   [`engine::verify()`]; [`progress`]: the trait the engine reports progress to.
//! - [`pg`]: the database dump and restore; [`objects`]: the S3 mirror and object restore;
//!   [`dedup`]: linking identical files to earlier generations.
//! - [`lock`]: the root's flock; [`signals`]: SIGINT/SIGTERM → clean stop.
//! - [`generation`]: names, the catalog of a root, building and publishing.
//! - [`manifest`]: the per-generation record of every file; [`integrity`] checks a generation
//!   against it (what `verify` and `restore` run); [`results_file`] keeps the last outcomes.
//! - [`retention`]: which generations prune keeps and removes (where retention is decided),
//!   and removing them.
//! - [`human`]: sizes, ages and printable names for terminals.
//! - [`error`]: [`error::ErrorKind`], what kind of thing went wrong. Every layer's error type
//!   says its kind (`fn kind`) where it arises; [`engine::Error`] composes the errors of the
//!   layers below; `main.rs` alone maps a kind to an exit code.
//! - [`fsutil`]: private files and directories, atomic writes and publishing, [`fsutil::FsError`];
//!   [`failpoint`]: named pause points for fault-injection tests; [`logging`].
//! - [`drill`]: restore a generation into a scratch database and compare it with the manifest;
//!   [`refs`]: references from rows to objects (dangling, orphans); [`pings`]: monitor pings.
//! - [`offsite`]: the S3 offsite repository (push, list, verify, pull, prune).

pub(crate) mod browse;
pub mod cli;
pub mod commands;
pub(crate) mod config;
pub(crate) mod dedup;
pub(crate) mod drill;
pub(crate) mod engine;
pub mod error;
pub(crate) mod extsort;
pub(crate) mod failpoint;
pub(crate) mod fsutil;
pub(crate) mod generation;
pub(crate) mod human;
pub(crate) mod integrity;
pub(crate) mod lock;
pub mod logging;
pub mod manifest;
pub(crate) mod objects;
pub(crate) mod offsite;
pub mod pg;
pub(crate) mod pings;
pub(crate) mod progress;
pub(crate) mod refs;
pub(crate) mod results_file;
pub(crate) mod retention;
pub(crate) mod signals;

/// This build's version, as recorded in manifests.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
