#!/usr/bin/env bash
# The benchmark command: install what is missing (scripts/setup.sh, plus rclone and GNU time
# from Debian), build fullsite in release mode, then run bench/bench.py, which starts
# throwaway servers, generates the dataset, times fullsite against pg_dump, pg_restore and rclone,
# and writes bench/results/scale-S.md (and .json). Never part of `cargo test`.
#
# Usage: bash bench/run.sh [--scale S] [--rounds N] [--only db|objects|listing] [--keep] ...
#        (bench/bench.py --help lists every option)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
if ! command -v rclone >/dev/null; then
  echo "rclone: installing from Debian's packages"
  sudo_cmd=(); [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq rclone >/dev/null
else
  echo "rclone: already installed ($(rclone version | head -n 1))"
fi
if [ ! -x /usr/bin/time ]; then
  echo "time: installing GNU time from Debian's packages (peak RSS of each measured command)"
  sudo_cmd=(); [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq time >/dev/null
fi
cargo build --release --locked
exec python3 bench/bench.py "$@"
