#!/usr/bin/env bash
# How fast pvesim makes vzdump archives (`pvesim make-archive`), side by side with the real tools
# the same pipeline runs, RUNS runs each (default 3), medians of wall and CPU time (user+sys,
# /usr/bin/time) and MB/s of guest disk bytes:
#   disks      the model of one day replayed and rendered into raw images
#   vma        the VMA of a running guest, uncompressed (model, render, MD5s, write)
#   zstd       zstd --rsyncable --threads=1 (what vzdump runs) over that VMA, alone
#   vma.zst    the VMA through zstd, as pvesim's vzdump writes it by default for pvesafe
#   ct         a container's root tree written and tarred by GNU tar (vzdump's flags)
#   tar        GNU tar over the same tree (already written), alone
#   dd         writing as many zero bytes to a file (the disk's floor)
#
#   PVESIM_BIN=build/bin/pvesim bench/pvesim/archive_speed.sh
#   SIZE=4G CT_SIZE=1G RUNS=5 BENCH_DIR=/var/tmp bench/pvesim/archive_speed.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PVESIM=${PVESIM_BIN:-$here/../../build/bin/pvesim}
SIZE=${SIZE:-1G}
CT_SIZE=${CT_SIZE:-256M}
RUNS=${RUNS:-3}
DAY=${DAY:-2026-11-24}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/pvesim-archive-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
echo "pvesim make-archive: qemu guest $SIZE (scsi0 + virtio1 + efidisk0), container $CT_SIZE," \
  "day $DAY; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs each"

measure() {  # measure NAME BYTES COMMAND...: appends "name wall cpu bytes" to $W/results
  local name=$1 bytes=$2; shift 2
  sync
  /usr/bin/time -f "%e %U %S" -o "$W/time" "$@" >/dev/null
  read -r wall user sys <"$W/time"
  echo "$name $wall $(echo "$user + $sys" | bc) $bytes" >>"$W/results"
}

common=(--vmid 100 --day "$DAY")
: >"$W/results"
for i in $(seq 1 "$RUNS"); do
  rm -rf "$W/d" "$W/tree" "$W"/*.vma* "$W"/*.tar
  measure disks "$SIZE" "$PVESIM" make-archive disks "${common[@]}" --size "$SIZE" \
    --disks scsi0:32G,virtio1:64G,efidisk0 --out-dir "$W/d"
  bytes=$(du -cb "$W"/d/*.raw | tail -1 | cut -f1)
  measure vma "$bytes" "$PVESIM" make-archive qemu "${common[@]}" --size "$SIZE" \
    --disks scsi0:32G,virtio1:64G,efidisk0 --running --out "$W/a.vma"
  measure zstd "$bytes" sh -c "zstd --rsyncable --threads=1 -q -c '$W/a.vma' > '$W/z.vma.zst'"
  measure vma.zst "$bytes" "$PVESIM" make-archive qemu "${common[@]}" --size "$SIZE" \
    --disks scsi0:32G,virtio1:64G,efidisk0 --running --compress zstd --out "$W/b.vma.zst"
  measure ct "$CT_SIZE" "$PVESIM" make-archive ct --vmid 102 --day "$DAY" --size "$CT_SIZE" \
    --out "$W/c.tar"
  "$PVESIM" make-archive ct --vmid 102 --day "$DAY" --size "$CT_SIZE" --out "$W/c2.tar" --tree "$W/tree" >/dev/null
  measure tar "$CT_SIZE" sh -c "tar cpf '$W/t.tar' --sparse --numeric-owner --acls --xattrs -C '$W/tree' ."
  measure dd "$bytes" dd if=/dev/zero of="$W/zero" bs=1M count=$((bytes / 1048576)) conv=fsync status=none
  rm -f "$W/zero"
done
ls -l "$W"/a.vma "$W"/b.vma.zst "$W"/c.tar | awk '{print "  " $5 " bytes  " $9}'

python3 - "$W/results" "$SIZE" "$CT_SIZE" <<'PY'
import statistics, sys
def size(s):
    u = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    return int(s[:-1]) * u[s[-1]] if s[-1] in u else int(s)
rows = {}
for line in open(sys.argv[1]):
    name, wall, cpu, b = line.split()
    rows.setdefault(name, []).append((float(wall), float(cpu), size(b)))
med = {k: (statistics.median(w for w, _, _ in v), statistics.median(c for _, c, _ in v), v[0][2])
       for k, v in rows.items()}
print("\n  %-9s %10s %10s %14s %14s" % ("step", "wall s", "cpu s", "MB/s (wall)", "MB/s (cpu)"))
for k in ["disks", "vma", "zstd", "vma.zst", "ct", "tar", "dd"]:
    w, c, b = med[k]
    print("  %-9s %10.2f %10.2f %14.0f %14.0f" % (k, w, c, b / w / 1e6, b / max(c, 1e-9) / 1e6))
print("\n  vma.zst / zstd alone (wall): %.2f   vma / dd (wall): %.2f   ct / tar alone (wall): %.2f"
      % (med["vma.zst"][0] / med["zstd"][0], med["vma"][0] / med["dd"][0], med["ct"][0] / med["tar"][0]))
PY
