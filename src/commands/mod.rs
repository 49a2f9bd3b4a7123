//! One module per subcommand: each turns its flags into settings and a plan, then applies it.
//!
//! Commands that change the backup root (`backup`, `prune`, `restore`) run raced against
//! SIGINT/SIGTERM: a signal drops the command's future, whose guards remove work in progress
//! and release the lock, and the run ends with [`Error::Stopped`].

mod backup;
mod list;
mod offsite;
mod prune;
mod restore;
mod status;
mod verify;

use std::future::Future;

use crate::cli::{Cli, Command};
use crate::config::Vars;
use crate::error::{Error, Result};
use crate::signals::wait_for_stop;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let cwd =
        std::env::current_dir().map_err(|e| Error::io("read", std::path::Path::new("."), e))?;
    let vars = Vars::load(&cwd)?;
    match cli.command {
        Command::Backup(args) => until_stopped(backup::run(args, &vars)).await,
        Command::Restore(args) => until_stopped(restore::run(args, &vars)).await,
        Command::Prune(args) => until_stopped(prune::run(args, &vars)).await,
        Command::List(args) => list::run(args, &vars),
        Command::Verify(args) => verify::run(args, &vars),
        Command::Status(args) => status::run(args, &vars).await,
        Command::Offsite(command) => until_stopped(offsite::run(command, &vars)).await,
    }
}

/// Default parallelism: the number of cores.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
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
