//! PostgreSQL parity, proved against the stock tools of each server of the matrix (14–18).
//!
//! For every corpus under `fixtures/pg/` that applies to a server (see [`corpora`]):
//! 1. the differential oracle: stock `pg_dump --no-owner --no-privileges` and fullsite's archive
//!    of the same database, both read back by `pg_restore -f -`, must agree entry by entry
//!    (see `crate::support::parity`), except for the differences listed in [`ALLOWED`];
//! 2. the round trip: fullsite's archive restored by stock `pg_restore` (serially and with
//!    `-j 2`) and by `fullsite restore` gives the schema of one stock dump/restore cycle of the
//!    same source, and the source's rows, sequence values and large objects.
//!
//! `FULLSITE_PARITY_CORPUS=<text>` limits a run to the corpora whose path contains `text`.
//!
//! Server 14 has no pg_dump of its own here (no registry publishes one): it is paired with
//! 15's pg_dump and pg_restore, which dump 14 servers as pg_dump 14 would, save for what 15
//! itself changed in pg_dump's output.

use std::path::{Path, PathBuf};

use crate::support::cli::Sandbox;
use crate::support::db::{
    backup_from, checksums, env_for_server, line_diff, restore_into, schema_of, stock_dump,
};
use crate::support::parity::{self, Allowed};
use crate::support::pg;
use crate::support::postgres::PgServer;

/// Differences between fullsite's archive and stock pg_dump's that the tests accept, each with
/// its reason. The goal is an empty table.
const ALLOWED: &[Allowed] = &[];

/// The corpora for a server of `major`: every `fixtures/pg/majors/pgN*.sql` with N ≤ `major`
/// (syntax that appeared in N), and on the full-corpus servers (15 and 18) also
/// `fixtures/pg/apps/*.sql` (schemas modelled on real applications) and
/// `fixtures/pg/kinds/*.sql` (every object kind pg_dump dumps). Files whose leading comment
/// holds the line `-- requires: contrib` need the contrib extensions (the 16 build has none).
fn corpora(major: u32) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pg");
    let mut files: Vec<PathBuf> = Vec::new();
    let mut add_dir = |dir: &str, keep: &dyn Fn(&str) -> bool| {
        let Ok(read) = std::fs::read_dir(root.join(dir)) else {
            return;
        };
        for entry in read.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".sql") && keep(&name) {
                files.push(entry.path());
            }
        }
    };
    add_dir("majors", &|name| {
        name.strip_prefix("pg")
            .and_then(|rest| rest.get(..2))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n <= major)
    });
    if FULL_CORPUS_MAJORS.contains(&major) {
        add_dir("apps", &|_| true);
        add_dir("kinds", &|_| true);
    }
    let filter = std::env::var("FULLSITE_PARITY_CORPUS").unwrap_or_default();
    files.retain(|f| f.to_string_lossy().contains(&filter));
    files.sort();
    files
}

/// Servers that run every corpus; the others run the version-specific files.
const FULL_CORPUS_MAJORS: [u32; 2] = [15, 18];

/// Whether the corpus needs the contrib extensions.
fn needs_contrib(sql: &str) -> bool {
    sql.lines()
        .take_while(|l| l.starts_with("--"))
        .any(|l| l.trim_end() == "-- requires: contrib")
}

/// Loads `file` into a new database on `pg`; its name.
fn load(pg: &PgServer, file: &Path) -> String {
    let stem = file
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .replace('-', "_");
    let db = pg.create_database(&format!("parity_{stem}"));
    pg.load_file(&db, file);
    db
}

