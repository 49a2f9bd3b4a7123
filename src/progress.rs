//! Progress: what the engine reports while it works, not how it is shown.
//!
//! The engine is handed a [`Progress`] and opens one [`Meter`] per long phase (table data, the
//! objects of a backup, a bucket of a restore); workers add finished items and their bytes to
//! it from anywhere, and dropping the meter ends the phase. `verify` and `restore` also report
//! each generation's check as soon as it is done ([`Progress::checked`]), so problems show as
//! they are found. How any of it looks is the caller's choice: the CLI shows a bar on a
//! terminal, a periodic log line under cron or systemd, nothing with `-q`
//! (`commands::progress`). [`Quiet`] shows nothing; engine code never reads the environment
//! or the verbosity to decide what to display.

use crate::integrity::Report;

/// Where the engine reports progress.
pub trait Progress: Send + Sync {
    /// Starts a phase named `label` over `total` items (when known). Call inside a tokio
    /// runtime; the phase ends when the meter is dropped.
    fn meter(&self, label: &str, total: Option<u64>) -> Box<dyn Meter>;

    /// `generation` has been checked against its manifest; `report` holds what was found (its
    /// problems in the order found, possibly none).
    fn checked(&self, generation: &str, report: &Report);
}

/// Counts one phase's finished items and bytes; shared by the phase's workers.
pub trait Meter: Send + Sync {
    /// Adds finished items and their bytes.
    fn add(&self, items: u64, bytes: u64);
}

/// Shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn meter(&self, _label: &str, _total: Option<u64>) -> Box<dyn Meter> {
        Box::new(Quiet)
    }

    fn checked(&self, _generation: &str, _report: &Report) {}
}

impl Meter for Quiet {
    fn add(&self, _items: u64, _bytes: u64) {}
}
