//! Connecting to PostgreSQL with the configured settings.
//!
//! The host goes through the default-name fallback rule first; the password is handed to the
//! driver and never formatted anywhere. Every error names `user@host:port/database`, and
//! connecting is bounded in time so an unreachable server fails promptly.

use std::fmt;
use std::time::Duration;

use tokio_postgres::{Client, NoTls};

use crate::config::{ConfigError, DbSettings};

/// How long to wait for a connection before giving up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A resolved connection target, printable without secrets.
#[derive(Debug, Clone)]
pub struct Target {
    settings: DbSettings,
    host: String,
    database: String,
}

impl Target {
    /// Applies the host fallback rule to `settings` and targets `database` (usually the
    /// configured one).
    pub fn resolve(settings: &DbSettings, database: &str) -> Result<Target, ConfigError> {
        Ok(Target {
            host: settings.connect_host()?,
            settings: settings.clone(),
            database: database.to_string(),
        })
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
            .connect_timeout(CONNECT_TIMEOUT);
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
