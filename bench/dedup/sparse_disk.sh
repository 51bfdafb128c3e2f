#!/usr/bin/env bash
# A mostly empty disk backs up and restores in time proportional to the data in it, not to its
# size: the same data in a 2 GiB and a 64 GiB disk, as VMA archives, backed up, restored whole
# (the archive, bit for bit) and restored as a raw disk (--disk, a sparse file). Medians of RUNS.
#
#   bench/dedup/sparse_disk.sh BUILD_DIR      (RUNS=3, DATA_MIB=1024)
set -euo pipefail
B=$(cd "${1:?usage: sparse_disk.sh BUILD_DIR}" && pwd)
RUNS=${RUNS:-3}
DATA=$(( ${DATA_MIB:-1024} << 20 ))
PS=$B/bin/pvesafe; SIM=$B/bin/pvesim
W=$(mktemp -d "${TMPDIR:-/var/tmp}/pvesafe-sparse.XXXXXX")
trap 'rm -rf "$W"' EXIT
export PVESAFE_CATALOG=$W/catalog.db
(umask 077; echo "sparse bench" > "$W/pass")
printf 'scsi0: local-lvm:vm-100-disk-0\n' > "$W/qemu-server.conf"
# The data: text-like and random pieces in three places of the disk.
"$B/bin/pvesafe-gen-image" --size "$DATA" --seed 5 > "$W/data"
for gib in 2 64; do
  img=$W/disk-$gib.raw
  truncate -s "${gib}G" "$img"
  third=$(( DATA / 3 / 65536 * 65536 ))
  for k in 0 1 2; do
    at=$(( k == 0 ? 1 << 20 : (k == 1 ? (gib << 29) : (gib << 30) - (4 << 20) - third) ))
    dd if="$W/data" of="$img" bs=64K skip=$(( k * third / 65536 )) count=$(( third / 65536 )) \
      seek=$(( at / 65536 )) conv=notrunc status=none
  done
  "$SIM" make-archive vma --disk drive-scsi0="$img" --config "$W/qemu-server.conf" \
    --out "$W/vzdump-qemu-100-2026_12_01-01_00_00-$gib.vma" > /dev/null
done
echo "data: $(( DATA >> 20 )) MiB in a 2 GiB and in a 64 GiB disk; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$W/results"
P=(--passphrase-file "$W/pass")
timed() {  # timed LABEL CMD...: appends "LABEL seconds"
  local label=$1; shift
  local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null; t1=$(date +%s.%N)
  echo "$label $(echo "$t1 - $t0" | bc -l)" >> "$W/results"
}
for run in $(seq "$RUNS"); do
  for gib in 2 64; do
    r=$W/repo; rm -rf "$r"
    "$PS" --repo "$r" init "${P[@]}" > /dev/null
    v=$W/vzdump-qemu-100-2026_12_01-01_00_00-$gib.vma
    timed "backup-$gib" "$PS" -q --repo "$r" backup "${P[@]}" "$v"
    timed "restore-disk-$gib" "$PS" -q --repo "$r" restore "${P[@]}" latest --disk drive-scsi0 --to "$W/out.raw"
    cmp "$W/out.raw" "$W/disk-$gib.raw"
    alloc=$(( $(stat -c %b "$W/out.raw") * 512 ))
    rm -f "$W/out.raw"
    timed "restore-vma-$gib" "$PS" -q --repo "$r" restore "${P[@]}" latest --to "$W/out.vma"
    cmp "$W/out.vma" "$v"; rm -f "$W/out.vma"
    echo "alloc-$gib $alloc" >> "$W/results"
  done
done
python3 - "$W/results" <<'PY'
import statistics, sys
vals = {}
for l in open(sys.argv[1]):
    k, v = l.split()
    vals.setdefault(k, []).append(float(v))
m = {k: statistics.median(v) for k, v in vals.items()}
print(f"{'':<22}{'2 GiB disk':>12}{'64 GiB disk':>13}{'ratio':>8}")
for what in ("backup", "restore-disk", "restore-vma"):
    a, b = m[f"{what}-2"], m[f"{what}-64"]
    print(f"{what + ' s':<22}{a:>12.2f}{b:>13.2f}{b/a:>7.2f}x")
print(f"{'restored disk allocated':<22}{m['alloc-2']/2**20:>9.0f} MiB{m['alloc-64']/2**20:>10.0f} MiB")
PY