/// Sequence states, large objects and table checksums: what a restore must give back.
fn state_of(pg: &PgServer, db: &str) -> String {
    let mut sequences = String::new();
    let names = pg.psql(
        db,
        "SELECT format('%I.%I', schemaname, sequencename) FROM pg_sequences ORDER BY 1",
    );
    for name in names.lines().filter(|l| !l.is_empty()) {
        let value = pg.psql(
            db,
            &format!("SELECT last_value || ' ' || is_called FROM {name}"),
        );
        sequences.push_str(&format!("{name} {value}"));
    }
    let objects = pg.psql(
        db,
        "SELECT count(*) || ' ' || coalesce(md5(string_agg(oid::text || ':' || md5(lo_get(oid)), ',' ORDER BY oid)), '-') \
         FROM pg_largeobject_metadata",
    );
    format!(
        "sequences:\n{sequences}\nlarge objects: {objects}\ntables:\n{}",
        checksums(pg, db)
    )
}

/// Runs the oracle and the round trips for every corpus of `major`; panics with one report of
/// every problem found.
fn parity_on(major: u32) {
    let pg = pg(major);
    let contrib = has_contrib(pg);
    let files = corpora(major);
    assert!(
        !files.is_empty() || std::env::var_os("FULLSITE_PARITY_CORPUS").is_some(),
        "no corpus for PostgreSQL {major}"
    );
    let mut problems = String::new();
    for file in files {
        let sql = std::fs::read_to_string(&file).unwrap();
        if needs_contrib(&sql) && !contrib {
            continue;
        }
        let label = file
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .display()
            .to_string();
        let started = std::time::Instant::now();
        // A corpus that panics (its backup refused, a stock tool failing) is reported like any
        // other problem, and the corpora after it still run.
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parity_of_corpus(pg, &file)));
        let report = match outcome {
            Ok((report, entries)) => {
                eprintln!(
                    "parity: {label} on {}: {entries} entries compared, {}, {:.1}s",
                    pg.version(),
                    if report.is_empty() {
                        "no difference, 4 restores equal to the stock cycle"
                    } else {
                        "PROBLEMS"
                    },
                    started.elapsed().as_secs_f64()
                );
                report
            }
            Err(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the corpus's checks panicked".into()),
        };
        if !report.is_empty() {
            problems.push_str(&format!(
                "==== {label} on PostgreSQL {} (pg_dump {}):\n{report}\n",
                pg.version(),
                pg.client_major()
            ));
        }
    }
    assert!(problems.is_empty(), "\n{problems}");
}

/// Whether the server has the contrib extensions.
fn has_contrib(pg: &PgServer) -> bool {
    pg.psql(
        "postgres",
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'",
    )
    .trim()
        == "1"
}

/// The oracle and round trips for one corpus: a report, empty when everything agrees, and the
/// number of entries compared.
fn parity_of_corpus(pg: &PgServer, file: &Path) -> (String, usize) {
    let major = pg.major();
    let source = load(pg, file);
    let sandbox = Sandbox::new();
    let ours = backup_from(pg, &sandbox, &source, "g1", &[]);
    let scratch = tempfile::tempdir().unwrap();
    let stock = stock_dump(pg, &source, scratch.path(), "stock", &[]);

    let mut report = String::new();
    let stock_entries = parity::split(&parity::script(pg, &stock, false));
    let entries = stock_entries.values().map(Vec::len).sum();
    let differences = parity::compare(
        &stock_entries,
        &parity::split(&parity::script(pg, &ours, false)),
    );
    report.push_str(&parity::unexplained(major, &differences, ALLOWED));
    report.push_str(&parity::unexplained(
        major,
        &parity::compare_placement(&stock, &ours),
        ALLOWED,
    ));

    // Round trips: every restore must give what one stock dump/restore cycle gives.
    let reference = restore_into(pg, &stock, &[]);
    let expected_schema = schema_of(pg, &reference);
    let expected_state = state_of(pg, &source);
    let mut restored = vec![
        ("stock pg_restore", restore_into(pg, &ours, &[])),
        (
            "stock pg_restore -j 2",
            restore_into(pg, &ours, &["-j", "2"]),
        ),
    ];
    for (label, extra) in [
        ("fullsite restore", vec!["--jobs", "2"]),
        (
            "fullsite restore --single-transaction",
            vec!["--single-transaction"],
        ),
    ] {
        let into = pg.create_database("parity_native");
        pg.psql("postgres", &format!("DROP DATABASE \"{into}\""));
        let env = env_for_server(pg, &source);
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut args = vec!["restore", "--no-objects", "--into-db", &into];
        args.extend(extra.iter().copied());
        args.push("g1");
        let run = sandbox.run_with(&args, &pairs);
        if run.code != 0 {
            report.push_str(&format!(
                "{label} failed (exit {}):\n{}\n",
                run.code, run.stderr
            ));
            continue;
        }
        restored.push((label, into));
    }
    for (label, db) in restored {
        if schema_of(pg, &db) != expected_schema {
            report.push_str(&format!(
                "{label}: the schema differs from a stock dump/restore cycle's\n{}\n",
                line_diff(&expected_schema, &schema_of(pg, &db))
            ));
        }
        let state = state_of(pg, &db);
        if state != expected_state {
            report.push_str(&format!(
                "{label}: rows, sequences or large objects differ from the source's\n{}\n",
                line_diff(&expected_state, &state)
            ));
        }
    }
    (report, entries)
}

