//! `--compress METHOD[:LEVEL]` (or `FULLSITE_COMPRESS`): how the dump's table data and large
//! objects are compressed, in the syntax of `pg_dump --compress` (16+).
//!
//! Methods and levels: `gzip[:1-9]`, `zstd[:1-19]`, `lz4[:1-12]`, `none`; the level may also be
//! spelled `METHOD:level=N`, and a bare digit is pg_dump's old `-Z N` (0 = none, 1–9 = gzip at
//! N). Without a level a method gets its default: gzip [`DEFAULT_GZIP_LEVEL`] (measured, see
//! there), zstd 3 (zstd's and pg_dump's default), lz4 1 (LZ4's fast mode, what pg_dump writes
//! by default). Without the flag and the variable the dump is gzip at its default level:
//! stock pg_restore 12 and later read it, while zstd and lz4 archives need pg_restore 16+.
//! A value outside this grammar is a usage error (exit 2) naming the flag or the variable.

use std::fmt;

use super::{ConfigError, Vars};

/// The variable setting the compression.
pub const COMPRESS_VAR: &str = "FULLSITE_COMPRESS";

/// The gzip level when none is given: the fastest libdeflate level whose archive of the
/// benchmark database is no larger than `pg_dump -Fc`'s (zlib level 6), measured in
/// `bench/results/compress.notes.md`: levels 1 and 2 are larger (1.008×, 1.001×), 3 and 4 just
/// smaller (0.997×) at the same CPU within the run's noise, 4 the smaller and measured faster;
/// 6 costs 12–25% more CPU for 3% less.
pub const DEFAULT_GZIP_LEVEL: u32 = 4;
/// zstd's default level (`ZSTD_CLEVEL_DEFAULT`), also pg_dump's.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;
/// LZ4's fast mode: what LZ4F writes at its default level 0, pg_dump's default.
pub const DEFAULT_LZ4_LEVEL: u32 = 1;

/// How data files are compressed, with the level resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compress {
    /// Plain files (`N.dat`).
    None,
    /// gzip members (`N.dat.gz`), level 1–9.
    Gzip(u32),
    /// Zstandard frames (`N.dat.zst`), level 1–19.
    Zstd(i32),
    /// LZ4 frames (`N.dat.lz4`), level 1–12 (3 and up: LZ4 HC).
    Lz4(u32),
}

impl Default for Compress {
    fn default() -> Compress {
        Compress::Gzip(DEFAULT_GZIP_LEVEL)
    }
}

impl Compress {
    /// Parses `METHOD[:LEVEL]` (see the module docs); the error says what is accepted.
    pub fn parse(text: &str) -> Result<Compress, String> {
        let text = text.trim();
        let accepted = "expected gzip[:1-9], zstd[:1-19], lz4[:1-12] or none";
        if let Ok(level) = text.parse::<u32>() {
            return match level {
                0 => Ok(Compress::None),
                1..=9 => Ok(Compress::Gzip(level)),
                _ => Err(format!(
                    "'{text}' is not a gzip level from 0 to 9 ({accepted})"
                )),
            };
        }
        let (method, detail) = match text.split_once(':') {
            Some((method, detail)) => (method, Some(detail)),
            None => (text, None),
        };
        let method = method.to_ascii_lowercase();
        let range = match method.as_str() {
            "none" => {
                return match detail {
                    None => Ok(Compress::None),
                    Some(_) => Err(format!("'{text}': none takes no level ({accepted})")),
                };
            }
            "gzip" => 1..=9,
            "zstd" => 1..=19,
            "lz4" => 1..=12,
            _ => return Err(format!("'{text}' is not a compression method ({accepted})")),
        };
        let level = match detail {
            None => None,
            Some(detail) => {
                let digits = detail.strip_prefix("level=").unwrap_or(detail);
                match digits.parse::<u32>() {
                    Ok(level) if range.contains(&level) => Some(level),
                    _ => {
                        return Err(format!(
                            "'{text}': {method} levels are {} to {} ({accepted})",
                            range.start(),
                            range.end()
                        ));
                    }
                }
            }
        };
        Ok(match method.as_str() {
            "gzip" => Compress::Gzip(level.unwrap_or(DEFAULT_GZIP_LEVEL)),
            "zstd" => Compress::Zstd(level.map_or(DEFAULT_ZSTD_LEVEL, |l| l as i32)),
            _ => Compress::Lz4(level.unwrap_or(DEFAULT_LZ4_LEVEL)),
        })
    }

