#!/usr/bin/env bash
# `pvesafe nbd --image` judged by libnbd's and QEMU's clients: identical content
# (qemu-img compare, nbdcopy with 4 connections, qemu-img convert), reads across 64 KiB /
# 256 KiB boundaries and the last partial chunk (python3-libnbd, qemu-io), zero regions in
# BLOCK_STATUS (nbdinfo --map), read-only, socket mode 0600, loopback-only TCP, counters on
# SIGUSR1 and a clean stop on SIGTERM.
source "$(dirname "$0")/lib.sh"
need nbdinfo nbdcopy qemu-img qemu-io python3
need_libnbd_python

img=$T/disk.raw
make_image "$img"
sock=$T/disk.sock

note "serve over a Unix socket"
start_export --image "$img" --socket "$sock"
[[ $(stat -c %a "$sock") == 600 ]] || fail "socket mode is $(stat -c %a "$sock"), not 600"
[[ "$EXPORT_URI" == "nbd+unix:///?socket=$sock" ]] || fail "unexpected URI $EXPORT_URI"

note "nbdinfo: size, read-only, base:allocation"
nbdinfo --json "$EXPORT_URI" > "$T/info.json"
python3 - "$T/info.json" "$IMAGE_SIZE" <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))
e = info["exports"][0]
assert e["export-size"] == int(sys.argv[2]), e
assert e["is_read_only"] is True, e
assert e["can_multi_conn"] is True, e
assert e["can_flush"] is True, e
assert e.get("block_size_maximum") == 32 << 20, e
PY

note "nbdinfo --map shows the holes as zero"
nbdinfo --map "$EXPORT_URI" > "$T/map.txt"
cat "$T/map.txt"
python3 - "$T/map.txt" "$IMAGE_SIZE" "$IMAGE_DATA" <<'PY'
import sys
lines = [l.split(None, 3) for l in open(sys.argv[1]) if l.strip()]
size = int(sys.argv[2])
data = [tuple(int(x) for x in p.split(":")) for p in sys.argv[3].split()]
pos = 0
for off, length, typ, desc in lines:
    off, length, typ = int(off), int(length), int(typ)
    assert off == pos, (off, pos)
    pos += length
    overlaps = any(off < d + l and d < off + length for d, l in data)
    if typ == 3:
        assert desc.strip() == "hole,zero", desc
        assert not overlaps, f"data region reported as hole at {off}+{length}"
    else:
        assert typ == 0 and desc.strip() == "data", (typ, desc)
assert pos == size, (pos, size)
zero = sum(int(l[1]) for l in lines if int(l[2]) == 3)
assert zero >= 50 << 20, f"only {zero} bytes reported as zeros"
print(f"map ok: {len(lines)} extents, {zero} bytes of zeros")
PY

note "qemu-img compare: identical"
qemu-img compare -f raw -F raw "$img" "$EXPORT_URI" | tee "$T/compare.txt"
grep -q "Images are identical" "$T/compare.txt" || fail "qemu-img compare"

note "qemu-img convert: identical and sparse"
qemu-img convert -f raw -O raw "$EXPORT_URI" "$T/convert.raw"
cmp "$img" "$T/convert.raw" || fail "qemu-img convert copy differs"
used_kib=$(du -k "$T/convert.raw" | cut -f1)
(( used_kib < 20 * 1024 )) || fail "converted copy uses $used_kib KiB: the holes were not skipped"

note "nbdcopy with 4 connections"
nbdcopy --connections=4 "$EXPORT_URI" "$T/nbdcopy.raw"
cmp "$img" "$T/nbdcopy.raw" || fail "nbdcopy copy differs"

note "qemu-io: reads across 64 KiB and 256 KiB boundaries and at the end"
size=$IMAGE_SIZE
cmds=()
for spec in "65436 200" "131000 2000" "261144 2000" "4193280 2048" "$((size - 4608)) 4608" "$((size - 512)) 512"; do
  cmds+=(-c "read $spec")
done
qemu-io -r -f raw "$EXPORT_URI" "${cmds[@]}" > "$T/qemu-io.txt" 2>&1 || fail "qemu-io: $(cat "$T/qemu-io.txt")"
grep -q "error\|failed" "$T/qemu-io.txt" && fail "qemu-io: $(cat "$T/qemu-io.txt")"
# Content: read -P checks a pattern, so compare a hole (zeros) and the image's bytes via -v.
qemu-io -r -f raw "$EXPORT_URI" -c "read -P 0 $((8 << 20)) $((1 << 20))" > "$T/qio2.txt" 2>&1 ||
  fail "qemu-io pattern read: $(cat "$T/qio2.txt")"
grep -q "Pattern verification failed" "$T/qio2.txt" && fail "hole does not read as zeros"
qemu-io -r -f raw "$EXPORT_URI" -c "write 0 512" > "$T/qio3.txt" 2>&1 && fail "a write through qemu-io succeeded"
grep -qi "read-only\|permission\|not permitted" "$T/qio3.txt" || fail "write refusal: $(cat "$T/qio3.txt")"

note "python3-libnbd: boundaries, parallel connections, simple and structured replies, block status"
"$SYSPY" "$(dirname "$0")/nbd_check.py" "$EXPORT_URI" "$img"

