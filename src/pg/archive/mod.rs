//! pg_dump's archive format: the TOC model shared by the directory-format writer and the
//! readers.
//!
//! A directory archive is `toc.dat` (header + table of contents, [`write::encode_toc`]) plus one
//! data file per TABLE DATA entry (and the large objects' files). We write the archive version
//! that pg_dump of the dumped server's major writes ([`version_written_by`]), so that the
//! server's own pg_restore reads it and lays it out entry for entry as it lays out pg_dump's;
//! we read 1.12 to 1.16. The byte layout is described in `shared/pgdump-archive-format.md`;
//! PostgreSQL's `src/bin/pg_dump` is the authority.

pub mod read;
pub mod write;

use chrono::NaiveDateTime;

/// Magic bytes at the start of every archive.
pub const MAGIC: &[u8; 5] = b"PGDMP";
/// The archive version (major, minor, revision) pg_dump of PostgreSQL `major` writes: 1.14 up
/// to 15, 1.15 for 16 (the header's compression becomes an algorithm byte), 1.16 from 17 on
/// (a relkind per entry, large objects as BLOB METADATA groups with one BLOBS entry and
/// `blobs_<dumpId>.toc` each). A pg_restore reads versions up to its own pg_dump's.
pub(crate) fn version_written_by(major: i32) -> (u8, u8, u8) {
    match major {
        ..=15 => (1, 14, 0),
        16 => (1, 15, 0),
        _ => (1, 16, 0),
    }
}
/// Format byte of custom archives.
pub const FORMAT_CUSTOM: u8 = 1;
/// Format byte stored in a directory archive's `toc.dat` (pg_dump's "tar" code).
pub const FORMAT_DIRECTORY: u8 = 3;

/// Which part of a restore an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// COMMENT, ACL: take the section of the entry before them.
    None = 1,
    /// Schema objects created before data.
    PreData = 2,
    /// TABLE DATA, SEQUENCE SET.
    Data = 3,
    /// Indexes, constraints, triggers, ...
    PostData = 4,
}

impl Section {
    /// Decodes the archive's integer code.
    pub fn from_code(code: i32) -> Option<Section> {
        match code {
            1 => Some(Section::None),
            2 => Some(Section::PreData),
            3 => Some(Section::Data),
            4 => Some(Section::PostData),
            _ => None,
        }
    }
}

/// Compression of an archive's data, as its header states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain data.
    None,
    /// gzip (directory format) or zlib streams (custom format), with the level if known.
    Gzip(Option<i32>),
    /// LZ4 (archives 1.15+).
    Lz4,
    /// Zstandard (archives 1.15+).
    Zstd,
}

/// The archive header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// (major, minor, revision).
    pub version: (u8, u8, u8),
    /// [`FORMAT_CUSTOM`] or [`FORMAT_DIRECTORY`].
    pub format: u8,
    /// Data compression.
    pub compression: Compression,
    /// Creation time (local time of the dumping machine).
    pub created: NaiveDateTime,
    /// Source database name (display only).
    pub dbname: String,
    /// Source server version (display only).
    pub server_version: String,
    /// Dumping program's version (display only).
    pub dump_version: String,
}

/// One TOC entry, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TocEntry {
    /// Unique id > 0.
    pub dump_id: i32,
    /// True when the entry has a data payload (TABLE DATA).
    pub had_dumper: bool,
    /// OID of the system catalog holding the object, as text ("0" when not applicable).
    pub table_oid: String,
    /// The object's OID, as text ("0" when not applicable).
    pub oid: String,
    /// Name shown by `pg_restore -l`.
    pub tag: String,
    /// Object type, pg_dump's spelling (`TABLE`, `TABLE DATA`, `INDEX`, ...).
    pub desc: String,
    /// Restore section.
    pub section: Option<Section>,
    /// SQL creating the object.
    pub defn: Option<String>,
    /// SQL dropping it (`--clean`).
    pub drop_stmt: Option<String>,
    /// `COPY ... FROM stdin;\n` for TABLE DATA.
    pub copy_stmt: Option<String>,
    /// Schema name.
    pub namespace: Option<String>,
    /// Tablespace ("" = default, `None` = not applicable).
    pub tablespace: Option<String>,
    /// Table access method (`heap`), archives 1.14+.
    pub tableam: Option<String>,
    /// pg_class.relkind as an ASCII code, archives 1.16+ (0 elsewhere).
    pub relkind: i32,
    /// Owner role ("" or `None`: no ALTER OWNER).
    pub owner: Option<String>,
    /// Dump ids this entry must follow.
    pub dependencies: Vec<i32>,
    /// Directory format: data file name without compression suffix ("" when none).
    /// Custom format: the data block's offset, if set.
    pub data_location: DataLocation,
}

/// Where an entry's data is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DataLocation {
    /// No data, or the directory format's empty file name.
    #[default]
    None,
    /// Directory format: the data file's name, without a compression suffix.
    File(String),
    /// Custom format: the block is at this byte offset.
    Offset(u64),
    /// Custom format: the block exists but its offset was not recorded (piped dump).
    OffsetUnknown,
}
