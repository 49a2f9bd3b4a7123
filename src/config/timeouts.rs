//! Bounded waits: how long a run waits for a server that says nothing, and for the tables an
//! application has locked.
//!
//! - `--stall-timeout SECS` (or `FULLSITE_STALL_TIMEOUT`): the longest a request may go
//!   unanswered or a body (COPY data, an object) may go without a byte before the run fails,
//!   naming the server. A hung server (a stopped VM, a network partition without a reset)
//!   would otherwise hold the run, and the root lock with it, for ever.
//! - `--lock-wait-timeout SECS` (or `FULLSITE_LOCK_WAIT_TIMEOUT`), pg_dump's option: how long
//!   the dump keeps trying to take its table locks while another session (an application
//!   migration) holds or awaits a conflicting one, before it fails naming the table and that
//!   session.

use std::time::Duration;

use super::{ConfigError, Vars};

/// The stall timeout when neither the flag nor the variable sets one.
pub const DEFAULT_STALL_SECS: u64 = 120;

/// The variable setting the stall timeout.
pub const STALL_VAR: &str = "FULLSITE_STALL_TIMEOUT";

/// The lock wait when neither the flag nor the variable sets one.
pub const DEFAULT_LOCK_WAIT_SECS: u64 = 120;

/// The variable setting the lock wait.
pub const LOCK_WAIT_VAR: &str = "FULLSITE_LOCK_WAIT_TIMEOUT";

/// The stall timeout: the flag, else [`STALL_VAR`], else [`DEFAULT_STALL_SECS`].
pub fn stall_timeout(flag: Option<u64>, vars: &Vars) -> Result<Duration, ConfigError> {
    seconds(flag, vars, STALL_VAR, DEFAULT_STALL_SECS)
}

/// The lock wait: the flag, else [`LOCK_WAIT_VAR`], else [`DEFAULT_LOCK_WAIT_SECS`].
pub fn lock_wait_timeout(flag: Option<u64>, vars: &Vars) -> Result<Duration, ConfigError> {
    seconds(flag, vars, LOCK_WAIT_VAR, DEFAULT_LOCK_WAIT_SECS)
}

fn seconds(
    flag: Option<u64>,
    vars: &Vars,
    var: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    let seconds = match (flag, vars.get(var)) {
        (Some(seconds), _) => seconds,
        (None, Some(text)) => parse_seconds(var, text)?,
        (None, None) => default,
    };
    Ok(Duration::from_secs(seconds))
}

/// A whole number of seconds from 1 to a day.
fn parse_seconds(var: &'static str, text: &str) -> Result<u64, ConfigError> {
    match text.parse::<u64>() {
        Ok(seconds) if (1..=86_400).contains(&seconds) => Ok(seconds),
        _ => Err(ConfigError::Invalid {
            var,
            value: text.to_string(),
            reason: "expected a number of seconds from 1 to 86400".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::layered(
            Vec::new(),
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn the_flag_beats_the_variable_which_beats_the_default() {
        let set = vars(&[(STALL_VAR, "30")]);
        assert_eq!(
            stall_timeout(Some(5), &set).unwrap(),
            Duration::from_secs(5)
        );
        assert_eq!(stall_timeout(None, &set).unwrap(), Duration::from_secs(30));
        assert_eq!(
            stall_timeout(None, &vars(&[])).unwrap(),
            Duration::from_secs(DEFAULT_STALL_SECS)
        );
        let bad = stall_timeout(None, &vars(&[(STALL_VAR, "0")])).unwrap_err();
        assert!(bad.to_string().contains("FULLSITE_STALL_TIMEOUT"), "{bad}");
        assert_eq!(
            lock_wait_timeout(None, &vars(&[(LOCK_WAIT_VAR, "7")])).unwrap(),
            Duration::from_secs(7)
        );
        assert_eq!(
            lock_wait_timeout(None, &vars(&[])).unwrap(),
            Duration::from_secs(DEFAULT_LOCK_WAIT_SECS)
        );
    }
}
