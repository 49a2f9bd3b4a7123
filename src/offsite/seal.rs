//! Sealing: authenticated encryption of every byte stored offsite, in bounded memory.
//!
//! An encrypted repository stores each object as `MAGIC ‖ nonce prefix (19 bytes) ‖ chunk…`:
//! the plaintext cut into [`CHUNK`]-byte pieces, each sealed with XChaCha20-Poly1305 under the
//! STREAM construction (RustCrypto's `aead::stream`, big-endian 32-bit counter plus a last-chunk
//! flag), with the object's name (relative to the repository) as associated data. So a chunk
//! cannot be altered, reordered, dropped or cut off, nor an object passed off under another
//! name, without opening failing. A random nonce prefix per object makes nonces unique.
//!
//! Chunk boundaries follow from lengths alone: every chunk but the last seals exactly
//! [`CHUNK`] bytes, and the last one (which may be empty) is whatever follows, so a reader
//! needs to hold at most two chunks. An unencrypted repository (`--no-encryption`) stores the
//! plaintext as it is; the same types then pass bytes through.

use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::{OsRng, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305};

/// Plaintext bytes per sealed chunk.
pub const CHUNK: usize = 1 << 20;
/// Authentication tag added to every chunk.
pub const TAG: usize = 16;
/// Marks a sealed object (and its format version).
const MAGIC: &[u8; 4] = b"FSo1";
/// Length of the random nonce prefix (XChaCha20's 24-byte nonce less STREAM's 5 bytes).
const NONCE_PREFIX: usize = 19;
/// Bytes before the first chunk.
pub const HEADER: usize = MAGIC.len() + NONCE_PREFIX;

/// A 256-bit symmetric key. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl Key {
    /// Wraps key material.
    pub fn new(bytes: [u8; 32]) -> Key {
        Key(bytes)
    }

    /// The key bytes, for deriving further keys.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn aead(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(GenericArray::from_slice(&self.0))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// Why sealed bytes could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The object does not start like a sealed object.
    #[error("it is not a sealed object (bad header)")]
    Header,
    /// A chunk failed authentication: altered, reordered, truncated, or another key.
    #[error("chunk {0} fails authentication (altered, truncated, or sealed with another key)")]
    Chunk(u64),
}

/// Size of the sealed form of `plain` plaintext bytes.
pub fn sealed_size(plain: u64, encrypted: bool) -> u64 {
    if !encrypted {
        return plain;
    }
    let chunks = plain.div_ceil(CHUNK as u64).max(1);
    HEADER as u64 + plain + chunks * TAG as u64
}

/// Seals one object, chunk by chunk.
pub struct Sealer {
    state: Option<(EncryptorBE32<XChaCha20Poly1305>, Vec<u8>)>,
}

impl Sealer {
    /// Starts an object named `name` (associated data); returns the sealer and the header to
    /// store first. Without a key the sealer passes bytes through and the header is empty.
    pub fn new(key: Option<&Key>, name: &str) -> (Sealer, Vec<u8>) {
        let Some(key) = key else {
            return (Sealer { state: None }, Vec::new());
        };
        let mut prefix = [0u8; NONCE_PREFIX];
        OsRng.fill_bytes(&mut prefix);
        let encryptor = EncryptorBE32::from_aead(key.aead(), GenericArray::from_slice(&prefix));
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&prefix);
        (
            Sealer {
                state: Some((encryptor, name.as_bytes().to_vec())),
            },
            header,
        )
    }

    /// Seals a chunk that is not the last; it must be exactly [`CHUNK`] bytes.
    pub fn seal_next(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        debug_assert_eq!(chunk.len(), CHUNK);
        match &mut self.state {
            None => out.extend_from_slice(chunk),
            Some((encryptor, aad)) => {
                let payload = Payload { msg: chunk, aad };
                // Sealing fails only when the 32-bit counter overflows (4 PiB objects).
                if let Ok(sealed) = encryptor.encrypt_next(payload) {
                    out.extend_from_slice(&sealed);
                }
            }
        }
    }

    /// Seals the last chunk (at most [`CHUNK`] bytes, possibly none) and ends the object.
    pub fn seal_last(self, chunk: &[u8], out: &mut Vec<u8>) {
        match self.state {
            None => out.extend_from_slice(chunk),
            Some((encryptor, aad)) => {
                if let Ok(sealed) = encryptor.encrypt_last(Payload {
                    msg: chunk,
                    aad: &aad,
                }) {
                    out.extend_from_slice(&sealed);
                }
            }
        }
    }
}

/// Seals a whole small object held in memory (manifests, the lock, the key check).
pub fn seal_all(key: Option<&Key>, name: &str, plain: &[u8]) -> Vec<u8> {
    let (mut sealer, mut out) = Sealer::new(key, name);
    let mut chunks = plain.chunks(CHUNK).peekable();
    let mut last: &[u8] = &[];
    while let Some(chunk) = chunks.next() {
        if chunks.peek().is_some() {
            sealer.seal_next(chunk, &mut out);
        } else {
            last = chunk;
        }
    }
    sealer.seal_last(last, &mut out);
    out
}

/// Opens one object as its bytes arrive, holding at most two chunks.
pub struct Opener {
    decryptor: Option<(DecryptorBE32<XChaCha20Poly1305>, Vec<u8>)>,
    key: Option<Key>,
    name: Vec<u8>,
    pending: Vec<u8>,
    chunk: u64,
}

