//! The mirror and the object restore against the in-memory store, with injected faults: a site
//! that changes during the backup (objects deleted, replaced, added between listing pages),
//! servers that fail, answer 5xx then succeed, cut bodies short, stall, or never answer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Local;

use super::error::ObjectsError;
use super::generation_objects::GenerationObjects;
use super::memory::{Action, MemoryStore, Op, put_version};
use super::mirror::{MirrorOptions, MirrorSummary, mirror};
use super::patience::Patience;
use super::restore_buckets::{ObjectRestoreOptions, ObjectsRestored, restore_objects};
use super::selection::ObjectSelection;
use super::store::{ObjectMeta, StoreErrorKind};
use crate::generation::{Catalog, Generation};
use crate::manifest::{self, Header, ManifestWriter, ObjectEntry, Parts, Record};
use crate::progress::Quiet;

fn quick() -> Patience {
    Patience {
        stall: Duration::from_millis(200),
        attempts: 3,
        backoff: Duration::from_millis(5),
    }
}

fn meta(content_type: &str) -> ObjectMeta {
    ObjectMeta {
        content_type: Some(content_type.into()),
        user: [("owner".to_string(), "u1".to_string())].into(),
        ..ObjectMeta::default()
    }
}

/// A store with `n` objects `k/00`… in bucket `bkt`, listed `page` per page.
fn site(n: usize, page: usize) -> MemoryStore {
    let store = MemoryStore::new(page);
    for i in 0..n {
        store.insert(
            "bkt",
            &format!("k/{i:02}"),
            format!("content {i}").as_bytes(),
            meta("text/plain"),
        );
    }
    store
}

/// A root holding one published generation `name` made by mirroring `store`.
struct Backup {
    root: tempfile::TempDir,
}

impl Backup {
    fn new() -> Backup {
        Backup {
            root: tempfile::tempdir().unwrap(),
        }
    }

    /// Mirrors `bkt` into generation `name`, publishing it when the mirror succeeds.
    async fn run(
        &self,
        store: &MemoryStore,
        name: &str,
        patience: Patience,
    ) -> Result<MirrorSummary, ObjectsError> {
        let root = self.root.path();
        let catalog = Catalog::scan(root).unwrap();
        let partial = root.join(format!(".{name}.partial"));
        std::fs::create_dir_all(&partial).unwrap();
        let writer = ManifestWriter::create(&partial, header(name)).unwrap();
        let options = MirrorOptions {
            concurrency: 4,
            allow_empty_bucket: false,
            patience,
        };
        let buckets = ["bkt".to_string()];
        let (summary, writer) = mirror(
            store, &partial, &catalog, &buckets, &options, writer, &Quiet,
        )
        .await
        .inspect_err(|_| std::fs::remove_dir_all(&partial).unwrap())?;
        writer.finish(Local::now().fixed_offset()).unwrap();
        std::fs::rename(&partial, root.join(name)).unwrap();
        Ok(summary)
    }

    fn generation(&self, name: &str) -> Generation {
        Catalog::scan(self.root.path())
            .unwrap()
            .generations
            .into_iter()
            .find(|g| g.name == name)
            .unwrap()
    }

    fn objects(&self, name: &str) -> Vec<ObjectEntry> {
        let mut objects = Vec::new();
        manifest::read_records(&self.root.path().join(name), |record| {
            if let Record::Object(o) = record {
                objects.push(o);
            }
        })
        .unwrap();
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        objects
    }

    fn file(&self, name: &str, object: &ObjectEntry) -> PathBuf {
        self.root.path().join(name).join(&object.path)
    }

    fn bucket_count(&self, name: &str) -> u64 {
        let mut count = None;
        manifest::read_records(&self.root.path().join(name), |record| {
            if let Record::Bucket(b) = record {
                count = Some(b.objects);
            }
        })
        .unwrap();
        count.unwrap()
    }
}

