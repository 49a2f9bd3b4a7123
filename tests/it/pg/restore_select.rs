//! A table restore (`restore --table SCHEMA.NAME --schema NAME`) against a real PostgreSQL:
//! into a scratch database it holds the selected tables' rows and nothing else, as stock
//! `pg_restore -n -t` of the same archive gives them; into the live database it replaces just
//! those tables, leaving every other table's rows as they are now; a foreign key or view of
//! another table depending on a selected one, an unknown name, or a damaged data file of a
//! selected table refuses the restore (exit 2, or 3 for damage) before anything changes, while
//! damage in a table not selected is not even read.

use std::collections::BTreeMap;

use crate::support::cli::Sandbox;
use crate::support::db::{backup_from, checksums, load_fixture, restore, schema_of, state_of};
use crate::support::postgres::PgServer;
use crate::support::{DISTRIBUTION_MAJOR, pg};

/// Each table's columns (name, type, nullability), in order.
fn columns(pg: &PgServer, db: &str) -> String {
    pg.psql(
        db,
        "SELECT format('%I.%I %s %s %s', table_schema, table_name, column_name, data_type, is_nullable) \
         FROM information_schema.columns \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
         ORDER BY table_schema, table_name, ordinal_position",
    )
}

/// Every relation of the user's schemas, with its kind.
fn relations(pg: &PgServer, db: &str) -> String {
    pg.psql(
        db,
        "SELECT r FROM (SELECT format('%s %I.%I', c.relkind, n.nspname, c.relname) AS r \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast') s \
         ORDER BY r COLLATE \"C\"",
    )
}

/// The fixture (see fixtures/pg/apps/stgy.sql), backed up as generation `g1`.
fn fixture_generation(pg: &PgServer, sandbox: &Sandbox, prefix: &str) -> String {
    let db = load_fixture(pg, prefix);
    backup_from(pg, sandbox, &db, "g1", &[]);
    db
}

/// Into a new database: the selected tables with their rows, the same as stock pg_restore
/// `-n -t` gives (into a database where their schemas exist), plus what belongs to them
/// (primary key), minus what needs objects not restored (a foreign key, a trigger).
fn into_a_scratch_database_like_pg_restore(pg: &PgServer) {
    let sandbox = Sandbox::new();
    let source = fixture_generation(pg, &sandbox, "select_into");
    let archive = sandbox.root().join(format!("g1/db/{source}.dump"));
    let scratch = format!("scratch_{source}");
    let args = [
        "--into-db",
        &scratch,
        "--table",
        "App.tags",
        "--schema",
        "\"Mixed Case\"",
        "g1",
    ];
    let run = restore(pg, &sandbox, &source, &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("not restoring FK CONSTRAINT tags tags_post_id_fkey")
            && run
                .stderr
                .contains("not restoring TRIGGER tags tags_not_empty"),
        "what needs objects the scratch database lacks is skipped, saying so:\n{}",
        run.stderr
    );

    let oracle = pg.create_database("oracle");
    pg.psql(&oracle, "CREATE SCHEMA app; CREATE SCHEMA \"Mixed Case\";");
    let path = archive.to_str().unwrap();
    let stock = [
        "--exit-on-error",
        "--no-owner",
        "-d",
        &oracle,
        "-n",
        "app",
        "-n",
        "Mixed Case",
        "-t",
        "tags",
        "-t",
        "Odd Table",
        path,
    ];
    pg.client("pg_restore", &stock);
    assert_eq!(checksums(pg, &scratch), checksums(pg, &oracle), "rows");
    assert_eq!(columns(pg, &scratch), columns(pg, &oracle), "columns");
    assert_eq!(
        relations(pg, &scratch),
        "i app.tags_pkey\nr \"Mixed Case\".\"Odd Table\"\nr app.tags\n",
        "the tables and their primary key, nothing else"
    );
    assert_eq!(checksums(pg, &scratch), {
        let all = checksums(pg, &source);
        all.lines()
            .filter(|l| l.starts_with("app.tags ") || l.starts_with("\"Mixed Case\"."))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    });
}

#[test]
fn a_table_restore_into_a_scratch_database_matches_pg_restore() {
    into_a_scratch_database_like_pg_restore(pg(DISTRIBUTION_MAJOR));
}

#[test]
fn a_table_restore_into_a_scratch_database_matches_pg_restore_on_postgresql_17() {
    into_a_scratch_database_like_pg_restore(pg(17));
}

#[test]
fn a_table_restore_into_a_scratch_database_matches_pg_restore_on_postgresql_18() {
    into_a_scratch_database_like_pg_restore(pg(18));
}

/// `table → checksum line` of [`checksums`].
fn by_table(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(|l| {
            let table = l.rsplitn(3, ' ').nth(2).unwrap_or(l).to_string();
            (table, l.to_string())
        })
        .collect()
}

