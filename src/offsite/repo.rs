//! An open offsite repository: where its objects live in the bucket, its keys, and the
//! operations every command uses (sealed puts and gets, listings, deletes), each within the
//! bounded waits and retries of [`Patience`].
//!
//! Layout under `s3://BUCKET/PREFIX/` (names relative to the prefix are what objects are sealed
//! under, so a repository can be copied to another prefix or bucket as it is):
//! - `config`: the repository config (clear JSON, see [`super::keys`]).
//! - `data/<id>`: one object per distinct file content, sealed; `<id>` is the keyed hash of
//!   the content's BLAKE3 (plain BLAKE3 hex when unencrypted).
//! - `generations/<NAME>`: one sealed generation index per pushed generation (see
//!   [`super::index`]), uploaded after all the content it names.
//! - `locks/<kind>-<random>`: sealed lock records (see [`super::lock`]).

use std::time::Duration;

use bytes::Bytes;

use super::error::{OffsiteError, OffsiteResult};
use super::keys::{KdfParams, KeyError, Keys, RepoConfig};
use super::seal::{Opener, open_all, seal_all};
use super::settings::TargetSettings;
use crate::objects::patience::Patience;
use crate::objects::store::{Listed, ObjectStore, StoreError, StoreErrorKind};

/// The config object's name.
pub const CONFIG: &str = "config";
/// Prefix of content objects.
pub const DATA: &str = "data/";
/// Prefix of generation indexes.
pub const GENERATIONS: &str = "generations/";
/// Prefix of lock records.
pub const LOCKS: &str = "locks/";

/// How a command opens the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// The repository must exist (list, verify, pull, prune).
    No,
    /// Create it when missing (push): encrypted when a passphrase is set; unencrypted only
    /// when `no_encryption` was asked for explicitly.
    IfMissing {
        /// `--no-encryption`.
        no_encryption: bool,
        /// KDF cost for a new repository.
        params: KdfParams,
    },
}

/// An open repository.
pub struct Repository<S> {
    store: S,
    bucket: String,
    prefix: String,
    url: String,
    keys: Keys,
    patience: Patience,
}

impl<S: ObjectStore> Repository<S> {
    /// Opens (or creates) the repository `target` describes, deriving the keys once. A wrong
    /// or missing passphrase fails here, before anything is written.
    pub async fn open(
        store: S,
        target: &TargetSettings,
        create: Create,
        patience: Patience,
    ) -> OffsiteResult<Repository<S>> {
        let mut repo = Repository {
            store,
            bucket: target.bucket.clone(),
            prefix: if target.prefix.is_empty() {
                String::new()
            } else {
                format!("{}/", target.prefix)
            },
            url: target.url.clone(),
            keys: Keys::none(),
            patience,
        };
        let passphrase = target.passphrase.as_ref();
        let stored = repo.get_raw(CONFIG).await?;
        let config = match (stored, create) {
            (Some(bytes), _) => RepoConfig::parse(&bytes).map_err(|e| repo.key_error(e))?,
            (None, Create::No) => {
                return Err(OffsiteError::Refused(format!(
                    "there is no offsite repository at '{}' yet; 'fullsite offsite push' creates it",
                    repo.url
                )));
            }
            (
                None,
                Create::IfMissing {
                    no_encryption,
                    params,
                },
            ) => {
                if passphrase.is_none() && !no_encryption {
                    return Err(OffsiteError::Refused(format!(
                        "no passphrase for the new offsite repository at '{}': set \
                         FULLSITE_OFFSITE_PASSPHRASE or FULLSITE_OFFSITE_PASSPHRASE_FILE, or pass \
                         --no-encryption to store the backups unencrypted",
                        repo.url
                    )));
                }
                if !repo.bucket_exists().await? {
                    return Err(OffsiteError::Refused(format!(
                        "the bucket of '{}' does not exist (or these credentials cannot reach it)",
                        repo.url
                    )));
                }
                let (config, _) =
                    RepoConfig::create(passphrase, params).map_err(|e| repo.key_error(e))?;
                let text = serde_json::to_vec_pretty(&config).unwrap_or_default();
                // Created only if absent (If-None-Match), then read back: when another push
                // created it first, its config (salt, parameters) is the one both use. A
                // server that ignores the condition lets the last writer win, and the read-back
                // still makes both agree unless they interleave within these two requests.
                if repo.put_raw(CONFIG, Bytes::from(text), true).await? {
                    tracing::info!(
                        "created the offsite repository at '{}' ({})",
                        repo.url,
                        if config.encryption.is_some() {
                            "encrypted"
                        } else {
                            "NOT encrypted"
                        }
                    );
                }
                let stored = repo.get_raw(CONFIG).await?.unwrap_or_default();
                RepoConfig::parse(&stored).map_err(|e| repo.key_error(e))?
            }
        };
        if config.encryption.is_none() && passphrase.is_some() {
            return Err(OffsiteError::Refused(format!(
                "the offsite repository at '{}' is not encrypted, yet a passphrase is set: unset \
                 it, or use another FULLSITE_OFFSITE_URL for an encrypted repository",
                repo.url
            )));
        }
        repo.keys = config.open(passphrase).map_err(|e| repo.key_error(e))?;
        Ok(repo)
    }

