//! The offsite engine against the in-memory object store: round trips, resumption, damage,
//! passphrases, retention and locking.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;

use super::error::OffsiteError;
use super::keys::tests::FAST;
use super::lock::{LockKind, RepoLock};
use super::repo::{Create, GENERATIONS, Repository};
use super::settings::TargetSettings;
use super::*;
use crate::config::{Endpoint, S3Settings, Secret};
use crate::error::ErrorKind;
use crate::generation::{GenerationName, PartialGeneration};
use crate::manifest::{FORMAT, FileEntry, Header, ManifestWriter, Parts, Source, VERSION};
use crate::objects::memory::{Action, MemoryStore, Op, put_version};
use crate::objects::patience::Patience;
use crate::objects::store::{ObjectStore, StoreErrorKind};
use crate::progress::Quiet;
use crate::retention::RetentionPolicy;

const BUCKET: &str = "offsite";

fn target(passphrase: Option<&str>) -> TargetSettings {
    TargetSettings {
        url: format!("s3://{BUCKET}/site"),
        bucket: BUCKET.into(),
        prefix: "site".into(),
        s3: S3Settings {
            endpoint: Endpoint::parse("http://127.0.0.1:1").unwrap(),
            endpoint_var: "FULLSITE_OFFSITE_S3_ENDPOINT",
            fallback_host: None,
            region: None,
            access_key_id: "k".into(),
            secret_access_key: Secret::new("s"),
            buckets: None,
            anon_download_buckets: Vec::new(),
        },
        passphrase: passphrase.map(Secret::new),
    }
}

fn patience() -> Patience {
    Patience {
        stall: Duration::from_secs(10),
        attempts: 1,
        backoff: Duration::from_millis(1),
    }
}

fn store() -> MemoryStore {
    let store = MemoryStore::new(3);
    store.insert(BUCKET, "unrelated/key", b"x", Default::default());
    store
}

async fn open(store: MemoryStore, passphrase: Option<&str>) -> Arc<Repository<MemoryStore>> {
    let create = Create::IfMissing {
        no_encryption: passphrase.is_none(),
        params: FAST,
    };
    Arc::new(
        Repository::open(store, &target(passphrase), create, patience())
            .await
            .unwrap(),
    )
}

/// Writes a fullsite generation: `files` (path, content), with `link` pairs hard-linked.
fn generation(root: &Path, name: &str, day: u32, files: &[(&str, &[u8])], links: &[(&str, &str)]) {
    std::fs::create_dir_all(root).unwrap();
    let partial = PartialGeneration::begin(root, &GenerationName::parse(name).unwrap()).unwrap();
    let dir = partial.dir().to_path_buf();
    let started =
        DateTime::parse_from_rfc3339(&format!("2026-01-{day:02}T02:30:00+00:00")).unwrap();
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        tool_version: "0.1.0".into(),
        generation: name.into(),
        started_at: started,
        host: "vps".into(),
        parts: Parts {
            db: true,
            objects: true,
        },
        source: Source::default(),
    };
    let mut writer = ManifestWriter::create(&dir, header).unwrap();
    let mut all: Vec<(String, Vec<u8>)> = vec![(".stgy-full-site-backup".into(), Vec::new())];
    for (path, bytes) in files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, bytes).unwrap();
        std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o600)).unwrap();
        all.push((path.to_string(), bytes.to_vec()));
    }
    for (from, to) in links {
        let full = dir.join(to);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::hard_link(dir.join(from), &full).unwrap();
        let bytes = std::fs::read(&full).unwrap();
        all.push((to.to_string(), bytes));
    }
    for (path, bytes) in all {
        writer
            .add_file(FileEntry {
                path,
                size: bytes.len() as u64,
                blake3: blake3::hash(&bytes).to_hex().to_string(),
            })
            .unwrap();
    }
    writer.finish(started).unwrap();
    partial.publish().unwrap();
}

/// A store holding the same objects (the repository keeps its own).
fn copy(store: &MemoryStore) -> MemoryStore {
    let copied = MemoryStore::new(3);
    for key in store.keys(BUCKET) {
        let object = store.object(BUCKET, &key).unwrap();
        copied.insert(BUCKET, &key, &object.bytes, Default::default());
    }
    copied
}

