#!/usr/bin/env bash
# VMA archives through the CLI, against pvesim's own (independent) VMA writer:
#  - a 64 GiB disk with 64 MiB in use: backup, restore of the archive bit for bit, restore --disk
#    to a sparse file (allocating what is in use, not 64 GiB);
#  - day 2 with a fresh uuid and clusters out of order stores a fraction of day 1;
#  - the same archive zstd-, gzip- and lzop-compressed: stored uncompressed (nothing new), the
#    snapshot records what was received, restore gives the uncompressed archive;
#  - bad archives: truncated, a bad header md5, a bad extent md5, an extent of another archive,
#    an unknown device id, a cluster beyond the disk: one-line errors naming the byte offset,
#    exit 6, no snapshot recorded, the repository verifies afterwards.
source "$(dirname "$0")/lib.sh"
PVESIM_BIN=${PVESIM_BIN:-$PVESAFE_BUILD_DIR/bin/pvesim}
REPO=$(new_repo)
P=(--passphrase-file "$PASSFILE")
psafe -r "$REPO" init "${P[@]}" > /dev/null
printf 'boot: order=scsi0\nmemory: 1024\nscsi0: local-lvm:vm-100-disk-0,size=64G\n' > "$T/qemu-server.conf"

echo "== a 64 GiB disk with 64 MiB in use"
img=$T/disk.raw
truncate -s 64G "$img"
gen_image --size $((32 << 20)) --seed 3 | dd of="$img" bs=1M seek=1 conv=notrunc status=none
gen_image --size $((32 << 20)) --seed 4 | dd of="$img" bs=1M seek=$((40 << 10)) conv=notrunc status=none
printf 'the end' | dd of="$img" bs=1 seek=$(( (64 << 30) - 7 )) conv=notrunc status=none
v1=$T/vzdump-qemu-100-2026_12_01-01_00_00.vma
"$PVESIM_BIN" make-archive vma --disk drive-scsi0="$img" --config "$T/qemu-server.conf" --out "$v1" > /dev/null
psafe -r "$REPO" backup "${P[@]}" --json "$v1" > "$T/b1.json"
python3 - "$T/b1.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["kind"] == "vma", j
assert j["disks"][0]["size_bytes"] == 64 << 30, j
assert j["disks"][0]["data_bytes"] < 80 << 20, j
PY
psafe -r "$REPO" restore "${P[@]}" latest --to "$T/back.vma" > /dev/null
cmp "$v1" "$T/back.vma"; rm "$T/back.vma"
psafe -r "$REPO" restore "${P[@]}" latest --disk drive-scsi0 --to "$T/back.raw" > /dev/null
cmp "$img" "$T/back.raw"
alloc=$(( $(stat -c %b "$T/back.raw") * 512 ))
(( alloc < 100 << 20 )) || { echo "FAIL: the restored 64 GiB disk allocates $alloc bytes"; exit 1; }
rm "$T/back.raw"
psafe -r "$REPO" restore "${P[@]}" latest --disk drive-virtio3 --to "$T/x.raw" 2> "$T/err" && exit 1
grep -q "has no disk drive-virtio3" "$T/err"

echo "== day 2: fresh uuid, clusters out of order, 2 MiB rewritten"
head -c $((2 << 20)) /dev/urandom | dd of="$img" bs=1M seek=5 conv=notrunc status=none
v2=$T/vzdump-qemu-100-2026_12_02-01_00_00.vma
"$PVESIM_BIN" make-archive vma --disk drive-scsi0="$img" --config "$T/qemu-server.conf" --out-of-order 3 --seed 9 --out "$v2" > /dev/null
psafe -r "$REPO" backup "${P[@]}" --json "$v2" > "$T/b2.json"
python3 - "$T/b1.json" "$T/b2.json" <<'PY'
import json, sys
d1, d2 = (json.load(open(p)) for p in sys.argv[1:3])
print(f"day 1 stored {d1['stored_bytes']}, day 2 {d2['stored_bytes']}")
assert d2["stored_bytes"] < 4 << 20, d2
PY
psafe -r "$REPO" restore "${P[@]}" latest --to "$T/back.vma" > /dev/null
cmp "$v2" "$T/back.vma"; rm "$T/back.vma"