    fn key_error(&self, error: KeyError) -> OffsiteError {
        match error {
            KeyError::Invalid(reason) => OffsiteError::Damaged {
                key: self.full_key(CONFIG),
                reason,
            },
            KeyError::Newer(found) => OffsiteError::NewerFormat {
                url: self.url.clone(),
                found,
                supported: super::keys::VERSION,
            },
            KeyError::NeedPassphrase => OffsiteError::Refused(format!(
                "the offsite repository at '{}' is encrypted: set FULLSITE_OFFSITE_PASSPHRASE or \
                 FULLSITE_OFFSITE_PASSPHRASE_FILE",
                self.url
            )),
            KeyError::WrongPassphrase => OffsiteError::WrongPassphrase {
                url: self.url.clone(),
            },
        }
    }

    /// The repository URL, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Whether objects are sealed.
    pub fn encrypted(&self) -> bool {
        self.keys.data().is_some()
    }

    /// The store (for multipart uploads).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The retry and wait policy.
    pub fn patience(&self) -> &Patience {
        &self.patience
    }

    /// The object key of `name` (relative to the repository).
    pub fn full_key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    async fn bucket_exists(&self) -> OffsiteResult<bool> {
        self.patience
            .retry(self.patience.stall, || {
                self.store.bucket_exists(&self.bucket)
            })
            .await
            .map_err(|e| OffsiteError::store("reach bucket", &self.bucket, e))
    }

