//! Decoding a data file or a custom archive's data block: plain, gzip, zstd or LZ4.
//!
//! Every decoder reads a file of several concatenated members or frames to its end, as
//! fullsite's parallel writer makes them and as pg_restore reads them; pg_dump's own files
//! have one, and an empty file is an empty stream. A file that ends inside a member or frame
//! is an [`std::io::ErrorKind::UnexpectedEof`] error and bytes that do not decode an
//! `InvalidData` / `Other` one, never a silent short read, so the restore's check finds a
//! truncated or damaged file before anything changes.

use std::io::{BufRead, BufReader, Read};

/// How one data file (or block) is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCodec {
    /// Plain.
    Plain,
    /// gzip members (zlib streams in custom archives: see `Archive::decompress`).
    Gzip,
    /// zstd frames.
    Zstd,
    /// LZ4 frames.
    Lz4,
}

impl FileCodec {
    /// The codecs of a directory archive's files, in the order pg_restore looks for them
    /// after the plain file: `N.dat.gz`, `N.dat.lz4`, `N.dat.zst`.
    pub(crate) const SUFFIXED: [(FileCodec, &'static str); 3] = [
        (FileCodec::Gzip, ".gz"),
        (FileCodec::Lz4, ".lz4"),
        (FileCodec::Zstd, ".zst"),
    ];
}

/// Bytes read from the file at a time.
const READ_BUFFER: usize = 1 << 16;

/// A reader of `input`'s decoded bytes.
pub(crate) fn decoder<'a, R: Read + Send + 'a>(
    codec: FileCodec,
    input: R,
) -> Box<dyn Read + Send + 'a> {
    let mut input = BufReader::with_capacity(READ_BUFFER, input);
    // An empty file is an empty stream whatever the method, as pg_restore reads it (pg_dump 17
    // writes an empty large object's `.zst` file so); the zstd decoder would call it truncated.
    match input.fill_buf() {
        Ok([]) => return Box::new(input),
        Ok(_) => {}
        Err(e) => return Box::new(Failing(Some(e))),
    }
    match codec {
        FileCodec::Plain => Box::new(input),
        FileCodec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        FileCodec::Zstd => match zstd::stream::read::Decoder::with_buffer(input) {
            Ok(decoder) => Box::new(decoder),
            Err(e) => Box::new(Failing(Some(e))),
        },
        FileCodec::Lz4 => Box::new(Lz4Frames {
            state: Lz4State::Between(input),
        }),
    }
}

/// A reader that fails once with the error that prevented decoding (no decoder context).
struct Failing(Option<std::io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| std::io::Error::other("no decoder")))
    }
}

/// Concatenated LZ4 frames: the `lz4` crate's decoder reads one frame and stops at its end
/// without reading past it, so a new one is started for each frame that follows.
struct Lz4Frames<R: BufRead> {
    state: Lz4State<R>,
}

enum Lz4State<R: BufRead> {
    /// At the start of the file or between frames.
    Between(R),
    /// Inside a frame.
    Frame(lz4::Decoder<R>),
    /// After an error or the end.
    Done,
}

impl<R: BufRead> Read for Lz4Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match std::mem::replace(&mut self.state, Lz4State::Done) {
                Lz4State::Done => return Ok(0),
                Lz4State::Between(mut input) => {
                    if input.fill_buf()?.is_empty() {
                        return Ok(0);
                    }
                    self.state = Lz4State::Frame(lz4::Decoder::new(input)?);
                }
                Lz4State::Frame(mut frame) => {
                    let n = frame.read(buf)?;
                    if n > 0 {
                        self.state = Lz4State::Frame(frame);
                        return Ok(n);
                    }
                    let (input, finished) = frame.finish();
                    finished.map_err(|_| {
                        std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "an LZ4 frame ends early",
                        )
                    })?;
                    self.state = Lz4State::Between(input);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Compress;
    use crate::pg::dump::codec::piece;

    fn decode(codec: FileCodec, file: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decoder(codec, file).read_to_end(&mut out).map(|_| out)
    }

    #[test]
    fn empty_files_are_empty_and_truncated_or_damaged_ones_are_errors_not_short_reads() {
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("{i}\trow {}\n", i * 7919 % 1000).into_bytes())
            .collect();
        for (codec, method) in [
            (FileCodec::Gzip, Compress::Gzip(6)),
            (FileCodec::Zstd, Compress::Zstd(3)),
            (FileCodec::Lz4, Compress::Lz4(1)),
        ] {
            let mut file = piece(&text, method).unwrap();
            file.extend(piece(&text, method).unwrap());
            let whole = decode(codec, &file).unwrap();
            assert!(whole.len() == 2 * text.len(), "{codec:?}");
            assert!(decode(codec, b"").unwrap().is_empty(), "{codec:?}");

            let cut = &file[..file.len() - 3];
            let error = decode(codec, cut).unwrap_err();
            assert_eq!(
                error.kind(),
                std::io::ErrorKind::UnexpectedEof,
                "{codec:?}: {error}"
            );

            let mut damaged = file.clone();
            let middle = damaged.len() / 4;
            damaged[middle] ^= 0x55;
            assert!(decode(codec, &damaged).is_err(), "{codec:?}");
        }
    }
}
