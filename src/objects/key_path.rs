//! Object keys ↔ relative paths under `objects/<bucket>/`.
//!
//! S3 keys are arbitrary UTF-8 strings; paths are not. A key is split at `/` into segments and
//! each segment becomes one path component:
//! - a *plain* segment (not empty, not `.` or `..`, no `%`, no control characters, at most
//!   [`MAX_PLAIN`] bytes) stays exactly as it is, so ordinary keys stay browsable paths;
//! - any other segment is percent-encoded (every byte outside `[A-Za-z0-9_-]` becomes `%XX`),
//!   so it always contains `%` and can never equal a plain one; `.` becomes `%2E`;
//! - reserved forms that percent-encoding never produces: `%_` for an empty segment (`a//b`,
//!   trailing `/`), `%!` for an object whose key is also a directory prefix of other keys (`a`
//!   beside `a/x` is stored at `a/%!`), and `%#<blake3 hex>` for a segment whose encoding would
//!   be longer than [`MAX_PLAIN`] bytes (the manifest keeps the key for those).
//!
//! Invariants (tested): different keys map to different paths; no component is empty, `.` or
//! `..`, or longer than 255 bytes, so nothing can land outside `objects/<bucket>/`; bytes are
//! kept exactly (NFC and NFD spellings stay distinct); [`key_for`] reverses every mapping except
//! the hashed form.

use std::collections::HashSet;

/// Longest plain or encoded component, in bytes (filesystems allow 255).
pub const MAX_PLAIN: usize = 200;

/// Maps the keys of one bucket listing to paths; it must see every key first, to know which
/// keys are also directory prefixes.
#[derive(Debug, Default)]
pub struct KeyPaths {
    directories: HashSet<String>,
}

impl KeyPaths {
    /// Learns the directory prefixes (`a/`, `a/b/`) of `keys`.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> KeyPaths {
        let mut directories = HashSet::new();
        for key in keys {
            for (at, _) in key.match_indices('/') {
                directories.insert(key[..=at].to_string());
            }
        }
        KeyPaths { directories }
    }

    /// The relative path (`/`-separated) where the object `key` is stored.
    pub fn path_for(&self, key: &str) -> String {
        let mut path: Vec<String> = key.split('/').map(encode_segment).collect();
        if self.directories.contains(&format!("{key}/")) {
            path.push(SELF_MARKER.to_string());
        }
        path.join("/")
    }
}

const EMPTY_MARKER: &str = "%_";
const SELF_MARKER: &str = "%!";
const HASH_PREFIX: &str = "%#";

fn is_plain(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment.len() <= MAX_PLAIN
        && !segment.chars().any(|c| c == '%' || c.is_control())
}

/// One key segment as a path component.
pub fn encode_segment(segment: &str) -> String {
    if is_plain(segment) {
        return segment.to_string();
    }
    if segment.is_empty() {
        return EMPTY_MARKER.to_string();
    }
    let mut out = String::with_capacity(segment.len() * 3);
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    if out.len() > MAX_PLAIN {
        return format!("{HASH_PREFIX}{}", blake3::hash(segment.as_bytes()).to_hex());
    }
    out
}

