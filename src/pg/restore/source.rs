//! Reading an archive for restore: its TOC and each data stream, decompressed.
//!
//! Directory archives (ours and stock `pg_dump -Fd`): `toc.dat` plus one file per TABLE DATA
//! entry, plain (`N.dat`) or compressed (`N.dat.gz`, `N.dat.lz4`, `N.dat.zst`, possibly
//! several concatenated members or frames: see `decode`); as in pg_restore, the plain file
//! wins, then gzip, LZ4 and zstd in that order. Large objects (BLOBS entries) are listed in
//! `blobs.toc` (archives up to 1.15) or `blobs_<dumpId>.toc` (1.16), one `<oid> <file>` line
//! each, with one file per object (see `blobs`).
//!
//! Custom-format files (`pg_dump -Fc`, as the legacy script wrote `db/stgy.dump`): the TOC, then
//! one data block per entry with data (see `custom`), zlib, zstd or LZ4 as the header says.
//!
//! Archive versions outside 1.12–1.16 are refused by name as unsupported
//! ([`ErrorKind::NotSupported`]); content that is missing, inconsistent or does not decode is
//! damage ([`ErrorKind::Damage`]); a read that fails for another reason (permission denied, a
//! file gone, a failing disk) is a failure ([`ErrorKind::Failure`]), its `io::Error` kept as
//! the source. [`SourceError::kind`] says which.
//!
//! [`Archive::check`] reads every data stream to its end before anything is restored, so a
//! missing file, a flipped byte (CRC or deflate error) or a truncated member is found while the
//! target is still untouched; [`Archive::check_present`] only finds every stream, for archives
//! whose bytes a manifest has just vouched for.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::custom::{BLOCK_DATA, ChunkReader, find_block};
use super::decode::{FileCodec, decoder};
use super::plan::PlanError;
use crate::error::ErrorKind;
use crate::pg::archive::read::{ReadError, io_kind, read_toc};
use crate::pg::archive::{
    Compression, DataLocation, FORMAT_CUSTOM, FORMAT_DIRECTORY, Header, TocEntry,
};

/// Why an archive cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The content is missing or inconsistent, as described.
    #[error("cannot read '{path}': {reason}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading a file failed: the content ends early or does not decode (damage), or the
    /// operating system refused (failure).
    #[error("cannot read '{path}': {}", read_reason(.source))]
    Read {
        /// The file.
        path: PathBuf,
        /// The error, from the operating system or a decoder.
        #[source]
        source: std::io::Error,
    },
    /// The header or TOC cannot be read.
    #[error("{}", toc_text(.path, .source))]
    Toc {
        /// The TOC file (directory archives) or the archive file (custom format).
        path: PathBuf,
        /// The reader's error.
        #[source]
        source: ReadError,
    },
    /// The TOC reads but cannot be planned for restore.
    #[error("cannot read '{path}': its table of contents cannot be restored: {source}")]
    Plan {
        /// The TOC file or the archive file.
        path: PathBuf,
        /// The planner's error.
        #[source]
        source: PlanError,
    },
    /// A thread checking the archive panicked.
    #[error("cannot read '{path}': the archive check crashed")]
    Crashed {
        /// The archive.
        path: PathBuf,
    },
}

impl SourceError {
    /// Decided where the error arose: see the module docs.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SourceError::Damaged { .. } => ErrorKind::Damage,
            SourceError::Plan { source, .. } => source.kind(),
            SourceError::Read { source, .. } => io_kind(source),
            SourceError::Toc { source, .. } => source.kind(),
            SourceError::Crashed { .. } => ErrorKind::Failure,
        }
    }
}

/// A read error worded for the operator.
fn read_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::UnexpectedEof => "it ends early (truncated)".to_string(),
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
            format!("its content is damaged ({error})")
        }
        _ => error.to_string(),
    }
}

/// A TOC that cannot be read: an archive version outside what we read says who wrote it.
fn toc_text(path: &Path, error: &ReadError) -> String {
    match error {
        ReadError::UnsupportedVersion(major, minor, _) => {
            let by = if (*major, *minor) > (1, 16) {
                "a newer pg_dump than this version of fullsite reads"
            } else {
                "a pg_dump older than 9.0"
            };
            format!(
                "cannot restore '{}': {error}: it was written by {by}",
                path.display()
            )
        }
        other => format!("cannot read '{}': {other}", path.display()),
    }
}

/// A data stream, decompressed.
pub(crate) type Stream = Box<dyn Read + Send>;

/// An opened archive.
#[derive(Debug)]
pub struct Archive {
    pub(super) dir: PathBuf,
    /// A custom-format file, with where its data blocks start.
    pub(super) custom: Option<(PathBuf, u64)>,
    /// The header.
    pub header: Header,
    /// The TOC, in file order.
    pub entries: Vec<TocEntry>,
}

