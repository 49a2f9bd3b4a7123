//! Parallel, deterministic compression of table data files, whatever the method.
//!
//! The input stream is cut at fixed offsets into [`MEMBER_SIZE`] pieces; each piece becomes one
//! complete gzip member, zstd frame or LZ4 frame ([`codec::piece`]), compressed on the
//! blocking thread pool, and the pieces are written in input order. Concatenated pieces are
//! one valid file of the method, so one big table uses every core, and the same input always
//! yields the same bytes (cut points depend on offsets, never on network packet boundaries),
//! which lets an unchanged table's file be hard-linked to the previous generation's. Plain
//! files (`none`) are written as they come. Memory is bounded: at most `in_flight` pieces per
//! file are outstanding, and the [`CompressPool`] caps concurrent compressions across all
//! files.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use super::codec;
use crate::config::Compress;

/// Bytes of input per member or frame.
pub const MEMBER_SIZE: usize = 1 << 20;

/// Shared budget of concurrent compressions.
#[derive(Debug, Clone)]
pub struct CompressPool {
    permits: Arc<Semaphore>,
    method: Compress,
    in_flight: usize,
}

impl CompressPool {
    /// A pool running at most `threads` compressions at once with `method`.
    pub fn new(threads: usize, method: Compress) -> CompressPool {
        let threads = threads.max(1);
        CompressPool {
            permits: Arc::new(Semaphore::new(threads)),
            method,
            in_flight: threads + 1,
        }
    }

    /// The compression method.
    pub fn method(&self) -> Compress {
        self.method
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Uncompressed bytes.
    pub raw_bytes: u64,
    /// Lines of input before the trailer: rows, for COPY text (embedded newlines are escaped).
    pub rows: u64,
    /// Bytes in the file.
    pub file_bytes: u64,
    /// BLAKE3 of the file's bytes.
    pub blake3: blake3::Hash,
}

/// Streams `chunks` (then `trailer`) into a new file at `path` (mode 0600), compressed with
/// the pool's method.
pub async fn write_compressed_file<E>(
    mut chunks: impl futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
    trailer: &'static [u8],
    path: &Path,
    pool: &CompressPool,
) -> Result<Written, CompressError<E>> {
    use futures_util::StreamExt;

    let std_file =
        crate::fsutil::create_private_file(path).map_err(|e| CompressError::Io(e.source))?;
    let mut file = tokio::fs::File::from_std(std_file);
    let mut hasher = blake3::Hasher::new();
    let mut pending: VecDeque<tokio::task::JoinHandle<std::io::Result<Vec<u8>>>> = VecDeque::new();
    let mut buffer = BytesMut::with_capacity(MEMBER_SIZE);
    let (mut raw_bytes, mut file_bytes, mut rows) = (0u64, 0u64, 0u64);

    let mut finished_input = false;
    while !finished_input {
        match chunks.next().await {
            Some(chunk) => {
                let chunk = chunk.map_err(CompressError::Source)?;
                raw_bytes += chunk.len() as u64;
                rows += memchr::memchr_iter(b'\n', &chunk).count() as u64;
                buffer.extend_from_slice(&chunk);
            }
            None => {
                buffer.extend_from_slice(trailer);
                raw_bytes += trailer.len() as u64;
                finished_input = true;
            }
        }
        // an empty input still makes one (empty) member or frame: a valid file of the method,
        // as pg_dump's compressors write it (a plain file stays empty)
        let mut empty_file = finished_input && raw_bytes == 0 && pool.method != Compress::None;
        while buffer.len() >= MEMBER_SIZE || (finished_input && !buffer.is_empty()) || empty_file {
            empty_file = false;
            let take = buffer.len().min(MEMBER_SIZE);
            let member = buffer.split_to(take).freeze();
            if pool.method == Compress::None {
                // nothing to compute: straight to the file, in order (nothing is pending)
                hasher.update(&member);
                file.write_all(&member).await.map_err(CompressError::Io)?;
                file_bytes += member.len() as u64;
                continue;
            }
            let permit =
                pool.permits.clone().acquire_owned().await.map_err(|_| {
                    CompressError::Io(std::io::Error::other("compression pool closed"))
                })?;
            let method = pool.method;
            pending.push_back(tokio::task::spawn_blocking(move || {
                let _permit = permit;
                codec::piece(&member, method)
            }));
            while pending.len() >= pool.in_flight {
                file_bytes += write_next(&mut pending, &mut file, &mut hasher).await?;
            }
        }
    }
    while !pending.is_empty() {
        file_bytes += write_next(&mut pending, &mut file, &mut hasher).await?;
    }
    file.flush().await.map_err(CompressError::Io)?;
    Ok(Written {
        raw_bytes,
        rows,
        file_bytes,
        blake3: hasher.finalize(),
    })
}

async fn write_next<E>(
    pending: &mut VecDeque<tokio::task::JoinHandle<std::io::Result<Vec<u8>>>>,
    file: &mut tokio::fs::File,
    hasher: &mut blake3::Hasher,
) -> Result<u64, CompressError<E>> {
    let Some(handle) = pending.pop_front() else {
        return Ok(0);
    };
    let compressed = handle
        .await
        .map_err(|e| CompressError::Io(std::io::Error::other(e)))?
        .map_err(CompressError::Io)?;
    hasher.update(&compressed);
    file.write_all(&compressed)
        .await
        .map_err(CompressError::Io)?;
    Ok(compressed.len() as u64)
}

/// A failure while writing a data file.
#[derive(Debug, thiserror::Error)]
pub enum CompressError<E> {
    /// The input stream failed.
    #[error("reading the data failed: {0}")]
    Source(E),
    /// Compressing or writing failed.
    #[error("{0}")]
    Io(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn pseudo_random_text(len: usize) -> Vec<u8> {
        let words = [
            "alpha",
            "beta\t",
            "gamma\n",
            "\\N",
            "ünï",
            "δέλτα",
            "1234567",
        ];
        let mut state = 0x2545_f491_u64;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.extend_from_slice(words[(state % words.len() as u64) as usize].as_bytes());
        }
        out.truncate(len);
        out
    }