fn secret_rows(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| format!("{i}\tuser{i}\t$2b$12$secretpasswordhash{i}\n"))
        .collect::<String>()
        .into_bytes()
}

fn three_generations(root: &Path) {
    let big = secret_rows(25_000); // ~1.1 MB: two sealed chunks
    let mut changed = big.clone();
    changed.extend_from_slice(b"one more row\n");
    generation(
        root,
        "full-site-2026-01-01",
        1,
        &[
            ("db/stgy.dump/toc.dat", b"toc one"),
            ("db/stgy.dump/3001.dat.gz", &big),
            ("objects/img/a.png", b"PNG a"),
        ],
        &[("objects/img/a.png", "objects/img/copy-of-a.png")],
    );
    generation(
        root,
        "full-site-2026-01-02",
        2,
        &[
            ("db/stgy.dump/toc.dat", b"toc two"),
            ("db/stgy.dump/3001.dat.gz", &big),
            ("objects/img/a.png", b"PNG a"),
        ],
        &[],
    );
    // As a backup does: unchanged files are hard links to the previous generation's.
    for path in ["db/stgy.dump/3001.dat.gz", "objects/img/a.png"] {
        let second = root.join("full-site-2026-01-02").join(path);
        std::fs::remove_file(&second).unwrap();
        std::fs::hard_link(root.join("full-site-2026-01-01").join(path), &second).unwrap();
    }
    generation(
        root,
        "full-site-2026-01-03",
        3,
        &[
            ("db/stgy.dump/toc.dat", b"toc two"),
            ("db/stgy.dump/3001.dat.gz", &changed),
            ("objects/img/b.png", b"PNG b"),
        ],
        &[],
    );
}

fn stored_keys(repo: &Repository<MemoryStore>, prefix: &str) -> Vec<String> {
    repo.store()
        .keys(BUCKET)
        .into_iter()
        .filter(|k| k.starts_with(&format!("site/{prefix}")))
        .collect()
}

fn stored_bytes(repo: &Repository<MemoryStore>) -> u64 {
    repo.store()
        .keys(BUCKET)
        .iter()
        .filter_map(|k| repo.store().object(BUCKET, k))
        .map(|o| o.bytes.len() as u64)
        .sum()
}

fn puts(repo: &Repository<MemoryStore>) -> Vec<String> {
    repo.store()
        .calls()
        .into_iter()
        .filter(|(op, key)| *op == Op::Put && key.contains("/data/"))
        .map(|(_, key)| key)
        .collect()
}

/// Every file of a generation: path → (bytes, mode, mtime).
fn tree(dir: &Path) -> Vec<(String, Vec<u8>, u32, i64)> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let bytes = if meta.is_file() {
            std::fs::read(entry.path()).unwrap()
        } else {
            Vec::new()
        };
        out.push((
            rel,
            bytes,
            meta.mode(),
            meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        ));
    }
    out
}

async fn push_all(repo: &Arc<Repository<MemoryStore>>, root: &Path) -> push::PushReport {
    push::push(Arc::clone(repo), root, &push::Selection::All, 2, &Quiet)
        .await
        .unwrap()
}

#[tokio::test]
async fn push_stores_each_content_once_sealed_and_a_second_push_uploads_nothing() {
    let local = tempfile::tempdir().unwrap();
    let root = local.path().join("root");
    three_generations(&root);
    let repo = open(store(), Some("pass phrase")).await;
    let report = push_all(&repo, &root).await;
    assert_eq!(report.generations.len(), 3);
    // distinct contents: marker, toc one, toc two, big, changed, PNG a, PNG b, 3 manifests
    assert_eq!(stored_keys(&repo, "data/").len(), 10);
    assert_eq!(stored_keys(&repo, "generations/").len(), 3);
    assert!(
        stored_keys(&repo, "locks/").is_empty(),
        "the lock is released"
    );
    let plain_total: u64 = 2 * secret_rows(25_000).len() as u64;
    assert!(
        stored_bytes(&repo) < plain_total + 20_000,
        "about one copy of each content"
    );
    for key in repo.store().keys(BUCKET) {
        let bytes = repo.store().object(BUCKET, &key).unwrap().bytes;
        for needle in [
            &b"secretpasswordhash"[..],
            b"PNG a",
            b"toc two",
            b"full-site-2026",
            b"3001.dat.gz",
        ] {
            assert!(
                key == "unrelated/key"
                    || key == "site/config"
                    || !bytes.windows(needle.len()).any(|w| w == needle),
                "'{key}' holds plaintext"
            );
        }
        let hash = blake3::hash(b"PNG a").to_hex().to_string();
        assert!(!key.contains(&hash), "names reveal no content hash");
    }
    let before = puts(&repo).len();
    let again = push_all(&repo, &root).await;
    assert!(again.generations.iter().all(|g| g.status == "present"));
    assert_eq!(puts(&repo).len(), before, "a second push uploads nothing");
}

