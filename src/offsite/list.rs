//! `offsite list`: the generations in the repository, from the first line of each index (only
//! that line is read and authenticated, so listing costs one small read per generation).

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::error::{OffsiteError, OffsiteResult};
use super::index::{GenerationHead, IndexError, parse_head};
use super::repo::{GENERATIONS, Repository};
use crate::objects::store::ObjectStore;

/// One remote generation.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteGeneration {
    /// Name.
    pub name: String,
    /// The time it is ordered by.
    pub time: DateTime<FixedOffset>,
    /// `fullsite` or `legacy`.
    pub kind: String,
    /// Files.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// When it was pushed.
    pub pushed_at: DateTime<FixedOffset>,
    /// Size of its index object.
    pub index_bytes: u64,
    /// The head, for retention (not printed).
    #[serde(skip)]
    pub head: GenerationHead,
}

/// Names of the generations in the repository, sorted.
pub async fn generation_names<S: ObjectStore>(repo: &Repository<S>) -> OffsiteResult<Vec<String>> {
    let mut names: Vec<String> = repo
        .list(GENERATIONS)
        .await?
        .into_iter()
        .filter_map(|l| l.key.strip_prefix(GENERATIONS).map(String::from))
        .collect();
    names.sort();
    Ok(names)
}

/// The head of generation `name`: the index is read only up to the end of its first line.
pub async fn read_head<S: ObjectStore>(
    repo: &Repository<S>,
    name: &str,
) -> OffsiteResult<GenerationHead> {
    let key = format!("{GENERATIONS}{name}");
    let mut first = Vec::new();
    repo.read_opened(&key, |plain| match plain.iter().position(|b| *b == b'\n') {
        Some(end) => {
            first.extend_from_slice(&plain[..end]);
            Ok(false)
        }
        None => {
            first.extend_from_slice(plain);
            Ok(first.len() < 16 << 20)
        }
    })
    .await?;
    parse_head(&first).map_err(|e| match e {
        IndexError::Newer(found) => OffsiteError::Refused(format!(
            "offsite generation '{name}': index version {found} is newer than this fullsite reads; upgrade fullsite"
        )),
        IndexError::Invalid(reason) => OffsiteError::Damaged {
            key: repo.full_key(&key),
            reason,
        },
    })
}

/// Every generation in the repository, oldest first.
pub async fn list<S: ObjectStore>(repo: &Repository<S>) -> OffsiteResult<Vec<RemoteGeneration>> {
    let mut out = Vec::new();
    for listed in repo.list(GENERATIONS).await? {
        let Some(name) = listed.key.strip_prefix(GENERATIONS) else {
            continue;
        };
        let head = read_head(repo, name).await?;
        out.push(RemoteGeneration {
            name: name.to_string(),
            time: head.time,
            kind: head.kind.clone(),
            files: head.files,
            bytes: head.bytes,
            pushed_at: head.pushed_at,
            index_bytes: listed.size,
            head,
        });
    }
    out.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}
