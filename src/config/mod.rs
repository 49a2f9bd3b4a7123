//! Settings: where they come from and what they resolve to.
//!
//! Layering, lowest to highest: built-in defaults (the legacy script's), `.env` in the working
//! directory, the process environment, command-line flags. An empty value counts as unset, as
//! `${VAR:-default}` did in the legacy script. Values are validated here, once, so the engine
//! works with typed settings: a bad port or bucket name is a configuration error (exit 2) that
//! names the variable, before anything runs. Secrets are [`Secret`]s from the moment they are read.

mod compress;
mod defaults;
mod dotenv;
mod endpoint;
mod secret;
mod timeouts;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::ErrorKind;

pub use compress::{Compress, compress};
pub use defaults::{cores, jobs, retain_generations};
pub use dotenv::DotEnvError;
pub use endpoint::{Endpoint, resolve_host};
pub use secret::Secret;
pub use timeouts::{DEFAULT_STALL_SECS, lock_wait_timeout, stall_timeout};

/// The backup root when neither `--root` nor `STGY_BACKUP_ROOT` is given.
pub const DEFAULT_ROOT: &str = "/var/backups/stgy";
/// Host name that falls back to 127.0.0.1 when it does not resolve (database).
pub const DEFAULT_DB_HOST: &str = "postgres";
/// Host name that falls back to 127.0.0.1 when it does not resolve (S3 endpoint).
pub const DEFAULT_S3_HOST: &str = "minio";
/// Buckets made public-read on restore when `STGY_STORAGE_S3_ANON_DOWNLOAD_BUCKETS` is unset
/// and the generation records no policy for them (the legacy script's list).
pub const LEGACY_ANON_DOWNLOAD_BUCKETS: [&str; 2] = ["stgy-images", "stgy-profiles"];

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `.env` exists but cannot be read.
    #[error("cannot read '{path}': {source}")]
    ReadDotEnv {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// `.env` has a line we do not understand.
    #[error(transparent)]
    DotEnv(#[from] DotEnvError),
    /// A variable's value is not acceptable.
    #[error("{var}={value:?} is not valid: {reason}")]
    Invalid {
        /// The variable (or flag) name.
        var: &'static str,
        /// The offending value (never a secret).
        value: String,
        /// Why.
        reason: String,
    },
    /// A host name that is not the default does not resolve.
    #[error("host '{host}' from {var} does not resolve{}", fallback_note(*.default))]
    UnresolvableHost {
        /// The variable the host came from.
        var: &'static str,
        /// The host name.
        host: String,
        /// The default host name for that variable, when it has one that falls back.
        default: Option<&'static str>,
    },
}

fn fallback_note(default: Option<&str>) -> String {
    default
        .map(|name| format!(" (only the default name '{name}' falls back to 127.0.0.1)"))
        .unwrap_or_default()
}

impl ConfigError {
    /// Always [`ErrorKind::Usage`]: the operator's settings are to fix; nothing was changed.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Usage
    }
}

/// The merged variables: `.env` below the process environment.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: HashMap<String, String>,
}

impl Vars {
    /// Reads `.env` from `dir` (if present) and overlays the process environment.
    pub fn load(dir: &Path) -> Result<Vars, ConfigError> {
        let path = dir.join(".env");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => return Err(ConfigError::ReadDotEnv { path, source }),
        };
        let process: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let dotenv = match text {
            Some(text) => dotenv::parse(&text, Path::new(".env"), &|name| {
                process
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })?,
            None => Vec::new(),
        };
        Ok(Vars::layered(dotenv, process))
    }

    /// Builds the merged view from explicit layers: the process environment wins over `.env`,
    /// except where its value is empty (an empty variable counts as unset).
    pub fn layered(
        dotenv: impl IntoIterator<Item = (String, String)>,
        process: impl IntoIterator<Item = (String, String)>,
    ) -> Vars {
        let mut values = HashMap::new();
        values.extend(dotenv);
        values.extend(process.into_iter().filter(|(_, v)| !v.trim().is_empty()));
        Vars { values }
    }

    /// The value of `name`, treating an empty value as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn get_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.get(name).unwrap_or(default)
    }
}

/// How to reach PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSettings {
    /// Host name or address as configured (see [`resolve_host`] for the fallback rule).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Role to connect as.
    pub user: String,
    /// Its password.
    pub password: Secret,
    /// Database to back up; also names `db/<name>.dump`.
    pub name: String,
}

