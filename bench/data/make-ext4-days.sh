#!/usr/bin/env bash
# Makes raw ext4 disk images of one Debian server a day apart, from a seed, without root, mounts
# or network: day 1 is a server's root filesystem (mke2fs -t ext4 -d TREE); each later day is
# the previous image changed in place by a day of real file activity (debugfs -w, and writes at
# the files' own blocks): package upgrades, logs, an SQLite database, uploads, deletions.
#
#   bench/data/make-ext4-days.sh OUTDIR [--size 1G] [--seed N] [--days 2] [--jobs N] [--work DIR] [--keep-work]
#
# Output: OUTDIR/day1.img, day2.img, ... (sparse raw images), dayK.manifest.tsv (what every file
# of day K holds: type, path, size, SHA-256), dayK.changes.tsv (what day K did) and summary.json.
# The same seed gives the same bytes on machines with the same e2fsprogs, sqlite3, Python, zlib
# and liblzma (nothing is read from the host's files). See bench/data/README.md.
# Needs: bash, python3 (standard library), mke2fs and debugfs (e2fsprogs >= 1.47), sqlite3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ $# -eq 0 || "$1" == -h || "$1" == --help ]]; then
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
  [[ $# -eq 0 ]] && exit 2 || exit 0
fi
export PATH="$PATH:/sbin:/usr/sbin" LC_ALL=C TZ=UTC PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
missing=()
for tool in python3 mke2fs debugfs sqlite3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if (( ${#missing[@]} )); then
  echo "make-ext4-days: missing ${missing[*]}: install e2fsprogs, sqlite3 and python3" \
    "(scripts/install-deps.sh --test)" >&2
  exit 2
fi
ver=$(mke2fs -V 2>&1 | sed -n 's/^mke2fs \([0-9.]*\).*/\1/p')
if [[ -z "$ver" ]] || ! printf '1.47.0\n%s\n' "$ver" | sort -V -C; then
  echo "make-ext4-days: e2fsprogs ${ver:-?} is too old: debugfs set_current_time, fallocate" \
    "and extent editing need 1.47" >&2
  exit 2
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))'; then
  echo "make-ext4-days: python3 is older than 3.9 (Random.randbytes)" >&2
  exit 2
fi
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m ext4days "$@"
