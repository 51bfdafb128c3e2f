#!/usr/bin/env bash
# Backup throughput in write-only mode (a repository with a recipient: data chunks encrypted to
# an OpenPGP public key, docs/format.md "Write-only backup hosts") against the passphrase mode,
# side by side on the same deterministic image, into local directory repositories (so the store
# does not hide the crypto cost). Prints wall time, CPU time, throughput and the ratio per
# recipient kind (Curve25519 with ephemeral-key reuse, RSA-3072).
#
#   bench/backup/writeonly.sh [BUILD_DIR]    env: SIZE_MIB=1024 RUNS=1 BENCH_DIR=/dev/shm|/var/tmp
set -euo pipefail
BUILD=${1:-${PVESAFE_BUILD_DIR:-build}}
PVESAFE=${PVESAFE_BIN:-$BUILD/bin/pvesafe}
GEN=$BUILD/bin/pvesafe-gen-image
SRC=$(cd "$(dirname "$0")/../.." && pwd)
SIZE=$(( ${SIZE_MIB:-1024} * 1024 * 1024 ))
RUNS=${RUNS:-1}
dir=${BENCH_DIR:-}
if [[ -z "$dir" ]]; then
  dir=/var/tmp
  avail=$(df --output=avail -B1 /dev/shm 2>/dev/null | tail -1 || echo 0)
  (( avail > 4 * SIZE )) && dir=/dev/shm
fi
W=$(mktemp -d "$dir/pvesafe-wo-bench.XXXXXX")
trap '[[ -n "${KEEP_RESULTS:-}" ]] && cp "$W/results" "$KEEP_RESULTS"; rm -rf "$W"' EXIT
export PVESAFE_CATALOG=$W/catalog.db
( umask 077; echo "benchmark passphrase" > "$W/pass" )
"$GEN" --size "$SIZE" --seed 42 > "$W/disk.img"
echo "image: $SIZE bytes in $dir; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); $RUNS run(s) each, alternating"
: > "$W/results"
one() {  # one NAME [init args...]
  local name=$1; shift
  rm -rf "$W/repo"
  "$PVESAFE" -r "$W/repo" init --passphrase-file "$W/pass" "$@" > /dev/null
  sync
  /usr/bin/time -f "%e %U %S" -o "$W/time" "$PVESAFE" -r "$W/repo" --json backup --passphrase-file "$W/pass" "$W/disk.img" > "$W/b.json"
  read -r wall user sys < "$W/time"
  echo "$name $wall $(echo "$user + $sys" | bc)" >> "$W/results"
}
for _ in $(seq "$RUNS"); do
  one passphrase
  one cv25519 --recipient "$SRC/tests/crypto/data/gpg_cv25519.pub.asc"
  one rsa3072 --recipient "$SRC/tests/crypto/data/gpg_rsa3072.pub.gpg"
done
python3 - "$W/results" "$SIZE" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, wall, cpu = line.split()
    rows.setdefault(name, []).append((float(wall), float(cpu)))
size = int(sys.argv[2])
base = statistics.median(w for w, _ in rows["passphrase"])
print(f"{'mode':<12} {'wall s':>8} {'cpu s':>8} {'MiB/s':>8} {'wall vs passphrase':>20}")
for name, v in rows.items():
    wall = statistics.median(w for w, _ in v)
    cpu = statistics.median(c for _, c in v)
    print(f"{name:<12} {wall:8.2f} {cpu:8.2f} {size / 2**20 / wall:8.1f} {wall / base:19.3f}x")
PY