#[tokio::test]
async fn pulled_generations_are_what_the_backup_left_and_verify() {
    let local = tempfile::tempdir().unwrap();
    let root = local.path().join("root");
    three_generations(&root);
    let originals: Vec<_> = [
        "full-site-2026-01-01",
        "full-site-2026-01-02",
        "full-site-2026-01-03",
    ]
    .iter()
    .map(|n| tree(&root.join(n)))
    .collect();
    let repo = open(store(), Some("pass phrase")).await;
    push_all(&repo, &root).await;
    std::fs::remove_dir_all(&root).unwrap();

    for (i, name) in [
        "full-site-2026-01-01",
        "full-site-2026-01-02",
        "full-site-2026-01-03",
    ]
    .iter()
    .enumerate()
    {
        let report = pull::pull(&repo, &root, name, 3, &Quiet).await.unwrap();
        assert_eq!(tree(&root.join(name)), originals[i], "{name}");
        let verified = crate::integrity::verify_generation(&root.join(name));
        assert!(
            verified.problems.is_empty(),
            "{name}: {:?}",
            verified.problems
        );
        if i == 1 {
            assert!(
                report.linked >= 2,
                "unchanged files link to the first pull: {report:?}"
            );
        }
    }
    let first = root.join("full-site-2026-01-01/objects/img");
    assert_eq!(
        std::fs::metadata(first.join("a.png")).unwrap().ino(),
        std::fs::metadata(first.join("copy-of-a.png"))
            .unwrap()
            .ino(),
        "hard links within a generation come back"
    );
    let big = |n: &str| {
        std::fs::metadata(root.join(n).join("db/stgy.dump/3001.dat.gz"))
            .unwrap()
            .ino()
    };
    assert_eq!(
        big("full-site-2026-01-01"),
        big("full-site-2026-01-02"),
        "shared across generations"
    );
    let again = pull::pull(&repo, &root, "full-site-2026-01-01", 1, &Quiet)
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Usage, "{again}");
    let missing = pull::pull(&repo, &root, "full-site-2099-01-01", 1, &Quiet)
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::Usage, "{missing}");
    assert!(
        std::fs::read_dir(&root).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("partial"))
    );
}

