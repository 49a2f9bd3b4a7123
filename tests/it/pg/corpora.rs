//! The conventions of the parity corpora under `fixtures/pg/`, checked without a server.
//!
//! `pg/parity.rs` picks corpora by file name and skips those whose leading comment block
//! says `-- requires: contrib` on servers without contrib; a corpus breaking these conventions
//! is silently never run, or fails on a server it should have been kept off. Invariants:
//! - every corpus opens with a comment block saying what it models;
//! - a file in `majors/` is named `pgNN.sql` or `pgNN-<area>.sql`, NN a major of the matrix;
//! - a corpus that creates an extension (other than plpgsql, and the test extensions under
//!   `fixtures/pg/extensions`) declares `-- requires: contrib` in its leading comment block, and
//!   no corpus has that line anywhere else (it would be ignored);
//! - roles are cluster-wide and the servers are shared: every corpus creating a role guards it
//!   against an existing one, and no two corpora create the same role (roles created in a loop,
//!   `format('CREATE ROLE %I', name)`, are the string literals of the file's `ARRAY[...]`s).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MARKER: &str = "-- requires: contrib";
const MAJORS: std::ops::RangeInclusive<u32> = 14..=18;

/// Every corpus file, sorted, with its text.
fn corpora() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pg");
    let mut files = Vec::new();
    for dir in ["apps", "kinds", "majors"] {
        let Ok(read) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in read.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "sql") {
                let text = std::fs::read_to_string(&path).unwrap();
                files.push((path, text));
            }
        }
    }
    files.sort();
    assert!(!files.is_empty(), "no corpus under {}", root.display());
    files
}

fn label(path: &Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The lines of the leading comment block (what the parity test reads for the marker).
fn leading_block(sql: &str) -> Vec<&str> {
    sql.lines().take_while(|l| l.starts_with("--")).collect()
}

#[test]
fn every_corpus_opens_with_a_comment_block() {
    for (path, sql) in corpora() {
        assert!(
            !leading_block(&sql).is_empty(),
            "{} should open with a comment block saying what it models",
            label(&path)
        );
    }
}

#[test]
fn majors_are_named_after_a_major_of_the_matrix() {
    for (path, _) in corpora() {
        if path.parent().and_then(Path::file_name) != Some("majors".as_ref()) {
            continue;
        }
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let major = stem
            .strip_prefix("pg")
            .and_then(|rest| rest.get(..2).map(|n| (n, &rest[2..])))
            .filter(|(_, tail)| tail.is_empty() || tail.starts_with('-'))
            .and_then(|(n, _)| n.parse::<u32>().ok());
        assert!(
            major.is_some_and(|m| MAJORS.contains(&m)),
            "{}: a majors corpus is named pgNN.sql or pgNN-<area>.sql with NN in 14-18",
            label(&path)
        );
    }
}

#[test]
fn corpora_creating_extensions_say_they_need_contrib() {
    for (path, sql) in corpora() {
        let declared = leading_block(&sql).iter().any(|l| l.trim_end() == MARKER);
        let misplaced = sql
            .lines()
            .skip(leading_block(&sql).len())
            .any(|l| l.trim_end() == MARKER);
        assert!(
            !misplaced,
            "{}: '{MARKER}' must be in the leading comment block",
            label(&path)
        );
        let extensions: Vec<String> = statements_after(&sql, "create extension")
            .into_iter()
            .map(|rest| first_name(rest.trim_start_matches("if not exists").trim_start()))
            .filter(|name| name != "plpgsql" && !is_test_extension(name))
            .collect();
        assert!(
            extensions.is_empty() || declared,
            "{} creates extension(s) {extensions:?} without '{MARKER}' in its leading comment",
            label(&path)
        );
    }
}

#[test]
fn roles_are_guarded_and_belong_to_one_corpus() {
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    for (path, sql) in corpora() {
        let mut roles: Vec<String> = statements_after(&sql, "create role")
            .into_iter()
            .map(first_name)
            .collect();
        if roles.iter().any(|r| r.starts_with('%')) {
            roles.retain(|r| !r.starts_with('%'));
            roles.extend(array_literals(&sql));
        }
        if roles.is_empty() {
            continue;
        }
        let lower = sql.to_lowercase();
        assert!(
            lower.contains("pg_roles") || lower.contains("duplicate_object"),
            "{}: roles are cluster-wide; create them only when they do not exist yet",
            label(&path)
        );
        for role in roles {
            if let Some(other) = owners.insert(role.clone(), label(&path)) {
                assert_eq!(other, label(&path), "role {role} is created by two corpora");
            }
        }
    }
}

/// Whether `name` is one of the test extensions under `fixtures/pg/extensions`.
fn is_test_extension(name: &str) -> bool {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/pg/extensions/extension")
        .join(format!("{name}.control"))
        .is_file()
}

/// The string literals inside the `ARRAY[...]` expressions of `sql` (role names a DO block
/// loops over).
fn array_literals(sql: &str) -> Vec<String> {
    let mut names = Vec::new();
    let lower = sql.to_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find("array[") {
        let start = from + at + "array[".len();
        let end = lower[start..].find(']').map_or(sql.len(), |e| start + e);
        let mut inside = sql[start..end].split('\'');
        inside.next();
        while let (Some(name), _) = (inside.next(), inside.next()) {
            names.push(name.to_string());
        }
        from = end;
    }
    names
}

/// The text following each occurrence of `keyword` (lowercase) in `sql`, lowercased, outside
/// `--` comments.
fn statements_after(sql: &str, keyword: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in sql.lines() {
        let code = line.split("--").next().unwrap_or_default().to_lowercase();
        let mut rest = code.as_str();
        while let Some(at) = rest.find(keyword) {
            rest = &rest[at + keyword.len()..];
            found.push(rest.trim_start().to_string());
        }
    }
    found
}

/// The identifier at the start of `text`: a quoted one up to its closing quote (doubled quotes
/// inside it kept as one), else up to whitespace or `;`.
fn first_name(text: impl AsRef<str>) -> String {
    let text = text.as_ref();
    if let Some(quoted) = text.strip_prefix('"') {
        let mut name = String::new();
        let mut chars = quoted.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                } else {
                    break;
                }
            }
            name.push(c);
        }
        return name;
    }
    text.split(|c: char| c.is_whitespace() || c == ';')
        .next()
        .unwrap_or_default()
        .to_string()
}
