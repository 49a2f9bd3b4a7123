//! The generation manifest: `manifest.jsonl`, the last file written into a generation.
//!
//! Format (documented for operators in README): JSON Lines, one record per line, each with a
//! `"type"` field. The first line is the header and the last the trailer; the records between
//! come in any order (a backup writes each object's records as its file lands):
//! - `header` (first line): `format` = `"fullsite-manifest"`, `version`, `tool_version`,
//!   `generation`, `started_at`, `host`, `parts` (`db`, `objects`: which parts were backed up),
//!   and `source` (`database`: name, server, server version, archive directory).
//! - `file`, one per regular file in the generation other than the manifest itself: `path`
//!   (relative, `/`-separated), `size` in bytes, `blake3` (hex).
//! - `object` (version 2), one per backed-up S3 object, next to its file's `file` record:
//!   `bucket`, `key`, `path`, `size`, `etag`, `last_modified`, `blake3`, and when set
//!   `content_type`, `cache_control`, `content_encoding`, `content_disposition`, `metadata`;
//!   `bucket`, one per bucket after its objects: `name`, `objects`, `policy` (JSON text, or null
//!   when the server has none or no policy support).
//! - `table` (version 3), one per table whose rows the archive holds: `schema`, `name`, `rows`
//!   (the COPY rows dumped); `sequence` (version 3), one per sequence: `schema`, `name`,
//!   `last_value`, `is_called` as the archive sets them; `references` (version 3), at most one,
//!   when `FULLSITE_OBJECT_REFS_SQL` was set: what the rows → objects query returned inside the
//!   dump's snapshot (see `crate::refs`). `fullsite drill` compares a restore with these.
//! - `end` (last line): `finished_at`, `files` and `bytes` (counts of the `file` records) and
//!   `digest`, the BLAKE3 of every byte before this line.
//!
//! The trailer makes truncation and editing detectable, so `verify` needs nothing but the
//! generation directory. A reader refuses a `version` newer than it knows. The manifest is
//! streamed to a hidden temporary name and renamed into place when complete, so memory does not
//! grow with the number of files and a half-written manifest is never mistaken for a whole one.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::fsutil::create_private_file;

/// File name of the manifest inside a generation.
pub const MANIFEST_FILE: &str = "manifest.jsonl";
/// Temporary name while the manifest is being written.
pub const MANIFEST_TMP_FILE: &str = ".manifest.jsonl.tmp";
/// Value of the header's `format` field.
pub const FORMAT: &str = "fullsite-manifest";
/// The manifest version this build writes and the newest it reads (2 added object and bucket
/// records, 3 table, sequence and references records; older manifests are read as they are).
pub const VERSION: u32 = 3;

/// One line of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// First line.
    Header(Header),
    /// A file of the generation.
    File(FileEntry),
    /// An object of a bucket (its file has its own `file` record).
    Object(ObjectEntry),
    /// A bucket and its policy.
    Bucket(BucketEntry),
    /// A table's row count at dump time.
    Table(TableRows),
    /// A sequence's value at dump time.
    Sequence(SequenceValue),
    /// What the rows → objects query returned at dump time.
    References(ReferencesRecord),
    /// Last line.
    End(Trailer),
}

/// What a generation is: written first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// Manifest format version.
    pub version: u32,
    /// Version of the `fullsite` that wrote it.
    pub tool_version: String,
    /// Generation name.
    pub generation: String,
    /// When the backup started.
    pub started_at: DateTime<FixedOffset>,
    /// Host that ran the backup.
    pub host: String,
    /// Which parts were backed up.
    pub parts: Parts,
    /// Where the parts came from.
    #[serde(default)]
    pub source: Source,
}

/// The origin of a generation's parts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The database, when the generation holds one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseSource>,
    /// The S3 endpoint, when the generation holds objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSource>,
}

/// The mirrored S3 endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageSource {
    /// Endpoint URL (never with credentials).
    pub endpoint: String,
    /// Buckets mirrored.
    pub buckets: Vec<String>,
}

/// The dumped database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseSource {
    /// Database name.
    pub name: String,
    /// `host:port` it was read from.
    pub server: String,
    /// The server's `server_version`.
    pub server_version: String,
    /// The archive directory, relative to the generation.
    pub archive: String,
}

/// The parts a generation holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parts {
    /// The database archive.
    pub db: bool,
    /// The object mirror.
    pub objects: bool,
}

