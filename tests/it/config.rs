//! Configuration end to end through the binary: `.env`, environment and flags in that order,
//! clear errors for bad values, and secrets that never reach the output.

use crate::support::cli::Sandbox;

fn status_root(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = vec!["status"];
    all.extend(args);
    let run = sandbox.run_with(&all, env);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
        .lines()
        .find_map(|l| l.strip_prefix("root: "))
        .unwrap()
        .to_string()
}

#[test]
fn dotenv_then_environment_then_flags() {
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.cwd().join(".env"),
        "# site settings\nexport STGY_BACKUP_ROOT=/from/dotenv\nSTGY_DATABASE_NAME='stgy'\n",
    )
    .unwrap();
    let unset = ("STGY_BACKUP_ROOT", "");
    assert_eq!(status_root(&sandbox, &[], &[unset]), "/from/dotenv");
    assert_eq!(
        status_root(&sandbox, &[], &[("STGY_BACKUP_ROOT", "/from/env")]),
        "/from/env"
    );
    assert_eq!(
        status_root(
            &sandbox,
            &["--root", "/from/flag"],
            &[("STGY_BACKUP_ROOT", "/from/env")]
        ),
        "/from/flag"
    );
    std::fs::remove_file(sandbox.cwd().join(".env")).unwrap();
    assert_eq!(status_root(&sandbox, &[], &[unset]), "/var/backups/stgy");
}

#[test]
fn a_malformed_dotenv_line_is_a_usage_error_naming_the_line() {
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.cwd().join(".env"), "A=1\nnot an assignment\n").unwrap();
    let run = sandbox.run(&["list"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("malformed line 2 in '.env': expected KEY=VALUE"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_values_are_usage_errors_naming_the_variable() {
    let sandbox = Sandbox::new();
    for (var, value) in [
        ("STGY_DATABASE_PORT", "54x2"),
        ("STGY_STORAGE_S3_ENDPOINT", "minio:9000"),
        ("STGY_STORAGE_S3_BUCKETS", "ok-bucket,../etc"),
    ] {
        let run = sandbox.run_with(&["backup"], &[(var, value)]);
        assert_eq!(run.code, 2, "{var}");
        assert!(run.stderr.contains(&format!("{var}=")), "{}", run.stderr);
    }
    assert!(!sandbox.root().exists(), "nothing was created");
}

#[test]
fn secrets_never_appear_in_output_or_logs() {
    let sandbox = Sandbox::new();
    let secrets = [
        ("STGY_DATABASE_PASSWORD", "db-Secret-4711"),
        ("STGY_STORAGE_S3_SECRET_ACCESS_KEY", "s3-Secret-0815"),
        ("STGY_MINIO_ROOT_PASSWORD", "minio-Secret-42"),
        ("RUST_LOG", "trace"),
        // nothing listens there: connections fail at once
        ("STGY_DATABASE_HOST", "127.0.0.1"),
        ("STGY_DATABASE_PORT", "9"),
        ("STGY_STORAGE_S3_ENDPOINT", "http://127.0.0.1:9"),
    ];
    let runs = [
        vec!["-vv", "backup"],
        vec!["-vv", "backup", "--no-db", "--no-objects", "--name", "g"],
        vec!["-vv", "restore", "g"],
        vec!["-vv", "list"],
        vec!["-vv", "status"],
        vec!["-vv", "verify", "g"],
    ];
    for args in runs {
        let run = sandbox.run_with(&args, &secrets);
        for (_, secret) in &secrets[..3] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{args:?} printed a secret:\n{}\n{}",
                run.stdout,
                run.stderr
            );
        }
    }
    let manifest = std::fs::read_to_string(sandbox.root().join("g/manifest.jsonl")).unwrap();
    assert!(!manifest.contains("Secret"));
}