#[test]
fn dumps_match_stock_pg_dump_and_restore_on_postgresql_14() {
    parity_on(14);
}

#[test]
fn dumps_match_stock_pg_dump_and_restore_on_postgresql_15() {
    parity_on(15);
}

#[test]
fn dumps_match_stock_pg_dump_and_restore_on_postgresql_16() {
    parity_on(16);
}

#[test]
fn dumps_match_stock_pg_dump_and_restore_on_postgresql_17() {
    parity_on(17);
}

#[test]
fn dumps_match_stock_pg_dump_and_restore_on_postgresql_18() {
    parity_on(18);
}

// ---- Owners and privileges (`backup --owners --privileges`, restore without --no-owner) ----

/// Every object's owner and ACL, default privileges, and the ACLs of built-in objects that
/// carry any: one line per object, for comparing restores.
const OWNERS_AND_ACLS: &str = "\
WITH n AS (SELECT oid, nspname FROM pg_namespace \
           WHERE nspname <> 'information_schema' AND nspname !~ '^pg_(toast|temp_)') \
SELECT kind || ' ' || name || ' owner ' || owner || ' acl ' || coalesce(acl, '-') FROM ( \
SELECT 'relation' AS kind, n.nspname || '.' || c.relname AS name, \
       pg_get_userbyid(c.relowner) AS owner, c.relacl::text AS acl \
  FROM pg_class c JOIN n ON n.oid = c.relnamespace \
 WHERE n.nspname <> 'pg_catalog' OR c.relacl IS NOT NULL \
UNION ALL SELECT 'column', a.attrelid::regclass::text || '.' || a.attname, '', a.attacl::text \
  FROM pg_attribute a WHERE a.attacl IS NOT NULL \
UNION ALL SELECT 'function', n.nspname || '.' || p.proname || '(' \
       || pg_get_function_identity_arguments(p.oid) || ')', pg_get_userbyid(p.proowner), \
       p.proacl::text \
  FROM pg_proc p JOIN n ON n.oid = p.pronamespace \
 WHERE n.nspname <> 'pg_catalog' OR p.proacl IS NOT NULL \
UNION ALL SELECT 'schema', n.nspname, pg_get_userbyid(x.nspowner), x.nspacl::text \
  FROM pg_namespace x JOIN n ON n.oid = x.oid \
UNION ALL SELECT 'type', n.nspname || '.' || t.typname, pg_get_userbyid(t.typowner), \
       t.typacl::text \
  FROM pg_type t JOIN n ON n.oid = t.typnamespace \
 WHERE n.nspname <> 'pg_catalog' OR t.typacl IS NOT NULL \
UNION ALL SELECT 'language', l.lanname, pg_get_userbyid(l.lanowner), l.lanacl::text \
  FROM pg_language l \
UNION ALL SELECT 'foreign-data wrapper', f.fdwname, pg_get_userbyid(f.fdwowner), f.fdwacl::text \
  FROM pg_foreign_data_wrapper f \
UNION ALL SELECT 'server', s.srvname, pg_get_userbyid(s.srvowner), s.srvacl::text \
  FROM pg_foreign_server s \
UNION ALL SELECT 'large object', l.oid::text, pg_get_userbyid(l.lomowner), l.lomacl::text \
  FROM pg_largeobject_metadata l \
UNION ALL SELECT 'default privileges', coalesce(n.nspname, '-') || ' ' || d.defaclobjtype::text, \
       pg_get_userbyid(d.defaclrole), d.defaclacl::text \
  FROM pg_default_acl d LEFT JOIN n ON n.oid = d.defaclnamespace \
UNION ALL SELECT 'collation', n.nspname || '.' || x.collname, pg_get_userbyid(x.collowner), NULL \
  FROM pg_collation x JOIN n ON n.oid = x.collnamespace WHERE n.nspname <> 'pg_catalog' \
UNION ALL SELECT 'conversion', n.nspname || '.' || x.conname, pg_get_userbyid(x.conowner), NULL \
  FROM pg_conversion x JOIN n ON n.oid = x.connamespace WHERE n.nspname <> 'pg_catalog' \
UNION ALL SELECT 'operator', x.oid::regoperator::text, pg_get_userbyid(x.oprowner), NULL \
  FROM pg_operator x JOIN n ON n.oid = x.oprnamespace WHERE n.nspname <> 'pg_catalog' \
UNION ALL SELECT 'operator class', n.nspname || '.' || x.opcname, pg_get_userbyid(x.opcowner), NULL \
  FROM pg_opclass x JOIN n ON n.oid = x.opcnamespace WHERE n.nspname <> 'pg_catalog' \
UNION ALL SELECT 'operator family', n.nspname || '.' || x.opfname, pg_get_userbyid(x.opfowner), NULL \
  FROM pg_opfamily x JOIN n ON n.oid = x.opfnamespace WHERE n.nspname <> 'pg_catalog' \
UNION ALL SELECT 'text search dictionary', n.nspname || '.' || x.dictname, \
       pg_get_userbyid(x.dictowner), NULL \
  FROM pg_ts_dict x JOIN n ON n.oid = x.dictnamespace WHERE n.nspname <> 'pg_catalog' \
UNION ALL SELECT 'text search configuration', n.nspname || '.' || x.cfgname, \
       pg_get_userbyid(x.cfgowner), NULL \
  FROM pg_ts_config x JOIN n ON n.oid = x.cfgnamespace WHERE n.nspname <> 'pg_catalog' \
UNION ALL SELECT 'statistics', n.nspname || '.' || x.stxname, pg_get_userbyid(x.stxowner), NULL \
  FROM pg_statistic_ext x JOIN n ON n.oid = x.stxnamespace \
UNION ALL SELECT 'event trigger', x.evtname, pg_get_userbyid(x.evtowner), NULL \
  FROM pg_event_trigger x \
UNION ALL SELECT 'publication', x.pubname, pg_get_userbyid(x.pubowner), NULL FROM pg_publication x \
) o ORDER BY 1";