fn header(name: &str) -> Header {
    Header {
        format: manifest::FORMAT.into(),
        version: manifest::VERSION,
        tool_version: crate::VERSION.into(),
        generation: name.into(),
        started_at: Local::now().fixed_offset(),
        host: "test".into(),
        parts: Parts {
            db: false,
            objects: true,
        },
        source: Default::default(),
    }
}

fn read(path: &Path) -> String {
    String::from_utf8(std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn an_object_deleted_after_the_listing_is_counted_and_left_out() {
    let store = site(6, 100);
    for key in ["k/02", "k/04"] {
        store.fault(
            Op::Get,
            Some(key),
            Action::Change(Box::new(move |buckets, _| {
                buckets.get_mut("bkt").unwrap().remove(key);
            })),
        );
    }
    let backup = Backup::new();
    let summary = backup.run(&store, "g1", quick()).await.unwrap();
    assert_eq!(summary.vanished, 2);
    let mut named = summary.vanished_keys.clone();
    named.sort();
    assert_eq!(named, ["bkt/k/02", "bkt/k/04"]);
    assert_eq!(summary.objects, 4);
    let objects = backup.objects("g1");
    let keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["k/00", "k/01", "k/03", "k/05"]);
    assert_eq!(
        backup.bucket_count("g1"),
        4,
        "the bucket record counts what is stored"
    );
    assert!(!backup.root.path().join("g1/objects/bkt/k/02").exists());
}

#[tokio::test]
async fn an_object_replaced_after_the_listing_is_recorded_with_the_identity_of_what_was_stored() {
    let store = site(3, 100);
    store.fault(
        Op::Get,
        Some("k/01"),
        Action::Change(Box::new(|buckets, clock| {
            put_version(
                buckets,
                clock,
                "bkt",
                "k/01",
                b"the newer version",
                meta("image/png"),
            );
        })),
    );
    let backup = Backup::new();
    let summary = backup.run(&store, "g1", quick()).await.unwrap();
    assert_eq!(summary.changed_during_backup, 1);
    assert_eq!(summary.vanished, 0);
    let now = store.object("bkt", "k/01").unwrap();
    let record = &backup.objects("g1")[1];
    assert_eq!(record.etag, now.etag, "the ETag of the bytes stored");
    assert_eq!(record.last_modified, now.last_modified);
    assert_eq!(record.size, now.bytes.len() as u64);
    assert_eq!(record.content_type.as_deref(), Some("image/png"));
    assert_eq!(
        record.blake3,
        blake3::hash(b"the newer version").to_hex().to_string()
    );
    assert_eq!(read(&backup.file("g1", record)), "the newer version");
    // Unchanged objects keep the listing's identity.
    let first = &backup.objects("g1")[0];
    assert_eq!(first.etag, store.object("bkt", "k/00").unwrap().etag);
}

#[tokio::test]
async fn a_listing_that_changes_between_pages_gives_a_consistent_generation() {
    let store = site(6, 2);
    // Before page 2: k/00 (already listed) is deleted, k/00a added behind the cursor (not
    // listed: it will be in the next backup), k/05 replaced, k/99 added ahead of it.
    store.fault(
        Op::List,
        Some("2"),
        Action::Change(Box::new(|buckets, clock| {
            let bucket = buckets.get_mut("bkt").unwrap();
            bucket.remove("k/00");
            put_version(
                buckets,
                clock,
                "bkt",
                "k/00a",
                b"late",
                ObjectMeta::default(),
            );
            put_version(
                buckets,
                clock,
                "bkt",
                "k/05",
                b"replaced",
                ObjectMeta::default(),
            );
            put_version(
                buckets,
                clock,
                "bkt",
                "k/99",
                b"added",
                ObjectMeta::default(),
            );
        })),
    );
    let backup = Backup::new();
    let summary = backup.run(&store, "g1", quick()).await.unwrap();
    assert_eq!(summary.vanished, 1, "k/00 was listed, then deleted");
    let objects = backup.objects("g1");
    let keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["k/01", "k/02", "k/03", "k/04", "k/05", "k/99"]);
    for object in &objects {
        let stored = store.object("bkt", &object.key).unwrap();
        assert_eq!(object.etag, stored.etag, "{}", object.key);
        assert_eq!(
            read(&backup.file("g1", object)).as_bytes(),
            &stored.bytes[..]
        );
    }
}

