//! The engine: one function per operation, typed settings in, a plain-data summary out.
//!
//! ```text
//! backup(&BackupSettings, &dyn Progress)   -> BackupSummary    (engine/backup.rs)
//! restore(&RestoreSettings, &dyn Progress) -> RestoreSummary   (engine/restore.rs)
//! prune(&PruneSettings)                    -> PruneSummary     (engine/prune.rs)
//! verify(&VerifySettings, &dyn Progress)   -> VerifySummary    (engine/verify.rs)
//! ```
//!
//! Settings are resolved once, before the engine is called (flags over variables over
//! defaults: `commands` with `config`); the engine reads no flags, no environment variables
//! and no verbosity (test fault points aside), and prints nothing: it logs what it does through
//! `tracing`, reports long phases and checked generations to the [`Progress`] it is given, and
//! returns what it did. Rendering that (text, JSON, metrics) and choosing the exit code is the
//! command's job. Each operation takes the root lock when it changes the root, and is cancelled
//! cleanly by dropping its future (guards remove work in progress and release the lock).
//!
//! [`Progress`]: crate::progress::Progress

pub mod backup;
mod error;
pub mod prune;
pub mod restore;
pub mod verify;

pub use backup::{BackupSettings, backup};
pub use error::{Error, Result};
pub use prune::{PruneSettings, prune};
pub use restore::{RestoreSettings, restore};
pub use verify::{VerifySettings, VerifySummary, verify};