#[tokio::test]
async fn a_wrong_or_missing_passphrase_is_refused_before_any_write() {
    let local = tempfile::tempdir().unwrap();
    let root = local.path().join("root");
    three_generations(&root);
    let repo = open(store(), Some("right")).await;
    push_all(&repo, &root).await;
    let store = copy(repo.store());
    // Any write would meet this fault and fail differently.
    store.fault(
        Op::Put,
        None,
        crate::objects::memory::Action::Fail(StoreErrorKind::Permanent),
    );
    let create = Create::IfMissing {
        no_encryption: false,
        params: FAST,
    };
    let err = match Repository::open(store, &target(Some("wrong")), create, patience()).await {
        Err(e) => e,
        Ok(_) => panic!("opened with a wrong passphrase"),
    };
    assert!(matches!(err, OffsiteError::WrongPassphrase { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Usage);
    let fresh = MemoryStore::new(10);
    fresh.create_bucket(BUCKET).await.unwrap();
    let err = Repository::open(
        fresh,
        &target(None),
        Create::IfMissing {
            no_encryption: false,
            params: FAST,
        },
        patience(),
    )
    .await
    .err()
    .unwrap();
    assert_eq!(err.kind(), ErrorKind::Usage, "{err}");
    assert!(err.to_string().contains("--no-encryption"), "{err}");
}

#[tokio::test]
async fn an_interrupted_push_resumes_with_only_what_is_missing() {
    let local = tempfile::tempdir().unwrap();
    let root = local.path().join("root");
    three_generations(&root);
    let repo = open(store(), Some("pass")).await;
    let failing = format!(
        "site/data/{}",
        repo.keys().content_id(&blake3::hash(b"PNG b"))
    );
    repo.store().fault(
        Op::Put,
        Some(&failing),
        crate::objects::memory::Action::Fail(StoreErrorKind::Permanent),
    );
    let err = push::push(Arc::clone(&repo), &root, &push::Selection::All, 1, &Quiet)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Failure, "{err}");
    assert_eq!(
        stored_keys(&repo, "generations/").len(),
        2,
        "the third index is not uploaded"
    );
    let data_before = stored_keys(&repo, "data/").len();
    let puts_before = puts(&repo).len();
    let report = push_all(&repo, &root).await;
    let uploaded: u64 = report.generations.iter().map(|g| g.uploaded).sum();
    assert_eq!(uploaded as usize, puts(&repo).len() - puts_before);
    assert_eq!(stored_keys(&repo, "data/").len(), 10);
    assert!(uploaded as usize == 10 - data_before && uploaded >= 1);
    let verified = verify::verify(&repo, None, None, 2, &Quiet).await.unwrap();
    assert_eq!(verified.problems(), 0);
}

#[tokio::test]
async fn verify_names_the_generation_and_file_of_altered_truncated_and_deleted_content() {
    let local = tempfile::tempdir().unwrap();
    let root = local.path().join("root");
    three_generations(&root);
    let repo = open(store(), Some("pass")).await;
    push_all(&repo, &root).await;
    let clean = verify::verify(&repo, None, None, 2, &Quiet).await.unwrap();
    assert_eq!(clean.problems(), 0);
    assert_eq!(clean.generations.len(), 3);

    let key_of = |content: &[u8]| {
        format!(
            "site/data/{}",
            repo.keys().content_id(&blake3::hash(content))
        )
    };
    let store = repo.store();
    let toc_one = key_of(b"toc one");
    let mut altered = store.object(BUCKET, &toc_one).unwrap().bytes.to_vec();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    store.insert(BUCKET, &toc_one, &altered, Default::default());
    let big = key_of(&secret_rows(25_000));
    let cut = store
        .object(BUCKET, &big)
        .unwrap()
        .bytes
        .slice(..(1 << 20) + 39);
    store.insert(BUCKET, &big, &cut, Default::default());
    store.delete(BUCKET, &[key_of(b"PNG b")]).await.unwrap();

    let report = verify::verify(&repo, None, None, 2, &Quiet).await.unwrap();
    let problems: Vec<(String, &str, String)> = report
        .generations
        .iter()
        .flat_map(|g| {
            g.problems
                .iter()
                .map(|p| (g.name.clone(), p.kind, p.path.clone().unwrap_or_default()))
        })
        .collect();
    assert!(
        problems.contains(&(
            "full-site-2026-01-01".into(),
            "damaged",
            "db/stgy.dump/toc.dat".into()
        )),
        "{problems:?}"
    );
    assert!(
        problems.contains(&(
            "full-site-2026-01-02".into(),
            "damaged",
            "db/stgy.dump/3001.dat.gz".into()
        )),
        "{problems:?}"
    );
    assert!(
        problems.contains(&(
            "full-site-2026-01-03".into(),
            "missing",
            "objects/img/b.png".into()
        )),
        "{problems:?}"
    );
    assert_eq!(
        problems.len(),
        4,
        "toc one, the big file in two generations, b.png: {problems:?}"
    );
    let one = verify::verify(
        &repo,
        Some(vec!["full-site-2026-01-03".into()]),
        None,
        2,
        &Quiet,
    )
    .await
    .unwrap();
    assert_eq!(one.problems(), 1);
    // a sample still finds the missing object (presence is always checked)
    let sampled = verify::verify(
        &repo,
        None,
        Some(crate::integrity::Sample {
            percent: 0.0,
            seed: 1,
        }),
        2,
        &Quiet,
    )
    .await
    .unwrap();
    assert_eq!(sampled.problems(), 1);
    // a damaged index is a problem of its generation
    let index = format!("site/{GENERATIONS}full-site-2026-01-02");
    let mut bytes = store.object(BUCKET, &index).unwrap().bytes.to_vec();
    bytes[40] ^= 0xff;
    store.insert(BUCKET, &index, &bytes, Default::default());
    let report = verify::verify(
        &repo,
        Some(vec!["full-site-2026-01-02".into()]),
        None,
        2,
        &Quiet,
    )
    .await
    .unwrap();
    assert_eq!(report.generations[0].problems[0].kind, "index");
}

#[tokio::test]
async fn large_files_go_in_parts_and_come_back() {
    let local = tempfile::tempdir().unwrap();
    let root = local.path().join("root");
    let large: Vec<u8> = (0..(9 << 20) + 5).map(|i: usize| (i % 253) as u8).collect();
    generation(
        &root,
        "full-site-2026-01-01",
        1,
        &[("objects/v/large.bin", &large)],
        &[],
    );
    let repo = open(store(), Some("pass")).await;
    push_all(&repo, &root).await;
    let parts = repo
        .store()
        .calls()
        .iter()
        .filter(|(op, k)| *op == Op::Put && k.contains("/data/"))
        .count();
    assert!(
        parts >= 4,
        "two parts for the large file, a single put for the marker: {parts}"
    );
    std::fs::remove_dir_all(&root).unwrap();
    pull::pull(&repo, &root, "full-site-2026-01-01", 2, &Quiet)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(root.join("full-site-2026-01-01/objects/v/large.bin")).unwrap(),
        large
    );
}