    async fn compress_with(
        data: &[u8],
        piece: usize,
        method: Compress,
        trailer: &'static [u8],
    ) -> (Vec<u8>, Written) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("1.dat{}", method.suffix()));
        let chunks: Vec<Result<Bytes, std::io::Error>> = data
            .chunks(piece.max(1))
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let pool = CompressPool::new(2, method);
        let written =
            write_compressed_file(futures_util::stream::iter(chunks), trailer, &path, &pool)
                .await
                .unwrap();
        (std::fs::read(&path).unwrap(), written)
    }

    async fn compress(data: &[u8], piece: usize) -> (Vec<u8>, Written) {
        compress_with(data, piece, Compress::Gzip(6), b"\\.\n\n\n").await
    }

    fn decode(method: Compress, file: &[u8]) -> Vec<u8> {
        use crate::pg::restore::decode::{FileCodec, decoder};
        let codec = match method {
            Compress::None => FileCodec::Plain,
            Compress::Gzip(_) => FileCodec::Gzip,
            Compress::Zstd(_) => FileCodec::Zstd,
            Compress::Lz4(_) => FileCodec::Lz4,
        };
        let mut decoded = Vec::new();
        decoder(codec, file).read_to_end(&mut decoded).unwrap();
        decoded
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_method_round_trips_many_pieces_and_empty_files() {
        let data = pseudo_random_text(2 * MEMBER_SIZE + 4321);
        let mut expected = data.clone();
        expected.extend_from_slice(b"\\.\n\n\n");
        for method in [
            Compress::None,
            Compress::Gzip(1),
            Compress::Zstd(3),
            Compress::Lz4(1),
            Compress::Lz4(4),
        ] {
            let (file, written) = compress_with(&data, 7000, method, b"\\.\n\n\n").await;
            assert!(decode(method, &file) == expected, "{method}");
            assert_eq!(written.raw_bytes, expected.len() as u64, "{method}");
            assert_eq!(written.file_bytes, file.len() as u64, "{method}");
            assert_eq!(written.blake3, blake3::hash(&file), "{method}");
            let (again, _) = compress_with(&data, 65_536, method, b"\\.\n\n\n").await;
            assert!(again == file, "{method}: not deterministic");

            let (empty, written) = compress_with(b"", 1, method, b"").await;
            assert_eq!(written.raw_bytes, 0);
            assert_eq!(empty.is_empty(), method == Compress::None, "{method}");
            assert!(decode(method, &empty).is_empty(), "{method}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn multi_member_output_decodes_to_the_input_plus_trailer() {
        let data = pseudo_random_text(3 * MEMBER_SIZE + 12_345);
        let (file, written) = compress(&data, 8191).await;
        let mut decoded = Vec::new();
        flate2::read::MultiGzDecoder::new(file.as_slice())
            .read_to_end(&mut decoded)
            .unwrap();
        let mut expected = data.clone();
        expected.extend_from_slice(b"\\.\n\n\n");
        assert_eq!(decoded, expected);
        assert_eq!(written.raw_bytes, expected.len() as u64);
        assert_eq!(written.file_bytes, file.len() as u64);
        assert_eq!(written.blake3, blake3::hash(&file));
        assert_eq!(&file[..10], b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn output_does_not_depend_on_how_the_input_arrived() {
        let data = pseudo_random_text(MEMBER_SIZE + 777);
        let (a, _) = compress(&data, 1000).await;
        let (b, _) = compress(&data, 65_536).await;
        assert_eq!(a, b);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_empty_table_is_just_the_terminator() {
        let (file, written) = compress(b"", 10).await;
        let mut decoded = Vec::new();
        flate2::read::MultiGzDecoder::new(file.as_slice())
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, b"\\.\n\n\n");
        assert_eq!(written.raw_bytes, 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_empty_large_object_is_still_a_gzip_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob_1.dat.gz");
        let none: Vec<Result<Bytes, std::io::Error>> = Vec::new();
        let written = write_compressed_file(
            futures_util::stream::iter(none),
            b"",
            &path,
            &CompressPool::new(1, Compress::Gzip(6)),
        )
        .await
        .unwrap();
        let file = std::fs::read(&path).unwrap();
        assert_eq!(&file[..10], b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03");
        let mut decoded = Vec::new();
        flate2::read::MultiGzDecoder::new(file.as_slice())
            .read_to_end(&mut decoded)
            .unwrap();
        assert!(decoded.is_empty());
        assert_eq!(
            (written.raw_bytes, written.file_bytes),
            (0, file.len() as u64)
        );
    }
}