impl Archive {
    /// Opens the archive at `path` (a directory archive, or a custom-format file) and reads
    /// its TOC.
    pub fn open(path: &Path) -> Result<Archive, SourceError> {
        if path.is_file() {
            return Archive::open_custom(path);
        }
        let toc = path.join("toc.dat");
        let file = File::open(&toc).map_err(|e| unreadable(&toc, e))?;
        let (header, entries) =
            read_toc(&mut BufReader::new(file)).map_err(|e| toc_error(&toc, e))?;
        if header.format != FORMAT_DIRECTORY {
            return Err(SourceError::Damaged {
                path: toc,
                reason: format!("format code {} is not a directory archive's", header.format),
            });
        }
        Ok(Archive {
            dir: path.to_path_buf(),
            custom: None,
            header,
            entries,
        })
    }

    fn open_custom(path: &Path) -> Result<Archive, SourceError> {
        let file = File::open(path).map_err(|e| unreadable(path, e))?;
        let mut reader = CountingReader {
            inner: BufReader::new(file),
            position: 0,
        };
        let (header, entries) = read_toc(&mut reader).map_err(|e| toc_error(path, e))?;
        if header.format != FORMAT_CUSTOM {
            return Err(SourceError::Damaged {
                path: path.to_path_buf(),
                reason: format!(
                    "format code {} is not a custom-format archive's",
                    header.format
                ),
            });
        }
        Ok(Archive {
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            custom: Some((path.to_path_buf(), reader.position)),
            header,
            entries,
        })
    }

    /// The TOC file (directory archives) or the archive file (custom format), for messages.
    pub(crate) fn toc_path(&self) -> PathBuf {
        match &self.custom {
            Some((path, _)) => path.clone(),
            None => self.dir.join("toc.dat"),
        }
    }

    /// The file `name` of a directory archive, plain or compressed (the plain one wins, then
    /// gzip, LZ4 and zstd, as in pg_restore), and how it is compressed; `what` names it in
    /// errors.
    pub(crate) fn member(
        &self,
        name: &str,
        what: &str,
    ) -> Result<(PathBuf, FileCodec), SourceError> {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(SourceError::Damaged {
                path: self.toc_path(),
                reason: format!("{what} names file {name:?}, which is not inside the archive"),
            });
        }
        let plain = self.dir.join(name);
        if plain.is_file() {
            return Ok((plain, FileCodec::Plain));
        }
        for (codec, suffix) in FileCodec::SUFFIXED {
            let compressed = self.dir.join(format!("{name}{suffix}"));
            if compressed.is_file() {
                return Ok((compressed, codec));
            }
        }
        Err(SourceError::Damaged {
            path: plain,
            reason: format!(
                "{what} is missing (none of {name}, {name}.gz, {name}.lz4, {name}.zst exists)"
            ),
        })
    }

    /// Opens the directory archive's file `name` (see [`Archive::member`]), decompressed.
    pub(crate) fn open_member(
        &self,
        name: &str,
        what: &str,
    ) -> Result<(PathBuf, Stream), SourceError> {
        let (path, codec) = self.member(name, what)?;
        let file = File::open(&path).map_err(|e| unreadable(&path, e))?;
        Ok((path, decoder(codec, file)))
    }

    /// The data file behind TOC entry `index` of a directory archive, and its compression.
    pub fn data_file(&self, index: usize) -> Result<(PathBuf, FileCodec), SourceError> {
        let entry = &self.entries[index];
        let what = format!("the data of {} {}", entry.desc, entry.tag);
        match &entry.data_location {
            DataLocation::File(name) => self.member(name, &what),
            _ => Err(no_data_file(&self.toc_path(), entry)),
        }
    }

    /// A reader of entry `index`'s data (a table's COPY text), decompressed.
    pub fn data_reader(&self, index: usize) -> Result<(PathBuf, Stream), SourceError> {
        if let Some((path, data_start)) = &self.custom {
            let block = find_block(path, *data_start, &self.entries[index], BLOCK_DATA)?;
            let chunks = ChunkReader::new(block, path);
            return Ok((path.clone(), self.decompress(chunks)));
        }
        let entry = &self.entries[index];
        match &entry.data_location {
            DataLocation::File(name) => {
                self.open_member(name, &format!("the data of {} {}", entry.desc, entry.tag))
            }
            _ => Err(no_data_file(&self.toc_path(), entry)),
        }
    }

    /// A custom-format chunk stream, decompressed as the header says.
    pub(crate) fn decompress<'a, R: Read + Send + 'a>(
        &self,
        chunks: R,
    ) -> Box<dyn Read + Send + 'a> {
        match self.header.compression {
            Compression::None => Box::new(chunks),
            Compression::Gzip(_) => Box::new(flate2::read::ZlibDecoder::new(chunks)),
            Compression::Zstd => decoder(FileCodec::Zstd, chunks),
            Compression::Lz4 => decoder(FileCodec::Lz4, chunks),
        }
    }

    /// Whether TOC entry `index` holds large objects (a BLOBS entry) rather than table data.
    pub(crate) fn holds_large_objects(&self, index: usize) -> bool {
        self.entries[index].desc == "BLOBS"
    }

    /// Reads every data stream of `streams` (TABLE DATA and BLOBS entries) to its end on up to
    /// `threads` threads; returns the total bytes. The first damaged stream found is reported.
    pub fn check(&self, streams: &[usize], threads: usize) -> Result<u64, SourceError> {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Result<u64, SourceError>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads.clamp(1, streams.len().max(1)))
                .map(|_| {
                    scope.spawn(|| {
                        let mut total = 0u64;
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&index) = streams.get(i) else {
                                return Ok(total);
                            };
                            if self.holds_large_objects(index) {
                                self.for_each_large_object(index, &mut |_, path, reader| {
                                    total += drain(path, reader)?;
                                    Ok(())
                                })?;
                            } else {
                                let (path, mut reader) = self.data_reader(index)?;
                                total += drain(&path, &mut reader)?;
                            }
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join().unwrap_or_else(|_| {
                        Err(SourceError::Crashed {
                            path: self.dir.clone(),
                        })
                    })
                })
                .collect()
        });
        results.into_iter().sum()
    }

    /// Makes sure the data of every entry in `streams` is there (a directory archive's files,
    /// a custom-format file's blocks), without reading it.
    pub fn check_present(&self, streams: &[usize]) -> Result<(), SourceError> {
        for &index in streams {
            match (&self.custom, self.holds_large_objects(index)) {
                (Some((path, data_start)), large_objects) => {
                    let block_type = if large_objects {
                        super::custom::BLOCK_LARGE_OBJECTS
                    } else {
                        BLOCK_DATA
                    };
                    find_block(path, *data_start, &self.entries[index], block_type)?;
                }
                (None, true) => self.large_objects_present(index)?,
                (None, false) => {
                    self.data_file(index)?;
                }
            }
        }
        Ok(())
    }

    /// The size on disk of entry `index`'s data file (for scheduling), 0 if unknown.
    pub fn data_size(&self, index: usize) -> u64 {
        if self.custom.is_some() {
            return 0;
        }
        self.data_file(index)
            .ok()
            .and_then(|(path, _)| std::fs::metadata(path).ok())
            .map_or(0, |m| m.len())
    }
}

