//! `restore --to-dir DIR`: the selected objects written as files instead of uploaded (no S3
//! server needed; works on an offsite copy pulled back).
//!
//! Layout: `DIR/<bucket>/<key path>`, where the key path is the one the generation stores the
//! object at (the safe, reversible mapping of [`super::key_path`]: a key can never land outside
//! `DIR/<bucket>/`), and one metadata sidecar per bucket, `DIR/.fullsite-metadata/<bucket>.jsonl`
//! (a directory no bucket can collide with: bucket names never start with a dot): one JSON
//! object per line, the manifest's object record with `path` relative to DIR. Files are copied,
//! never hard linked (an edit must not reach the generation), and created private (0600/0700)
//! like the generation's own.
//!
//! DIR must be absent or an empty directory ([`check_target`], before anything is written).
//! Everything is written into a hidden sibling `.<DIR name>.partial.<pid>` and renamed to DIR
//! when complete, so DIR never holds half a restore; a failure removes the partial directory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use super::error::ObjectsError;
use super::generation_objects::GenerationObjects;
use crate::fsutil::{FsError, IoContext, create_private_dir, create_private_dir_all};
use crate::generation::Generation;
use crate::manifest::ObjectEntry;

/// Directory of the per-bucket metadata sidecars inside DIR.
pub const METADATA_DIR: &str = ".fullsite-metadata";

/// What `--to-dir` wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WrittenToDir {
    /// Buckets written.
    pub buckets: u64,
    /// Files written.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Refuses a DIR that exists and is not an empty directory.
pub fn check_target(dir: &Path) -> Result<(), ObjectsError> {
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(ObjectsError::TargetNotEmpty {
            path: dir.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(ObjectsError::TargetNotEmpty {
                path: dir.to_path_buf(),
            })
        }
        Err(e) => Err(FsError::new("read", dir, e).into()),
    }
}

/// Removes the partial directory unless disarmed.
struct Partial(Option<PathBuf>);

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// Writes the selected objects of `generation` under `dir` (blocking: run it off the reactor).
pub fn restore_to_dir(
    generation: &Generation,
    objects: &mut GenerationObjects,
    dir: &Path,
) -> Result<WrittenToDir, ObjectsError> {
    check_target(dir)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "restore".into());
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staging = parent.join(format!(".{name}.partial.{}", std::process::id()));
    create_private_dir(&staging)?;
    let mut partial = Partial(Some(staging.clone()));
    let metadata_dir = staging.join(METADATA_DIR);
    create_private_dir(&metadata_dir)?;
    let mut written = WrittenToDir::default();
    let mut sidecar: Option<(String, BufWriter<File>, PathBuf)> = None;
    for object in objects.iter()? {
        let mut object = object?;
        if sidecar.as_ref().is_none_or(|(b, _, _)| *b != object.bucket) {
            if let Some((_, out, path)) = sidecar.take() {
                finish_sidecar(out, &path)?;
            }
            create_private_dir(&staging.join(&object.bucket))?;
            let path = metadata_dir.join(format!("{}.jsonl", object.bucket));
            let file = crate::fsutil::create_private_file(&path)?;
            sidecar = Some((object.bucket.clone(), BufWriter::new(file), path));
            written.buckets += 1;
        }
        let relative = relative_path(&object)?;
        let target = staging.join(&object.bucket).join(&relative);
        if let Some(parent) = target.parent() {
            create_private_dir_all(parent)?;
        }
        let source = generation.path.join(&object.path);
        copy_private(&source, &target)?;
        written.files += 1;
        written.bytes += object.size;
        object.path = format!("{}/{}", object.bucket, relative.to_string_lossy());
        if let Some((_, out, path)) = sidecar.as_mut() {
            serde_json::to_writer(&mut *out, &object)
                .map_err(std::io::Error::other)
                .and_then(|()| out.write_all(b"\n"))
                .at("write", path)?;
        }
    }
    if let Some((_, out, path)) = sidecar.take() {
        finish_sidecar(out, &path)?;
    }
    crate::fsutil::sync_filesystem(&staging)?;
    if dir.exists() {
        std::fs::remove_dir(dir).at("replace", dir)?;
    }
    std::fs::rename(&staging, dir).at("rename into place", dir)?;
    partial.0 = None;
    Ok(written)
}

/// The object's path under its bucket directory, as the generation stores it; refused unless
/// every component is a plain name (the manifest is digest-checked, but a path must never
/// climb out of DIR whatever it says).
fn relative_path(object: &ObjectEntry) -> Result<PathBuf, ObjectsError> {
    let prefix = format!("objects/{}/", object.bucket);
    let relative = object
        .path
        .strip_prefix(&prefix)
        .map(Path::new)
        .filter(|p| {
            !object.bucket.contains('/')
                && !object.bucket.starts_with('.')
                && p.components().all(|c| matches!(c, Component::Normal(_)))
        });
    relative
        .map(Path::to_path_buf)
        .ok_or_else(|| ObjectsError::UnsafePath {
            path: object.path.clone(),
        })
}

fn copy_private(source: &Path, target: &Path) -> Result<(), ObjectsError> {
    let mut input = File::open(source).at("read", source)?;
    let mut output = crate::fsutil::create_private_file(target)?;
    std::io::copy(&mut input, &mut output).at("write", target)?;
    Ok(())
}

fn finish_sidecar(out: BufWriter<File>, path: &Path) -> Result<(), ObjectsError> {
    out.into_inner()
        .map_err(|e| e.into_error())
        .at("write", path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_under_the_bucket_are_written() {
        let object = |bucket: &str, path: &str| ObjectEntry {
            bucket: bucket.into(),
            key: "k".into(),
            path: path.into(),
            size: 0,
            etag: String::new(),
            last_modified: String::new(),
            blake3: String::new(),
            content_type: None,
            cache_control: None,
            content_encoding: None,
            content_disposition: None,
            metadata: Default::default(),
        };
        assert_eq!(
            relative_path(&object("b", "objects/b/a/%!")).unwrap(),
            Path::new("a/%!")
        );
        for (bucket, path) in [
            ("b", "objects/b/../x"),
            ("b", "objects/c/x"),
            ("b", "objects/b//x"),
            ("..", "objects/../x"),
        ] {
            let err = relative_path(&object(bucket, path)).unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::Damage, "{path}");
        }
    }

    #[test]
    fn the_target_must_be_absent_or_empty() {
        let dir = tempfile::tempdir().unwrap();
        check_target(&dir.path().join("absent")).unwrap();
        check_target(dir.path()).unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        assert_eq!(
            check_target(dir.path()).unwrap_err().kind(),
            crate::error::ErrorKind::Usage
        );
        assert!(check_target(&dir.path().join("f")).is_err());
    }
}
