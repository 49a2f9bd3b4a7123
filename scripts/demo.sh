#!/usr/bin/env bash
# Set up this machine (idempotent), build fullsite, and walk through what this version does in
# a throwaway backup root: backups, list, status, verify (and a damaged copy), the lock between
# two runs, and pruning. Nothing outside a temporary directory is touched.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --release --locked
bin="$PWD/target/release/fullsite"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export STGY_BACKUP_ROOT="$work/root"
cd "$work"   # no .env here: defaults plus the variable above

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "fullsite $*"; "$bin" "$@" || echo "(exit code $?)"; }

run backup --no-db --no-objects --name full-site-2026-01-10
run backup --no-db --no-objects --name full-site-2026-01-11
run backup --no-db --no-objects --name full-site-2026-01-12
mkdir -p "$STGY_BACKUP_ROOT/full-site-2026-01-09/db"
printf 'PGDMP' >"$STGY_BACKUP_ROOT/full-site-2026-01-09/db/stgy.dump"
step "(a legacy-script generation full-site-2026-01-09 with db/stgy.dump was added)"
run list
run status --max-age 26
run verify full-site-2026-01-12
printf 'tampered' >>"$STGY_BACKUP_ROOT/full-site-2026-01-11/.stgy-full-site-backup"
step "(one byte too many in full-site-2026-01-11)"
run verify full-site-2026-01-11

step "a backup paused while holding the lock, then a second run"
FULLSITE_TEST_PAUSE_AT=backup:before-publish "$bin" backup --no-db --no-objects --name held \
  2>"$work/held.log" &
holder=$!
until grep -q "paused at" "$work/held.log" 2>/dev/null; do sleep 0.1; done
run prune
kill -TERM "$holder"; wait "$holder" || echo "(the paused backup exited with $? after SIGTERM)"

run prune --retain-generations 2 --dry-run
run prune --retain-generations 2
run list
run backup
step "done: the database dump and object mirror arrive in the next versions"
