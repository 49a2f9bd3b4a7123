//! Operations files: the systemd units pass `systemd-analyze verify`; the offsite rsync script
//! copies only complete generations, keeps hard links (the copy costs what the source costs),
//! and the copy verifies with no database or S3 access.

use std::path::Path;
use std::process::Command;

use crate::support::cli::{Sandbox, du_kib};
use crate::support::s3::{Object, put};
use crate::support::servers;

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        return; // not a systemd machine: the units cannot be checked here
    }
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("fullsite.env");
    std::fs::write(&env_file, "STGY_DATABASE_NAME=stgy\n").unwrap();
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&units).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("/usr/local/bin/fullsite", env!("CARGO_BIN_EXE_fullsite"))
            .replace("/etc/fullsite/fullsite.env", env_file.to_str().unwrap());
        std::fs::write(dir.path().join(&name), text).unwrap();
        if !name.contains('@') {
            names.push(name);
        }
    }
    names.push("fullsite-alert@fullsite-backup.service.service".into());
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .args(&names)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
}

#[test]
fn offsite_rsync_copies_complete_generations_with_hard_links_and_the_copy_verifies() {
    let bucket = servers().s3.create_bucket("offsite");
    let photos: Vec<Object> = (0..20)
        .map(|i| {
            Object::new(
                &format!("p/{i}.bin"),
                (0..100_000u32).map(|b| (b ^ i) as u8).collect(),
            )
        })
        .collect();
    put(&bucket, &photos);
    let sandbox = Sandbox::new();
    let env = servers().fullsite_env("unused");
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.push(("STGY_STORAGE_S3_BUCKETS", &bucket));
    for generation in 1..=3 {
        put(
            &bucket,
            &[Object::new(
                "p/0.bin",
                format!("night {generation}").into_bytes(),
            )],
        );
        let run = sandbox.run_with(
            &["backup", "--no-db", "--name", &format!("g{generation}")],
            &pairs,
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    std::fs::create_dir_all(sandbox.root().join(".g4.partial.999999/objects")).unwrap();

    let dest = tempfile::tempdir().unwrap();
    let copy = dest.path().join("stgy");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/offsite-rsync.sh");
    let output = Command::new("bash")
        .arg(&script)
        .args([
            "--root",
            sandbox.root().to_str().unwrap(),
            copy.to_str().unwrap(),
        ])
        .env("FULLSITE", env!("CARGO_BIN_EXE_fullsite"))
        .env_remove("STGY_BACKUP_ROOT")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("verified 'g3'"),
        "the copy was verified: {log}"
    );
    let mut names: Vec<String> = std::fs::read_dir(&copy)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // .verify-results.json is the copy's own record of the verification that just ran there
    assert_eq!(
        names,
        [".verify-results.json", "g1", "g2", "g3"],
        "only complete generations are copied"
    );
    let (source, copied) = (du_kib(&sandbox.root()), du_kib(&copy));
    assert!(
        copied <= source + 64,
        "hard links are kept: source {source} KiB, copy {copied} KiB"
    );
    assert!(
        copied < 2 * du_kib(&copy.join("g1")),
        "three generations cost about one: {copied} KiB"
    );
}