/// A regular file of the generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the generation directory, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// BLAKE3 of the content, lowercase hex.
    pub blake3: String,
}

/// An S3 object as it was backed up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    /// Bucket name.
    pub bucket: String,
    /// Object key, exactly.
    pub key: String,
    /// Its file, relative to the generation (`objects/<bucket>/...`).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag as the server reported it (quotes included).
    pub etag: String,
    /// Last-Modified, RFC 3339.
    pub last_modified: String,
    /// BLAKE3 of the content, lowercase hex.
    pub blake3: String,
    /// Content-Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Cache-Control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// Content-Encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// Content-Disposition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    /// User metadata (`x-amz-meta-*`), sorted.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// A backed-up bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEntry {
    /// Bucket name.
    pub name: String,
    /// Objects backed up.
    pub objects: u64,
    /// Its policy JSON, or `None` when the server has none or does not implement policies.
    pub policy: Option<String>,
}

// ---- version 3: what a restore drill compares with (issue 17) ----

/// The rows a table's data file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRows {
    /// Schema name, unquoted.
    pub schema: String,
    /// Table name, unquoted.
    pub name: String,
    /// COPY rows dumped.
    pub rows: u64,
}

/// A sequence's value as the archive sets it (`setval(name, last_value, is_called)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceValue {
    /// Schema name, unquoted.
    pub schema: String,
    /// Sequence name, unquoted.
    pub name: String,
    /// `last_value`.
    pub last_value: i64,
    /// `is_called`.
    pub is_called: bool,
}

/// An object a row refers to: bucket and key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
}

/// The result of the rows → objects query inside the dump's snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferencesRecord {
    /// The query as it was run.
    pub sql: String,
    /// The `search_path` it ran with (the database's default, not the dump's empty one).
    pub search_path: String,
    /// Rows it returned (rows with a NULL bucket or key are not counted).
    pub references: u64,
    /// Distinct bucket/key pairs among them.
    pub distinct: u64,
    /// BLAKE3 (hex) of the sorted distinct set (see `crate::refs::digest`).
    pub digest: String,
    /// Distinct pairs absent from the generation's objects; `None` when the generation holds
    /// no objects part to compare with.
    pub dangling: Option<u64>,
    /// The first of them, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dangling_keys: Vec<ObjectRef>,
}

// ---- end of version 3 records ----

/// Totals and integrity digest: written last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    /// When the backup finished.
    pub finished_at: DateTime<FixedOffset>,
    /// Number of `file` records.
    pub files: u64,
    /// Sum of their sizes.
    pub bytes: u64,
    /// BLAKE3 (hex) of every byte of the manifest before this line.
    pub digest: String,
}

/// A manifest that cannot be written or is not intact.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Reading or writing failed.
    #[error("cannot {action} manifest '{path}': {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The manifest path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The content is not a manifest this build understands, or it was damaged.
    #[error("manifest '{path}' is damaged: {reason}")]
    Damaged {
        /// The manifest path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl ManifestError {
    /// A manifest that cannot be read or written is a failure; one that reads but is not
    /// intact is damage.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ManifestError::Io { .. } => ErrorKind::Failure,
            ManifestError::Damaged { .. } => ErrorKind::Damage,
        }
    }
}

/// Streams a manifest into a generation directory.
#[derive(Debug)]
pub struct ManifestWriter {
    out: BufWriter<File>,
    dir: PathBuf,
    digest: blake3::Hasher,
    files: u64,
    bytes: u64,
}

impl ManifestWriter {
    /// Starts the manifest of the generation being built in `dir`.
    pub fn create(dir: &Path, header: Header) -> Result<ManifestWriter, ManifestError> {
        let tmp = dir.join(MANIFEST_TMP_FILE);
        let file = create_private_file(&tmp).map_err(|e| ManifestError::Io {
            action: "create",
            path: tmp.clone(),
            source: e.source,
        })?;
        let mut writer = ManifestWriter {
            out: BufWriter::new(file),
            dir: dir.to_path_buf(),
            digest: blake3::Hasher::new(),
            files: 0,
            bytes: 0,
        };
        writer.write(&Record::Header(header))?;
        Ok(writer)
    }

    /// Records one file.
    pub fn add_file(&mut self, entry: FileEntry) -> Result<(), ManifestError> {
        self.files += 1;
        self.bytes += entry.size;
        self.write(&Record::File(entry))
    }

