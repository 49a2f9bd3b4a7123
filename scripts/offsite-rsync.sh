#!/usr/bin/env bash
# Copy the complete generations of a fullsite backup root to another place with rsync,
# preserving hard links (so the copy costs what the source costs), then verify the copy.
#
#   scripts/offsite-rsync.sh [--root DIR] [--verify-with CMD] DEST
#
# DEST is anything rsync accepts: /mnt/offsite/stgy or backup@host:/srv/stgy.
# Only complete generations are sent, as `fullsite list` names them: work in progress
# (.NAME.partial.PID), generations being pruned (.NAME.pruning.PID) and the lock file are left
# out. No lock is needed: a generation only ever appears by an atomic rename, so each one listed
# is whole (if prune removes one during the copy, rsync reports vanished files and exits 24).
# Generations pruned at the source are deleted at the destination, after the transfer.
#
# After the transfer the copy is verified with `fullsite verify --all --root <copy>`:
#   - a local DEST is verified here;
#   - for a remote DEST, pass --verify-with "ssh backup@host fullsite" (any command prefix that
#     runs fullsite where the copy is); without it, verification is skipped and said so.
# Exit status: rsync's on transfer failure, fullsite's (3 = damage) on verification failure.
set -euo pipefail

root="${STGY_BACKUP_ROOT:-/var/backups/stgy}"
verify_with=""
fullsite="${FULLSITE:-fullsite}"
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$2"; shift 2 ;;
    --root=*) root="${1#*=}"; shift ;;
    --verify-with) verify_with="$2"; shift 2 ;;
    --verify-with=*) verify_with="${1#*=}"; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "offsite-rsync: unknown option: $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || { echo "usage: offsite-rsync.sh [--root DIR] [--verify-with CMD] DEST" >&2; exit 2; }
dest="${1%/}"

# The complete generations, by name (first column of `fullsite list`).
mapfile -t generations < <("$fullsite" list --root "$root" | awk '{print $1}')
if [ "${#generations[@]}" -eq 0 ]; then
  echo "offsite-rsync: no complete generations in $root; nothing to copy" >&2
  exit 1
fi
includes=()
for name in "${generations[@]}"; do includes+=(--include "/$name/***"); done

echo "offsite-rsync: copying ${#generations[@]} generation(s) from $root to $dest" >&2
rsync -aH --delete --delete-after --numeric-ids \
  "${includes[@]}" --exclude '*' \
  "$root/" "$dest/"

case "$dest" in
  *:*)
    if [ -n "$verify_with" ]; then
      remote_dir="${dest#*:}"
      $verify_with verify --all --root "$remote_dir"
    else
      echo "offsite-rsync: remote copy not verified (pass --verify-with \"ssh HOST fullsite\")" >&2
    fi
    ;;
  *)
    "$fullsite" verify --all --root "$dest"
    ;;
esac
echo "offsite-rsync: done" >&2