#[test]
fn a_table_restore_in_place_replaces_only_the_selected_tables() {
    let pg = pg(DISTRIBUTION_MAJOR);
    let sandbox = Sandbox::new();
    let db = fixture_generation(pg, &sandbox, "select_inplace");
    let (schema, state) = (schema_of(pg, &db), state_of(pg, &db));
    // A bad migration drops one table and empties another; the site keeps writing elsewhere.
    pg.psql(
        &db,
        "DROP TABLE app.tickets; DELETE FROM app.tags WHERE post_id < 1000; \
         INSERT INTO app.bookings VALUES (2, '[2026-03-01,2026-03-02)'); \
         UPDATE app.users SET nickname = 'alice2' WHERE nickname = 'alice'; \
         CREATE TABLE public.later (v int); INSERT INTO public.later VALUES (1);",
    );
    let now = checksums(pg, &db);
    let run = restore(
        pg,
        &sandbox,
        &db,
        &["--table", "app.tickets", "--table", "app.tags", "g1"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    let (before, now, after) = (
        by_table(&state_of(pg, &db)),
        by_table(&now),
        checksums(pg, &db),
    );
    let expected: String = by_table(&after)
        .keys()
        .map(|table| {
            let restored = table == "app.tickets" || table == "app.tags";
            let source = if restored { &before } else { &now };
            format!("{}\n", source[table])
        })
        .collect();
    assert_eq!(
        after, expected,
        "the selected tables as backed up, every other table as it is now"
    );
    assert_eq!(
        pg.psql(
            &db,
            "SELECT last_value || ' ' || is_called FROM app.ticket_seq"
        ),
        state
            .lines()
            .find_map(|l| l.strip_prefix("app.ticket_seq "))
            .map(|v| format!("{v}\n"))
            .unwrap(),
        "the owned sequence's value"
    );
    pg.psql(&db, "DROP TABLE public.later");
    assert!(
        schema_of(pg, &db) == schema,
        "the schema is back as it was: the rule, default, sequence, keys and trigger included"
    );
}

#[test]
fn a_table_referenced_by_another_tables_foreign_key_is_refused_and_nothing_changes() {
    let pg = pg(DISTRIBUTION_MAJOR);
    let sandbox = Sandbox::new();
    let db = fixture_generation(pg, &sandbox, "select_refused");
    pg.psql(&db, "DELETE FROM app.users WHERE nickname = 'bob'");
    let (schema, state) = (schema_of(pg, &db), state_of(pg, &db));
    let run = restore(pg, &sandbox, &db, &["--table", "app.users", "g1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    for needle in [
        "foreign key posts_owned_by_fkey of table app.posts references app.users",
        "foreign key user_counters_user_id_fkey of table app.user_counters references app.users",
        "view app.public_posts reads app.users",
        "--into-db",
    ] {
        assert!(run.stderr.contains(needle), "{needle}:\n{}", run.stderr);
    }
    assert!(schema_of(pg, &db) == schema && state_of(pg, &db) == state);

    // Into another database, the same selection is created there.
    let scratch = format!("users_{db}");
    let args = ["--into-db", &scratch, "--table", "app.users", "g1"];
    let run = restore(pg, &sandbox, &db, &args);
    assert!(
        run.code == 1 && run.stderr.contains("type \"app."),
        "app.users needs its types, which a table restore does not bring:\n{}",
        run.stderr
    );
    assert_eq!(state_of(pg, &db), state);
}

#[test]
fn unknown_or_malformed_names_exit_2_and_change_nothing() {
    let pg = pg(DISTRIBUTION_MAJOR);
    let sandbox = Sandbox::new();
    let db = fixture_generation(pg, &sandbox, "select_unknown");
    pg.psql(&db, "DELETE FROM app.tags");
    let state = state_of(pg, &db);
    let run = restore(
        pg,
        &sandbox,
        &db,
        &[
            "--table",
            "app.tags",
            "--table",
            "app.nope",
            "--table",
            "app.public_posts",
            "--schema",
            "gone",
            "g1",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "the generation's database archive holds no table app.nope, \
             no table app.public_posts (app.public_posts is a view; only tables can be restored alone), \
             no table in schema gone"
        ),
        "{}",
        run.stderr
    );
    for bad in ["a.b.c", "\"app.tags"] {
        let run = restore(pg, &sandbox, &db, &["--table", bad, "g1"]);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert!(run.stderr.contains("is not a valid name"), "{}", run.stderr);
    }
    let run = restore(pg, &sandbox, &db, &["--no-db", "--table", "app.tags", "g1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(state_of(pg, &db), state);
}

#[test]
fn a_table_restore_hashes_only_what_it_reads() {
    let pg = pg(DISTRIBUTION_MAJOR);
    let sandbox = Sandbox::new();
    let db = fixture_generation(pg, &sandbox, "select_damage");
    let archive = sandbox.root().join(format!("g1/db/{db}.dump"));
    let toc = std::fs::read(archive.join("toc.dat")).unwrap();
    let data_file = |table: &str| {
        // the data file named in toc.dat right after the table's COPY statement
        let text = String::from_utf8_lossy(&toc);
        let copy = text.find(&format!("COPY {table} ")).unwrap();
        let name = text[copy..].find(".dat").map(|end| {
            let start = text[..copy + end]
                .rfind(|c: char| !c.is_ascii_digit())
                .unwrap()
                + 1;
            text[start..copy + end + 4].to_string()
        });
        let name = name.unwrap();
        let gz = archive.join(format!("{name}.gz"));
        if gz.exists() { gz } else { archive.join(name) }
    };
    // Damage a table that is not selected: the table restore does not read it.
    let posts = data_file("app.posts");
    let mut bytes = std::fs::read(&posts).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&posts, &bytes).unwrap();
    pg.psql(&db, "DELETE FROM \"Mixed Case\".\"Odd Table\"");
    let run = restore(pg, &sandbox, &db, &["--schema", "\"Mixed Case\"", "g1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        pg.psql(&db, "SELECT count(*) FROM \"Mixed Case\".\"Odd Table\""),
        "2\n"
    );
    assert!(
        run.stderr.contains("2 files"),
        "toc.dat and one data file:\n{}",
        run.stderr
    );
    // Damage in a selected table refuses the restore before anything changes.
    pg.psql(&db, "DELETE FROM app.posts WHERE id < 10");
    let state = state_of(pg, &db);
    let run = restore(pg, &sandbox, &db, &["--table", "app.posts", "g1"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stdout.contains("changed"), "{}", run.stdout);
    assert_eq!(state_of(pg, &db), state);
}
