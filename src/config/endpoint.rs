//! The S3 endpoint URL and the host fallback rule.
//!
//! Only the *default* host names (`postgres`, `minio`) fall back to 127.0.0.1 when they do not
//! resolve — that is what lets the same `.env` work inside docker compose and on the host. Any
//! other name that does not resolve is an error naming it: silently talking to localhost instead
//! of a misspelt production host would be far worse than failing.

use std::net::ToSocketAddrs;

use super::ConfigError;

/// An `http://` or `https://` endpoint URL: scheme, host, optional port, optional path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: String,
    scheme_len: usize,
    host: String,
    port: u16,
}

impl Endpoint {
    /// Parses `scheme://host[:port][/path]`; credentials in the URL are refused so they cannot
    /// leak into logs.
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or("expected a URL such as http://minio:9000")?;
        let default_port = match scheme {
            "http" => 80,
            "https" => 443,
            _ => return Err(format!("unsupported scheme '{scheme}' (use http or https)")),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            return Err("credentials do not belong in the URL; use the key variables".into());
        }
        let (host, port_text) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or("unclosed '[' in host")?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err("the URL has no host".into());
        }
        let port = match port_text {
            None => default_port,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("'{p}' is not a port number"))?,
        };
        Ok(Endpoint {
            url: text.trim_end_matches('/').to_string(),
            scheme_len: scheme.len(),
            host: host.to_string(),
            port,
        })
    }

    /// The URL as text (without a trailing slash).
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The host part (without IPv6 brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The same endpoint with another host (used for the loopback fallback).
    pub fn with_host(&self, host: &str) -> Endpoint {
        let start = self.scheme_len + 3;
        let after_scheme = &self.url[start..];
        let old_host_len = if after_scheme.starts_with('[') {
            self.host.len() + 2
        } else {
            self.host.len()
        };
        let new_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let url = format!(
            "{}{}{}",
            &self.url[..start],
            new_host,
            &after_scheme[old_host_len..]
        );
        Endpoint {
            url,
            scheme_len: self.scheme_len,
            host: host.to_string(),
            port: self.port,
        }
    }
}

/// Applies the fallback rule: `host` as given when it resolves; 127.0.0.1 when it does not and
/// it is `default` (with a warning); otherwise an error naming `var` and the host.
pub fn resolve_host(
    var: &'static str,
    host: &str,
    default: Option<&'static str>,
    port: u16,
) -> Result<String, ConfigError> {
    let resolves = (host, port)
        .to_socket_addrs()
        .is_ok_and(|mut addrs| addrs.next().is_some());
    if resolves {
        Ok(host.to_string())
    } else if default == Some(host) {
        tracing::warn!("default host '{host}' does not resolve; falling back to 127.0.0.1");
        Ok("127.0.0.1".to_string())
    } else {
        Err(ConfigError::UnresolvableHost {
            var,
            host: host.to_string(),
            default,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_ports_and_paths() {
        let e = Endpoint::parse("http://minio:9000").unwrap();
        assert_eq!(
            (e.host(), e.port(), e.as_str()),
            ("minio", 9000, "http://minio:9000")
        );
        let e = Endpoint::parse("https://s3.example.com/").unwrap();
        assert_eq!(
            (e.host(), e.port(), e.as_str()),
            ("s3.example.com", 443, "https://s3.example.com")
        );
        let e = Endpoint::parse("http://[::1]:3900/base").unwrap();
        assert_eq!((e.host(), e.port()), ("::1", 3900));
        for bad in [
            "minio:9000",
            "ftp://x",
            "http://",
            "http://h:0",
            "http://h:x",
            "http://u:p@h",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn replacing_the_host_keeps_scheme_port_and_path() {
        let e = Endpoint::parse("http://minio:9000/base").unwrap();
        assert_eq!(
            e.with_host("127.0.0.1").as_str(),
            "http://127.0.0.1:9000/base"
        );
        let e = Endpoint::parse("http://[::1]:9000").unwrap();
        assert_eq!(e.with_host("127.0.0.1").as_str(), "http://127.0.0.1:9000");
        let e = Endpoint::parse("http://minio").unwrap();
        assert_eq!(e.with_host("::1").as_str(), "http://[::1]");
    }

    #[test]
    fn addresses_resolve_as_given() {
        assert_eq!(
            resolve_host("V", "127.0.0.1", Some("postgres"), 5432).unwrap(),
            "127.0.0.1"
        );
        assert_eq!(
            resolve_host("V", "localhost", Some("postgres"), 5432).unwrap(),
            "localhost"
        );
    }

    #[test]
    fn an_unresolvable_host_names_its_variable_and_falls_back_only_when_default() {
        let name = "no-such-host.invalid";
        let err = resolve_host("FULLSITE_OFFSITE_S3_ENDPOINT", name, None, 443).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("host '{name}' from FULLSITE_OFFSITE_S3_ENDPOINT does not resolve")
        );
        assert_eq!(
            resolve_host("V", name, Some(name), 443).unwrap(),
            "127.0.0.1"
        );
    }
}
