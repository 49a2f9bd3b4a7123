//! `offsite verify`: reads back and authenticates every stored byte of the chosen generations
//! (or a sample of their files), and checks each content against the BLAKE3 its generation
//! records. A missing, cut or altered object is a problem naming the generation and the file;
//! any problem makes the run exit 3.
//!
//! Each distinct content is read once per run, whichever generations share it; with
//! `--sample`, files outside the sample are checked for presence only (from the listing).

use std::collections::{HashMap, HashSet};

use futures_util::StreamExt;
use serde::Serialize;

use super::error::{OffsiteError, OffsiteResult};
use super::pull::read_index;
use super::repo::{DATA, Repository};
use crate::integrity::Sample;
use crate::objects::store::ObjectStore;
use crate::progress::Progress;

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `index` (the generation's index cannot be read), `missing` or `damaged`.
    pub kind: &'static str,
    /// The file of the generation, when the problem is one file's content.
    pub path: Option<String>,
    /// What is wrong.
    pub detail: String,
}

/// The verdict on one generation.
#[derive(Debug, Clone, Serialize)]
pub struct GenerationVerdict {
    /// Generation name.
    pub name: String,
    /// Files in it.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// Files whose content was read back (the rest: presence only).
    pub checked: u64,
    /// Problems found.
    pub problems: Vec<Problem>,
}

/// The result of a verify.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The repository.
    pub url: String,
    /// Per generation.
    pub generations: Vec<GenerationVerdict>,
    /// Distinct contents read.
    pub contents_read: u64,
    /// Bytes read (plaintext).
    pub bytes_read: u64,
}

impl VerifyReport {
    /// Number of problems.
    pub fn problems(&self) -> usize {
        self.generations.iter().map(|g| g.problems.len()).sum()
    }
}

/// What reading one content found.
type Outcome = Result<(), (&'static str, String)>;

/// Verifies `names` (all remote generations when `None`).
pub async fn verify<S: ObjectStore>(
    repo: &Repository<S>,
    names: Option<Vec<String>>,
    sample: Option<Sample>,
    transfers: usize,
    progress: &dyn Progress,
) -> OffsiteResult<VerifyReport> {
    let all = super::list::generation_names(repo).await?;
    let names = match names {
        None => all,
        Some(names) => {
            for name in &names {
                if !all.contains(name) {
                    return Err(OffsiteError::NoSuchGeneration {
                        name: name.clone(),
                        place: format!("the offsite repository at '{}'", repo.url()),
                    });
                }
            }
            names
        }
    };
    let present: HashSet<String> = repo
        .list(DATA)
        .await?
        .into_iter()
        .filter_map(|l| l.key.strip_prefix(DATA).map(String::from))
        .collect();
    let mut outcomes: HashMap<String, Outcome> = HashMap::new();
    let mut report = VerifyReport {
        url: repo.url().to_string(),
        generations: Vec::new(),
        contents_read: 0,
        bytes_read: 0,
    };
    for name in names {
        let mut verdict = GenerationVerdict {
            name: name.clone(),
            files: 0,
            bytes: 0,
            checked: 0,
            problems: Vec::new(),
        };
        let index = match read_index(repo, &name).await {
            Ok(index) => index,
            Err(e @ (OffsiteError::Damaged { .. } | OffsiteError::Missing { .. })) => {
                verdict.problems.push(Problem {
                    kind: "index",
                    path: None,
                    detail: e.to_string(),
                });
                report.generations.push(verdict);
                continue;
            }
            Err(e) => return Err(e),
        };
        verdict.files = index.head.files;
        verdict.bytes = index.head.bytes;
        // Contents to read for this generation (not read earlier in the run).
        let mut to_read: Vec<(String, blake3::Hash, u64)> = Vec::new();
        let mut queued = HashSet::new();
        for file in &index.files {
            let Some(hash) = file.hash() else {
                verdict.problems.push(Problem {
                    kind: "index",
                    path: Some(file.path.clone()),
                    detail: format!("the recorded BLAKE3 '{}' is not a hash", file.blake3),
                });
                continue;
            };
            let id = repo.keys().content_id(&hash);
            if !present.contains(&id) {
                // The detail is written below, naming the object.
                outcomes.insert(id, Err(("missing", String::new())));
                continue;
            }
            if sample.is_none_or(|s| s.selects(&file.path)) {
                verdict.checked += 1;
                if !outcomes.contains_key(&id) && queued.insert(id.clone()) {
                    to_read.push((id, hash, file.size));
                }
            }
        }
        let total: u64 = to_read.iter().map(|(_, _, size)| size).sum();
        let meter = progress.meter(&format!("offsite verify {name}"), Some(total));
        let mut results = futures_util::stream::iter(to_read)
            .map(|(id, hash, size)| async move {
                let outcome = check_content(repo, &id, &hash, size).await;
                (id, size, outcome)
            })
            .buffer_unordered(transfers.max(1));
        while let Some((id, size, outcome)) = results.next().await {
            meter.add(1, size);
            report.contents_read += 1;
            report.bytes_read += size;
            outcomes.insert(id, outcome?);
        }
        drop(results);
        drop(meter);
        for file in &index.files {
            let Some(hash) = file.hash() else { continue };
            let id = repo.keys().content_id(&hash);
            if let Some(Err((kind, detail))) = outcomes.get(&id) {
                let detail = if *kind == "missing" {
                    format!(
                        "its content object '{}' is missing",
                        repo.full_key(&format!("{DATA}{id}"))
                    )
                } else {
                    detail.clone()
                };
                verdict.problems.push(Problem {
                    kind,
                    path: Some(file.path.clone()),
                    detail,
                });
            }
        }
        report.generations.push(verdict);
    }
    Ok(report)
}

/// Reads one content back: a damage found is an `Ok(Err(..))`, a network failure an `Err`.
async fn check_content<S: ObjectStore>(
    repo: &Repository<S>,
    id: &str,
    hash: &blake3::Hash,
    size: u64,
) -> OffsiteResult<Outcome> {
    let name = format!("{DATA}{id}");
    let mut hasher = blake3::Hasher::new();
    match repo
        .read_opened(&name, |plain| {
            hasher.update(plain);
            Ok(true)
        })
        .await
    {
        Ok(()) => {}
        Err(OffsiteError::Missing { key, .. }) => {
            return Ok(Err((
                "missing",
                format!("its content object '{key}' is missing"),
            )));
        }
        Err(OffsiteError::Damaged { key, reason }) => {
            return Ok(Err((
                "damaged",
                format!("content object '{key}': {reason}"),
            )));
        }
        Err(e) => return Err(e),
    }
    if hasher.count() != size || hasher.finalize() != *hash {
        return Ok(Err((
            "damaged",
            format!(
                "content object '{}' opens to {} bytes that do not match the recorded BLAKE3",
                repo.full_key(&name),
                hasher.count()
            ),
        )));
    }
    Ok(Ok(()))
}
