//! The command layer: one module per subcommand, each of which resolves its flags and the
//! variables into the engine's settings once, calls the engine, and renders what it returns
//! (text, JSON, metrics); [`progress`] is how the engine's progress is shown and [`summary`]
//! how a backup's summary is rendered. Which exit code a failure gets is decided by its error
//! ([`Error::kind`]), mapped to a number in `main.rs`.
//!
//! Commands that change the backup root (`backup`, `prune`, `restore`) run raced against
//! SIGINT/SIGTERM: a signal drops the command's future, whose guards remove work in progress
//! and release the lock, and the run ends with [`Error::Stopped`]. `drill` races them itself
//! (its scratch database must be dropped after one). `backup`, `prune` and `drill` run between
//! monitor pings when a ping URL is configured (see `crate::pings`).

mod backup;
mod diff;
mod drill;
mod json;
mod list;
mod ls;
mod offsite;
mod output;
pub(crate) mod progress;
mod prune;
mod restore;
mod status;
pub(crate) mod summary;
mod verify;

use std::future::Future;

use crate::cli::{Cli, Command};
use crate::config::Vars;
pub use crate::engine::{Error, Result};
use crate::fsutil::IoContext;
use crate::pings::{self, Pinger};
use crate::signals::wait_for_stop;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    crate::failpoint::check_env()?;
    let cwd = std::env::current_dir().at("read", std::path::Path::new("."))?;
    let vars = Vars::load(&cwd)?;
    match cli.command {
        Command::Backup(args) => {
            let ping = Pinger::configured(args.ping.ping_url.as_deref(), &vars);
            pings::around(ping, until_stopped(backup::run(args, &vars))).await
        }
        Command::Restore(args) => until_stopped(restore::run(args, &vars)).await,
        Command::Prune(args) => {
            let ping = Pinger::configured(args.ping.ping_url.as_deref(), &vars);
            pings::around(ping, until_stopped(prune::run(args, &vars))).await
        }
        // The drill races the signals itself: it must drop its scratch database after one.
        Command::Drill(args) => {
            let ping = Pinger::configured(args.ping.ping_url.as_deref(), &vars);
            pings::around(ping, drill::run(args, &vars)).await
        }
        Command::List(args) => list::run(args, &vars),
        Command::Ls(args) => ls::run(args, &vars),
        Command::Diff(args) => diff::run(args, &vars),
        Command::Verify(args) => verify::run(args, &vars),
        Command::Status(args) => status::run(args, &vars).await,
        Command::Offsite(command) => until_stopped(offsite::run(command, &vars)).await,
    }
}

/// Runs `command` until it finishes or SIGINT/SIGTERM arrives. The signal branch is polled
/// first (`biased`), so the handlers are installed before the command's first step runs: a
/// signal can never meet the default action (death without clean-up) once work has begun.
async fn until_stopped(command: impl Future<Output = Result<()>>) -> Result<()> {
    tokio::select! {
        biased;
        signal = wait_for_stop() => Err(Error::Stopped(signal)),
        result = command => result,
    }
}
