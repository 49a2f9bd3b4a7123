#!/usr/bin/env bash
# Set up this machine (idempotent), build fullsite, start a throwaway PostgreSQL on a free
# loopback port, load the STGY-like fixture, and walk through what this version does: database
# backups into dated generations (unchanged tables hard-linked), list, status, verify (and a
# damaged copy, which restore refuses), a native restore into a drill database (and stock
# pg_restore reading the same archive), the lock between two runs, pruning, and an in-place
# restore. Nothing outside a temporary directory is touched; the server is
# stopped and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

bash scripts/setup.sh
cargo build --release --locked
bin="$repo/target/release/fullsite"

work="$(mktemp -d)"
chmod 755 "$work"
pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  as_postgres "$pgbin/pg_ctl" -D "$work/pgdata" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\n\033[1m$ fullsite %s\033[0m\n' "$*"; "$bin" "$@" || echo "(exit code $?)"; }

step "starting a throwaway PostgreSQL"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$work/pgdata" "$work/pgrun"
if [ "$(id -u)" = 0 ]; then chown postgres "$work/pgdata" "$work/pgrun"; fi
printf 'demo-password\n' >"$work/pwfile"
chmod 644 "$work/pwfile"
as_postgres "$pgbin/initdb" -D "$work/pgdata" -U demo --pwfile="$work/pwfile" -A scram-sha-256 \
  -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
as_postgres "$pgbin/pg_ctl" -D "$work/pgdata" -l "$work/pgrun/server.log" -w \
  -o "-p $port -c listen_addresses=127.0.0.1 -k $work/pgrun -c fsync=off" start >/dev/null
sql() { PGPASSWORD=demo-password "$pgbin/psql" -X -q -h 127.0.0.1 -p "$port" -U demo -v ON_ERROR_STOP=1 "$@"; }
sql -d postgres -c "CREATE DATABASE stgy"
sql -d stgy -f fixtures/stgy_like.sql
echo "PostgreSQL $(sql -d stgy -Atc 'SHOW server_version') on 127.0.0.1:$port, database stgy loaded"

export STGY_BACKUP_ROOT="$work/root" STGY_DATABASE_HOST=127.0.0.1 STGY_DATABASE_PORT="$port"
export STGY_DATABASE_USER=demo STGY_DATABASE_PASSWORD=demo-password STGY_DATABASE_NAME=stgy
cd "$work"   # no .env here: the variables above

run backup --no-objects --name full-site-2026-01-10
sql -d stgy -c "INSERT INTO app.tags VALUES (2, 'new tag')"
step "(one row added to app.tags: the next generation shares every other table's file)"
run backup --no-objects --name full-site-2026-01-11
run backup --no-objects --no-db --name marker-only
mkdir -p "$STGY_BACKUP_ROOT/full-site-2026-01-09/db"
printf 'PGDMP' >"$STGY_BACKUP_ROOT/full-site-2026-01-09/db/stgy.dump"
step "(a legacy-script generation full-site-2026-01-09 with db/stgy.dump was added by hand)"
run list
run status --max-age 26
run verify full-site-2026-01-11

run restore --no-objects --into-db drill full-site-2026-01-11
step "stock pg_restore reads the same archive too"
sql -d postgres -c "CREATE DATABASE scratch"
PGPASSWORD=demo-password "$pgbin/pg_restore" -h 127.0.0.1 -p "$port" -U demo --exit-on-error \
  --no-owner -j 2 -d scratch "$STGY_BACKUP_ROOT/full-site-2026-01-11/db/stgy.dump"
for db in stgy drill scratch; do
  printf '%-8s ' "$db"
  sql -d "$db" -Atc \
    "SELECT 'users=' || (SELECT count(*) FROM app.users) || ' posts=' || (SELECT count(*) FROM app.posts)
            || ' tags=' || (SELECT count(*) FROM app.tags) || ' counters=' || (SELECT sum(post_count) FROM app.user_counters)"
done

gzfile="$(find "$STGY_BACKUP_ROOT"/full-site-2026-01-10/db/stgy.dump -name '*.dat.gz' -links 1 | head -n 1)"
printf 'x' >>"$gzfile"
step "(one byte appended to $(basename "$gzfile") in full-site-2026-01-10, the one table file it does not share with full-site-2026-01-11)"
run verify full-site-2026-01-10
run restore --no-objects full-site-2026-01-10
step "(refused before touching the database, exit 3: the live database is unchanged)"

step "a backup paused while holding the lock, then a second run"
FULLSITE_TEST_PAUSE_AT=backup:before-publish "$bin" backup --no-objects --name held 2>"$work/held.log" &
holder=$!
until grep -q "paused at" "$work/held.log" 2>/dev/null; do sleep 0.1; done
run prune
kill -TERM "$holder"
wait "$holder" || echo "(the paused backup exited with $? after SIGTERM and removed its partial directory)"

run prune --retain-generations 2 --dry-run
run prune --retain-generations 2
run list
run backup
run restore --no-objects full-site-2026-01-11
step "(in place: the live database replaced by the generation, after every check passed)"
step "done: the object mirror arrives in the next version"