/// The corpora of [`corpora`] that set owners or privileges (a GRANT, REVOKE, OWNER TO,
/// AUTHORIZATION or ALTER DEFAULT PRIVILEGES): those are dumped and restored again with them.
fn privilege_corpora(major: u32) -> Vec<PathBuf> {
    corpora(major)
        .into_iter()
        .filter(|f| {
            let sql = std::fs::read_to_string(f).unwrap().to_lowercase();
            [
                "grant ",
                "revoke ",
                "owner to",
                "authorization",
                "default privileges",
            ]
            .iter()
            .any(|word| sql.contains(word))
        })
        .collect()
}

/// `fullsite backup` of `db` with extra flags (`--owners`, `--privileges`) as generation
/// `name`; the archive's path.
fn backup_with(pg: &PgServer, sandbox: &Sandbox, db: &str, name: &str, flags: &[&str]) -> PathBuf {
    let env = env_for_server(pg, db);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut args = vec!["backup", "--no-objects", "--name", name, "--jobs", "2"];
    args.extend_from_slice(flags);
    let run = sandbox.run_with(&args, &pairs);
    assert_eq!(run.code, 0, "backup {flags:?} failed:\n{}", run.stderr);
    sandbox.root().join(name).join(format!("db/{db}.dump"))
}

