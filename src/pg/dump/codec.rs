//! One independent compressed piece of a data file: a gzip member, a zstd frame or an LZ4
//! frame. Concatenated pieces are one valid file of that format — stock `pg_restore` (gzip:
//! 12+; zstd and LZ4: 16+, proved by the tests with 16, 17 and 18) and `gzip -d` / `zstd -d` /
//! `lz4 -d` read them — so [`super::compress`] can make them on every core. Each piece is a
//! deterministic function of its bytes, the method and the level.
//!
//! Framing, next to pg_dump's: gzip members carry mtime 0 and OS Unix, as zlib writes them
//! for pg_dump. zstd frames are what `ZSTD_compressStream2` makes of the same bytes plus the
//! frame's content size and a content checksum (pg_dump's streaming frames have neither; every
//! zstd decoder reads both, and the checksum lets a restore's check find a flipped byte). LZ4
//! frames use LZ4F's default preferences as pg_dump does (64 KiB linked blocks), plus the
//! content checksum for the same reason.

use std::io::Write;

use crate::config::Compress;
use crate::pg::archive::{self, Compression};

/// The archive version of a dump of a server of `major` with `method`: what that major's
/// pg_dump writes, but at least 1.15 for zstd and LZ4, the first version whose header can say
/// so (1.15 differs from 1.14 in that header field only).
pub fn archive_version(major: i32, method: Compress) -> (u8, u8, u8) {
    let version = archive::version_written_by(major);
    match method {
        Compress::Zstd(_) | Compress::Lz4(_) => version.max((1, 15, 0)),
        Compress::None | Compress::Gzip(_) => version,
    }
}

/// What the archive header says of `method` (archives 1.14 store the gzip level, later ones
/// the algorithm only).
pub fn header_compression(method: Compress) -> Compression {
    match method {
        Compress::None => Compression::None,
        Compress::Gzip(level) => Compression::Gzip(Some(level as i32)),
        Compress::Zstd(_) => Compression::Zstd,
        Compress::Lz4(_) => Compression::Lz4,
    }
}

/// Compresses `data` into one complete member or frame of `method` (for [`Compress::None`],
/// the bytes themselves).
pub fn piece(data: &[u8], method: Compress) -> std::io::Result<Vec<u8>> {
    match method {
        Compress::None => Ok(data.to_vec()),
        Compress::Gzip(level) => gzip_member(data, level),
        Compress::Zstd(level) => zstd_frame(data, level),
        Compress::Lz4(level) => lz4_frame(data, level),
    }
}

/// Compresses one member with libdeflate: buffer to buffer, which is all a member needs, at
/// about 1.5 times zlib's speed for the same level and slightly smaller output (measured on the
/// benchmark's table data at level 6: 87 against 56 MB/s per core, 2% smaller). libdeflate
/// writes OS "unknown" into the header; it is set to Unix (3), as zlib and pg_dump write it
/// (the header carries no CRC of its own).
pub fn gzip_member(data: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    let level = libdeflater::CompressionLvl::new(level as i32)
        .map_err(|e| std::io::Error::other(format!("gzip level {level}: {e:?}")))?;
    let mut compressor = libdeflater::Compressor::new(level);
    let mut out = vec![0; compressor.gzip_compress_bound(data.len())];
    let written = compressor
        .gzip_compress(data, &mut out)
        .map_err(|e| std::io::Error::other(format!("gzip: {e:?}")))?;
    out.truncate(written);
    out[GZIP_OS_OFFSET] = GZIP_OS_UNIX;
    Ok(out)
}

/// Where a gzip header (RFC 1952) keeps the operating system byte, and its value for Unix.
const GZIP_OS_OFFSET: usize = 9;
const GZIP_OS_UNIX: u8 = 3;

/// One zstd frame with its content size and checksum.
fn zstd_frame(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    let mut compressor = zstd::bulk::Compressor::new(level)?;
    compressor.set_parameter(zstd::stream::raw::CParameter::ChecksumFlag(true))?;
    compressor.compress(data)
}

/// One LZ4 frame (LZ4F, pg_dump's block settings) with its content checksum.
fn lz4_frame(data: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    let mut encoder = lz4::EncoderBuilder::new()
        .level(level)
        .block_size(lz4::BlockSize::Default)
        .block_mode(lz4::BlockMode::Linked)
        .block_checksum(lz4::liblz4::BlockChecksum::NoBlockChecksum)
        .checksum(lz4::ContentChecksum::ChecksumEnabled)
        .build(Vec::with_capacity(data.len() / 2 + 64))?;
    encoder.write_all(data)?;
    let (out, result) = encoder.finish();
    result.map(|()| out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zstd_and_lz4_lift_older_servers_to_archive_1_15() {
        assert_eq!(archive_version(14, Compress::Gzip(6)), (1, 14, 0));
        assert_eq!(archive_version(15, Compress::None), (1, 14, 0));
        assert_eq!(archive_version(14, Compress::Zstd(3)), (1, 15, 0));
        assert_eq!(archive_version(15, Compress::Lz4(1)), (1, 15, 0));
        assert_eq!(archive_version(16, Compress::Zstd(3)), (1, 15, 0));
        assert_eq!(archive_version(18, Compress::Lz4(1)), (1, 16, 0));
    }
}
