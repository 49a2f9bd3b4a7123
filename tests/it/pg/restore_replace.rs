//! A restore into the live database replaces it, objects outside schemas included: whatever
//! the database holds of the kinds pg_dump dumps outside schemas — the backup's own objects
//! (changed since or not) and objects made after the backup, a DDL-vetoing event trigger among
//! them — the result is what a stock pg_restore into a new database gives, and a dependency
//! that would make the replacement reach into a schema the archive does not hold stops the
//! restore before anything changes (see `src/pg/restore/replace.rs`).

use std::path::PathBuf;

use crate::support::cli::Sandbox;
use crate::support::db::{
    env_for_server, load_file, outside_schemas_corpus, restore, restore_into, schema_of, state_of,
};
use crate::support::pg;
use crate::support::postgres::PgServer;

/// A generation holding a stock `pg_dump -Fd` of `db`.
fn stock_generation(pg: &PgServer, sandbox: &Sandbox, db: &str, generation: &str) -> PathBuf {
    let dir = sandbox.root().join(generation);
    std::fs::create_dir_all(dir.join("db")).unwrap();
    std::fs::write(dir.join(".stgy-full-site-backup"), b"").unwrap();
    let archive = dir.join(format!("db/{db}.dump"));
    let path = archive.to_str().unwrap();
    let args = [
        "-Fd",
        "--no-owner",
        "--no-privileges",
        "--no-sync",
        "-f",
        path,
        "-d",
        db,
    ];
    pg.client("pg_dump", &args);
    archive
}

/// What happens to a live database after its backup: the backup's objects outside schemas
/// change, new ones of every kind appear, among them an event trigger that vetoes all DDL
/// (a common guard against accidental drops) and one that logs it.
const AFTER_THE_BACKUP: &str = "
ALTER SERVER archive_store OPTIONS (SET root '/mnt/elsewhere');
COMMENT ON PUBLICATION documents_pub IS 'changed after the backup';
ALTER PUBLICATION everything_pub SET (publish = 'insert');
SELECT lo_from_bytea(777001, 'made after the backup');
SELECT lo_put(424202, 0, 'overwritten');
CREATE FOREIGN DATA WRAPPER later_wrapper;
CREATE SERVER later_server FOREIGN DATA WRAPPER later_wrapper;
CREATE USER MAPPING FOR PUBLIC SERVER later_server;
ALTER USER MAPPING FOR CURRENT_USER SERVER archive_store OPTIONS (SET token 'changed');
CREATE CAST (point AS text) WITH INOUT;
CREATE TRANSFORM FOR bigint LANGUAGE sql (
    FROM SQL WITH FUNCTION prsd_lextype(internal),
    TO SQL WITH FUNCTION int8recv(internal));
CREATE ACCESS METHOD later_heap TYPE TABLE HANDLER heap_tableam_handler;
CREATE FUNCTION public.later_handler() RETURNS language_handler
    LANGUAGE c AS '$libdir/plpgsql', 'plpgsql_call_handler';
CREATE LANGUAGE later_pl HANDLER public.later_handler;
CREATE PUBLICATION later_pub;
CREATE SUBSCRIPTION later_sub CONNECTION 'host=127.0.0.1 port=1 dbname=nowhere connect_timeout=1'
    PUBLICATION later_pub WITH (connect = false);
CREATE FUNCTION public.no_ddl() RETURNS event_trigger LANGUAGE plpgsql
    AS $$ BEGIN RAISE EXCEPTION 'DDL is not allowed here (%)', tg_tag; END $$;
CREATE EVENT TRIGGER no_ddl ON ddl_command_start EXECUTE FUNCTION public.no_ddl();
";

/// Database-wide objects, by kind, for messages when the schemas differ.
fn outside_schemas(pg: &PgServer, db: &str) -> String {
    pg.psql(
        db,
        "SELECT 'event trigger ' || evtname FROM pg_event_trigger \
         UNION ALL SELECT 'subscription ' || subname FROM pg_subscription \
                   WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         UNION ALL SELECT 'publication ' || pubname FROM pg_publication \
         UNION ALL SELECT 'server ' || srvname || ' ' || coalesce(array_to_string(srvoptions, ','), '') FROM pg_foreign_server \
         UNION ALL SELECT 'user mapping ' || usename || ' ' || srvname FROM pg_user_mappings \
         UNION ALL SELECT 'wrapper ' || fdwname FROM pg_foreign_data_wrapper \
         UNION ALL SELECT 'cast ' || castsource::regtype || ' ' || casttarget::regtype FROM pg_cast WHERE oid >= 16384 \
         UNION ALL SELECT 'transform ' || trftype::regtype FROM pg_transform \
         UNION ALL SELECT 'access method ' || amname FROM pg_am WHERE oid >= 16384 \
         UNION ALL SELECT 'language ' || lanname FROM pg_language WHERE oid >= 16384 \
         ORDER BY 1",
    )
}