/// `fullsite restore` of generation `name` into a new database; the database, or the failed
/// run.
fn fullsite_restore(
    pg: &PgServer,
    sandbox: &Sandbox,
    source: &str,
    name: &str,
    flags: &[&str],
) -> Result<String, crate::support::cli::Run> {
    let into = pg.create_database("acl_native");
    pg.psql("postgres", &format!("DROP DATABASE \"{into}\""));
    let env = env_for_server(pg, source);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut args = vec!["restore", "--no-objects", "--into-db", &into];
    args.extend_from_slice(flags);
    args.push(name);
    let run = sandbox.run_with(&args, &pairs);
    if run.code == 0 { Ok(into) } else { Err(run) }
}

/// Stock pg_restore of `archive` into a new database, keeping owners and privileges unless
/// `flags` say otherwise.
fn stock_restore(pg: &PgServer, archive: &Path, flags: &[&str]) -> String {
    let db = pg.create_database("acl_restored");
    let mut args = vec!["--exit-on-error", "-d", &db];
    args.extend_from_slice(flags);
    args.push(archive.to_str().unwrap());
    pg.client("pg_restore", &args);
    db
}

/// The script's entries without ACL and DEFAULT ACL entries (what a dump without privileges
/// holds).
fn without_acls(
    entries: std::collections::BTreeMap<parity::EntryKey, Vec<String>>,
) -> std::collections::BTreeMap<parity::EntryKey, Vec<String>> {
    entries
        .into_iter()
        .filter(|(k, _)| k.kind != "ACL" && k.kind != "DEFAULT ACL")
        .collect()
}