/// A directory archive's data entry without a file name.
fn no_data_file(toc: &Path, entry: &TocEntry) -> SourceError {
    SourceError::Damaged {
        path: toc.to_path_buf(),
        reason: format!(
            "{} entry {} ({}) names no data file",
            entry.desc, entry.dump_id, entry.tag
        ),
    }
}

/// Reads `reader` to its end; the bytes read.
fn drain(path: &Path, reader: &mut dyn Read) -> Result<u64, SourceError> {
    let mut buffer = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) => return Err(unreadable(path, e)),
        }
    }
}

/// Counts the bytes read, to know where a custom file's data blocks begin.
struct CountingReader<R> {
    inner: R,
    position: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.position += n as u64;
        Ok(n)
    }
}

/// A TOC that cannot be read at `path`.
fn toc_error(path: &Path, source: ReadError) -> SourceError {
    SourceError::Toc {
        path: path.to_path_buf(),
        source,
    }
}

/// A read error on `path`.
pub(crate) fn unreadable(path: &Path, source: std::io::Error) -> SourceError {
    SourceError::Read {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_is_decided_by_what_went_wrong() {
        let read = |kind: std::io::ErrorKind| unreadable(Path::new("/a/3.dat.gz"), kind.into());
        assert_eq!(
            read(std::io::ErrorKind::PermissionDenied).kind(),
            ErrorKind::Failure
        );
        assert_eq!(
            read(std::io::ErrorKind::IsADirectory).kind(),
            ErrorKind::Failure
        );
        assert_eq!(
            read(std::io::ErrorKind::InvalidData).kind(),
            ErrorKind::Damage
        );
        assert_eq!(
            read(std::io::ErrorKind::UnexpectedEof).to_string(),
            "cannot read '/a/3.dat.gz': it ends early (truncated)"
        );
        let newer = toc_error(
            Path::new("/a/toc.dat"),
            ReadError::UnsupportedVersion(1, 17, 0),
        );
        assert_eq!(newer.kind(), ErrorKind::NotSupported);
        assert_eq!(
            newer.to_string(),
            "cannot restore '/a/toc.dat': unsupported archive version 1.17.0 (supported: 1.12 \
             to 1.16): it was written by a newer pg_dump than this version of fullsite reads"
        );
        let corrupt = toc_error(Path::new("/a/toc.dat"), ReadError::Truncated);
        assert_eq!(corrupt.kind(), ErrorKind::Damage);
        assert!(
            corrupt
                .to_string()
                .starts_with("cannot read '/a/toc.dat': ")
        );
        let plan = SourceError::Plan {
            path: "/a/toc.dat".into(),
            source: PlanError("a cycle".into()),
        };
        assert_eq!(plan.kind(), ErrorKind::Damage);
        assert_eq!(
            SourceError::Crashed { path: "/a".into() }.kind(),
            ErrorKind::Failure
        );
    }
}