impl DbSettings {
    /// Resolves the `STGY_DATABASE_*` variables.
    pub fn from_vars(vars: &Vars) -> Result<DbSettings, ConfigError> {
        let port_text = vars.get_or("STGY_DATABASE_PORT", "5432");
        let port = parse_port("STGY_DATABASE_PORT", port_text)?;
        let name = vars.get_or("STGY_DATABASE_NAME", "stgy").to_string();
        if name.contains('/') || name.starts_with('.') || name.chars().any(char::is_control) {
            return Err(ConfigError::Invalid {
                var: "STGY_DATABASE_NAME",
                value: name,
                reason: "it names the archive 'db/<name>.dump', so it must not contain '/' or \
                         control characters or start with '.'"
                    .into(),
            });
        }
        Ok(DbSettings {
            host: vars
                .get_or("STGY_DATABASE_HOST", DEFAULT_DB_HOST)
                .to_string(),
            port,
            user: vars.get_or("STGY_DATABASE_USER", "admin").to_string(),
            password: Secret::new(vars.get_or("STGY_DATABASE_PASSWORD", "stgystgy")),
            name,
        })
    }

    /// The host to connect to, after the default-name fallback rule.
    pub fn connect_host(&self) -> Result<String, ConfigError> {
        resolve_host(
            "STGY_DATABASE_HOST",
            &self.host,
            Some(DEFAULT_DB_HOST),
            self.port,
        )
    }
}

/// How to reach the S3 server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// Endpoint URL (path-style addressing is always used).
    pub endpoint: Endpoint,
    /// The variable the endpoint came from, named when its host does not resolve.
    pub endpoint_var: &'static str,
    /// The variable's default host, the one name that falls back to 127.0.0.1 when it does not
    /// resolve (`None`: no fallback).
    pub fallback_host: Option<&'static str>,
    /// Region, if configured.
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Buckets to back up; `None` means every bucket the endpoint lists.
    pub buckets: Option<Vec<String>>,
    /// Buckets made public-read on restore when the generation holds no policy for them.
    pub anon_download_buckets: Vec<String>,
}

impl S3Settings {
    /// Resolves the `STGY_STORAGE_S3_*` variables and their legacy fallbacks.
    pub fn from_vars(vars: &Vars) -> Result<S3Settings, ConfigError> {
        let endpoint_text = vars.get_or("STGY_STORAGE_S3_ENDPOINT", "http://minio:9000");
        let endpoint = Endpoint::parse(endpoint_text).map_err(|reason| ConfigError::Invalid {
            var: "STGY_STORAGE_S3_ENDPOINT",
            value: endpoint_text.to_string(),
            reason,
        })?;
        let access_key_id = vars
            .get("STGY_STORAGE_S3_ACCESS_KEY_ID")
            .or_else(|| vars.get("STGY_MINIO_ROOT_USER"))
            .unwrap_or("admin")
            .to_string();
        let secret = vars
            .get("STGY_STORAGE_S3_SECRET_ACCESS_KEY")
            .or_else(|| vars.get("STGY_MINIO_ROOT_PASSWORD"))
            .unwrap_or("stgystgy");
        let buckets = vars
            .get("STGY_STORAGE_S3_BUCKETS")
            .map(|list| bucket_list("STGY_STORAGE_S3_BUCKETS", list))
            .transpose()?;
        let anon_download_buckets = match vars.get("STGY_STORAGE_S3_ANON_DOWNLOAD_BUCKETS") {
            Some(list) => bucket_list("STGY_STORAGE_S3_ANON_DOWNLOAD_BUCKETS", list)?,
            None => LEGACY_ANON_DOWNLOAD_BUCKETS.map(String::from).to_vec(),
        };
        Ok(S3Settings {
            endpoint,
            endpoint_var: "STGY_STORAGE_S3_ENDPOINT",
            fallback_host: Some(DEFAULT_S3_HOST),
            region: vars.get("STGY_STORAGE_S3_REGION").map(String::from),
            access_key_id,
            secret_access_key: Secret::new(secret),
            buckets,
            anon_download_buckets,
        })
    }

    /// The endpoint to connect to, after the default-name fallback rule.
    pub fn connect_endpoint(&self) -> Result<Endpoint, ConfigError> {
        let host = resolve_host(
            self.endpoint_var,
            self.endpoint.host(),
            self.fallback_host,
            self.endpoint.port(),
        )?;
        Ok(self.endpoint.with_host(&host))
    }
}

