//! Monitor pings: `backup`, `prune` and `drill` tell a dead man's switch (healthchecks.io,
//! Uptime Kuma push monitors, cronitor) that they started, succeeded or failed.
//!
//! With `FULLSITE_PING_URL` (or `--ping-url`) set to URL: `GET URL/start` when the command
//! begins, `GET URL` when it succeeds, `POST URL/fail` with the last line of the error as the
//! body when it fails (also when stopped by a signal). A query string stays at the end
//! (`URL?x` → `URL/start?x`).
//!
//! Invariants: a ping never changes the command's exit code, and never holds it more than
//! [`TIMEOUT`]: the start ping runs alongside the command, and the final ping (which first
//! lets the start ping finish, so the monitor sees them in order) shares one deadline with it.
//! Within that deadline a ping is tried up to [`ATTEMPTS`] times (on connection failures and
//! 5xx/429 answers). The URL may hold a token, so it is a [`Secret`]: logs show only its
//! scheme and host.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::{Secret, Vars};

/// The environment variable holding the base URL.
pub const PING_URL_VAR: &str = "FULLSITE_PING_URL";

/// The longest pings may hold a command, in all.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Tries per ping.
pub const ATTEMPTS: u32 = 3;

/// What a ping reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Start,
    Success,
    Fail,
}

/// A configured monitor.
#[derive(Clone)]
pub struct Pinger {
    url: Secret,
    shown: String,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for Pinger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pinger").field("url", &self.shown).finish()
    }
}

impl Pinger {
    /// The monitor of `--ping-url` or `FULLSITE_PING_URL`, if set. A URL that is not http(s)
    /// is reported and ignored: pings never fail a command.
    pub fn configured(flag: Option<&str>, vars: &Vars) -> Option<Pinger> {
        let url = flag
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .or_else(|| vars.get(PING_URL_VAR))?;
        match Pinger::new(url) {
            Ok(pinger) => Some(pinger),
            Err(reason) => {
                tracing::warn!("{PING_URL_VAR} (or --ping-url) {reason}; no pings are sent");
                None
            }
        }
    }

    fn new(url: &str) -> Result<Pinger, String> {
        let uri: http::Uri = url.parse().map_err(|_| "is not a URL".to_string())?;
        let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err("is not an http or https URL".into());
        }
        let host = uri.host().ok_or("has no host")?;
        let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| format!("cannot be reached: no TLS root certificates ({e})"))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Pinger {
            url: Secret::new(url.trim()),
            shown: format!("{scheme}://{host}{port}/…"),
            client,
        })
    }

    /// The URL as logs may show it: scheme and host only.
    #[cfg(test)]
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The URL for `kind`: the suffix goes before a query string.
    fn url_for(&self, kind: Kind) -> String {
        let suffix = match kind {
            Kind::Start => "/start",
            Kind::Success => "",
            Kind::Fail => "/fail",
        };
        let url = self.url.expose();
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (url, String::new()),
        };
        format!("{}{suffix}{query}", base.trim_end_matches('/'))
    }

    /// Sends one ping, trying up to [`ATTEMPTS`] times until `deadline`; logs the outcome.
    async fn send(&self, kind: Kind, body: Option<String>, deadline: Instant) {
        let url = self.url_for(kind);
        let label = match kind {
            Kind::Start => "start",
            Kind::Success => "success",
            Kind::Fail => "failure",
        };
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            let request = http::Request::builder()
                .method(if kind == Kind::Fail { "POST" } else { "GET" })
                .uri(&url)
                .header("user-agent", format!("fullsite/{}", crate::VERSION))
                .header("content-type", "text/plain; charset=utf-8")
                .body(Full::new(Bytes::from(body.clone().unwrap_or_default())));
            let request = match request {
                Ok(request) => request,
                Err(_) => {
                    tracing::warn!("monitor ping ({label}) to {} not sent: bad URL", self.shown);
                    return;
                }
            };
            let outcome = tokio::time::timeout_at(deadline, self.client.request(request)).await;
            let retry = match outcome {
                Err(_) => {
                    last = format!("no answer within {}s", TIMEOUT.as_secs());
                    false
                }
                Ok(Ok(response)) if response.status().is_success() => {
                    tracing::debug!("monitor ping ({label}) to {} sent", self.shown);
                    return;
                }
                Ok(Ok(response)) => {
                    let status = response.status();
                    last = format!("answered {status}");
                    status.is_server_error() || status.as_u16() == 429
                }
                Ok(Err(e)) => {
                    last = describe(&e);
                    true
                }
            };
            if !retry || attempt == ATTEMPTS {
                break;
            }
            let pause = Duration::from_millis(500 * u64::from(attempt));
            if Instant::now() + pause >= deadline {
                break;
            }
            tokio::time::sleep(pause).await;
        }
        tracing::warn!(
            "monitor ping ({label}) to {} failed: {last}; the command's outcome is unchanged",
            self.shown
        );
    }
}

/// The error text of a failed request, without the URL (which the client may include).
fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = if error.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Runs `command` between a start ping and a success or failure ping, when `pinger` is set.
/// The command's result is returned unchanged.
pub async fn around<T, E: std::fmt::Display>(
    pinger: Option<Pinger>,
    command: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let Some(pinger) = pinger else {
        return command.await;
    };
    let start: JoinHandle<()> = {
        let pinger = pinger.clone();
        tokio::spawn(async move {
            pinger
                .send(Kind::Start, None, Instant::now() + TIMEOUT)
                .await;
        })
    };
    let result = command.await;
    let deadline = Instant::now() + TIMEOUT;
    let mut start = start;
    if tokio::time::timeout_at(deadline, &mut start).await.is_err() {
        start.abort();
    }
    match &result {
        Ok(_) => pinger.send(Kind::Success, None, deadline).await,
        Err(e) => {
            let text = e.to_string();
            let last = text.lines().last().unwrap_or_default().to_string();
            pinger.send(Kind::Fail, Some(last), deadline).await;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_get_their_suffix_before_the_query_and_logs_show_the_host_only() {
        let pinger = Pinger::new("https://hc-ping.com/0f3a-secret-token/").unwrap();
        assert_eq!(
            pinger.url_for(Kind::Start),
            "https://hc-ping.com/0f3a-secret-token/start"
        );
        assert_eq!(
            pinger.url_for(Kind::Success),
            "https://hc-ping.com/0f3a-secret-token"
        );
        assert_eq!(pinger.shown(), "https://hc-ping.com/…");
        assert!(!format!("{pinger:?}").contains("secret"));
        let kuma = Pinger::new("http://kuma:3001/api/push/tok?status=up").unwrap();
        assert_eq!(
            kuma.url_for(Kind::Fail),
            "http://kuma:3001/api/push/tok/fail?status=up"
        );
        assert_eq!(kuma.shown(), "http://kuma:3001/…");
        assert!(Pinger::new("ftp://x/y").is_err());
        assert!(Pinger::new("not a url").is_err());
    }
}
