//! A generation's database part as `ls --tables` and `diff` see it: each table with its row
//! count (the manifest's `table` records, version 3), the size and BLAKE3 of its data file (the
//! manifest's `file` record of the file the archive's TOC names for its TABLE DATA entry), and
//! every TOC entry's definition keyed by (type, schema, name).
//!
//! What an older generation lacks is `None`, never guessed: row counts before manifest version
//! 3; sizes and hashes for a custom-format archive (one file for every table) or a legacy
//! generation without a manifest (sizes come from the files there, hashes are not computed).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::BrowseError;
use crate::generation::{Generation, GenerationKind};
use crate::manifest::{self, Record};
use crate::pg::archive::DataLocation;
use crate::pg::archive::read::{ReadError, read_toc};

/// One table's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableData {
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub name: String,
    /// Rows dumped (manifest version 3).
    pub rows: Option<u64>,
    /// Bytes of its data file as stored (compressed).
    pub bytes: Option<u64>,
    /// BLAKE3 of its data file.
    pub blake3: Option<String>,
}

/// A TOC entry's identity: type (`TABLE`, `INDEX`, ...), schema, name.
pub type EntryKey = (String, String, String);

/// The database part of a generation.
#[derive(Debug, Clone, Default)]
pub struct Database {
    /// Tables with data, sorted by schema and name.
    pub tables: Vec<TableData>,
    /// Schema entries (every TOC entry but TABLE DATA) → their definitions (an identity can
    /// occur more than once), sorted.
    pub entries: BTreeMap<EntryKey, Vec<String>>,
    /// The manifest records row counts (version 3).
    pub rows_recorded: bool,
    /// Every table's data file has a recorded BLAKE3.
    pub hashed: bool,
}

/// The archive of `generation` relative to it, if it holds a database.
fn archive_of(generation: &Generation) -> Option<String> {
    match &generation.kind {
        GenerationKind::Fullsite(header) if header.parts.db => Some(
            header
                .source
                .database
                .as_ref()
                .map_or_else(|| "db/stgy.dump".to_string(), |d| d.archive.clone()),
        ),
        GenerationKind::Fullsite(_) | GenerationKind::Damaged(_) => None,
        GenerationKind::Legacy => {
            let dir = generation.path.join("db");
            let mut dumps: Vec<String> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".dump"))
                .collect();
            dumps.sort();
            dumps.first().map(|n| format!("db/{n}"))
        }
    }
}

/// Reads the database part of `generation`; `None` when it holds none.
pub fn read(generation: &Generation) -> Result<Option<Database>, BrowseError> {
    let Some(archive) = archive_of(generation) else {
        return Ok(None);
    };
    let path = generation.path.join(&archive);
    let toc_path: PathBuf = if path.is_dir() {
        path.join("toc.dat")
    } else {
        path.clone()
    };
    let toc_error = |source| BrowseError::Archive {
        path: toc_path.clone(),
        source,
    };
    let file = File::open(&toc_path).map_err(|e| toc_error(ReadError::Io(e)))?;
    let (_, toc) = read_toc(&mut BufReader::new(file)).map_err(toc_error)?;

    let manifest = matches!(generation.kind, GenerationKind::Fullsite(_));
    let mut rows: HashMap<(String, String), u64> = HashMap::new();
    let mut files: HashMap<String, (u64, Option<String>)> = HashMap::new();
    let mut rows_recorded = false;
    if manifest {
        let inside = format!("{archive}/");
        manifest::read_records(&generation.path, |record| match record {
            Record::Table(t) => {
                rows_recorded = true;
                rows.insert((t.schema, t.name), t.rows);
            }
            Record::File(f) if f.path.starts_with(&inside) => {
                files.insert(f.path, (f.size, Some(f.blake3)));
            }
            _ => {}
        })?;
        if let Some(header) = generation_header_version(generation) {
            rows_recorded |= header >= 3;
        }
    }
    let mut database = Database {
        rows_recorded,
        hashed: manifest && path.is_dir(),
        ..Database::default()
    };
    for entry in toc {
        let namespace = entry.namespace.clone().unwrap_or_default();
        if entry.desc != "TABLE DATA" {
            database
                .entries
                .entry((entry.desc, namespace, entry.tag))
                .or_default()
                .push(entry.defn.unwrap_or_default());
            continue;
        }
        let (bytes, blake3) = match &entry.data_location {
            DataLocation::File(name) => {
                data_file(generation, &archive, name, manifest, &files).unwrap_or((None, None))
            }
            _ => (None, None),
        };
        if blake3.is_none() {
            database.hashed = false;
        }
        database.tables.push(TableData {
            rows: rows.get(&(namespace.clone(), entry.tag.clone())).copied(),
            schema: namespace,
            name: entry.tag,
            bytes,
            blake3,
        });
    }
    for definitions in database.entries.values_mut() {
        definitions.sort();
    }
    database
        .tables
        .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    Ok(Some(database))
}

fn generation_header_version(generation: &Generation) -> Option<u32> {
    match &generation.kind {
        GenerationKind::Fullsite(header) => Some(header.version),
        _ => None,
    }
}

/// The size and hash of a directory-format data file `name` (`1234.dat`), stored with or
/// without a compression suffix.
fn data_file(
    generation: &Generation,
    archive: &str,
    name: &str,
    manifest: bool,
    files: &HashMap<String, (u64, Option<String>)>,
) -> Option<(Option<u64>, Option<String>)> {
    for suffix in ["", ".gz", ".lz4", ".zst"] {
        let relative = format!("{archive}/{name}{suffix}");
        if manifest {
            if let Some((size, hash)) = files.get(&relative) {
                return Some((Some(*size), hash.clone()));
            }
        } else if let Ok(meta) = std::fs::metadata(Path::new(&generation.path).join(&relative)) {
            return Some((Some(meta.len()), None));
        }
    }
    None
}