#[tokio::test]
async fn server_errors_then_success_are_tried_again() {
    let store = site(3, 100);
    for _ in 0..2 {
        store.fault(
            Op::Get,
            Some("k/01"),
            Action::Fail(StoreErrorKind::Transient),
        );
    }
    store.fault(Op::List, None, Action::Fail(StoreErrorKind::Transient));
    let backup = Backup::new();
    let summary = backup.run(&store, "g1", quick()).await.unwrap();
    assert_eq!(summary.downloaded, 3);
    let gets = store
        .calls()
        .iter()
        .filter(|(op, key)| *op == Op::Get && key == "k/01")
        .count();
    assert_eq!(gets, 3);
}

#[tokio::test]
async fn bodies_cut_short_are_fetched_again_from_the_start() {
    let store = site(3, 100);
    store.fault(Op::Get, Some("k/00"), Action::CutBody(3));
    store.fault(Op::Get, Some("k/02"), Action::CutBody(0));
    store.fault(Op::Get, Some("k/02"), Action::CutBody(8));
    let backup = Backup::new();
    backup.run(&store, "g1", quick()).await.unwrap();
    for object in backup.objects("g1") {
        let stored = store.object("bkt", &object.key).unwrap();
        assert_eq!(
            read(&backup.file("g1", &object)).as_bytes(),
            &stored.bytes[..]
        );
    }
}

#[tokio::test]
async fn a_server_that_never_answers_fails_the_mirror_within_its_bounds_naming_the_object() {
    let store = site(2, 100);
    store.fault(Op::Get, Some("k/01"), Action::StallBody(2));
    let backup = Backup::new();
    let started = Instant::now();
    let error = backup.run(&store, "g1", quick()).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("get 'k/01' from bucket 'bkt'"),
        "{message}"
    );
    assert!(message.contains("stalled"), "{message}");
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(600),
        "within the stall timeout (0.2 s), not once per attempt: {elapsed:?}"
    );

    let store = site(2, 100);
    store.fault(Op::Get, Some("k/00"), Action::Hang);
    let started = Instant::now();
    let error = backup.run(&store, "g2", quick()).await.unwrap_err();
    assert!(error.to_string().contains("no answer within"), "{error}");
    assert!(started.elapsed() < Duration::from_millis(600));
}

#[tokio::test]
async fn a_permanent_failure_is_not_tried_again() {
    let store = site(2, 100);
    store.fault(
        Op::Get,
        Some("k/00"),
        Action::Fail(StoreErrorKind::Permanent),
    );
    let backup = Backup::new();
    let error = backup.run(&store, "g1", quick()).await.unwrap_err();
    assert!(error.to_string().contains("get 'k/00'"), "{error}");
    let gets = store
        .calls()
        .iter()
        .filter(|(op, _)| *op == Op::Get)
        .count();
    assert!(
        gets <= 2,
        "only one attempt at k/00 (and at most one of k/01)"
    );
}

fn restore_options(patience: Patience) -> ObjectRestoreOptions {
    ObjectRestoreOptions {
        concurrency: 2,
        keep_extra: false,
        anon_download_buckets: Vec::new(),
        patience,
        selection: ObjectSelection::default(),
    }
}

/// `restore_objects` of generation `name` with `options` (objects read with its selection).
async fn restore(
    target: &MemoryStore,
    backup: &Backup,
    name: &str,
    options: &ObjectRestoreOptions,
) -> Result<ObjectsRestored, ObjectsError> {
    let generation = backup.generation(name);
    let mut objects = GenerationObjects::read(&generation, &options.selection)?;
    objects.check_selection(&options.selection)?;
    restore_objects(target, &generation, &mut objects, options, &Quiet).await
}

