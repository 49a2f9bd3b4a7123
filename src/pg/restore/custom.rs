//! The data blocks of a custom-format archive (`pg_dump -Fc`): finding one and reading its
//! chunk stream.
//!
//! After the TOC come the blocks, in TOC order of the entries that have data: a type byte
//! ([`BLOCK_DATA`] for a table's COPY data, [`BLOCK_LARGE_OBJECTS`] for a BLOBS entry), the
//! entry's dump id, then the body. A table's body is one chunk sequence (`Int length` + bytes,
//! ended by length 0); a BLOBS body is, per large object, its OID and a chunk sequence, ended by
//! OID 0. Concatenated, the chunks of one sequence form one stream: plain bytes, or one zlib
//! stream when the header says the archive is compressed. A block is found by the offset its
//! TOC entry records or, when pg_dump wrote to a pipe and could not record offsets, by skipping
//! block after block from the end of the TOC.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::source::{SourceError, unreadable};
use crate::pg::archive::{DataLocation, TocEntry};

/// Block type of a table's COPY data.
pub(crate) const BLOCK_DATA: u8 = 1;
/// Block type of a BLOBS entry's large objects.
pub(crate) const BLOCK_LARGE_OBJECTS: u8 = 3;

/// Bytes of an archive Int's magnitude (pg_dump writes `sizeof(int)`, 4 everywhere).
const INT_SIZE: usize = 4;

/// Opens `path` positioned just after the header of `entry`'s block of type `block_type`
/// (the TOC ends at `data_start`).
pub(crate) fn find_block(
    path: &Path,
    data_start: u64,
    entry: &TocEntry,
    block_type: u8,
) -> Result<BufReader<File>, SourceError> {
    let file = File::open(path).map_err(|e| unreadable(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let start = match entry.data_location {
        DataLocation::Offset(offset) => offset,
        _ => data_start,
    };
    reader
        .seek(SeekFrom::Start(start))
        .map_err(|e| unreadable(path, e))?;
    loop {
        let mut found_type = [0u8; 1];
        reader
            .read_exact(&mut found_type)
            .map_err(|_| SourceError::Damaged {
                path: path.to_path_buf(),
                reason: format!(
                    "the data block of {} {} (entry {}) is missing",
                    entry.desc, entry.tag, entry.dump_id
                ),
            })?;
        let id = read_int(&mut reader).map_err(|e| unreadable(path, e))?;
        if id == entry.dump_id && found_type[0] == block_type {
            return Ok(reader);
        }
        if matches!(entry.data_location, DataLocation::Offset(_)) || id == entry.dump_id {
            return Err(SourceError::Damaged {
                path: path.to_path_buf(),
                reason: format!(
                    "entry {} points at a block of type {} for entry {id}",
                    entry.dump_id, found_type[0]
                ),
            });
        }
        skip_block(&mut reader, found_type[0]).map_err(|e| unreadable(path, e))?;
    }
}

/// One chunk sequence read as a stream: length-prefixed chunks ending with length 0.
pub(crate) struct ChunkReader<R> {
    inner: R,
    remaining: usize,
    done: bool,
    path: PathBuf,
}

impl<R: Read> ChunkReader<R> {
    /// The chunk sequence starting at `inner`'s position, in the archive at `path`.
    pub(crate) fn new(inner: R, path: &Path) -> ChunkReader<R> {
        ChunkReader {
            inner,
            remaining: 0,
            done: false,
            path: path.to_path_buf(),
        }
    }

    /// Reads and discards the rest of the sequence, up to and including its end marker (a
    /// zlib decoder stops at the end of its stream, before the marker).
    pub(crate) fn finish(&mut self) -> std::io::Result<()> {
        let mut sink = [0u8; 8192];
        while self.read(&mut sink)? > 0 {}
        Ok(())
    }
}

impl<R: Read> Read for ChunkReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.remaining == 0 {
            if self.done || buf.is_empty() {
                return Ok(0);
            }
            let len = read_int(&mut self.inner)?;
            if len < 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("negative chunk length in '{}'", self.path.display()),
                ));
            }
            if len == 0 {
                self.done = true;
            }
            self.remaining = len as usize;
        }
        let want = buf.len().min(self.remaining);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.remaining -= n;
        Ok(n)
    }
}

/// An archive Int: a sign byte, then the magnitude, least significant byte first. Values above
/// `i32::MAX` (large object OIDs above 2³¹) come back reinterpreted, as pg_dump wrote them.
pub(crate) fn read_int(reader: &mut impl Read) -> std::io::Result<i32> {
    let mut bytes = [0u8; INT_SIZE + 1];
    reader.read_exact(&mut bytes)?;
    let magnitude = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as i32;
    Ok(if bytes[0] != 0 {
        magnitude.wrapping_neg()
    } else {
        magnitude
    })
}

/// Skips one block's body (a chunk sequence, or a BLOBS block's OIDs and chunk sequences).
fn skip_block(reader: &mut BufReader<File>, block_type: u8) -> std::io::Result<()> {
    let skip_chunks = |reader: &mut BufReader<File>| -> std::io::Result<()> {
        loop {
            let len = read_int(reader)?;
            if len <= 0 {
                return Ok(());
            }
            reader.seek_relative(i64::from(len))?;
        }
    };
    if block_type == BLOCK_LARGE_OBJECTS {
        while read_int(reader)? != 0 {
            skip_chunks(reader)?;
        }
        Ok(())
    } else {
        skip_chunks(reader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(value: i32) -> Vec<u8> {
        let mut bytes = vec![u8::from(value < 0)];
        bytes.extend_from_slice(&value.unsigned_abs().to_le_bytes());
        bytes
    }

    #[test]
    fn chunks_read_as_one_stream_and_finish_consumes_the_end_marker() {
        let mut bytes = Vec::new();
        for chunk in [&b"hello "[..], b"world"] {
            bytes.extend(int(chunk.len() as i32));
            bytes.extend_from_slice(chunk);
        }
        bytes.extend(int(0));
        bytes.extend(int(42));
        let mut input = bytes.as_slice();
        let mut chunks = ChunkReader::new(&mut input, Path::new("x"));
        let mut first = [0u8; 3];
        chunks.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"hel");
        chunks.finish().unwrap();
        assert_eq!(
            read_int(&mut input).unwrap(),
            42,
            "positioned after the marker"
        );
    }

    #[test]
    fn a_zlib_stream_cut_short_is_an_error_not_an_early_end() {
        use std::io::Write;
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&[7u8; 100_000]).unwrap();
        let compressed = encoder.finish().unwrap();
        let cut = &compressed[..compressed.len() - 3];
        let mut bytes = int(cut.len() as i32);
        bytes.extend_from_slice(cut);
        bytes.extend(int(0));
        let chunks = ChunkReader::new(bytes.as_slice(), Path::new("x"));
        let mut decoded = Vec::new();
        let result = flate2::read::ZlibDecoder::new(chunks).read_to_end(&mut decoded);
        assert!(
            result.is_err(),
            "read {} bytes without an error",
            decoded.len()
        );
    }

    #[test]
    fn ints_keep_large_oids_and_signs() {
        assert_eq!(read_int(&mut int(-7).as_slice()).unwrap(), -7);
        let big = [0u8, 0x00, 0x00, 0x00, 0x90];
        assert_eq!(read_int(&mut &big[..]).unwrap() as u32, 0x9000_0000);
    }
}
