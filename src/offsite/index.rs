//! The generation index: what one pushed generation holds, as one sealed object
//! `generations/<NAME>` in JSON Lines.
//!
//! 1. `generation` (first line): name, time (the catalog's ordering time), kind (`fullsite` or
//!    `legacy`), the local manifest's header when there is one (so retention rules and `list`
//!    see what they see locally), when and from where it was pushed, totals.
//! 2. `dir`: every directory (`""` is the generation itself), with mode and mtime.
//! 3. `file`: every regular file: path, size, BLAKE3, mode, mtime (nanoseconds), and `link`:
//!    the path of an earlier file of the same generation that was the same inode locally, so a
//!    pull recreates the hard links the backup made.
//! 4. `end`: counts of `dir` and `file` lines, so a cut index is detected even unencrypted.
//!
//! The local `manifest.jsonl` is one of the files, byte for byte, so a pulled generation passes
//! `fullsite verify`. The file content lives in `data/<id>`, `id` from [`super::keys::Keys::content_id`].

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::manifest::Header;

/// `format` of the first line.
pub const FORMAT: &str = "fullsite-offsite-generation";
/// Index format version.
pub const VERSION: u32 = 1;

/// First line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationHead {
    /// Always [`FORMAT`].
    pub format: String,
    /// Index version.
    pub version: u32,
    /// Generation name.
    pub name: String,
    /// The time the generation is ordered by.
    pub time: DateTime<FixedOffset>,
    /// `fullsite` or `legacy`.
    pub kind: String,
    /// The local manifest's header (fullsite generations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Header>,
    /// When it was pushed.
    pub pushed_at: DateTime<FixedOffset>,
    /// Host it was pushed from.
    pub host: String,
    /// Version of the fullsite that pushed it.
    pub tool_version: String,
    /// Number of files.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
}

/// A directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntry {
    /// Relative path, `/`-separated (`""`: the generation directory).
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
}

/// A regular file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Relative path, `/`-separated.
    pub path: String,
    /// Size.
    pub size: u64,
    /// BLAKE3 of the content, hex.
    pub blake3: String,
    /// Permission bits.
    pub mode: u32,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// An earlier file of this generation that is the same inode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

impl FileRecord {
    /// The content's BLAKE3.
    pub fn hash(&self) -> Option<blake3::Hash> {
        blake3::Hash::from_hex(&self.blake3).ok()
    }
}

/// Last line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    /// Number of `dir` lines.
    pub dirs: u64,
    /// Number of `file` lines.
    pub files: u64,
}

/// One line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    /// First line.
    Generation(Box<GenerationHead>),
    /// A directory.
    Dir(DirEntry),
    /// A file.
    File(FileRecord),
    /// Last line.
    End(End),
}

/// A whole index.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationIndex {
    /// First line.
    pub head: GenerationHead,
    /// Directories, parents before children.
    pub dirs: Vec<DirEntry>,
    /// Files.
    pub files: Vec<FileRecord>,
}

/// Why an index cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// Not an index this build reads.
    #[error("{0}")]
    Invalid(String),
    /// A newer index version.
    #[error("index version {0} is newer than this fullsite reads ({VERSION}); upgrade fullsite")]
    Newer(u32),
}

/// Parses the first line alone (what `list` and `prune` need).
pub fn parse_head(line: &[u8]) -> Result<GenerationHead, IndexError> {
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| IndexError::Invalid(format!("line 1: {e}")))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(IndexError::Invalid(
            "line 1 is not a generation header".into(),
        ));
    }
    match value.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v > u64::from(VERSION) => return Err(IndexError::Newer(v as u32)),
        _ => {}
    }
    match serde_json::from_value::<Line>(value) {
        Ok(Line::Generation(head)) => Ok(*head),
        Ok(_) => Err(IndexError::Invalid(
            "line 1 is not a generation header".into(),
        )),
        Err(e) => Err(IndexError::Invalid(format!("line 1: {e}"))),
    }
}

