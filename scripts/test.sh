#!/usr/bin/env bash
# Set up this machine (idempotent) and run every check: rustfmt, clippy with warnings as
# errors, and the whole test suite against throwaway PostgreSQL and Garage servers that the
# test harness starts and stops itself. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export FULLSITE_GARAGE="${FULLSITE_GARAGE:-${FULLSITE_CACHE:-/var/cache/fullsite}/garage-2.5.0/bin/garage}"

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets --locked -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test --locked"
cargo test --locked --all-targets