#[tokio::test]
async fn a_selection_restore_touches_nothing_outside_it() {
    let source = site(6, 100);
    let backup = Backup::new();
    backup.run(&source, "g1", quick()).await.unwrap();
    let target = MemoryStore::new(100);
    // Outside the selection: an extra and a changed object, which must stay as they are.
    target.insert("bkt", "extra", b"outside", ObjectMeta::default());
    target.insert("bkt", "k/04", b"changed outside", ObjectMeta::default());
    // Inside: an extra to delete.
    target.insert("bkt", "k/00-extra", b"inside", ObjectMeta::default());
    let options = ObjectRestoreOptions {
        selection: ObjectSelection {
            keys: ["k/00".to_string(), "k/01".to_string()].into(),
            ..ObjectSelection::default()
        },
        ..restore_options(quick())
    };
    let done = restore(&target, &backup, "g1", &options).await.unwrap();
    assert_eq!((done.uploaded, done.deleted), (2, 0));
    assert_eq!(
        target.keys("bkt"),
        ["extra", "k/00", "k/00-extra", "k/01", "k/04"]
    );
    assert_eq!(
        &target.object("bkt", "k/04").unwrap().bytes[..],
        b"changed outside"
    );

    let options = ObjectRestoreOptions {
        selection: ObjectSelection {
            prefix: Some("k/00".into()),
            ..ObjectSelection::default()
        },
        ..restore_options(quick())
    };
    let done = restore(&target, &backup, "g1", &options).await.unwrap();
    assert_eq!((done.uploaded + done.skipped, done.deleted), (1, 1));
    assert_eq!(target.keys("bkt"), ["extra", "k/00", "k/01", "k/04"]);
}

#[tokio::test]
async fn a_restore_puts_back_bytes_and_metadata_through_failures_and_deletes_extras_last() {
    let source = site(4, 100);
    let backup = Backup::new();
    backup.run(&source, "g1", quick()).await.unwrap();
    let target = MemoryStore::new(100);
    target.insert("bkt", "extra", b"not in the backup", ObjectMeta::default());
    target.fault(
        Op::Put,
        Some("k/01"),
        Action::Fail(StoreErrorKind::Transient),
    );
    target.fault(
        Op::Put,
        Some("k/02"),
        Action::Delay(Duration::from_millis(20)),
    );
    let done = restore(&target, &backup, "g1", &restore_options(quick()))
        .await
        .unwrap();
    assert_eq!((done.uploaded, done.deleted), (4, 1));
    assert_eq!(target.keys("bkt"), ["k/00", "k/01", "k/02", "k/03"]);
    for key in target.keys("bkt") {
        let (a, b) = (
            source.object("bkt", &key).unwrap(),
            target.object("bkt", &key).unwrap(),
        );
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.meta, b.meta);
    }
    let calls = target.calls();
    let last_put = calls.iter().rposition(|(op, _)| *op == Op::Put).unwrap();
    let delete = calls.iter().position(|(op, _)| *op == Op::Delete).unwrap();
    assert!(
        delete > last_put,
        "extras are deleted only after every upload"
    );
}

#[tokio::test]
async fn an_upload_to_a_server_that_stops_answering_fails_and_deletes_nothing() {
    let source = site(3, 100);
    let backup = Backup::new();
    backup.run(&source, "g1", quick()).await.unwrap();
    let target = MemoryStore::new(100);
    target.insert("bkt", "extra", b"keep me", ObjectMeta::default());
    target.fault(Op::Put, Some("k/01"), Action::Hang);
    let started = Instant::now();
    let error = restore(&target, &backup, "g1", &restore_options(quick()))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("upload 'k/01' to bucket 'bkt'"),
        "{error}"
    );
    assert!(error.to_string().contains("no answer within"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(target.object("bkt", "extra").is_some(), "nothing deleted");
}
