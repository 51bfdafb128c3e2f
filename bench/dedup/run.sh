#!/usr/bin/env bash
# Day 1 and day 2 of one guest disk, backed up the ways a Proxmox VE cluster produces it, side by
# side in one run:
#   (a) the raw ext4 disk image                        pvesafe backup day1.img / day2.img
#   (b) the same disks as VMA archives (fresh uuid each, 2% of day 2's clusters out of order, as
#       a running guest's copy-before-write writes them)  pvesafe backup FILE.vma
#   (c) the same as .vma.zst through the vzdump hook     TARGET=FILE.vma.zst pvesafe vzdump-hook
#   restic backup --stdin of the raw images, as the anchor
# Prints changed 4 KiB blocks beside what each stores on day 2 (after compression and
# encryption), and backup throughput: medians of RUNS runs, each on a fresh repository.
#
#   bench/dedup/run.sh BUILD_DIR [DATA_DIR]      (RUNS=3, SIZE=1G for generated data)
#
# Targets (docs/format.md): day 2 of (b) and (c) at most 1.2x of (a); (a) at most restic's
# day 2; VMA ingestion within 10% of the raw image's throughput.
set -euo pipefail
B=$(cd "${1:?usage: run.sh BUILD_DIR [DATA_DIR]}" && pwd)
D=${2:-}
RUNS=${RUNS:-3}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PS=$B/bin/pvesafe; SIM=$B/bin/pvesim
W=$(mktemp -d "${TMPDIR:-/var/tmp}/pvesafe-dedup.XXXXXX")
trap 'rm -rf "$W"' EXIT
export PVESAFE_CATALOG=$W/catalog.db
if [[ -z "$D" ]]; then
  D=$W/data
  "$SRC/bench/data/make-ext4-days.sh" "$D" --size "${SIZE:-1G}" --seed 1 > /dev/null
fi
printf 'boot: order=scsi0\ncores: 2\nmemory: 2048\nname: web01\nscsi0: local-lvm:vm-100-disk-0\n' > "$W/qemu-server.conf"
V1=$D/vzdump-qemu-100-2026_12_01-01_00_00.vma
V2=$D/vzdump-qemu-100-2026_12_02-01_00_00.vma
mk() {  # mk IMAGE OUT [extra make-archive flags]
  [[ -s "$2" ]] || "$SIM" make-archive vma --disk drive-scsi0="$1" --config "$W/qemu-server.conf" --out "$2" "${@:3}" > /dev/null
}
mk "$D/day1.img" "$V1"
mk "$D/day2.img" "$V2" --out-of-order 2 --seed 7
mk "$D/day1.img" "$V1.zst" --compress zstd
mk "$D/day2.img" "$V2.zst" --out-of-order 2 --seed 7 --compress zstd
(umask 077; echo "dedup bench" > "$W/pass")
python3 "$SRC/bench/data/diffstat" --json "$D/day1.img" "$D/day2.img" > "$W/diff.json"
echo "disk: $(( $(stat -c %s "$D/day1.img") >> 20 )) MiB ext4 with real files; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$W/diff.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"day 2: {d['changed_blocks']} changed 4 KiB blocks ({d['changed_share']*100:.2f}%), {d['changed_bytes']/2**20:.1f} MiB")
PY
echo "archives: VMA $(( $(stat -c %s "$V1") >> 20 )) / $(( $(stat -c %s "$V2") >> 20 )) MiB, .vma.zst $(( $(stat -c %s "$V1.zst") >> 20 )) / $(( $(stat -c %s "$V2.zst") >> 20 )) MiB"

