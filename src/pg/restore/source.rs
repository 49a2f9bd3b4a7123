//! Reading an archive for restore: its TOC and each table's COPY data, decompressed.
//!
//! Directory archives (ours and stock `pg_dump -Fd`): `toc.dat` plus one file per TABLE DATA
//! entry, plain (`N.dat`) or gzip (`N.dat.gz`, possibly several concatenated members); as in
//! pg_restore, the plain file wins when both exist. Custom-format files (`pg_dump -Fc`, the
//! legacy generations) are not readable yet and are refused by name.
//!
//! [`Archive::check`] reads every data stream to its end before anything is restored, so a
//! missing file, a flipped byte (CRC or deflate error) or a truncated member is found while the
//! target is still untouched.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::pg::archive::read::read_toc;
use crate::pg::archive::{DataLocation, FORMAT_DIRECTORY, Header, TocEntry};

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
    /// The header.
    pub header: Header,
    /// The TOC, in file order.
    pub entries: Vec<TocEntry>,
}

impl Archive {
    /// Opens the directory archive at `path` and reads its TOC.
    pub fn open(path: &Path) -> Result<Archive, SourceError> {
        if path.is_file() {
            return Err(SourceError::Unsupported {
                path: path.to_path_buf(),
                reason: "it is a single-file (custom format, pg_dump -Fc) archive, which this \
                         version cannot restore yet"
                    .into(),
            });
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

    /// Reads every data stream of `data_entries` to its end; returns the total bytes.
    pub fn check(&self, data_entries: &[usize]) -> Result<u64, SourceError> {
        let mut total = 0u64;
        let mut buffer = vec![0u8; 1 << 16];
        for &index in data_entries {
            let (path, mut reader) = self.data_reader(index)?;
            loop {
                match reader.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => total += n as u64,
                    Err(e) => return Err(damaged(&path, e)),
                }
            }
        }
        Ok(total)
    }

    /// The size on disk of entry `index`'s data file (for scheduling), 0 if unknown.
    pub fn data_size(&self, index: usize) -> u64 {
        self.data_file(index)
            .ok()
            .and_then(|(path, _)| std::fs::metadata(path).ok())
            .map_or(0, |m| m.len())
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