#[tokio::test]
async fn prune_removes_unreferenced_content_and_keeps_what_kept_generations_need() {
    let local = tempfile::tempdir().unwrap();
    let root = local.path().join("root");
    three_generations(&root);
    let repo = open(store(), Some("pass")).await;
    push_all(&repo, &root).await;
    let dry = prune::prune(Arc::clone(&repo), RetentionPolicy::newest(1), true)
        .await
        .unwrap();
    assert_eq!(dry.remove.len(), 2);
    assert_eq!(
        stored_keys(&repo, "generations/").len(),
        3,
        "a dry run changes nothing"
    );
    let report = prune::prune(Arc::clone(&repo), RetentionPolicy::newest(1), false)
        .await
        .unwrap();
    assert_eq!(report.keep.len(), 1);
    assert_eq!(report.keep[0].0, "full-site-2026-01-03");
    // gone: toc one, big (unchanged in 1 and 2), PNG a, and two manifests; kept: marker, toc two,
    // changed, PNG b, manifest 3
    assert_eq!(report.deleted_contents, 5, "{report:?}");
    assert_eq!(dry.deleted_contents, report.deleted_contents);
    assert_eq!(stored_keys(&repo, "data/").len(), 5);
    assert_eq!(
        verify::verify(&repo, None, None, 2, &Quiet)
            .await
            .unwrap()
            .problems(),
        0
    );
    let listed = list::list(&repo).await.unwrap();
    assert_eq!(listed.len(), 1);
    std::fs::remove_dir_all(&root).unwrap();
    pull::pull(&repo, &root, "full-site-2026-01-03", 2, &Quiet)
        .await
        .unwrap();
    assert!(
        crate::integrity::verify_generation(&root.join("full-site-2026-01-03"))
            .problems
            .is_empty()
    );
}

#[tokio::test]
async fn prune_and_push_exclude_each_other_through_lock_records() {
    let local = tempfile::tempdir().unwrap();
    let root = local.path().join("root");
    three_generations(&root);
    let repo = open(store(), Some("pass")).await;
    let pushing = RepoLock::acquire(Arc::clone(&repo), LockKind::Push)
        .await
        .unwrap();
    let err = prune::prune(Arc::clone(&repo), RetentionPolicy::newest(1), false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LockHeld, "{err}");
    assert!(err.to_string().contains("'fullsite offsite push'"), "{err}");
    // pushes share the repository
    push_all(&repo, &root).await;
    pushing.release().await.unwrap();
    let pruning = RepoLock::acquire(Arc::clone(&repo), LockKind::Prune)
        .await
        .unwrap();
    let err = push::push(Arc::clone(&repo), &root, &push::Selection::All, 1, &Quiet)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LockHeld, "{err}");
    pruning.release().await.unwrap();
    assert!(stored_keys(&repo, "locks/").is_empty());
}

