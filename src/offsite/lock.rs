//! The repository lock: lock records with a holder and an expiry, so a prune never deletes
//! content a running push is about to reference.
//!
//! Why records with an expiry rather than a grace period: a push *reuses* content that is
//! already stored (that is what makes the second push free), so a grace period on the age of
//! unreferenced objects would not protect an old object that a running push has just decided
//! not to upload again. A lock does, at the cost of a lock that outlives a killed run until it
//! expires.
//!
//! Protocol (object stores give read-after-write consistency for new objects and listings):
//! a run writes its record `locks/<kind>-<random>` (sealed: holder host, pid, command, start,
//! expiry), then lists `locks/`; if it sees a live record it conflicts with (push ↔ prune,
//! prune ↔ anything), it deletes its own and fails with exit 11 naming the holder. Two runs
//! that race both see each other and both back off; never both proceed. Pushes do not
//! conflict with each other. A record is live until its expiry ([`TTL`] after it was last
//! written); a holder rewrites it every [`REFRESH`] while it works, and deletes it at the end.
//! Expired records are ignored (and deleted by the next prune). Expiry is judged with the
//! local clock, so the hosts that push and prune need roughly synchronised clocks (NTP).

use std::sync::Arc;
use std::time::Duration;

use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;
use chrono::{DateTime, FixedOffset, Local};
use serde::{Deserialize, Serialize};

use super::error::{OffsiteError, OffsiteResult};
use super::repo::{LOCKS, Repository};
use crate::objects::store::ObjectStore;

/// How long a lock record lives after it was written.
pub const TTL: Duration = Duration::from_secs(30 * 60);
/// How often a holder rewrites its record.
pub const REFRESH: Duration = Duration::from_secs(5 * 60);

/// What a run locks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockKind {
    /// Adds content and generations; shared with other pushes.
    Push,
    /// Deletes generations and content; exclusive.
    Prune,
}

impl LockKind {
    fn conflicts_with(self, other: LockKind) -> bool {
        self == LockKind::Prune || other == LockKind::Prune
    }

    fn as_str(self) -> &'static str {
        match self {
            LockKind::Push => "push",
            LockKind::Prune => "prune",
        }
    }
}

/// A lock record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// What for.
    pub kind: LockKind,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// When the run started.
    pub started_at: DateTime<FixedOffset>,
    /// When the record stops counting unless rewritten.
    pub expires_at: DateTime<FixedOffset>,
}

impl LockRecord {
    fn describe(&self) -> String {
        format!(
            "'fullsite offsite {}' (pid {} on {}, since {}, until {} unless renewed)",
            self.kind.as_str(),
            self.pid,
            self.host,
            self.started_at.format("%Y-%m-%d %H:%M:%S %:z"),
            self.expires_at.format("%Y-%m-%d %H:%M:%S %:z"),
        )
    }
}

/// A held repository lock. Call [`RepoLock::release`] at the end; if the run is dropped
/// instead (a signal), the record simply expires.
pub struct RepoLock<S: ObjectStore + 'static> {
    repo: Arc<Repository<S>>,
    name: String,
    refresher: tokio::task::JoinHandle<()>,
}

fn record(kind: LockKind, started_at: DateTime<FixedOffset>) -> LockRecord {
    let now = Local::now().fixed_offset();
    LockRecord {
        kind,
        host: crate::lock::host_name(),
        pid: std::process::id(),
        started_at,
        expires_at: now + chrono::Duration::from_std(TTL).unwrap_or_default(),
    }
}

async fn write<S: ObjectStore>(
    repo: &Repository<S>,
    name: &str,
    record: &LockRecord,
) -> OffsiteResult<()> {
    let text = serde_json::to_vec(record).unwrap_or_default();
    repo.put_sealed(name, &text).await.map(|_| ())
}

/// The live lock records other than `own`, with their names; unreadable or expired ones are
/// reported as expired.
pub async fn records<S: ObjectStore>(
    repo: &Repository<S>,
    own: Option<&str>,
) -> OffsiteResult<(Vec<(String, LockRecord)>, Vec<String>)> {
    let now = Local::now().fixed_offset();
    let (mut live, mut expired) = (Vec::new(), Vec::new());
    for listed in repo.list(LOCKS).await? {
        if Some(listed.key.as_str()) == own {
            continue;
        }
        let parsed = match repo.get_opened(&listed.key).await {
            Ok(bytes) => serde_json::from_slice::<LockRecord>(&bytes).ok(),
            Err(OffsiteError::Missing { .. }) => continue, // released meanwhile
            Err(OffsiteError::Damaged { .. }) => None,
            Err(e) => return Err(e),
        };
        match parsed {
            Some(record) if record.expires_at > now => live.push((listed.key, record)),
            _ => expired.push(listed.key),
        }
    }
    Ok((live, expired))
}

impl<S: ObjectStore + 'static> RepoLock<S> {
    /// Takes the lock for `kind`, or fails with [`OffsiteError::Locked`] (exit 11).
    pub async fn acquire(repo: Arc<Repository<S>>, kind: LockKind) -> OffsiteResult<RepoLock<S>> {
        let mut random = [0u8; 8];
        OsRng.fill_bytes(&mut random);
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("{LOCKS}{}-{suffix}", kind.as_str());
        let started = Local::now().fixed_offset();
        write(&repo, &name, &record(kind, started)).await?;
        let conflict = match records(&repo, Some(&name)).await {
            Ok((live, _)) => live.into_iter().find(|(_, r)| kind.conflicts_with(r.kind)),
            Err(e) => {
                let _ = repo.delete(std::slice::from_ref(&name)).await;
                return Err(e);
            }
        };
        if let Some((_, holder)) = conflict {
            repo.delete(std::slice::from_ref(&name)).await?;
            return Err(OffsiteError::Locked {
                url: repo.url().to_string(),
                holder: holder.describe(),
            });
        }
        let refresher = {
            let repo = Arc::clone(&repo);
            let name = name.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(REFRESH).await;
                    if let Err(e) = write(&repo, &name, &record(kind, started)).await {
                        tracing::warn!("cannot renew the offsite lock '{name}': {e}");
                    }
                }
            })
        };
        Ok(RepoLock {
            repo,
            name,
            refresher,
        })
    }

    /// Deletes the record.
    pub async fn release(self) -> OffsiteResult<()> {
        self.refresher.abort();
        self.repo.delete(std::slice::from_ref(&self.name)).await
    }
}

impl<S: ObjectStore + 'static> Drop for RepoLock<S> {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}