/// The oracle and round trips of one corpus with owners and privileges; an empty report when
/// everything agrees.
fn privileges_parity_of_corpus(pg: &PgServer, file: &Path) -> String {
    let major = pg.major();
    let source = load(pg, file);
    let sandbox = Sandbox::new();
    let ours = backup_with(pg, &sandbox, &source, "g1", &["--owners", "--privileges"]);
    let privileges_only = backup_with(pg, &sandbox, &source, "g2", &["--privileges"]);
    let owners_only = backup_with(pg, &sandbox, &source, "g3", &["--owners"]);
    let scratch = tempfile::tempdir().unwrap();
    let stock = scratch.path().join("stock");
    pg.client(
        "pg_dump",
        &["-Fd", "-f", stock.to_str().unwrap(), "-d", &source],
    );

    // The oracle, with owners (ALTER ... OWNER TO) and ACL entries in the scripts.
    let mut report = String::new();
    let with_owners = parity::split(&parity::script(pg, &stock, true));
    let differences = parity::compare(
        &with_owners,
        &parity::split(&parity::script(pg, &ours, true)),
    );
    report.push_str(&parity::unexplained(major, &differences, ALLOWED));
    // Entries that differ already are not reported again below.
    let known: std::collections::BTreeSet<parity::EntryKey> =
        differences.iter().map(|d| d.key.clone()).collect();
    // --privileges alone is stock pg_dump's archive restored with --no-owner ...
    let differences = parity::compare(
        &parity::split(&parity::script(pg, &stock, false)),
        &parity::split(&parity::script(pg, &privileges_only, true)),
    );
    for difference in differences.iter().filter(|d| !known.contains(&d.key)) {
        report.push_str(&format!("--privileges alone: {}\n", difference.describe()));
    }
    // ... and --owners alone is stock pg_dump's archive without its ACL entries.
    let differences = parity::compare(
        &without_acls(with_owners),
        &parity::split(&parity::script(pg, &owners_only, true)),
    );
    for difference in differences.iter().filter(|d| !known.contains(&d.key)) {
        report.push_str(&format!("--owners alone: {}\n", difference.describe()));
    }

    // Round trips: owners and privileges as one stock dump/restore cycle gives them.
    let owners_and_acls = |db: &str| pg.psql(db, OWNERS_AND_ACLS);
    let expected = owners_and_acls(&stock_restore(pg, &stock, &[]));
    let mut restored = vec![
        ("stock pg_restore", Ok(stock_restore(pg, &ours, &[]))),
        (
            "stock pg_restore -j 2",
            Ok(stock_restore(pg, &ours, &["-j", "2"])),
        ),
        (
            "fullsite restore",
            fullsite_restore(pg, &sandbox, &source, "g1", &["--jobs", "2"]),
        ),
        (
            "fullsite restore --single-transaction",
            fullsite_restore(pg, &sandbox, &source, "g1", &["--single-transaction"]),
        ),
    ];
    // Without owners or privileges: what stock pg_restore --no-owner --no-privileges gives.
    let expected_plain = owners_and_acls(&stock_restore(
        pg,
        &stock,
        &["--no-owner", "--no-privileges"],
    ));
    let plain = fullsite_restore(
        pg,
        &sandbox,
        &source,
        "g1",
        &["--no-owner", "--no-privileges"],
    );
    for (label, db) in restored.drain(..) {
        match db {
            Ok(db) if owners_and_acls(&db) != expected => report.push_str(&format!(
                "{label}: owners or privileges differ from a stock dump/restore cycle's\n{}\n",
                line_diff(&expected, &owners_and_acls(&db))
            )),
            Ok(_) => {}
            Err(run) => report.push_str(&format!(
                "{label} failed (exit {}):\n{}\n",
                run.code, run.stderr
            )),
        }
    }
    match plain {
        Ok(db) if owners_and_acls(&db) != expected_plain => report.push_str(&format!(
            "fullsite restore --no-owner --no-privileges: owners or privileges differ from \
             stock pg_restore --no-owner --no-privileges\n{}\n",
            line_diff(&expected_plain, &owners_and_acls(&db))
        )),
        Ok(_) => {}
        Err(run) => report.push_str(&format!(
            "fullsite restore --no-owner --no-privileges failed (exit {}):\n{}\n",
            run.code, run.stderr
        )),
    }
    report
}

/// Runs [`privileges_parity_of_corpus`] for every privileges corpus of `major`.
fn privileges_parity_on(major: u32) {
    let pg = pg(major);
    let contrib = has_contrib(pg);
    let mut problems = String::new();
    for file in privilege_corpora(major) {
        if needs_contrib(&std::fs::read_to_string(&file).unwrap()) && !contrib {
            continue;
        }
        let label = file
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .display()
            .to_string();
        let report = privileges_parity_of_corpus(pg, &file);
        if !report.is_empty() {
            problems.push_str(&format!(
                "==== {label} with owners and privileges on PostgreSQL {} (pg_dump {}):\n{report}\n",
                pg.version(),
                pg.client_major()
            ));
        }
    }
    assert!(problems.is_empty(), "\n{problems}");
}

#[test]
fn owners_and_privileges_match_stock_pg_dump_and_restore_on_postgresql_14() {
    privileges_parity_on(14);
}

#[test]
fn owners_and_privileges_match_stock_pg_dump_and_restore_on_postgresql_15() {
    privileges_parity_on(15);
}

#[test]
fn owners_and_privileges_match_stock_pg_dump_and_restore_on_postgresql_16() {
    privileges_parity_on(16);
}

#[test]
fn owners_and_privileges_match_stock_pg_dump_and_restore_on_postgresql_17() {
    privileges_parity_on(17);
}

#[test]
fn owners_and_privileges_match_stock_pg_dump_and_restore_on_postgresql_18() {
    privileges_parity_on(18);
}

