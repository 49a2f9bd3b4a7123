//! The repository's `config` object and the keys derived from the passphrase.
//!
//! `config` is the one object stored in clear: a small JSON document with the format name and
//! version, and, for an encrypted repository, the KDF (Argon2id) with its parameters and random
//! salt, and a key check — a known text sealed with the data key. Opening a repository derives
//! the master key once (memory-hard: 64 MiB by default), then from it, with BLAKE3's key
//! derivation, the data key (sealing every object) and the name key (content object names). A
//! wrong passphrase fails the key check before anything is written (exit 2). A newer version is
//! refused (exit 2).
//!
//! Content objects are named by the keyed BLAKE3 (name key) of their plaintext's BLAKE3, so
//! names reveal nothing about the content, yet equal content gets one name: deduplication works
//! across generations and pushes without the provider learning anything.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;
use serde::{Deserialize, Serialize};

use super::seal::{Key, OpenError, open_all, seal_all};
use crate::config::Secret;

/// `format` of the config object.
pub const FORMAT: &str = "fullsite-offsite";
/// Repository format version this build writes and reads.
pub const VERSION: u32 = 1;
/// What the key check seals.
const KEY_CHECK_TEXT: &[u8] = b"fullsite offsite repository key check";
/// The name the key check is sealed under.
const KEY_CHECK_NAME: &str = "config";

/// Argon2id parameters as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// The defaults for new repositories: 64 MiB, 3 passes, 1 lane (above OWASP's Argon2id
    /// minimum of 19 MiB and 2 passes).
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };
}

/// The KDF section of the config object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kdf {
    /// Always `argon2id`.
    pub algorithm: String,
    /// Argon2 version (19 = 0x13).
    pub version: u32,
    /// Cost parameters.
    #[serde(flatten)]
    pub params: KdfParams,
    /// Random salt, hex.
    pub salt: String,
}

/// The encryption section of the config object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// Always `xchacha20poly1305-stream`.
    pub cipher: String,
    /// Plaintext bytes per sealed chunk.
    pub chunk: u64,
    /// How the master key comes from the passphrase.
    pub kdf: Kdf,
    /// [`KEY_CHECK_TEXT`] sealed with the data key, hex.
    pub key_check: String,
}

/// The `config` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoConfig {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version.
    pub version: u32,
    /// When the repository was created (RFC 3339).
    pub created_at: String,
    /// `null` for a repository made with `--no-encryption`.
    pub encryption: Option<Encryption>,
}

/// The keys of an open repository (none for an unencrypted one).
#[derive(Debug, Clone)]
pub struct Keys {
    data: Option<Key>,
    names: Option<Key>,
}

/// Why a config object cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// Not JSON of the expected shape, or an unknown algorithm.
    Invalid(String),
    /// A version newer than [`VERSION`].
    Newer(u32),
    /// The repository is encrypted and no passphrase was given.
    NeedPassphrase,
    /// The passphrase does not open the key check.
    WrongPassphrase,
}

fn derive_master(passphrase: &Secret, salt: &[u8], params: KdfParams) -> Result<Key, KeyError> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|e| KeyError::Invalid(format!("bad Argon2 parameters: {e}")))?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.expose().as_bytes(), salt, &mut out)
        .map_err(|e| KeyError::Invalid(format!("key derivation failed: {e}")))?;
    Ok(Key::new(out))
}

impl Keys {
    fn from_master(master: &Key) -> Keys {
        let derive = |context: &str| Key::new(blake3::derive_key(context, master.bytes()));
        Keys {
            data: Some(derive("fullsite offsite v1 data key")),
            names: Some(derive("fullsite offsite v1 content name key")),
        }
    }

    /// The keys of an unencrypted repository.
    pub fn none() -> Keys {
        Keys {
            data: None,
            names: None,
        }
    }

    /// The key sealing objects; `None` when the repository is not encrypted.
    pub fn data(&self) -> Option<&Key> {
        self.data.as_ref()
    }

    /// The name of the content object holding plaintext with this BLAKE3.
    pub fn content_id(&self, plain: &blake3::Hash) -> String {
        match &self.names {
            Some(key) => blake3::keyed_hash(key.bytes(), plain.as_bytes())
                .to_hex()
                .to_string(),
            None => plain.to_hex().to_string(),
        }
    }
}