    /// The stored bytes of `name`, or `None` when it does not exist.
    async fn get_raw(&self, name: &str) -> OffsiteResult<Option<Vec<u8>>> {
        let mut out = Vec::new();
        match self
            .read(name, |bytes| {
                out.extend_from_slice(bytes);
                Ok(true)
            })
            .await
        {
            Ok(()) => Ok(Some(out)),
            Err(OffsiteError::Missing { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores `bytes` as `name`; with `if_absent`, `false` when the server refused because
    /// `name` exists (a retried request whose first attempt landed also reads so).
    async fn put_raw(&self, name: &str, bytes: Bytes, if_absent: bool) -> OffsiteResult<bool> {
        let key = self.full_key(name);
        let budget = self.patience.upload_deadline(bytes.len() as u64);
        let put = self
            .patience
            .retry(budget, || {
                self.store
                    .put_bytes(&self.bucket, &key, bytes.clone(), if_absent)
            })
            .await;
        match put {
            Ok(()) => Ok(true),
            Err(e) if if_absent && e.kind == StoreErrorKind::PreconditionFailed => Ok(false),
            Err(e) => Err(OffsiteError::store("upload", &key, e)),
        }
    }

    /// Seals `plain` under `name` and stores it; returns the stored size.
    pub async fn put_sealed(&self, name: &str, plain: &[u8]) -> OffsiteResult<u64> {
        let sealed = seal_all(self.keys.data(), name, plain);
        let size = sealed.len() as u64;
        self.put_raw(name, Bytes::from(sealed), false).await?;
        Ok(size)
    }

    /// Reads and opens the whole object `name` (a small one: an index, a lock).
    pub async fn get_opened(&self, name: &str) -> OffsiteResult<Vec<u8>> {
        let mut sealed = Vec::new();
        self.read(name, |bytes| {
            sealed.extend_from_slice(bytes);
            Ok(true)
        })
        .await?;
        open_all(self.keys.data(), name, &sealed).map_err(|e| OffsiteError::Damaged {
            key: self.full_key(name),
            reason: e.to_string(),
        })
    }

    /// Streams the opened plaintext of `name` to `sink` as it arrives, authenticated chunk by
    /// chunk; `sink` returns `false` to stop early (then the end is not authenticated). A
    /// missing object is [`OffsiteError::Missing`], a damaged one [`OffsiteError::Damaged`].
    pub async fn read_opened(
        &self,
        name: &str,
        mut sink: impl FnMut(&[u8]) -> OffsiteResult<bool>,
    ) -> OffsiteResult<()> {
        let mut opener = Opener::new(self.keys.data(), name);
        let mut plain = Vec::new();
        let key = self.full_key(name);
        let damaged = |e: super::seal::OpenError| OffsiteError::Damaged {
            key: key.clone(),
            reason: e.to_string(),
        };
        let mut stopped = false;
        self.read(name, |bytes| {
            plain.clear();
            opener.push(bytes, &mut plain).map_err(damaged)?;
            if !plain.is_empty() && !sink(&plain)? {
                stopped = true;
                return Ok(false);
            }
            Ok(true)
        })
        .await?;
        if stopped {
            return Ok(());
        }
        plain.clear();
        opener.finish(&mut plain).map_err(damaged)?;
        if !plain.is_empty() {
            sink(&plain)?;
        }
        Ok(())
    }

    /// Streams the stored bytes of `name` to `sink`, until it returns `false` or the body ends.
    /// A body cut short (a connection reset, or fewer bytes than announced) is resumed where
    /// it stopped (a ranged GET of the same ETag), up to the patience's attempts: the sink
    /// sees every byte once, in order.
    async fn read(
        &self,
        name: &str,
        mut sink: impl FnMut(&[u8]) -> OffsiteResult<bool>,
    ) -> OffsiteResult<()> {
        let key = self.full_key(name);
        let fetched = self
            .patience
            .retry(self.patience.stall, || {
                self.store.get(&self.bucket, &key, None)
            })
            .await;
        let mut fetched = match fetched {
            Ok(fetched) => fetched,
            Err(e) if e.kind == StoreErrorKind::NotFound => {
                return Err(OffsiteError::Missing {
                    key,
                    context: String::new(),
                });
            }
            Err(e) => return Err(OffsiteError::store("download", &key, e)),
        };
        let (size, etag) = (fetched.size, fetched.etag.clone());
        let mut received = 0u64;
        let mut attempt = 1;
        loop {
            let cut = match self.patience.next_chunk(&mut fetched.body).await {
                Ok(Some(chunk)) => {
                    received += chunk.len() as u64;
                    if !sink(&chunk)? {
                        return Ok(());
                    }
                    continue;
                }
                Ok(None) if received == size => return Ok(()),
                Ok(None) => StoreError::new(
                    StoreErrorKind::Transient,
                    format!("the body ended after {received} of {size} bytes"),
                ),
                Err(e) => e,
            };
            if !cut.is_transient() || attempt >= self.patience.attempts.max(1) {
                return Err(OffsiteError::store("download", &key, cut));
            }
            attempt += 1;
            tracing::debug!("download of '{key}' cut after {received} bytes ({cut}); resuming");
            fetched = self
                .patience
                .retry(self.patience.stall, || {
                    self.store.get_from(&self.bucket, &key, &etag, received)
                })
                .await
                .map_err(|e| OffsiteError::store("resume download of", &key, e))?;
        }
    }

    /// Every object under `prefix` (relative), with keys made relative to the repository.
    pub async fn list(&self, prefix: &str) -> OffsiteResult<Vec<Listed>> {
        let full = self.full_key(prefix);
        let mut token = None;
        let mut out = Vec::new();
        loop {
            let page = self
                .patience
                .retry(self.patience.stall, || {
                    self.store
                        .list_prefix_page(&self.bucket, &full, token.clone())
                })
                .await
                .map_err(|e| OffsiteError::store("list", &full, e))?;
            for mut listed in page.objects {
                if let Some(relative) = listed.key.strip_prefix(&self.prefix) {
                    listed.key = relative.to_string();
                    out.push(listed);
                }
            }
            match page.next {
                Some(next) => token = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// Deletes objects by (relative) name, 1000 per request.
    pub async fn delete(&self, names: &[String]) -> OffsiteResult<()> {
        for batch in names.chunks(1000) {
            let keys: Vec<String> = batch.iter().map(|n| self.full_key(n)).collect();
            self.patience
                .retry(self.patience.stall, || {
                    self.store.delete(&self.bucket, &keys)
                })
                .await
                .map_err(|e| OffsiteError::store("delete", &keys[0], e))?;
        }
        Ok(())
    }
}

/// The default patience for offsite requests: the stall timeout, 4 attempts.
pub fn patience(stall: Duration) -> Patience {
    Patience {
        attempts: 4,
        ..Patience::new(stall)
    }
}
