//! Where the offsite repository lives and how to open it, from the `FULLSITE_OFFSITE_*`
//! variables (`.env` below the environment, as every setting).
//!
//! `FULLSITE_OFFSITE_URL=s3://BUCKET/PREFIX` names the repository; the endpoint, region and
//! keys say how to reach it (path-style addressing, as for the site's S3). The passphrase comes
//! from `FULLSITE_OFFSITE_PASSPHRASE` or the file `FULLSITE_OFFSITE_PASSPHRASE_FILE` (one
//! trailing newline dropped), never from a flag, and is a [`Secret`] from the moment it is read.

use std::path::Path;

use super::error::{OffsiteError, OffsiteResult};
use crate::config::{Endpoint, S3Settings, Secret, Vars, check_bucket_name};

/// The repository URL variable.
pub const URL_VAR: &str = "FULLSITE_OFFSITE_URL";
const ENDPOINT_VAR: &str = "FULLSITE_OFFSITE_S3_ENDPOINT";
const REGION_VAR: &str = "FULLSITE_OFFSITE_S3_REGION";
const KEY_ID_VAR: &str = "FULLSITE_OFFSITE_S3_ACCESS_KEY_ID";
const SECRET_VAR: &str = "FULLSITE_OFFSITE_S3_SECRET_ACCESS_KEY";
const PASSPHRASE_VAR: &str = "FULLSITE_OFFSITE_PASSPHRASE";
const PASSPHRASE_FILE_VAR: &str = "FULLSITE_OFFSITE_PASSPHRASE_FILE";

/// The offsite target, resolved.
#[derive(Debug, Clone)]
pub struct TargetSettings {
    /// The repository URL as configured (for messages).
    pub url: String,
    /// The bucket holding the repository.
    pub bucket: String,
    /// The key prefix of the repository inside the bucket, without a trailing `/` (may be
    /// empty).
    pub prefix: String,
    /// How to reach the S3 server (no buckets to mirror).
    pub s3: S3Settings,
    /// The passphrase, when one is set.
    pub passphrase: Option<Secret>,
}

impl TargetSettings {
    /// Whether a target is configured at all (`FULLSITE_OFFSITE_URL` set).
    pub fn configured(vars: &Vars) -> bool {
        vars.get(URL_VAR).is_some()
    }

    /// Resolves the variables; a missing or invalid one is a usage error naming it.
    pub fn from_vars(vars: &Vars) -> OffsiteResult<TargetSettings> {
        let url = vars.get(URL_VAR).ok_or_else(|| OffsiteError::Setting {
            var: URL_VAR,
            reason: "is not set (expected s3://BUCKET/PREFIX)".into(),
        })?;
        let (bucket, prefix) = parse_url(url).map_err(|reason| OffsiteError::Setting {
            var: URL_VAR,
            reason: format!("={url:?} is not valid: {reason}"),
        })?;
        let region = vars.get(REGION_VAR).map(String::from);
        let endpoint_text = match (vars.get(ENDPOINT_VAR), &region) {
            (Some(endpoint), _) => endpoint.to_string(),
            (None, Some(region)) => format!("https://s3.{region}.amazonaws.com"),
            (None, None) => {
                return Err(OffsiteError::Setting {
                    var: ENDPOINT_VAR,
                    reason: format!("is not set (nor {REGION_VAR}, which would mean AWS S3)"),
                });
            }
        };
        let endpoint = Endpoint::parse(&endpoint_text).map_err(|reason| OffsiteError::Setting {
            var: ENDPOINT_VAR,
            reason: format!("={endpoint_text:?} is not valid: {reason}"),
        })?;
        let required = |var: &'static str| {
            vars.get(var).ok_or_else(|| OffsiteError::Setting {
                var,
                reason: "is not set".into(),
            })
        };
        let access_key_id = required(KEY_ID_VAR)?.to_string();
        let secret_access_key = Secret::new(required(SECRET_VAR)?);
        let passphrase = match (vars.get(PASSPHRASE_VAR), vars.get(PASSPHRASE_FILE_VAR)) {
            (Some(_), Some(_)) => {
                return Err(OffsiteError::Setting {
                    var: PASSPHRASE_FILE_VAR,
                    reason: format!("and {PASSPHRASE_VAR} are both set; set one"),
                });
            }
            (Some(text), None) => Some(Secret::new(text)),
            (None, Some(path)) => Some(read_passphrase_file(Path::new(path))?),
            (None, None) => None,
        };
        Ok(TargetSettings {
            url: url.to_string(),
            bucket,
            prefix,
            s3: S3Settings {
                endpoint,
                endpoint_var: ENDPOINT_VAR,
                fallback_host: None,
                region,
                access_key_id,
                secret_access_key,
                buckets: None,
                anon_download_buckets: Vec::new(),
            },
            passphrase,
        })
    }
}

