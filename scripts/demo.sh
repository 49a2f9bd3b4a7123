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
sql -d stgy -f fixtures/pg/apps/stgy.sql
echo "PostgreSQL $(sql -d stgy -Atc 'SHOW server_version') on 127.0.0.1:$port, database stgy loaded"

step "starting a throwaway Garage S3 server"
garage="${FULLSITE_GARAGE:-${FULLSITE_CACHE:-/var/cache/fullsite}/garage-2.5.0/bin/garage}"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
s3_port="$(free_port)"; rpc_port="$(free_port)"; admin_port="$(free_port)"
secret="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$work/garage"
cat >"$work/garage/garage.toml" <<TOML
metadata_dir = "$work/garage/meta"
data_dir = "$work/garage/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$secret"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "127.0.0.1:$admin_port"
admin_token = "$secret"
TOML
g() { RUST_LOG=error "$garage" -c "$work/garage/garage.toml" "$@"; }
RUST_LOG=warn "$garage" -c "$work/garage/garage.toml" server >"$work/garage/garage.log" 2>&1 &
garage_pid=$!
trap 'kill "$garage_pid" 2>/dev/null || true; cleanup' EXIT
until g status >/dev/null 2>&1; do sleep 0.2; done
g layout assign -z dc1 -c 1G "$(g node id -q | cut -d@ -f1)" >/dev/null
g layout apply --version 1 >/dev/null
key_id=GK0123456789abcdef01234567
key_secret=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
until g key import --yes "$key_id" "$key_secret" -n demo >/dev/null 2>&1; do sleep 0.2; done
g key allow --create-bucket demo >/dev/null
for bucket in stgy-images stgy-profiles; do
  g bucket create "$bucket" >/dev/null
  g bucket allow --read --write --owner "$bucket" --key demo >/dev/null
done
s3curl() { curl -sf --aws-sigv4 "aws:amz:garage:s3" --user "$key_id:$key_secret" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }
put() { s3curl -H "Content-Type: $3" -T "$4" "http://127.0.0.1:$s3_port/$1/$2"; }
for i in $(seq 1 40); do
  head -c $((2000 + i * 997)) /dev/urandom >"$work/image.bin"
  put stgy-images "posts/2026/$i.jpg" image/jpeg "$work/image.bin"
done
printf 'same avatar' >"$work/avatar.bin"
put stgy-profiles "alice/avatar.png" image/png "$work/avatar.bin"
put stgy-profiles "bob/avatar.png" image/png "$work/avatar.bin"
echo "Garage on 127.0.0.1:$s3_port with buckets stgy-images (40 objects) and stgy-profiles (2 identical)"

export STGY_BACKUP_ROOT="$work/root" STGY_DATABASE_HOST=127.0.0.1 STGY_DATABASE_PORT="$port"
export STGY_DATABASE_USER=demo STGY_DATABASE_PASSWORD=demo-password STGY_DATABASE_NAME=stgy
export STGY_STORAGE_S3_ENDPOINT="http://127.0.0.1:$s3_port" STGY_STORAGE_S3_REGION=garage
export STGY_STORAGE_S3_ACCESS_KEY_ID="$key_id" STGY_STORAGE_S3_SECRET_ACCESS_KEY="$key_secret"
cd "$work"   # no .env here: the variables above

run backup --name full-site-2026-01-10
sql -d stgy -c "INSERT INTO app.tags VALUES (2, 'new tag')"
head -c 5000 /dev/urandom >"$work/image.bin"
put stgy-images "posts/2026/7.jpg" image/jpeg "$work/image.bin"
step "(one row added to app.tags and one image replaced: the next generation shares everything else)"
run backup --name full-site-2026-01-11
run backup --no-objects --no-db --name marker-only
mkdir -p "$STGY_BACKUP_ROOT/full-site-2026-01-09/db"
printf 'PGDMP' >"$STGY_BACKUP_ROOT/full-site-2026-01-09/db/stgy.dump"
step "(a legacy-script generation full-site-2026-01-09 with db/stgy.dump was added by hand)"
run list
run status --max-age 26
run verify full-site-2026-01-11

run restore --no-objects --into-db drill full-site-2026-01-11
step "(restore drill: the database into 'drill', live database and buckets untouched)"
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
for i in 1 2 3; do s3curl -X DELETE "http://127.0.0.1:$s3_port/stgy-images/posts/2026/$i.jpg"; done
step "(disaster: three images deleted from stgy-images)"
run restore full-site-2026-01-11
step "(in place: database replaced and the images uploaded again, after every check passed)"
run verify full-site-2026-01-11
step "done"