#[tokio::test]
async fn unencrypted_repositories_need_asking_and_newer_ones_are_refused() {
    let local = tempfile::tempdir().unwrap();
    let root = local.path().join("root");
    three_generations(&root);
    let repo = open(store(), None).await;
    assert!(!repo.encrypted());
    push_all(&repo, &root).await;
    let toc = format!("site/data/{}", blake3::hash(b"toc two").to_hex());
    assert_eq!(
        &repo.store().object(BUCKET, &toc).unwrap().bytes[..],
        b"toc two"
    );
    let store = copy(repo.store());
    let err = Repository::open(store, &target(Some("now a pass")), Create::No, patience())
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Usage, "{err}");

    let newer = MemoryStore::new(10);
    newer.insert(
        BUCKET,
        "site/config",
        br#"{"format":"fullsite-offsite","version":7}"#,
        Default::default(),
    );
    let err = Repository::open(newer, &target(Some("p")), Create::No, patience())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, OffsiteError::NewerFormat { found: 7, .. }),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::Usage);
}

#[tokio::test]
async fn a_repository_created_by_another_push_meanwhile_is_the_one_both_use() {
    // The other push's config, stored between this push's GET (none yet) and its PUT.
    let theirs = open(store(), Some("pass phrase")).await;
    let their_config = theirs.store().object(BUCKET, "site/config").unwrap().bytes;
    let racing = store();
    let stored = their_config.clone();
    racing.fault(
        Op::Put,
        Some("site/config"),
        Action::Change(Box::new(move |buckets, clock| {
            put_version(
                buckets,
                clock,
                BUCKET,
                "site/config",
                &stored,
                Default::default(),
            )
        })),
    );
    let ours = open(racing, Some("pass phrase")).await;
    assert_eq!(
        ours.store().object(BUCKET, "site/config").unwrap().bytes,
        their_config,
        "the conditional create left the other push's config in place"
    );
    let local = tempfile::tempdir().unwrap();
    let root = local.path().join("root");
    three_generations(&root);
    push_all(&ours, &root).await;
    let copied = copy(ours.store());
    let reopened = Repository::open(copied, &target(Some("pass phrase")), Create::No, patience())
        .await
        .unwrap();
    assert_eq!(list::list(&reopened).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_download_cut_short_resumes_where_it_stopped() {
    let local = tempfile::tempdir().unwrap();
    let root = local.path().join("root");
    three_generations(&root);
    let repo = open(store(), Some("pass phrase")).await;
    push_all(&repo, &root).await;
    let big = format!(
        "site/data/{}",
        repo.keys().content_id(&blake3::hash(&secret_rows(25_000)))
    );
    let cut = copy(repo.store());
    // Twice in a row: the first GET and its first resumption are cut; the third attempt ends it.
    cut.fault(Op::Get, Some(&big), Action::CutBody(5_000));
    cut.fault(Op::Get, Some(&big), Action::CutBody(90_000));
    let patient = Patience {
        attempts: 3,
        ..patience()
    };
    let resumed = Repository::open(cut, &target(Some("pass phrase")), Create::No, patient)
        .await
        .unwrap();
    let verified = verify::verify(&resumed, None, None, 1, &Quiet)
        .await
        .unwrap();
    assert_eq!(verified.problems(), 0);
    let gets = resumed
        .store()
        .calls()
        .iter()
        .filter(|(op, key)| *op == Op::Get && *key == big)
        .count();
    assert!(gets >= 3, "resumed twice: {gets} GETs");

    let once = copy(repo.store());
    once.fault(Op::Get, Some(&big), Action::CutBody(5_000));
    let impatient = Repository::open(once, &target(Some("pass phrase")), Create::No, patience())
        .await
        .unwrap();
    let err = verify::verify(&impatient, None, None, 1, &Quiet)
        .await
        .expect_err("a download failure, not a damage verdict");
    assert!(err.to_string().contains("mid-body"), "{err}");
    assert_eq!(err.kind(), ErrorKind::Failure, "{err}");
}
