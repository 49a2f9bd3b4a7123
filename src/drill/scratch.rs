//! The drill's scratch database: created for one drill on the configured server, dropped
//! whatever happens.
//!
//! Name: `fullsite_drill_<generation>_<pid>`, the generation lowercased with every character
//! other than `[a-z0-9]` made `_` and shortened so the whole stays within PostgreSQL's 63
//! bytes; unique per running process. It is created by the connecting role (which needs
//! CREATEDB, checked first so a role without it gets a plain answer) from `template0`, so
//! nothing a site added to `template1` is mistaken for restored content.
//!
//! Dropping uses `DROP DATABASE ... WITH (FORCE)`, which also ends restore connections a
//! stopped drill left behind. The drill drops it on every path it controls (success, mismatch,
//! failure, SIGINT/SIGTERM); a value dropped without [`Scratch::drop_database`] (a panic) says
//! loudly what to drop by hand.

use crate::config::DbSettings;
use crate::error::ErrorKind;
use crate::pg::connect::{PgError, Target};

/// PostgreSQL's limit on identifiers, in bytes.
const MAX_IDENTIFIER: usize = 63;

/// The scratch database name for `generation`, drilled by process `pid`.
pub fn scratch_name(generation: &str, pid: u32) -> String {
    let prefix = "fullsite_drill_";
    let suffix = format!("_{pid}");
    let room = MAX_IDENTIFIER - prefix.len() - suffix.len();
    let middle: String = generation
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(room)
        .collect();
    format!("{prefix}{middle}{suffix}")
}

/// Why the scratch database could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    /// The connecting role may not create databases.
    #[error(
        "cannot drill on postgresql://{target}: role '{role}' may not create databases; a drill \
         restores into a scratch database of its own (ALTER ROLE \"{role}\" CREATEDB)"
    )]
    NoCreateDb {
        /// The server, as `user@host:port/database`.
        target: String,
        /// The role.
        role: String,
    },
    /// The server's address is not usable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The server refused or failed.
    #[error(transparent)]
    Pg(#[from] PgError),
}

impl ScratchError {
    /// A role without CREATEDB is a failure of the drill (exit 1, as README says); the others
    /// say their own kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ScratchError::NoCreateDb { .. } => ErrorKind::Failure,
            ScratchError::Config(e) => e.kind(),
            ScratchError::Pg(e) => e.kind(),
        }
    }
}

/// A scratch database that exists until [`Scratch::drop_database`].
#[derive(Debug)]
pub struct Scratch {
    admin: Target,
    target: Target,
    name: String,
    armed: bool,
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Scratch {
    /// Creates database `name` on the server of `settings`, through a connection to the
    /// configured database (which is only read).
    pub async fn create(
        settings: &DbSettings,
        stall: std::time::Duration,
        name: &str,
    ) -> Result<Scratch, ScratchError> {
        let admin = Target::resolve(settings, &settings.name)?.with_stall(stall);
        let target = Target::resolve(settings, name)?.with_stall(stall);
        let client = admin.connect().await?;
        let what = || "check the role's privileges on".to_string();
        let row = admin
            .bounded(what, async {
                client
                    .query_one(
                        "SELECT current_user::text AS role, (rolcreatedb OR rolsuper) AS allowed \
                         FROM pg_catalog.pg_roles WHERE rolname = current_user",
                        &[],
                    )
                    .await
                    .map_err(|e| admin.error(what(), &e))
            })
            .await?;
        let (role, allowed): (String, bool) = (row.get("role"), row.get("allowed"));
        if !allowed {
            return Err(ScratchError::NoCreateDb {
                target: admin.to_string(),
                role,
            });
        }
        let sql = format!("CREATE DATABASE {} TEMPLATE template0", quoted(name));
        let what = || format!("create the scratch database {name} on");
        let created = admin
            .bounded(what, async { Ok(client.batch_execute(&sql).await) })
            .await?;
        match created {
            Ok(()) => {}
            Err(e)
                if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) =>
            {
                return Err(ScratchError::NoCreateDb {
                    target: admin.to_string(),
                    role,
                });
            }
            Err(e) => return Err(admin.error(what(), &e).into()),
        }
        tracing::info!("created scratch database {name}");
        Ok(Scratch {
            admin,
            target,
            name: name.to_string(),
            armed: true,
        })
    }

    /// The scratch database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A target for connections to the scratch database.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Leaves the database in place (`--keep`).
    pub fn keep(mut self) -> String {
        self.armed = false;
        std::mem::take(&mut self.name)
    }

    /// Drops the database, ending any connection still open to it.
    pub async fn drop_database(mut self) -> Result<(), PgError> {
        let client = self.admin.connect().await?;
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quoted(&self.name)
        );
        let what = || format!("drop the scratch database {} on", self.name);
        self.admin
            .bounded(what, async {
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(|e| self.admin.error(what(), &e))
            })
            .await?;
        tracing::info!("dropped scratch database {}", self.name);
        self.armed = false;
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.armed {
            tracing::error!(
                "scratch database {} on {} was left behind; drop it with: DROP DATABASE {} WITH (FORCE)",
                self.name,
                self.admin,
                quoted(&self.name)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_identifiers_within_63_bytes() {
        assert_eq!(
            scratch_name("full-site-2026-02-11", 4242),
            "fullsite_drill_full_site_2026_02_11_4242"
        );
        let long = scratch_name(&"Ünïcode-Generation.".repeat(9), u32::MAX);
        assert!(long.len() <= 63, "{long}");
        assert!(long.ends_with(&format!("_{}", u32::MAX)), "{long}");
        assert!(
            long.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{long}"
        );
    }
}