impl Opener {
    /// Starts opening the object named `name`; without a key bytes pass through.
    pub fn new(key: Option<&Key>, name: &str) -> Opener {
        Opener {
            decryptor: None,
            key: key.cloned(),
            name: name.as_bytes().to_vec(),
            pending: Vec::new(),
            chunk: 0,
        }
    }

    /// Feeds stored bytes; appends the plaintext of every chunk known to be complete to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), OpenError> {
        let Some(key) = &self.key else {
            out.extend_from_slice(bytes);
            return Ok(());
        };
        self.pending.extend_from_slice(bytes);
        if self.decryptor.is_none() {
            if self.pending.len() < HEADER {
                return Ok(());
            }
            if &self.pending[..MAGIC.len()] != MAGIC {
                return Err(OpenError::Header);
            }
            let prefix = GenericArray::clone_from_slice(&self.pending[MAGIC.len()..HEADER]);
            self.decryptor = Some((
                DecryptorBE32::from_aead(key.aead(), &prefix),
                self.name.clone(),
            ));
            self.pending.drain(..HEADER);
        }
        let sealed_chunk = CHUNK + TAG;
        let mut start = 0;
        // A full chunk is "next" (not last) only when more bytes follow it.
        while self.pending.len() - start > sealed_chunk {
            let Some((decryptor, aad)) = &mut self.decryptor else {
                break;
            };
            let payload = Payload {
                msg: &self.pending[start..start + sealed_chunk],
                aad,
            };
            let plain = decryptor
                .decrypt_next(payload)
                .map_err(|_| OpenError::Chunk(self.chunk))?;
            out.extend_from_slice(&plain);
            self.chunk += 1;
            start += sealed_chunk;
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// Ends the object: opens the last chunk (and fails if the object was cut short).
    pub fn finish(self, out: &mut Vec<u8>) -> Result<(), OpenError> {
        if self.key.is_none() {
            return Ok(());
        }
        let Some((decryptor, aad)) = self.decryptor else {
            return Err(OpenError::Header);
        };
        let plain = decryptor
            .decrypt_last(Payload {
                msg: &self.pending,
                aad: &aad,
            })
            .map_err(|_| OpenError::Chunk(self.chunk))?;
        out.extend_from_slice(&plain);
        Ok(())
    }
}

/// Opens a whole small object held in memory.
pub fn open_all(key: Option<&Key>, name: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
    let mut opener = Opener::new(key, name);
    let mut out = Vec::new();
    opener.push(sealed, &mut out)?;
    opener.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Key {
        Key::new([byte; 32])
    }

    fn sizes() -> Vec<usize> {
        vec![0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 7]
    }

    fn plain(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn sealed_objects_open_whole_and_fed_in_odd_pieces() {
        for len in sizes() {
            let data = plain(len);
            let sealed = seal_all(Some(&key(1)), "data/x", &data);
            assert_eq!(sealed.len() as u64, sealed_size(len as u64, true), "{len}");
            assert_eq!(open_all(Some(&key(1)), "data/x", &sealed).unwrap(), data);
            let mut opener = Opener::new(Some(&key(1)), "data/x");
            let mut out = Vec::new();
            for piece in sealed.chunks(333_333) {
                opener.push(piece, &mut out).unwrap();
                assert!(opener.pending.len() <= CHUNK + TAG + 333_333, "bounded");
            }
            opener.finish(&mut out).unwrap();
            assert_eq!(out, data, "{len}");
        }
    }

    #[test]
    fn altered_truncated_renamed_or_foreign_objects_do_not_open() {
        let data = plain(2 * CHUNK + 5);
        let sealed = seal_all(Some(&key(1)), "data/x", &data);
        assert_eq!(
            open_all(Some(&key(2)), "data/x", &sealed),
            Err(OpenError::Chunk(0))
        );
        assert_eq!(
            open_all(Some(&key(1)), "data/y", &sealed),
            Err(OpenError::Chunk(0))
        );
        let mut altered = sealed.clone();
        altered[HEADER + CHUNK + 100] ^= 1;
        assert_eq!(
            open_all(Some(&key(1)), "data/x", &altered),
            Err(OpenError::Chunk(1))
        );
        // cut at a chunk boundary: the last chunk seen is not marked last
        let cut = &sealed[..HEADER + 2 * (CHUNK + TAG)];
        assert!(open_all(Some(&key(1)), "data/x", cut).is_err());
        assert!(open_all(Some(&key(1)), "data/x", &sealed[..sealed.len() - 1]).is_err());
        assert_eq!(
            open_all(Some(&key(1)), "data/x", b"plain"),
            Err(OpenError::Header)
        );
        assert_eq!(open_all(None, "data/x", b"plain").unwrap(), b"plain");
    }

    #[test]
    fn sealing_hides_the_plaintext_and_never_repeats() {
        let data = b"password hash $2b$ of a user".repeat(100);
        let a = seal_all(Some(&key(1)), "n", &data);
        let b = seal_all(Some(&key(1)), "n", &data);
        assert_ne!(a, b, "random nonce prefix");
        assert!(!a.windows(8).any(|w| w == &data[..8]));
    }
}