/// The key stored at `path`, or `None` when a segment is hashed (look the key up in the
/// manifest) or the path is not one [`KeyPaths::path_for`] makes.
#[cfg(test)]
pub fn key_for(path: &str) -> Option<String> {
    let mut segments: Vec<&str> = path.split('/').collect();
    if segments.last() == Some(&SELF_MARKER) {
        segments.pop();
    }
    let mut key = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            key.push(b'/');
        }
        if *segment == EMPTY_MARKER {
            continue;
        }
        if segment.starts_with(HASH_PREFIX) || *segment == SELF_MARKER {
            return None;
        }
        if !segment.contains('%') {
            key.extend_from_slice(segment.as_bytes());
            continue;
        }
        let bytes = segment.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            if bytes[at] == b'%' {
                let hex = std::str::from_utf8(bytes.get(at + 1..at + 3)?).ok()?;
                key.push(u8::from_str_radix(hex, 16).ok()?);
                at += 3;
            } else {
                key.push(bytes[at]);
                at += 1;
            }
        }
    }
    String::from_utf8(key).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &[&str] = &[
        "plain.jpg",
        "dir/sub/file.png",
        "..",
        ".",
        "../../etc/passwd",
        "a/../b",
        "a/./b",
        "a//b",
        "/leading",
        "trailing/",
        "a",
        "a/x",
        "a/x/y",
        "100% sure",
        "with space",
        "tab\there",
        "new\nline",
        "\u{7f}del",
        "nfc-caf\u{e9}",
        "nfd-cafe\u{301}",
        "日本語/ファイル",
        "%2E",
        "%_",
        "%!",
        "x/%!",
        "folder/",
        "folder//x",
        "",
        "/",
        "//",
    ];

    fn long_segment() -> String {
        "L".repeat(300)
    }

    fn all_keys() -> Vec<String> {
        let mut keys: Vec<String> = HOSTILE.iter().map(|k| k.to_string()).collect();
        keys.push(format!("deep/{}", long_segment()));
        keys.push(format!("{}/child", "é".repeat(150)));
        keys
    }

    #[test]
    fn plain_keys_stay_plain_paths() {
        let paths = KeyPaths::new(["dir/sub/file.png", "plain.jpg"]);
        assert_eq!(paths.path_for("dir/sub/file.png"), "dir/sub/file.png");
        assert_eq!(paths.path_for("plain.jpg"), "plain.jpg");
        assert_eq!(paths.path_for("with space"), "with space");
        assert_eq!(paths.path_for("日本語/ファイル"), "日本語/ファイル");
    }

    #[test]
    fn hostile_segments_are_encoded_safely() {
        let paths = KeyPaths::new(["a", "a/x", "folder/", "folder//x"]);
        assert_eq!(paths.path_for(".."), "%2E%2E");
        assert_eq!(
            paths.path_for("../../etc/passwd"),
            "%2E%2E/%2E%2E/etc/passwd"
        );
        assert_eq!(paths.path_for("a//b"), "a/%_/b");
        assert_eq!(paths.path_for("/leading"), "%_/leading");
        assert_eq!(paths.path_for("a"), "a/%!");
        assert_eq!(paths.path_for("a/x"), "a/x");
        assert_eq!(paths.path_for("folder/"), "folder/%_/%!");
        assert_eq!(paths.path_for("100% sure"), "100%25%20sure");
        assert_eq!(paths.path_for("%_"), "%25_");
    }

    #[test]
    fn every_key_maps_to_a_distinct_safe_path_and_back() {
        let keys = all_keys();
        let paths = KeyPaths::new(keys.iter().map(String::as_str));
        let mut seen = HashSet::new();
        for key in &keys {
            let path = paths.path_for(key);
            assert!(seen.insert(path.clone()), "two keys map to {path:?}");
            for component in path.split('/') {
                assert!(
                    !component.is_empty() && component != "." && component != "..",
                    "{key:?} -> {path:?}"
                );
                assert!(component.len() <= 255, "{key:?} -> {path:?}");
                assert!(
                    !component.chars().any(char::is_control),
                    "{key:?} -> {path:?}"
                );
            }
            assert!(!path.starts_with('/'), "{path:?}");
            if path.contains(HASH_PREFIX) {
                assert_eq!(key_for(&path), None);
            } else {
                assert_eq!(key_for(&path).as_deref(), Some(key.as_str()), "{path:?}");
            }
        }
        // a file and a directory never share a path
        let files: HashSet<&str> = seen.iter().map(String::as_str).collect();
        for path in &seen {
            for (at, _) in path.match_indices('/') {
                assert!(
                    !files.contains(&path[..at]),
                    "{} is both a file and a directory",
                    &path[..at]
                );
            }
        }
    }

    #[test]
    fn nfc_and_nfd_spellings_stay_distinct() {
        let paths = KeyPaths::default();
        assert_ne!(
            paths.path_for("nfc-caf\u{e9}"),
            paths.path_for("nfd-cafe\u{301}")
        );
    }
}