    /// Records one object and its file.
    pub fn add_object(&mut self, entry: ObjectEntry) -> Result<(), ManifestError> {
        let file = FileEntry {
            path: entry.path.clone(),
            size: entry.size,
            blake3: entry.blake3.clone(),
        };
        self.write(&Record::Object(entry))?;
        self.add_file(file)
    }

    /// Records one object or bucket (not counted as files).
    pub fn add_record(&mut self, record: &Record) -> Result<(), ManifestError> {
        self.write(record)
    }

    /// Writes the trailer, fsyncs, and renames the manifest to [`MANIFEST_FILE`].
    pub fn finish(mut self, finished_at: DateTime<FixedOffset>) -> Result<(), ManifestError> {
        let trailer = Trailer {
            finished_at,
            files: self.files,
            bytes: self.bytes,
            digest: self.digest.finalize().to_hex().to_string(),
        };
        let tmp = self.dir.join(MANIFEST_TMP_FILE);
        let io = |action, source| ManifestError::Io {
            action,
            path: tmp.clone(),
            source,
        };
        let line = record_line(&Record::End(trailer));
        self.out.write_all(&line).map_err(|e| io("write", e))?;
        let file = self
            .out
            .into_inner()
            .map_err(|e| io("write", e.into_error()))?;
        file.sync_all().map_err(|e| io("fsync", e))?;
        std::fs::rename(&tmp, self.dir.join(MANIFEST_FILE)).map_err(|e| io("rename", e))
    }

    fn write(&mut self, record: &Record) -> Result<(), ManifestError> {
        let line = record_line(record);
        self.digest.update(&line);
        self.out
            .write_all(&line)
            .map_err(|source| ManifestError::Io {
                action: "write",
                path: self.dir.join(MANIFEST_TMP_FILE),
                source,
            })
    }
}

fn record_line(record: &Record) -> Vec<u8> {
    // Serializing these plain structs cannot fail: no maps with non-string keys, no I/O.
    let mut line = serde_json::to_vec(record).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Reads only the header of the manifest in generation directory `dir` (cheap: one line).
pub fn read_header(dir: &Path) -> Result<Header, ManifestError> {
    let path = dir.join(MANIFEST_FILE);
    let file = File::open(&path).map_err(|source| ManifestError::Io {
        action: "open",
        path: path.clone(),
        source,
    })?;
    let mut first = String::new();
    BufReader::new(file.take(1 << 20))
        .read_line(&mut first)
        .map_err(|source| ManifestError::Io {
            action: "read",
            path: path.clone(),
            source,
        })?;
    parse_header(&path, &first)
}

fn parse_header(path: &Path, line: &str) -> Result<Header, ManifestError> {
    let damaged = |reason: String| ManifestError::Damaged {
        path: path.to_path_buf(),
        reason,
    };
    match serde_json::from_str::<Record>(line) {
        Ok(Record::Header(h)) if h.format == FORMAT && h.version <= VERSION => Ok(h),
        Ok(Record::Header(h)) if h.format == FORMAT => Err(damaged(format!(
            "version {} is newer than this fullsite reads ({VERSION}); upgrade fullsite",
            h.version
        ))),
        Ok(_) => Err(damaged(
            "the first line is not a fullsite manifest header".into(),
        )),
        Err(e) => Err(damaged(format!("line 1: {e}"))),
    }
}

/// Reads the whole manifest in generation directory `dir`, passing each `file` entry to
/// `visit`, and checks the trailer's counts and digest. Returns the header and trailer.
pub fn read_all(
    dir: &Path,
    mut visit: impl FnMut(FileEntry),
) -> Result<(Header, Trailer), ManifestError> {
    read_records(dir, |record| {
        if let Record::File(entry) = record {
            visit(entry);
        }
    })
}

/// Like [`read_all`], passing every record between the header and the trailer to `visit`.
pub fn read_records(
    dir: &Path,
    mut visit: impl FnMut(Record),
) -> Result<(Header, Trailer), ManifestError> {
    let path = dir.join(MANIFEST_FILE);
    let damaged = |reason: String| ManifestError::Damaged {
        path: path.clone(),
        reason,
    };
    let file = File::open(&path).map_err(|source| ManifestError::Io {
        action: "open",
        path: path.clone(),
        source,
    })?;
    let mut reader = BufReader::new(file);
    let mut digest = blake3::Hasher::new();
    let mut header = None;
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| ManifestError::Io {
                action: "read",
                path: path.clone(),
                source,
            })?;
        if n == 0 || line.last() != Some(&b'\n') {
            return Err(damaged("it ends before its trailer (truncated)".into()));
        }
        let text = std::str::from_utf8(&line)
            .map_err(|_| damaged(format!("line {number} is not UTF-8")))?;
        if number == 1 {
            header = Some(parse_header(&path, text)?);
            digest.update(&line);
            continue;
        }
        let record: Record =
            serde_json::from_str(text).map_err(|e| damaged(format!("line {number}: {e}")))?;
        match record {
            Record::File(entry) => {
                digest.update(&line);
                files += 1;
                bytes += entry.size;
                visit(Record::File(entry));
            }
            Record::Object(_)
            | Record::Bucket(_)
            | Record::Table(_)
            | Record::Sequence(_)
            | Record::References(_) => {
                digest.update(&line);
                visit(record);
            }
            Record::Header(_) => return Err(damaged(format!("line {number}: a second header"))),
            Record::End(trailer) => {
                let mut rest = [0u8; 1];
                let trailing = reader.read(&mut rest).map_or(true, |n| n > 0);
                if trailing {
                    return Err(damaged("content follows the trailer".into()));
                }
                if trailer.files != files || trailer.bytes != bytes {
                    return Err(damaged(format!(
                        "the trailer counts {} files of {} bytes but the manifest lists {files} of {bytes}",
                        trailer.files, trailer.bytes
                    )));
                }
                if trailer.digest != digest.finalize().to_hex().as_str() {
                    return Err(damaged(
                        "its digest does not match its content (edited?)".into(),
                    ));
                }
                let header = header.ok_or_else(|| damaged("no header".into()))?;
                return Ok((header, trailer));
            }
        }
    }
    unreachable!("the loop above only ends by returning")
}