/// `s3://BUCKET[/PREFIX]` → bucket and prefix (slashes trimmed).
fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or("expected s3://BUCKET/PREFIX")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    check_bucket_name(bucket)?;
    let prefix = prefix.trim_matches('/');
    if prefix.chars().any(char::is_control)
        || prefix
            .split('/')
            .any(|s| s.is_empty() && !prefix.is_empty())
    {
        return Err("the prefix must not hold control characters or empty segments".into());
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

fn read_passphrase_file(path: &Path) -> OffsiteResult<Secret> {
    let text = std::fs::read_to_string(path).map_err(|source| OffsiteError::Setting {
        var: PASSPHRASE_FILE_VAR,
        reason: format!("names '{}', which cannot be read: {source}", path.display()),
    })?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    if text.is_empty() {
        return Err(OffsiteError::Setting {
            var: PASSPHRASE_FILE_VAR,
            reason: format!("names '{}', which is empty", path.display()),
        });
    }
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vars {
        Vars::layered(
            Vec::new(),
            list.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    const BASE: [(&str, &str); 4] = [
        (URL_VAR, "s3://offsite-bucket/site/a/"),
        (ENDPOINT_VAR, "http://127.0.0.1:3900"),
        (KEY_ID_VAR, "key"),
        (SECRET_VAR, "s3-secret-value"),
    ];

    #[test]
    fn the_url_gives_bucket_and_prefix_and_secrets_stay_hidden() {
        let mut list = BASE.to_vec();
        list.push((PASSPHRASE_VAR, "correct horse"));
        let target = TargetSettings::from_vars(&vars(&list)).unwrap();
        assert_eq!(
            (target.bucket.as_str(), target.prefix.as_str()),
            ("offsite-bucket", "site/a")
        );
        assert_eq!(
            target.passphrase.as_ref().map(Secret::expose),
            Some("correct horse")
        );
        let shown = format!("{target:?}");
        assert!(!shown.contains("correct horse") && !shown.contains("s3-secret-value"));
        assert_eq!(
            parse_url("s3://bucket").unwrap(),
            ("bucket".into(), String::new())
        );
    }

    #[test]
    fn bad_or_missing_settings_name_their_variable() {
        for (var, value) in [
            (URL_VAR, "http://x/y"),
            (URL_VAR, "s3://UP/x"),
            (URL_VAR, "s3://bucket/a//b"),
        ] {
            let mut list = BASE.to_vec();
            list.retain(|(k, _)| *k != var);
            list.push((var, value));
            let err = TargetSettings::from_vars(&vars(&list)).unwrap_err();
            assert!(err.to_string().starts_with(var), "{err}");
        }
        let mut list = BASE.to_vec();
        list.retain(|(k, _)| *k != ENDPOINT_VAR);
        let err = TargetSettings::from_vars(&vars(&list)).unwrap_err();
        assert!(err.to_string().starts_with(ENDPOINT_VAR), "{err}");
        list.push((REGION_VAR, "eu-west-3"));
        let target = TargetSettings::from_vars(&vars(&list)).unwrap();
        assert_eq!(
            target.s3.endpoint.as_str(),
            "https://s3.eu-west-3.amazonaws.com"
        );
    }

    #[test]
    fn the_passphrase_file_loses_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pass");
        std::fs::write(&path, "from file \n").unwrap();
        let mut list = BASE.to_vec();
        let text = path.to_string_lossy().to_string();
        list.push((PASSPHRASE_FILE_VAR, &text));
        let target = TargetSettings::from_vars(&vars(&list)).unwrap();
        assert_eq!(target.passphrase.unwrap().expose(), "from file ");
        list.push((PASSPHRASE_VAR, "x"));
        assert!(TargetSettings::from_vars(&vars(&list)).is_err());
    }
}