/// The backup root: `--root`, else `STGY_BACKUP_ROOT`, else [`DEFAULT_ROOT`].
pub fn backup_root(flag: Option<&Path>, vars: &Vars) -> PathBuf {
    match flag {
        Some(path) => path.to_path_buf(),
        None => PathBuf::from(vars.get_or("STGY_BACKUP_ROOT", DEFAULT_ROOT)),
    }
}

fn parse_port(var: &'static str, text: &str) -> Result<u16, ConfigError> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(ConfigError::Invalid {
            var,
            value: text.to_string(),
            reason: "expected a TCP port number from 1 to 65535".into(),
        }),
    }
}

/// Splits a comma list of bucket names, trimming blanks, and checks each name.
fn bucket_list(var: &'static str, list: &str) -> Result<Vec<String>, ConfigError> {
    let mut names: Vec<String> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if let Err(reason) = check_bucket_name(name) {
            return Err(ConfigError::Invalid {
                var,
                value: name.to_string(),
                reason,
            });
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

/// S3 bucket naming rules (which MinIO and Garage enforce). A valid name is also a safe
/// directory name: no '/', never `.` or `..`.
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let ends_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !(3..=63).contains(&name.len()) {
        return Err("bucket names are 3 to 63 characters long".into());
    }
    if !ok_chars || !ends_ok(name.as_bytes().first()) || !ends_ok(name.as_bytes().last()) {
        return Err(
            "bucket names use lowercase letters, digits, '-' and '.', and start and end with \
             a letter or digit"
                .into(),
        );
    }
    if name.contains("..") {
        return Err("bucket names must not contain '..'".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(dotenv: &[(&str, &str)], process: &[(&str, &str)]) -> Vars {
        let own = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Vars::layered(own(dotenv), own(process))
    }

    #[test]
    fn defaults_are_the_legacy_scripts() {
        let v = vars(&[], &[]);
        let db = DbSettings::from_vars(&v).unwrap();
        assert_eq!(
            (
                db.host.as_str(),
                db.port,
                db.user.as_str(),
                db.name.as_str()
            ),
            ("postgres", 5432, "admin", "stgy")
        );
        assert_eq!(db.password.expose(), "stgystgy");
        let s3 = S3Settings::from_vars(&v).unwrap();
        assert_eq!(s3.endpoint.as_str(), "http://minio:9000");
        assert_eq!(s3.access_key_id, "admin");
        assert_eq!(s3.secret_access_key.expose(), "stgystgy");
        assert_eq!(s3.region, None);
        assert_eq!(s3.buckets, None);
        assert_eq!(s3.anon_download_buckets, ["stgy-images", "stgy-profiles"]);
        assert_eq!(backup_root(None, &v), PathBuf::from("/var/backups/stgy"));
    }

    #[test]
    fn environment_beats_dotenv_and_flags_beat_both() {
        let v = vars(
            &[
                ("STGY_DATABASE_PORT", "6000"),
                ("STGY_DATABASE_USER", "fromfile"),
                ("STGY_BACKUP_ROOT", "/file"),
            ],
            &[("STGY_DATABASE_PORT", "7000"), ("STGY_BACKUP_ROOT", "/env")],
        );
        let db = DbSettings::from_vars(&v).unwrap();
        assert_eq!(db.port, 7000);
        assert_eq!(db.user, "fromfile");
        assert_eq!(backup_root(None, &v), PathBuf::from("/env"));
        assert_eq!(
            backup_root(Some(Path::new("/flag")), &v),
            PathBuf::from("/flag")
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        let v = vars(
            &[
                ("STGY_DATABASE_NAME", ""),
                ("STGY_DATABASE_HOST", "db.local"),
            ],
            &[("STGY_DATABASE_USER", "  "), ("STGY_DATABASE_HOST", "")],
        );
        let db = DbSettings::from_vars(&v).unwrap();
        assert_eq!(
            (db.name.as_str(), db.user.as_str(), db.host.as_str()),
            ("stgy", "admin", "db.local")
        );
    }

    #[test]
    fn minio_root_credentials_are_the_fallback() {
        let v = vars(
            &[
                ("STGY_MINIO_ROOT_USER", "root-user"),
                ("STGY_MINIO_ROOT_PASSWORD", "root-pass"),
            ],
            &[],
        );
        let s3 = S3Settings::from_vars(&v).unwrap();
        assert_eq!(s3.access_key_id, "root-user");
        assert_eq!(s3.secret_access_key.expose(), "root-pass");
        let v = vars(
            &[
                ("STGY_MINIO_ROOT_USER", "root-user"),
                ("STGY_MINIO_ROOT_PASSWORD", "root-pass"),
            ],
            &[
                ("STGY_STORAGE_S3_ACCESS_KEY_ID", "key"),
                ("STGY_STORAGE_S3_SECRET_ACCESS_KEY", "secret"),
            ],
        );
        let s3 = S3Settings::from_vars(&v).unwrap();
        assert_eq!(s3.access_key_id, "key");
        assert_eq!(s3.secret_access_key.expose(), "secret");
    }

    #[test]
    fn bucket_lists_are_trimmed_deduplicated_and_checked() {
        let v = vars(
            &[],
            &[
                (
                    "STGY_STORAGE_S3_BUCKETS",
                    " stgy-images, ,stgy-profiles,stgy-images ",
                ),
                ("STGY_STORAGE_S3_ANON_DOWNLOAD_BUCKETS", "stgy-images"),
            ],
        );
        let s3 = S3Settings::from_vars(&v).unwrap();
        assert_eq!(
            s3.buckets.as_deref(),
            Some(&["stgy-images".to_string(), "stgy-profiles".to_string()][..])
        );
        assert_eq!(s3.anon_download_buckets, ["stgy-images"]);
        for bad in ["../etc", "UPPER", "a", "a/b", "x..y", "-ab"] {
            let v = vars(&[], &[("STGY_STORAGE_S3_BUCKETS", bad)]);
            let err = S3Settings::from_vars(&v).unwrap_err().to_string();
            assert!(err.starts_with("STGY_STORAGE_S3_BUCKETS="), "{err}");
        }
    }

    #[test]
    fn bad_values_name_their_variable() {
        let v = vars(&[], &[("STGY_DATABASE_PORT", "54x")]);
        assert_eq!(
            DbSettings::from_vars(&v).unwrap_err().to_string(),
            "STGY_DATABASE_PORT=\"54x\" is not valid: expected a TCP port number from 1 to 65535"
        );
        let v = vars(&[], &[("STGY_DATABASE_NAME", "../x")]);
        assert!(
            DbSettings::from_vars(&v)
                .unwrap_err()
                .to_string()
                .starts_with("STGY_DATABASE_NAME=")
        );
        let v = vars(&[], &[("STGY_STORAGE_S3_ENDPOINT", "minio:9000")]);
        assert!(
            S3Settings::from_vars(&v)
                .unwrap_err()
                .to_string()
                .starts_with("STGY_STORAGE_S3_ENDPOINT=")
        );
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let v = vars(
            &[],
            &[
                ("STGY_DATABASE_PASSWORD", "db-pass-123"),
                ("STGY_STORAGE_S3_SECRET_ACCESS_KEY", "s3-secret-456"),
            ],
        );
        let shown = format!(
            "{:?} {:?}",
            DbSettings::from_vars(&v).unwrap(),
            S3Settings::from_vars(&v).unwrap()
        );
        assert!(!shown.contains("db-pass-123") && !shown.contains("s3-secret-456"));
    }

    #[test]
    fn only_default_host_names_fall_back_to_loopback() {
        let v = vars(&[], &[]);
        // "postgres" and "minio" do not resolve on test machines; they fall back.
        let db = DbSettings::from_vars(&v).unwrap();
        let host = db.connect_host().unwrap();
        assert!(host == "127.0.0.1" || host == "postgres", "{host}");
        let s3 = S3Settings::from_vars(&v).unwrap();
        let endpoint = s3.connect_endpoint().unwrap();
        assert!(
            endpoint.as_str() == "http://127.0.0.1:9000"
                || endpoint.as_str() == "http://minio:9000"
        );
        let v = vars(
            &[],
            &[
                ("STGY_DATABASE_HOST", "db.invalid"),
                ("STGY_STORAGE_S3_ENDPOINT", "https://s3.invalid:9443/base"),
            ],
        );
        let err = DbSettings::from_vars(&v)
            .unwrap()
            .connect_host()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "host 'db.invalid' from STGY_DATABASE_HOST does not resolve (only the default name \
             'postgres' falls back to 127.0.0.1)"
        );
        let err = S3Settings::from_vars(&v)
            .unwrap()
            .connect_endpoint()
            .unwrap_err();
        assert!(err.to_string().contains("'s3.invalid'"), "{err}");
    }
}
