//! Connecting to PostgreSQL with the configured settings, and waiting for it without waiting
//! for ever.
//!
//! The host goes through the default-name fallback rule first; the password is handed to the
//! driver and never formatted anywhere. Every error names `user@host:port/database`, and
//! connecting is bounded in time so an unreachable server fails promptly.
//!
//! A server can also stop answering an established connection: a hung VM, a network
//! partition without a reset, a stopped process. Every connection has TCP keepalives and a
//! `TCP_USER_TIMEOUT` (a peer that stops acknowledging is dropped) longer than the stall watch
//! and its probe together, so the watch speaks first and names the hang, and
//! [`Target::bounded`] puts a stall watch on any wait: when nothing has come back for the stall
//! timeout, a probe opens a fresh connection; a server that answers it is busy, not hung (a
//! long index build, a slow disk), so the wait goes on; one that does not fails the run,
//! naming the server and what was waited for.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio_postgres::{Client, NoTls};

use crate::config::{ConfigError, DbSettings};
use crate::error::ErrorKind;

mod watched;

/// How long to wait for a connection before giving up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The longest a stall probe waits for a fresh connection's answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Keepalive probes start after this much idle time, and repeat this often, this many times.
const KEEPALIVE: (Duration, Duration, u32) = (Duration::from_secs(15), Duration::from_secs(5), 3);

/// A resolved connection target, printable without secrets.
#[derive(Debug, Clone)]
pub struct Target {
    settings: DbSettings,
    host: String,
    database: String,
    stall: Duration,
}

impl Target {
    /// Applies the host fallback rule to `settings` and targets `database` (usually the
    /// configured one), with the default stall timeout.
    pub fn resolve(settings: &DbSettings, database: &str) -> Result<Target, ConfigError> {
        Ok(Target {
            host: settings.connect_host()?,
            settings: settings.clone(),
            database: database.to_string(),
            stall: Duration::from_secs(crate::config::DEFAULT_STALL_SECS),
        })
    }

    /// The same target with another stall timeout (see [`Target::bounded`]).
    pub fn with_stall(mut self, stall: Duration) -> Target {
        self.stall = stall;
        self
    }

    /// The stall timeout.
    pub fn stall(&self) -> Duration {
        self.stall
    }

    /// The database name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Opens a connection; its driver task runs until the client is dropped.
    pub async fn connect(&self) -> Result<Client, PgError> {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.settings.port)
            .user(&self.settings.user)
            .password(self.settings.password.expose())
            .dbname(&self.database)
            .application_name("fullsite")
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(KEEPALIVE.0)
            .keepalives_interval(KEEPALIVE.1)
            .keepalives_retries(KEEPALIVE.2)
            .tcp_user_timeout(self.stall * 2 + PROBE_TIMEOUT);
        let connecting = config.connect(NoTls);
        let (client, connection) = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(self.error("connect to", &e)),
            Err(_) => {
                return Err(PgError {
                    target: self.to_string(),
                    action: "connect to".into(),
                    message: format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()),
                });
            }
        };
        let target = self.to_string();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection to {target} ended: {}", describe(&e));
            }
        });
        Ok(client)
    }

    /// Runs `sql` (one or more statements) on `client` under the stall watch; a failure names
    /// the server and `what` was being done.
    pub async fn batch(
        &self,
        client: &Client,
        sql: &str,
        what: impl Fn() -> String,
    ) -> Result<(), PgError> {
        self.bounded(&what, async {
            client
                .batch_execute(sql)
                .await
                .map_err(|e| self.error(what(), &e))
        })
        .await
    }

    /// Waits for `wait` (a query, a COPY chunk, ...) under the stall watch: each time it has
    /// taken the stall timeout, the server is probed on a fresh connection; if the probe gets
    /// no answer within the stall timeout either, the wait fails, naming the server and
    /// `what` was waited for (`"read table public.posts from"`, ...).
    pub async fn bounded<T, F>(&self, what: impl Fn() -> String, wait: F) -> Result<T, PgError>
    where
        F: Future<Output = Result<T, PgError>>,
    {
        tokio::pin!(wait);
        loop {
            match tokio::time::timeout(self.stall, &mut wait).await {
                Ok(result) => return result,
                Err(_) => match self.probe().await {
                    Ok(()) => self.log_busy(&what()),
                    Err(reason) => return Err(self.hung(what(), &reason)),
                },
            }
        }
    }

    /// Logs that a wait to do `what` goes on because the probe was answered.
    fn log_busy(&self, what: &str) {
        tracing::info!(
            "still waiting to {what} {self} after {}s; the server answers, so it is busy, not hung",
            self.stall.as_secs()
        );
    }

    /// The failure of a wait to do `what` whose probe failed for `reason`.
    fn hung(&self, what: String, reason: &str) -> PgError {
        PgError {
            target: self.to_string(),
            action: what,
            message: format!(
                "no answer for {}s, and {reason}: the server looks hung (stopped, or cut off without a reset)",
                self.stall.as_secs()
            ),
        }
    }

    /// Whether the server answers a new connection's `SELECT 1` within the stall timeout (at
    /// most [`PROBE_TIMEOUT`]); why not otherwise.
    async fn probe(&self) -> Result<(), String> {
        let limit = self.stall.min(PROBE_TIMEOUT);
        let attempt = async {
            let client = self.connect().await.map_err(|e| e.message)?;
            client
                .simple_query("SELECT 1")
                .await
                .map(|_| ())
                .map_err(|e| describe(&e))
        };
        match tokio::time::timeout(limit, attempt).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(format!("a new connection failed ({reason})")),
            Err(_) => Err(format!(
                "a new connection got no answer within {}s either",
                limit.as_secs()
            )),
        }
    }

    /// Wraps a driver error with what was being done and this target.
    pub fn error(&self, action: impl Into<String>, error: &tokio_postgres::Error) -> PgError {
        PgError {
            target: self.to_string(),
            action: action.into(),
            message: describe(error),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{}:{}/{}",
            self.settings.user, self.host, self.settings.port, self.database
        )
    }
}

/// A PostgreSQL failure, naming the server and what was being done.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot {action} postgresql://{target}: {message}")]
pub struct PgError {
    /// `user@host:port/database`.
    pub target: String,
    /// What was being done ("connect to", "dump table public.posts from", ...).
    pub action: String,
    /// The server's or driver's message.
    pub message: String,
}

impl PgError {
    /// Always [`ErrorKind::Failure`]: the server refused, failed or could not be reached.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Failure
    }
}

/// The useful text of a driver error: the server's message, detail and hint, or the I/O cause.
pub fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            text.push_str(&format!(" ({detail})"));
        }
        if let Some(hint) = db.hint() {
            text.push_str(&format!("; hint: {hint}"));
        }
        return text;
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
