#!/usr/bin/env bash
# Day-to-day change of pvesim's guest disks: for DAYS consecutive days, the share of 4 KiB
# blocks that differ from the day before, relative to the blocks in use (non-zero), per disk
# (a VM's system disk, its data disk, a container's root), with mean, min and max, and the
# share of the disk that is in use. Disk content comes from `pvesim make-archive disks`.
#
#   PVESIM_BIN=build/bin/pvesim bench/pvesim/change_rates.sh
#   SIZE=4G DAYS=15 START=2026-06-01 bench/pvesim/change_rates.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PVESIM=${PVESIM_BIN:-$here/../../build/bin/pvesim}
SIZE=${SIZE:-1G}
DAYS=${DAYS:-8}
START=${START:-2026-06-01}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/pvesim-rates.XXXXXX")
trap 'rm -rf "$W"' EXIT
echo "pvesim disk changes: $SIZE per guest, $DAYS days from $START"
for k in $(seq 0 "$DAYS"); do
  day=$(date -u -d "$START + $k days" +%F)
  "$PVESIM" make-archive disks --vmid 100 --day "$day" --size "$SIZE" \
    --disks scsi0:32G,virtio1:64G --out-dir "$W/vm-$k" >/dev/null
  "$PVESIM" make-archive disks --type lxc --vmid 102 --day "$day" --size "$SIZE" \
    --out-dir "$W/ct-$k" >/dev/null
done
python3 - "$W" "$DAYS" <<'PY'
import os, statistics, sys
w, days = sys.argv[1], int(sys.argv[2])
B = 4096
def blocks(path):
    with open(path, "rb") as f:
        return [f.read(B) for _ in range(os.path.getsize(path) // B)]
zero = bytes(B)
print("\n  %-14s %9s %9s %9s %9s" % ("disk", "in use", "mean", "min", "max"))
for kind, name in (("vm", "drive-scsi0"), ("vm", "drive-virtio1"), ("ct", "rootfs")):
    rates, used = [], []
    prev = blocks(os.path.join(w, "%s-0" % kind, name + ".raw"))
    for k in range(1, days + 1):
        cur = blocks(os.path.join(w, "%s-%d" % (kind, k), name + ".raw"))
        nz = sum(1 for b in prev if b != zero)
        rates.append(sum(1 for a, b in zip(prev, cur) if a != b) / nz)
        used.append(nz / len(prev))
        prev = cur
    print("  %-14s %8.1f%% %8.2f%% %8.2f%% %8.2f%%" % (name, 100 * statistics.mean(used),
          100 * statistics.mean(rates), 100 * min(rates), 100 * max(rates)))
PY