note "SIGUSR1 prints counters, SIGTERM stops cleanly"
kill -USR1 "$EXPORT_PID"
sleep 0.5
grep -q '"message_type":"stats"' "$EXPORT_LOG" || fail "no stats line after SIGUSR1"
stop_pid "$EXPORT_PID"
[[ $STOP_RC == 0 ]] || fail "pvesafe nbd exited $STOP_RC on SIGTERM"
grep '"message_type":"summary"' "$EXPORT_LOG" | python3 -c '
import json, sys
s = json.loads(sys.stdin.readline())
assert s["read_bytes"] > 0 and s["failed_reads"] == 0, s
assert s["hole_bytes"] > 0, s
print("summary:", s)'
[[ ! -e "$sock" ]] || fail "socket file left behind"

note "TCP: loopback only unless --allow-remote, and remote needs TLS"
rc=0; "$PVESAFE_BIN" nbd --image "$img" --listen 0.0.0.0:0 2> "$T/err" || rc=$?
[[ $rc == 2 ]] || fail "--listen 0.0.0.0 without --allow-remote exited $rc"
grep -q "allow-remote" "$T/err" || fail "no hint about --allow-remote: $(cat "$T/err")"
rc=0; "$PVESAFE_BIN" nbd --image "$img" --listen 0.0.0.0:0 --allow-remote 2> "$T/err" || rc=$?
[[ $rc == 2 ]] || fail "--allow-remote without TLS exited $rc"
grep -q "TLS" "$T/err" || fail "no word about TLS: $(cat "$T/err")"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_export --image "$img" --listen "127.0.0.1:$port" --export-name disk0
[[ "$EXPORT_URI" == "nbd://127.0.0.1:$port/disk0" ]] || fail "unexpected URI $EXPORT_URI"
qemu-img compare -f raw -F raw "$img" "$EXPORT_URI" >/dev/null || fail "compare over TCP"
nbdinfo --list "nbd://127.0.0.1:$port" | grep -q "disk0" || fail "NBD_OPT_LIST does not show disk0"
stop_pid "$EXPORT_PID"

note "errors: missing image, taken socket"
rc=0; "$PVESAFE_BIN" nbd --image "$T/nope.raw" --socket "$T/x.sock" 2> "$T/err" || rc=$?
[[ $rc == 5 ]] || fail "missing image exited $rc"

note "a snapshot's disk from the repository: the export equals restore --disk and the image"
PVESIM_BIN=${PVESIM_BIN:-$PVESAFE_BUILD_DIR/bin/pvesim}
[[ -x "$PVESIM_BIN" ]] || fail "pvesim not built ($PVESIM_BIN)"
pass=$T/pass; (umask 077; echo "nbd test passphrase" > "$pass")
repo=$T/repo
"$PVESAFE_BIN" init --repo "$repo" --passphrase-file "$pass" > /dev/null
printf 'boot: order=scsi0\nscsi0: local:100/vm-100-disk-0.raw\n' > "$T/qemu-server.conf"
vma=$T/vzdump-qemu-100-2026_12_01-01_00_00.vma
"$PVESIM_BIN" make-archive vma --disk drive-scsi0="$img" --config "$T/qemu-server.conf" \
  --out-of-order 5 --out "$vma" > /dev/null
"$PVESAFE_BIN" backup --repo "$repo" --passphrase-file "$pass" --json "$vma" > "$T/backup.json"
snap=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["snapshot_id"])' "$T/backup.json")
"$PVESAFE_BIN" restore --repo "$repo" --passphrase-file "$pass" "$snap" --disk drive-scsi0 --to "$T/restored.raw" > /dev/null
cmp "$img" "$T/restored.raw" || fail "restore --disk differs from the image"
rsock=$T/repo.sock
start_export --repo "$repo" --passphrase-file "$pass" "$snap" --disk drive-scsi0 --socket "$rsock"
qemu-img compare -f raw -F raw "$T/restored.raw" "$EXPORT_URI" | tee "$T/compare2.txt"
grep -q "Images are identical" "$T/compare2.txt" || fail "qemu-img compare of the repository export"
# Reads straddling 64 KiB and 256 KiB boundaries, data/hole edges and the last partial chunk,
# from 4 connections, with libnbd; every region reported as zeros is zeros.
"$SYSPY" "$(dirname "$0")/nbd_check.py" --coarse-map "$EXPORT_URI" "$img"
nbdinfo --map "$EXPORT_URI" | awk '$3 == 3 {z += $2} END {exit !(z >= 50 * 1024 * 1024)}' ||
  fail "the repository export does not report the zero regions"
stop_pid "$EXPORT_PID"
rc=0; "$PVESAFE_BIN" nbd --repo "$repo" --passphrase-file "$pass" "$snap" --disk drive-virtio7 --socket "$T/x.sock" 2> "$T/err" || rc=$?
[[ $rc == 5 ]] || fail "a disk the snapshot does not have exited $rc: $(cat "$T/err")"
grep -q "drive-scsi0" "$T/err" || fail "the error does not name the disks there are: $(cat "$T/err")"
echo "PASS"