/// A restore naming roles the target lacks is refused before anything changes, naming them
/// and the flags that leave them out; with those flags it restores.
#[test]
fn restore_refuses_roles_missing_on_the_target_before_changing_anything() {
    let pg = pg(15);
    let suffix = std::process::id();
    let (owner, grantee) = (
        format!("fs_acl_gone_owner_{suffix}"),
        format!("Fs Acl Gone Reader {suffix}"),
    );
    let source = pg.create_database("acl_gone");
    pg.psql(
        &source,
        &format!(
            "CREATE ROLE {owner} NOLOGIN; CREATE ROLE \"{grantee}\" NOLOGIN; \
             CREATE TABLE public.kept (id int PRIMARY KEY); INSERT INTO kept VALUES (1); \
             ALTER TABLE kept OWNER TO {owner}; GRANT SELECT ON kept TO \"{grantee}\";"
        ),
    );
    let sandbox = Sandbox::new();
    backup_with(pg, &sandbox, &source, "g1", &["--owners", "--privileges"]);
    backup_with(pg, &sandbox, &source, "g2", &["--privileges"]);

    // A role that is not a superuser cannot give objects to roles it cannot become: refused
    // before anything changes, like any other privilege the role lacks.
    let restorer = format!("fs_acl_restorer_{suffix}");
    pg.psql(
        "postgres",
        &format!("CREATE ROLE {restorer} LOGIN PASSWORD 'restorer-password'"),
    );
    let owned = pg.create_database("acl_restorer");
    pg.psql(
        "postgres",
        &format!("ALTER DATABASE \"{owned}\" OWNER TO {restorer}"),
    );
    pg.psql(
        &owned,
        &format!("CREATE TABLE public.before (id int); ALTER TABLE before OWNER TO {restorer}"),
    );
    let env = env_for_server(pg, &source);
    let mut pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.extend([
        ("STGY_DATABASE_USER", restorer.as_str()),
        ("STGY_DATABASE_PASSWORD", "restorer-password"),
    ]);
    let run = sandbox.run_with(
        &["restore", "--no-objects", "--into-db", &owned, "g1"],
        &pairs,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&owner) && run.stderr.contains("--no-owner"),
        "{}",
        run.stderr
    );
    assert_eq!(
        pg.psql(
            &owned,
            "SELECT count(*) FROM pg_class WHERE relname = 'before'"
        ),
        "1\n"
    );

    pg.psql(
        &source,
        &format!(
            "DROP OWNED BY {owner}, \"{grantee}\"; DROP ROLE {owner}; DROP ROLE \"{grantee}\";"
        ),
    );
    // The target holds a table the restore would replace: it must survive the refusal.
    let target = pg.create_database("acl_gone_target");
    pg.psql(&target, "CREATE TABLE public.before (id int)");
    let env = env_for_server(pg, &source);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for (generation, names, flags) in [
        (
            "g1",
            vec![owner.clone(), format!("\"{grantee}\"")],
            "--no-owner --no-privileges",
        ),
        ("g2", vec![format!("\"{grantee}\"")], "--no-privileges"),
    ] {
        let run = sandbox.run_with(
            &["restore", "--no-objects", "--into-db", &target, generation],
            &pairs,
        );
        assert_eq!(run.code, 2, "{generation}: {}", run.stderr);
        for name in &names {
            assert!(
                run.stderr.contains(name.as_str()),
                "{generation}: {}",
                run.stderr
            );
        }
        assert!(run.stderr.contains(flags), "{generation}: {}", run.stderr);
        assert_eq!(
            pg.psql(
                &target,
                "SELECT count(*) FROM pg_class WHERE relname IN ('before', 'kept')"
            ),
            "1\n",
            "{generation}: the target changed"
        );
    }
    let restored = fullsite_restore(
        pg,
        &sandbox,
        &source,
        "g1",
        &["--no-owner", "--no-privileges"],
    )
    .unwrap_or_else(|run| panic!("restore without owners and privileges: {}", run.stderr));
    assert_eq!(
        pg.psql(&restored, "SELECT pg_get_userbyid(relowner) || ' ' || coalesce(relacl::text, '-') FROM pg_class WHERE relname = 'kept'"),
        format!("{} -\n", pg.user())
    );
}