: > "$W/results"
P=(--passphrase-file "$W/pass")
backup() {  # backup LABEL REPO FILE: one pvesafe backup, appends "LABEL day stored seconds input"
  local label=$1 repo=$2 file=$3 day=$4
  if [[ $label == hook ]]; then
    TARGET=$file "$PS" -q --repo "$repo" vzdump-hook "${P[@]}" backup-end snapshot 100 --json > "$W/out.json"
  else
    "$PS" -q --repo "$repo" backup "${P[@]}" --json "$file" > "$W/out.json"
  fi
  python3 - "$W/out.json" "$label" "$day" "$(stat -c %s "$file")" >> "$W/results" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
if "results" in j: j = j["results"][0]  # the hook's output
print(sys.argv[2], sys.argv[3], j["stored_bytes"], j["duration_seconds"], sys.argv[4], j["size_bytes"])
PY
}
for run in $(seq "$RUNS"); do
  for v in raw vma hook; do
    r=$W/repo-$v-$run
    "$PS" -q --repo "$r" init "${P[@]}" > /dev/null
    case $v in
      raw) backup raw "$r" "$D/day1.img" 1; backup raw "$r" "$D/day2.img" 2 ;;
      vma) backup vma "$r" "$V1" 1; backup vma "$r" "$V2" 2 ;;
      hook) backup hook "$r" "$V1.zst" 1; backup hook "$r" "$V2.zst" 2 ;;
    esac
    rm -rf "$r"
  done
  if command -v restic > /dev/null; then
    export RESTIC_PASSWORD=bench RESTIC_REPOSITORY=$W/restic-$run
    restic init -q > /dev/null
    for day in 1 2; do
      before=$(du -sb "$RESTIC_REPOSITORY" | cut -f1)
      t0=$(date +%s.%N)
      restic backup -q --stdin --stdin-filename disk.img < "$D/day$day.img" > /dev/null
      t1=$(date +%s.%N)
      after=$(du -sb "$RESTIC_REPOSITORY" | cut -f1)
      echo "restic $day $((after - before)) $(echo "$t1 - $t0" | bc -l) $(stat -c %s "$D/day$day.img") $(stat -c %s "$D/day$day.img")" >> "$W/results"
    done
    rm -rf "$RESTIC_REPOSITORY"
  fi
done
python3 - "$W/results" "$W/diff.json" "$(stat -c %s "$D/day1.img")" <<'PY'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
diff = json.load(open(sys.argv[2]))
disk = int(sys.argv[3])
med = {}
for label, day, stored, secs, inp, size in rows:
    med.setdefault((label, day), []).append((int(stored), float(secs), int(inp)))
def m(label, day, i):
    return statistics.median(v[i] for v in med[(label, day)])
names = {"raw": "(a) raw ext4 image", "vma": "(b) VMA, fresh uuid, out of order",
         "hook": "(c) .vma.zst via vzdump hook", "restic": "restic --stdin (raw image)"}
print()
print(f"{'':<36} {'day 1 stored':>13} {'day 2 stored':>13} {'x changed':>10} {'x (a)':>7} {'day 1 MB/s':>11} {'disk MB/s':>10}")
changed = diff["changed_bytes"]
a2 = m("raw", "2", 0)
for k in ("raw", "vma", "hook", "restic"):
    if (k, "1") not in med: continue
    d1, d2 = m(k, "1", 0), m(k, "2", 0)
    secs, inp = m(k, "1", 1), m(k, "1", 2)
    print(f"{names[k]:<36} {d1/2**20:9.1f} MiB {d2/2**20:9.1f} MiB {d2/changed:9.2f}x {d2/a2:6.2f}x "
          f"{inp/secs/1e6:10.1f} {disk/secs/1e6:10.1f}")
print()
print(f"targets: (b) {m('vma','2',0)/a2:.2f}x and (c) {m('hook','2',0)/a2:.2f}x of (a) on day 2 (<= 1.2x)", end="")
if ("restic", "2") in med:
    print(f"; (a) {a2/m('restic','2',0):.2f}x of restic's day 2 (<= 1x)", end="")
raw_t, vma_t = m("raw", "1", 1), m("vma", "1", 1)
print(f"; VMA ingestion at {(m('vma','1',2)/vma_t)/(m('raw','1',2)/raw_t):.2f}x of the raw image's input MB/s"
      f" ({raw_t/vma_t:.2f}x its disk MB/s) (>= 0.9x)")
PY