/// Backs up the corpus, changes the live database as [`AFTER_THE_BACKUP`] says, restores in
/// place with `mode`, twice (the second time over the first restore's result, changed again),
/// and compares with a stock pg_restore of the same archive into a new database.
fn in_place_restore_replaces_objects_outside_schemas(major: u32) {
    let pg = pg(major);
    let sandbox = Sandbox::new();
    let db = load_file(pg, "replace", &outside_schemas_corpus());
    let archive = stock_generation(pg, &sandbox, &db, "full-site-2026-01-01");
    let reference = restore_into(pg, &archive, &["--single-transaction"]);
    let expected = (
        schema_of(pg, &reference),
        state_of(pg, &reference),
        outside_schemas(pg, &reference),
    );
    for mode in ["--jobs=2", "--single-transaction"] {
        pg.psql(&db, AFTER_THE_BACKUP);
        assert!(
            pg.client_command(
                "psql",
                &["-X", "-d", &db, "-c", "CREATE TABLE app.vetoed (id int)"]
            )
            .output()
            .is_ok_and(|o| !o.status.success()),
            "the live database vetoes DDL"
        );
        let run = restore(pg, &sandbox, &db, &[mode, "full-site-2026-01-01"]);
        assert_eq!(run.code, 0, "{mode}: {}", run.stderr);
        assert!(
            run.stderr.contains("event trigger no_ddl")
                && run.stderr.contains("subscription later_sub")
                && run.stderr.contains("large object(s)"),
            "the log says what is replaced:\n{}",
            run.stderr
        );
        assert_eq!(
            outside_schemas(pg, &db),
            expected.2,
            "{mode}: objects outside schemas"
        );
        assert!(
            schema_of(pg, &db) == expected.0,
            "{mode}: the schema differs from a stock restore's into a new database"
        );
        assert_eq!(
            state_of(pg, &db),
            expected.1,
            "{mode}: rows or large objects"
        );
    }
}

#[test]
fn an_in_place_restore_on_postgresql_14_replaces_objects_outside_schemas() {
    in_place_restore_replaces_objects_outside_schemas(14);
}

#[test]
fn an_in_place_restore_on_postgresql_18_replaces_objects_outside_schemas() {
    in_place_restore_replaces_objects_outside_schemas(18);
}

#[test]
fn a_dependency_from_a_schema_the_archive_does_not_hold_stops_the_restore_before_anything_changes()
{
    let pg = pg(16);
    let sandbox = Sandbox::new();
    let db = load_file(pg, "dependent", &outside_schemas_corpus());
    stock_generation(pg, &sandbox, &db, "full-site-2026-01-01");
    // Made after the backup, in a schema the archive does not hold: the restore keeps that
    // schema, so it may not drop the server its table needs.
    pg.psql(
        &db,
        "CREATE SCHEMA reports; \
         CREATE FOREIGN TABLE reports.listing (path text) SERVER archive_store; \
         INSERT INTO app.documents VALUES (9, 'only in the live database', NULL, NULL);",
    );
    let before = (schema_of(pg, &db), state_of(pg, &db));
    let run = restore(pg, &sandbox, &db, &["full-site-2026-01-01"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot drop server archive_store")
            && run.stderr.contains("reports.listing"),
        "the error names the object and what depends on it:\n{}",
        run.stderr
    );
    assert_eq!(
        (schema_of(pg, &db), state_of(pg, &db)),
        before,
        "nothing changed"
    );
}

#[test]
fn an_in_place_restore_replaces_a_schema_that_holds_only_an_extension() {
    let pg = pg(17);
    let sandbox = Sandbox::new();
    let db = pg.create_database("extension_schema");
    pg.psql(
        &db,
        "CREATE SCHEMA extensions; CREATE EXTENSION hstore WITH SCHEMA extensions; \
         CREATE TABLE public.settings (name text PRIMARY KEY, value extensions.hstore); \
         INSERT INTO public.settings VALUES ('mail', 'host => smtp, port => 25');",
    );
    let env = env_for_server(pg, &db);
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let backup = sandbox.run_with(&["backup", "--no-objects", "--name", "g1"], &pairs);
    assert_eq!(backup.code, 0, "{}", backup.stderr);
    let before = (schema_of(pg, &db), state_of(pg, &db));
    pg.psql(
        &db,
        "UPDATE public.settings SET value = 'host => elsewhere'",
    );
    let run = restore(pg, &sandbox, &db, &["g1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!((schema_of(pg, &db), state_of(pg, &db)), before);
}