    /// The data files' suffix after `.dat` (`""` for plain files), as pg_dump names them.
    pub fn suffix(self) -> &'static str {
        match self {
            Compress::None => "",
            Compress::Gzip(_) => ".gz",
            Compress::Zstd(_) => ".zst",
            Compress::Lz4(_) => ".lz4",
        }
    }
}

impl fmt::Display for Compress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compress::None => write!(f, "none"),
            Compress::Gzip(level) => write!(f, "gzip:{level}"),
            Compress::Zstd(level) => write!(f, "zstd:{level}"),
            Compress::Lz4(level) => write!(f, "lz4:{level}"),
        }
    }
}

/// The compression: the flag (already parsed), else [`COMPRESS_VAR`], else gzip at its
/// default level.
pub fn compress(flag: Option<Compress>, vars: &Vars) -> Result<Compress, ConfigError> {
    match (flag, vars.get(COMPRESS_VAR)) {
        (Some(compress), _) => Ok(compress),
        (None, Some(text)) => Compress::parse(text).map_err(|reason| ConfigError::Invalid {
            var: COMPRESS_VAR,
            value: text.to_string(),
            reason,
        }),
        (None, None) => Ok(Compress::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_dump_spellings_parse() {
        for (text, expected) in [
            ("gzip", Compress::Gzip(DEFAULT_GZIP_LEVEL)),
            ("gzip:1", Compress::Gzip(1)),
            ("GZIP:level=9", Compress::Gzip(9)),
            ("zstd", Compress::Zstd(3)),
            ("zstd:19", Compress::Zstd(19)),
            ("lz4", Compress::Lz4(1)),
            ("lz4:12", Compress::Lz4(12)),
            ("none", Compress::None),
            ("0", Compress::None),
            ("5", Compress::Gzip(5)),
        ] {
            assert_eq!(Compress::parse(text), Ok(expected), "{text}");
        }
        assert_eq!(Compress::Zstd(7).to_string(), "zstd:7");
        assert_eq!(Compress::Lz4(1).suffix(), ".lz4");
    }

    #[test]
    fn bad_values_say_what_is_accepted() {
        for (text, says) in [
            ("brotli", "'brotli' is not a compression method"),
            ("zstd:20", "zstd levels are 1 to 19"),
            ("gzip:0", "gzip levels are 1 to 9"),
            ("lz4:x", "lz4 levels are 1 to 12"),
            ("none:1", "none takes no level"),
            ("10", "not a gzip level from 0 to 9"),
            ("", "is not a compression method"),
        ] {
            let error = Compress::parse(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
            assert!(error.contains("gzip[:1-9], zstd[:1-19], lz4[:1-12] or none"));
        }
    }

    #[test]
    fn the_flag_wins_over_the_variable() {
        let vars = Vars::layered([], [(COMPRESS_VAR.to_string(), "lz4".to_string())]);
        assert_eq!(compress(None, &vars).unwrap(), Compress::Lz4(1));
        assert_eq!(
            compress(Some(Compress::None), &vars).unwrap(),
            Compress::None
        );
        assert_eq!(
            compress(None, &Vars::default()).unwrap(),
            Compress::default()
        );
        let bad = Vars::layered([], [(COMPRESS_VAR.to_string(), "zip".to_string())]);
        let error = compress(None, &bad).unwrap_err().to_string();
        assert!(
            error.starts_with("FULLSITE_COMPRESS=\"zip\" is not valid: "),
            "{error}"
        );
    }
}