impl GenerationIndex {
    /// The JSON Lines text.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut line = |record: &Line| {
            // Plain structs of strings and numbers: serializing cannot fail.
            out.extend(serde_json::to_vec(record).unwrap_or_default());
            out.push(b'\n');
        };
        line(&Line::Generation(Box::new(self.head.clone())));
        for dir in &self.dirs {
            line(&Line::Dir(dir.clone()));
        }
        for file in &self.files {
            line(&Line::File(file.clone()));
        }
        line(&Line::End(End {
            dirs: self.dirs.len() as u64,
            files: self.files.len() as u64,
        }));
        out
    }

    /// Parses the JSON Lines text.
    pub fn parse(bytes: &[u8]) -> Result<GenerationIndex, IndexError> {
        let mut lines = bytes.split(|b| *b == b'\n');
        let head = parse_head(lines.next().unwrap_or_default())?;
        let (mut dirs, mut files) = (Vec::new(), Vec::new());
        for (number, line) in lines.enumerate() {
            let record: Line = serde_json::from_slice(line)
                .map_err(|e| IndexError::Invalid(format!("line {}: {e}", number + 2)))?;
            match record {
                Line::Dir(dir) => {
                    check_path(&dir.path, true)?;
                    dirs.push(dir);
                }
                Line::File(file) => {
                    check_path(&file.path, false)?;
                    if let Some(link) = &file.link {
                        check_path(link, false)?;
                    }
                    files.push(file);
                }
                Line::Generation(_) => {
                    return Err(IndexError::Invalid(format!(
                        "line {}: a second header",
                        number + 2
                    )));
                }
                Line::End(end) => {
                    if end.dirs != dirs.len() as u64 || end.files != files.len() as u64 {
                        return Err(IndexError::Invalid("its end counts do not match".into()));
                    }
                    return Ok(GenerationIndex { head, dirs, files });
                }
            }
        }
        Err(IndexError::Invalid(
            "it ends before its end line (truncated)".into(),
        ))
    }
}

/// A path must stay inside the generation: plain names joined by `/`, nothing else.
fn check_path(path: &str, may_be_empty: bool) -> Result<(), IndexError> {
    if path.is_empty() && may_be_empty {
        return Ok(());
    }
    let bad = path.is_empty()
        || path
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == ".." || part.contains('\0'));
    if bad {
        return Err(IndexError::Invalid(format!(
            "it names the path {path:?}, which is not inside the generation"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> GenerationIndex {
        let time = DateTime::parse_from_rfc3339("2026-01-02T02:30:00+01:00").unwrap();
        GenerationIndex {
            head: GenerationHead {
                format: FORMAT.into(),
                version: VERSION,
                name: "full-site-2026-01-02".into(),
                time,
                kind: "legacy".into(),
                manifest: None,
                pushed_at: time,
                host: "vps".into(),
                tool_version: "0.1.0".into(),
                files: 2,
                bytes: 3,
            },
            dirs: vec![DirEntry {
                path: String::new(),
                mode: 0o700,
                mtime_ns: 5,
            }],
            files: vec![
                FileRecord {
                    path: "a".into(),
                    size: 3,
                    blake3: blake3::hash(b"abc").to_hex().to_string(),
                    mode: 0o600,
                    mtime_ns: 1,
                    link: None,
                },
                FileRecord {
                    path: "b".into(),
                    size: 3,
                    blake3: blake3::hash(b"abc").to_hex().to_string(),
                    mode: 0o600,
                    mtime_ns: 1,
                    link: Some("a".into()),
                },
            ],
        }
    }

    #[test]
    fn an_index_round_trips_and_a_cut_one_is_refused() {
        let bytes = index().to_bytes();
        assert_eq!(GenerationIndex::parse(&bytes).unwrap(), index());
        let first = bytes.split(|b| *b == b'\n').next().unwrap();
        assert_eq!(parse_head(first).unwrap(), index().head);
        let cut = &bytes[..bytes.len() - 20];
        assert!(GenerationIndex::parse(cut).is_err());
        let newer =
            String::from_utf8(bytes.clone())
                .unwrap()
                .replacen("\"version\":1", "\"version\":9", 1);
        assert_eq!(
            GenerationIndex::parse(newer.as_bytes()).unwrap_err(),
            IndexError::Newer(9)
        );
        let escaping = String::from_utf8(bytes)
            .unwrap()
            .replace("\"path\":\"b\"", "\"path\":\"../b\"");
        assert!(GenerationIndex::parse(escaping.as_bytes()).is_err());
    }
}
