//! Generation names: the default `full-site-YYYY-MM-DD` and the rules for `--name` / `NAME`.
//!
//! A name is one directory entry inside the root, so it must not be empty, contain `/` or NUL
//! or control characters, or start with `.` (hidden entries are work in progress: partial and
//! pruning directories, the lock file). That rules out `.` and `..` too.

use std::fmt;

use chrono::NaiveDate;

use crate::error::ErrorKind;

/// Prefix of default generation names.
pub const DEFAULT_PREFIX: &str = "full-site-";

/// A generation name that is safe to join onto the root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GenerationName(String);

/// A name that cannot be a generation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid generation name {name:?}: {reason}")]
pub struct NameError {
    /// The rejected name.
    pub name: String,
    /// Why.
    pub reason: &'static str,
}

impl NameError {
    /// Always [`ErrorKind::Usage`]: the name came from the command line.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Usage
    }
}

impl GenerationName {
    /// Checks a name given on the command line.
    pub fn parse(name: &str) -> Result<GenerationName, NameError> {
        let reason = if name.is_empty() {
            Some("it is empty")
        } else if name.starts_with('.') {
            Some("it must not start with '.' (hidden names are reserved for work in progress)")
        } else if name.contains('/') {
            Some("it must be a single directory name, without '/'")
        } else if name.chars().any(char::is_control) {
            Some("it must not contain control characters")
        } else if name.len() > 200 {
            Some("it is longer than 200 bytes")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(NameError {
                name: name.to_string(),
                reason,
            }),
            None => Ok(GenerationName(name.to_string())),
        }
    }

    /// The default name for a backup taken on `date` (local date): `full-site-YYYY-MM-DD`.
    pub fn for_date(date: NaiveDate) -> GenerationName {
        GenerationName(format!("{DEFAULT_PREFIX}{}", date.format("%Y-%m-%d")))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GenerationName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The date in a default-style name (`full-site-2026-02-11`, optionally followed by more text).
pub fn date_in_name(name: &str) -> Option<NaiveDate> {
    let rest = name.strip_prefix(DEFAULT_PREFIX)?;
    let date = rest.get(..10)?;
    NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in ["full-site-2026-02-11", "before-upgrade", "drill 1", "ü"] {
            assert_eq!(GenerationName::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_names_that_could_escape_or_hide() {
        for bad in [
            "", ".", "..", ".hidden", "a/b", "/abs", "../x", "a\nb", "a\0b",
        ] {
            let err = GenerationName::parse(bad).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid generation name"),
                "{err}"
            );
        }
        assert!(GenerationName::parse(&"x".repeat(201)).is_err());
    }

    #[test]
    fn default_names_carry_the_date() {
        let date = NaiveDate::from_ymd_opt(2026, 2, 11).unwrap();
        let name = GenerationName::for_date(date);
        assert_eq!(name.as_str(), "full-site-2026-02-11");
        assert_eq!(date_in_name(name.as_str()), Some(date));
        assert_eq!(date_in_name("full-site-2026-02-11-extra"), Some(date));
        assert_eq!(date_in_name("full-site-2026-13-01"), None);
        assert_eq!(date_in_name("other"), None);
    }
}
