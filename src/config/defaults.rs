//! Defaults that are computed rather than fixed: `--jobs` (the number of cores) and
//! `--retain-generations` (7, or 0 when a calendar rule is given). Fixed defaults sit with
//! their flag (`cli`) or their variable (`config`, `config::timeouts`).

/// Generations `prune` keeps when neither `--retain-generations` nor a `--keep-*` rule is
/// given (the legacy script's default).
pub const DEFAULT_RETAIN_GENERATIONS: u32 = 7;

/// The machine's cores (2 when unknown): the default parallelism.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// `--jobs`: the flag, else [`cores`].
pub fn jobs(flag: Option<usize>) -> usize {
    flag.unwrap_or_else(cores)
}

/// `--retain-generations`: the flag, else [`DEFAULT_RETAIN_GENERATIONS`] without calendar
/// rules and 0 with them (the calendar rules then decide alone, the newest generation aside).
pub fn retain_generations(flag: Option<u32>, calendar: bool) -> u32 {
    flag.unwrap_or(if calendar {
        0
    } else {
        DEFAULT_RETAIN_GENERATIONS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_and_calendar_rules_drop_the_count_default() {
        assert_eq!(jobs(Some(3)), 3);
        assert!(jobs(None) >= 1);
        assert_eq!(retain_generations(None, false), 7);
        assert_eq!(retain_generations(None, true), 0);
        assert_eq!(retain_generations(Some(2), true), 2);
    }
}