/// Hashes a file: its size and BLAKE3, streaming (memory does not grow with file size).
pub fn hash_file(path: &Path) -> std::io::Result<(u64, blake3::Hash)> {
    let mut hasher = blake3::Hasher::new();
    let file = File::open(path)?;
    hasher.update_reader(file)?;
    Ok((hasher.count(), hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            format: FORMAT.into(),
            version: VERSION,
            tool_version: "0.1.0".into(),
            generation: "full-site-2026-01-02".into(),
            started_at: DateTime::parse_from_rfc3339("2026-01-02T02:30:00+01:00").unwrap(),
            host: "vps".into(),
            parts: Parts {
                db: true,
                objects: false,
            },
            source: Source::default(),
        }
    }

    fn write_sample(dir: &Path) {
        let mut w = ManifestWriter::create(dir, header()).unwrap();
        for (path, size) in [("a", 1), ("db/x y.dat.gz", 20)] {
            w.add_file(FileEntry {
                path: path.into(),
                size,
                blake3: blake3::hash(path.as_bytes()).to_hex().to_string(),
            })
            .unwrap();
        }
        w.finish(DateTime::parse_from_rfc3339("2026-01-02T02:31:00+01:00").unwrap())
            .unwrap();
    }

    #[test]
    fn round_trips_and_checks_the_trailer() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        assert!(!dir.path().join(MANIFEST_TMP_FILE).exists());
        assert_eq!(read_header(dir.path()).unwrap(), header());
        let mut seen = Vec::new();
        let (h, t) = read_all(dir.path(), |e| seen.push(e.path)).unwrap();
        assert_eq!(h, header());
        assert_eq!((t.files, t.bytes), (2, 21));
        assert_eq!(seen, ["a", "db/x y.dat.gz"]);
    }

    #[test]
    fn truncation_editing_and_trailing_garbage_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        write_sample(dir.path());
        let path = dir.path().join(MANIFEST_FILE);
        let good = std::fs::read_to_string(&path).unwrap();
        let check = |text: &str, needle: &str| {
            std::fs::write(&path, text).unwrap();
            let err = read_all(dir.path(), |_| {}).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Damage, "{err}");
            let err = err.to_string();
            assert!(err.contains(needle), "{err}");
        };
        let without_trailer: String = good.lines().take(3).map(|l| format!("{l}\n")).collect();
        check(&without_trailer, "truncated");
        check(&good[..good.len() - 5], "truncated");
        check(
            &good.replace("\"size\":20", "\"size\":21"),
            "trailer counts",
        );
        check(&good.replace("db/x y", "db/x z"), "digest");
        check(&format!("{good}\n"), "follows the trailer");
        check(
            &good.replace("\"version\":3", "\"version\":99"),
            "upgrade fullsite",
        );
    }
}
