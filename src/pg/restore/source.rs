//! Reading an archive for restore: its TOC and each table's COPY data, decompressed.
//!
//! Directory archives (ours and stock `pg_dump -Fd`): `toc.dat` plus one file per TABLE DATA
//! entry, plain (`N.dat`) or gzip (`N.dat.gz`, possibly several concatenated members); as in
//! pg_restore, the plain file wins when both exist.
//!
//! Custom-format files (`pg_dump -Fc`, as the legacy script wrote `db/stgy.dump`): the TOC, then
//! one data block per TABLE DATA entry — a type byte, the dump id, and length-prefixed chunks
//! that together form one zlib stream (or plain bytes). A block is found by the offset the TOC
//! records or, when pg_dump wrote to a pipe and could not record offsets, by scanning the blocks
//! from the end of the TOC. LZ4 and zstd compression are refused by name.
//!
//! [`Archive::check`] reads every data stream to its end before anything is restored, so a
//! missing file, a flipped byte (CRC or deflate error) or a truncated member is found while the
//! target is still untouched; [`Archive::check_present`] only finds every stream, for archives
//! whose bytes a manifest has just vouched for.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::pg::archive::read::read_toc;
use crate::pg::archive::{
    Compression, DataLocation, FORMAT_CUSTOM, FORMAT_DIRECTORY, Header, TocEntry,
};