echo "== compressed archives are stored uncompressed"
for c in zstd gzip lzo; do
  case $c in zstd) ext=zst ;; gzip) ext=gz ;; lzo) ext=lzo ;; esac
  command -v "$( [[ $c == lzo ]] && echo lzop || echo "$c" )" > /dev/null || continue
  "$PVESIM_BIN" make-archive vma --disk drive-scsi0="$img" --config "$T/qemu-server.conf" --out-of-order 3 --seed 9 \
    --compress "$c" --out "$T/c.vma.$ext" > /dev/null
  name=vzdump-qemu-100-2026_12_03-01_00_00.vma.$ext
  psafe -r "$REPO" backup "${P[@]}" --json --stdin --stdin-name "$name" < "$T/c.vma.$ext" > "$T/bc.json"
  python3 - "$T/bc.json" "$c" "$name" "$(sha256sum "$T/c.vma.$ext" | cut -d' ' -f1)" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["kind"] == "vma" and j["file_name"] == sys.argv[3].rsplit(".", 1)[0], j
r = j["received"]
assert r["compression"] == sys.argv[2] and r["name"] == sys.argv[3] and r["sha256"] == sys.argv[4], r
assert j["new_chunks"] <= 4, j  # the disks are those of day 2: only lists and structure are new
PY
  id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["snapshot_id"])' "$T/bc.json")
  psafe -r "$REPO" restore "${P[@]}" "$id" --to "$T/back.vma" > /dev/null
  [[ $(sha256sum < "$T/back.vma") == $(zcat -f < "$T/c.vma.$ext" 2>/dev/null | sha256sum) || $c != gzip ]]
  [[ $c != zstd ]] || cmp <(zstd -dc "$T/c.vma.$ext") "$T/back.vma"
  [[ $c != lzo ]] || cmp <(lzop -dc "$T/c.vma.$ext") "$T/back.vma"
  rm "$T/back.vma"
done
psafe -r "$REPO" snapshots "${P[@]}" | grep -q "received zstd"

echo "== bad archives"
before=$(ls "$REPO/snapshots" | wc -l)
small=$T/small.raw
truncate -s 8M "$small"; head -c $((3 << 20)) /dev/urandom | dd of="$small" bs=1M seek=1 conv=notrunc status=none
good=$T/good.vma
"$PVESIM_BIN" make-archive vma --disk drive-scsi0="$small" --config "$T/qemu-server.conf" --out "$good" > /dev/null
hsize=$(python3 -c 'import sys,struct; d=open(sys.argv[1],"rb").read(60); print(struct.unpack(">I", d[56:60])[0])' "$good")
bad() {  # bad NAME PYTHON-EDIT EXPECTED-TEXT
  cp "$good" "$T/$1.vma"
  python3 - "$T/$1.vma" "$hsize" <<PY
import hashlib, struct, sys
p, h = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read())
def fix_extent(at):
    b[at + 24:at + 40] = bytes(16)
    b[at + 24:at + 40] = hashlib.md5(bytes(b[at:at + 512])).digest()
$2
open(p, "wb").write(b)
PY
  expect_exit 6 psafe -r "$REPO" backup "${P[@]}" "$T/$1.vma"
  grep -q "$3" "$T/err" || { echo "FAIL: $1: $(cat "$T/err")"; exit 1; }
  grep -q "byte [0-9]" "$T/err" || { echo "FAIL: $1 names no byte offset: $(cat "$T/err")"; exit 1; }
  [[ $(wc -l < "$T/err") == 1 ]] || { echo "FAIL: $1: the error is not one line: $(cat "$T/err")"; exit 1; }
}
bad truncated 'del b[len(b) - 70000:]' "truncated"
bad header-md5 'b[5000] ^= 1' "wrong header md5"
bad extent-md5 'b[h + 100] ^= 1' "wrong extent md5"
bad foreign-extent 'b[h + 8] ^= 1; fix_extent(h)' "uuid differs"
bad unknown-device 'b[h + 40 + 3] = 9; fix_extent(h)' "device id 9"
bad beyond-disk 'b[h + 40 + 4:h + 40 + 8] = struct.pack(">I", 5000); fix_extent(h)' "beyond its size"
[[ $(ls "$REPO/snapshots" | wc -l) == "$before" ]] || { echo "FAIL: a bad archive left a snapshot"; exit 1; }
psafe -r "$REPO" verify "${P[@]}" --read-data > /dev/null
echo "PASS"