impl RepoConfig {
    /// A new repository's config and keys: encrypted with `passphrase` (fresh salt), or not.
    pub fn create(
        passphrase: Option<&Secret>,
        params: KdfParams,
    ) -> Result<(RepoConfig, Keys), KeyError> {
        let created_at = chrono::Local::now().to_rfc3339();
        let Some(passphrase) = passphrase else {
            let config = RepoConfig {
                format: FORMAT.into(),
                version: VERSION,
                created_at,
                encryption: None,
            };
            return Ok((config, Keys::none()));
        };
        let mut salt = [0u8; 32];
        OsRng.fill_bytes(&mut salt);
        let keys = Keys::from_master(&derive_master(passphrase, &salt, params)?);
        let check = seal_all(keys.data(), KEY_CHECK_NAME, KEY_CHECK_TEXT);
        let config = RepoConfig {
            format: FORMAT.into(),
            version: VERSION,
            created_at,
            encryption: Some(Encryption {
                cipher: "xchacha20poly1305-stream".into(),
                chunk: super::seal::CHUNK as u64,
                kdf: Kdf {
                    algorithm: "argon2id".into(),
                    version: 0x13,
                    params,
                    salt: hex(&salt),
                },
                key_check: hex(&check),
            }),
        };
        Ok((config, keys))
    }

    /// Parses a stored config object.
    pub fn parse(bytes: &[u8]) -> Result<RepoConfig, KeyError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| KeyError::Invalid(e.to_string()))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(KeyError::Invalid(format!("its format is not '{FORMAT}'")));
        }
        match value.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v > u64::from(VERSION) => return Err(KeyError::Newer(v as u32)),
            Some(_) => {}
            None => return Err(KeyError::Invalid("it has no version".into())),
        }
        serde_json::from_value(value).map_err(|e| KeyError::Invalid(e.to_string()))
    }

    /// Derives the keys from `passphrase` and checks them.
    pub fn open(&self, passphrase: Option<&Secret>) -> Result<Keys, KeyError> {
        let Some(encryption) = &self.encryption else {
            return Ok(Keys::none());
        };
        let invalid = |what: &str| KeyError::Invalid(what.to_string());
        if encryption.cipher != "xchacha20poly1305-stream"
            || encryption.chunk != super::seal::CHUNK as u64
            || encryption.kdf.algorithm != "argon2id"
            || encryption.kdf.version != 0x13
        {
            return Err(invalid("unknown cipher, chunk size or key derivation"));
        }
        let passphrase = passphrase.ok_or(KeyError::NeedPassphrase)?;
        let salt = unhex(&encryption.kdf.salt).ok_or_else(|| invalid("bad salt"))?;
        let check = unhex(&encryption.key_check).ok_or_else(|| invalid("bad key check"))?;
        let keys = Keys::from_master(&derive_master(passphrase, &salt, encryption.kdf.params)?);
        match open_all(keys.data(), KEY_CHECK_NAME, &check) {
            Ok(text) if text == KEY_CHECK_TEXT => Ok(keys),
            Ok(_) | Err(OpenError::Chunk(_)) | Err(OpenError::Header) => {
                Err(KeyError::WrongPassphrase)
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Cheap parameters for tests.
    pub(crate) const FAST: KdfParams = KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn the_right_passphrase_opens_and_a_wrong_one_is_refused() {
        let pass = Secret::new("correct horse battery staple");
        let (config, keys) = RepoConfig::create(Some(&pass), FAST).unwrap();
        let text = serde_json::to_vec(&config).unwrap();
        let parsed = RepoConfig::parse(&text).unwrap();
        let reopened = parsed.open(Some(&pass)).unwrap();
        let hash = blake3::hash(b"content");
        assert_eq!(keys.content_id(&hash), reopened.content_id(&hash));
        assert_ne!(
            keys.content_id(&hash),
            hash.to_hex().to_string(),
            "names are keyed"
        );
        assert_eq!(
            parsed.open(Some(&Secret::new("wrong"))).unwrap_err(),
            KeyError::WrongPassphrase
        );
        assert_eq!(parsed.open(None).unwrap_err(), KeyError::NeedPassphrase);
        assert!(!String::from_utf8_lossy(&text).contains("correct horse"));
    }

    #[test]
    fn unencrypted_and_newer_repositories() {
        let (config, keys) = RepoConfig::create(None, FAST).unwrap();
        assert!(config.encryption.is_none() && keys.data().is_none());
        let hash = blake3::hash(b"content");
        assert_eq!(keys.content_id(&hash), hash.to_hex().to_string());
        let newer = br#"{"format":"fullsite-offsite","version":2,"created_at":"x","encryption":null,"new":1}"#;
        assert_eq!(RepoConfig::parse(newer).unwrap_err(), KeyError::Newer(2));
        assert!(matches!(
            RepoConfig::parse(b"{}"),
            Err(KeyError::Invalid(_))
        ));
        assert_eq!(unhex(&hex(&[0, 1, 254, 255])).unwrap(), [0, 1, 254, 255]);
    }
}
