//! The `fullsite` binary: parse flags, start logging, run, map the outcome to an exit code.
//!
//! [`exit_code`] is the one place an error's kind becomes a number; README's exit-code table is
//! its contract.

use std::process::ExitCode;

use clap::Parser;
use fullsite::cli::Cli;
use fullsite::error::ErrorKind;
use fullsite::{commands, logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbosity = if cli.quiet {
        -1
    } else {
        cli.verbose.min(2) as i8
    };
    logging::init(verbosity);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::from(exit_code(ErrorKind::Failure));
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::from(exit_code(error.kind()))
        }
    }
}

/// The process exit code for a run that ended with an error of `kind` (0 is success). Bad
/// flags never get here: clap exits with 2 itself.
fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Failure => 1,
        ErrorKind::Usage | ErrorKind::NotSupported => 2,
        ErrorKind::Damage => 3,
        ErrorKind::LockHeld => 11,
        ErrorKind::Interrupted { signal } => 128 + signal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_match_the_readme() {
        assert_eq!(exit_code(ErrorKind::Failure), 1);
        assert_eq!(exit_code(ErrorKind::Usage), 2);
        assert_eq!(exit_code(ErrorKind::NotSupported), 2);
        assert_eq!(exit_code(ErrorKind::Damage), 3);
        assert_eq!(exit_code(ErrorKind::LockHeld), 11);
        assert_eq!(exit_code(ErrorKind::Interrupted { signal: 2 }), 130);
        assert_eq!(exit_code(ErrorKind::Interrupted { signal: 15 }), 143);
    }
}