/// Why an archive cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Reading a file failed, or its content is damaged.
    #[error("cannot read '{path}': {reason}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A format this version cannot restore.
    #[error("cannot restore '{path}': {reason}")]
    Unsupported {
        /// The archive.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// An opened archive.
#[derive(Debug)]
pub struct Archive {
    dir: PathBuf,
    /// A custom-format file, with where its data blocks start.
    custom: Option<(PathBuf, u64)>,
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
        let file = File::open(&toc).map_err(|e| damaged(&toc, e))?;
        let (header, entries) =
            read_toc(&mut BufReader::new(file)).map_err(|e| SourceError::Damaged {
                path: toc.clone(),
                reason: e.to_string(),
            })?;
        if header.format != FORMAT_DIRECTORY {
            return Err(SourceError::Unsupported {
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
        let file = File::open(path).map_err(|e| damaged(path, e))?;
        let mut reader = CountingReader {
            inner: BufReader::new(file),
            position: 0,
        };
        let (header, entries) = read_toc(&mut reader).map_err(|e| SourceError::Damaged {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if header.format != FORMAT_CUSTOM {
            return Err(SourceError::Unsupported {
                path: path.to_path_buf(),
                reason: format!(
                    "format code {} is not a custom-format archive's",
                    header.format
                ),
            });
        }
        if matches!(header.compression, Compression::Lz4 | Compression::Zstd) {
            return Err(SourceError::Unsupported {
                path: path.to_path_buf(),
                reason: format!(
                    "its data is compressed with {:?} (archive {}.{}), which fullsite cannot read; \
                     only gzip and uncompressed archives are supported",
                    header.compression, header.version.0, header.version.1
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

    /// The data file behind TOC entry `index`, and whether it is gzip-compressed.
    pub fn data_file(&self, index: usize) -> Result<(PathBuf, bool), SourceError> {
        let entry = &self.entries[index];
        let DataLocation::File(name) = &entry.data_location else {
            return Err(SourceError::Damaged {
                path: self.dir.join("toc.dat"),
                reason: format!(
                    "TABLE DATA entry {} ({}) names no data file",
                    entry.dump_id, entry.tag
                ),
            });
        };
        if name.contains('/') || name.starts_with('.') {
            return Err(SourceError::Damaged {
                path: self.dir.join("toc.dat"),
                reason: format!(
                    "entry {} names data file {name:?} outside the archive",
                    entry.dump_id
                ),
            });
        }
        let plain = self.dir.join(name);
        if plain.is_file() {
            return Ok((plain, false));
        }
        let gz = self.dir.join(format!("{name}.gz"));
        if gz.is_file() {
            return Ok((gz, true));
        }
        Err(SourceError::Damaged {
            path: plain,
            reason: format!(
                "the data file of table {} is missing (neither {name} nor {name}.gz exists)",
                entry.tag
            ),
        })
    }

    /// A reader of entry `index`'s COPY data, decompressed.
    pub fn data_reader(
        &self,
        index: usize,
    ) -> Result<(PathBuf, Box<dyn Read + Send>), SourceError> {
        if let Some((path, data_start)) = &self.custom {
            let chunks = self.custom_block(path, *data_start, index)?;
            let reader: Box<dyn Read + Send> = match self.header.compression {
                Compression::None => Box::new(chunks),
                _ => Box::new(flate2::read::ZlibDecoder::new(chunks)),
            };
            return Ok((path.clone(), reader));
        }
        let (path, gzip) = self.data_file(index)?;
        let file = File::open(&path).map_err(|e| damaged(&path, e))?;
        let reader: Box<dyn Read + Send> = if gzip {
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
                1 << 16,
                file,
            )))
        } else {
            Box::new(BufReader::with_capacity(1 << 16, file))
        };
        Ok((path, reader))
    }

    /// Reads every data stream of `data_entries` to its end on up to `threads` threads;
    /// returns the total bytes. The first damaged stream found is reported.
    pub fn check(&self, data_entries: &[usize], threads: usize) -> Result<u64, SourceError> {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<Result<u64, SourceError>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads.clamp(1, data_entries.len().max(1)))
                .map(|_| {
                    scope.spawn(|| {
                        let mut total = 0u64;
                        let mut buffer = vec![0u8; 1 << 16];
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&index) = data_entries.get(i) else {
                                return Ok(total);
                            };
                            let (path, mut reader) = self.data_reader(index)?;
                            loop {
                                match reader.read(&mut buffer) {
                                    Ok(0) => break,
                                    Ok(n) => total += n as u64,
                                    Err(e) => return Err(damaged(&path, e)),
                                }
                            }
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join().unwrap_or_else(|_| {
                        Err(SourceError::Damaged {
                            path: self.dir.clone(),
                            reason: "the archive check crashed".into(),
                        })
                    })
                })
                .collect()
        });
        results.into_iter().sum()
    }

    /// Makes sure the data of every entry in `data_entries` is there (a directory archive's
    /// file, a custom-format file's block), without reading it.
    pub fn check_present(&self, data_entries: &[usize]) -> Result<(), SourceError> {
        for &index in data_entries {
            match &self.custom {
                Some((path, data_start)) => {
                    self.custom_block(path, *data_start, index)?;
                }
                None => {
                    self.data_file(index)?;
                }
            }
        }
        Ok(())
    }

    /// The chunk stream of entry `index`'s block in a custom-format file.
    fn custom_block(
        &self,
        path: &Path,
        data_start: u64,
        index: usize,
    ) -> Result<ChunkReader, SourceError> {
        let entry = &self.entries[index];
        let int_size = 4;
        let file = File::open(path).map_err(|e| damaged(path, e))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let start = match entry.data_location {
            DataLocation::Offset(offset) => offset,
            _ => data_start,
        };
        reader
            .seek(SeekFrom::Start(start))
            .map_err(|e| damaged(path, e))?;
        loop {
            let mut block_type = [0u8; 1];
            reader
                .read_exact(&mut block_type)
                .map_err(|_| SourceError::Damaged {
                    path: path.to_path_buf(),
                    reason: format!(
                        "the data block of table {} (entry {}) is missing",
                        entry.tag, entry.dump_id
                    ),
                })?;
            let id = read_int(&mut reader, int_size).map_err(|e| damaged(path, e))?;
            if id == entry.dump_id && block_type[0] == 1 {
                return Ok(ChunkReader {
                    inner: reader,
                    remaining: 0,
                    done: false,
                    path: path.to_path_buf(),
                });
            }
            if matches!(entry.data_location, DataLocation::Offset(_)) {
                return Err(SourceError::Damaged {
                    path: path.to_path_buf(),
                    reason: format!("entry {} points at the data of entry {id}", entry.dump_id),
                });
            }
            skip_block(&mut reader, block_type[0], int_size).map_err(|e| damaged(path, e))?;
        }
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

/// The payload of a custom-format data block: length-prefixed chunks ending with length 0.
struct ChunkReader {
    inner: BufReader<File>,
    remaining: usize,
    done: bool,
    path: PathBuf,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.remaining == 0 {
            if self.done {
                return Ok(0);
            }
            let len = read_int(&mut self.inner, 4)?;
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

/// An archive Int: a sign byte, then `size` bytes of magnitude, least significant first.
fn read_int(reader: &mut impl Read, size: usize) -> std::io::Result<i32> {
    let mut bytes = vec![0u8; size + 1];
    reader.read_exact(&mut bytes)?;
    let mut value: u32 = 0;
    for (i, b) in bytes[1..].iter().enumerate().take(4) {
        value |= u32::from(*b) << (8 * i);
    }
    let value = value as i32;
    Ok(if bytes[0] != 0 {
        value.wrapping_neg()
    } else {
        value
    })
}

/// Skips one data block's body (table data chunks, or large objects' chunk sequences).
fn skip_block(
    reader: &mut BufReader<File>,
    block_type: u8,
    int_size: usize,
) -> std::io::Result<()> {
    let skip_chunks = |reader: &mut BufReader<File>| -> std::io::Result<()> {
        loop {
            let len = read_int(reader, int_size)?;
            if len <= 0 {
                return Ok(());
            }
            reader.seek_relative(i64::from(len))?;
        }
    };
    if block_type == 3 {
        while read_int(reader, int_size)? != 0 {
            skip_chunks(reader)?;
        }
        Ok(())
    } else {
        skip_chunks(reader)
    }
}

fn damaged(path: &Path, error: std::io::Error) -> SourceError {
    let reason = match error.kind() {
        std::io::ErrorKind::UnexpectedEof => "it ends early (truncated)".to_string(),
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData => {
            format!("its content is damaged ({error})")
        }
        _ => error.to_string(),
    };
    SourceError::Damaged {
        path: path.to_path_buf(),
        reason,
    }
}
