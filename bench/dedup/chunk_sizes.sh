#!/usr/bin/env bash
# How the chunk size decides what day 2 stores, for disks stored by offset (VMA) and for byte
# streams (content-defined chunks of a raw image), against the objects and index entries each
# GiB costs. Prints one table; the defaults of docs/format.md come from it.
#
#   bench/dedup/chunk_sizes.sh BUILD_DIR [DATA_DIR]
#
# DATA_DIR holds day1.img/day2.img from bench/data/make-ext4-days.sh (made there if missing,
# 1 GiB by default: SIZE=256M for a quick look).
set -euo pipefail
B=$(cd "${1:?usage: chunk_sizes.sh BUILD_DIR [DATA_DIR]}" && pwd)
D=${2:-}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PS=$B/bin/pvesafe; SIM=$B/bin/pvesim
W=$(mktemp -d "${TMPDIR:-/var/tmp}/pvesafe-chunks.XXXXXX")
trap 'rm -rf "$W"' EXIT
if [[ -z "$D" ]]; then
  D=$W/data
  "$SRC/bench/data/make-ext4-days.sh" "$D" --size "${SIZE:-1G}" --seed 1 > /dev/null
fi
printf 'boot: order=scsi0\nmemory: 2048\nscsi0: local-lvm:vm-100-disk-0\n' > "$W/qemu-server.conf"
[[ -s "$D/day1.vma" ]] || "$SIM" make-archive vma --disk drive-scsi0="$D/day1.img" --config "$W/qemu-server.conf" --out "$D/day1.vma" > /dev/null
[[ -s "$D/day2.vma" ]] || "$SIM" make-archive vma --disk drive-scsi0="$D/day2.img" --config "$W/qemu-server.conf" \
  --out-of-order 2 --seed 7 --out "$D/day2.vma" > /dev/null
(umask 077; echo "chunk size bench" > "$W/pass")
changed=$(python3 "$SRC/bench/data/diffstat" --json "$D/day1.img" "$D/day2.img" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["changed_bytes"])')
size=$(stat -c %s "$D/day1.img")
echo "image: $(( size >> 20 )) MiB ext4, day 2 changes $(( changed >> 10 )) KiB in 4 KiB blocks"
run() {  # run LABEL INIT_FLAGS... -- DAY1 DAY2: prints stored bytes of day 2, chunks/GiB of day 1
  local label=$1; shift
  local init=() ; while [[ $1 != -- ]]; do init+=("$1"); shift; done; shift
  local r=$W/r-$RANDOM
  "$PS" -q init --repo "$r" --passphrase-file "$W/pass" "${init[@]}" > /dev/null
  "$PS" -q backup --repo "$r" --passphrase-file "$W/pass" --json "$1" > "$W/d1.json"
  "$PS" -q backup --repo "$r" --passphrase-file "$W/pass" --json "$2" > "$W/d2.json"
  python3 - "$W/d1.json" "$W/d2.json" "$label" "$changed" <<'PY'
import json, sys
d1, d2 = (json.load(open(p)) for p in sys.argv[1:3])
label, changed = sys.argv[3], int(sys.argv[4])
gib = d1["size_bytes"] / 2**30
print(f"{label:<28} {d2['stored_bytes']/2**20:9.1f} MiB  {d2['stored_bytes']/changed:5.2f}x  "
      f"{(d1['new_chunks'])/gib:8.0f}  {d1['requests']['total']/gib:7.1f}  {d1['duration_seconds']:6.2f}")
PY
  rm -rf "$r"
}
echo
printf '%-28s %13s  %6s  %8s  %7s  %6s\n' "" "day 2 stored" "/chg" "chunks/GiB" "req/GiB" "day1 s"
for c in 65536 131072 262144 524288 1048576 4194304; do
  run "VMA, disk chunk $((c >> 10)) KiB" --disk-chunk-size "$c" -- "$D/day1.vma" "$D/day2.vma"
done
for c in 131072 262144 524288 1048576 2097152; do
  run "raw image, CDC avg $((c >> 10)) KiB" --chunk-size "$c" -- "$D/day1.img" "$D/day2.img"
done
if command -v restic > /dev/null; then
  export RESTIC_PASSWORD=bench RESTIC_REPOSITORY=$W/restic
  restic init -q > /dev/null
  restic backup -q --stdin --stdin-filename disk.img < "$D/day1.img" > /dev/null
  before=$(du -sb "$RESTIC_REPOSITORY" | cut -f1)
  restic backup -q --stdin --stdin-filename disk.img < "$D/day2.img" > /dev/null
  after=$(du -sb "$RESTIC_REPOSITORY" | cut -f1)
  printf '%-28s %9.1f MiB  %5.2fx\n' "restic --stdin (raw image)" "$(echo "($after - $before) / 1048576" | bc -l)" \
    "$(echo "($after - $before) / $changed" | bc -l)"
fi
