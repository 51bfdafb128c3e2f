#!/usr/bin/env bash
# A source that fails (FaultyBlockSource: a range that fails authentication, kIntegrity) makes
# exactly the reads that touch that range fail with EIO, as QEMU's client (qemu-io) and
# libnbd see them; every other read returns the image's bytes, and the connection carries on.
source "$(dirname "$0")/lib.sh"
need qemu-io qemu-img python3
need_libnbd_python

img=$T/disk.raw
make_image "$img"
bad_off=$(( (20 << 20) + 65536 ))  # inside the second data region
bad_len=131072
start_fault_export --image "$img" --socket "$T/f.sock" --fail-range "$bad_off:$bad_len:integrity"

note "qemu-io: the bad range fails with an I/O error, its neighbours and the rest read"
qemu-io -r -f raw "$EXPORT_URI" \
  -c "read $((bad_off - 65536)) 65536" \
  -c "read $bad_off 4096" \
  -c "read $((bad_off + bad_len)) 65536" \
  -c "read $((bad_off + bad_len - 512)) 1024" \
  -c "read 0 1048576" > "$T/qio.txt" 2>&1 || true
cat "$T/qio.txt"
n_err=$(grep -c "Input/output error" "$T/qio.txt" || true)
n_ok=$(grep -c "^read .* bytes at offset" "$T/qio.txt" || true)
[[ $n_err == 2 ]] || fail "expected 2 failed reads, got $n_err"
[[ $n_ok == 3 ]] || fail "expected 3 good reads, got $n_ok"

note "the good bytes are the image's bytes (python3-libnbd, every read checked)"
"$SYSPY" "$(dirname "$0")/nbd_check.py" "$EXPORT_URI" "$img" --fail "$bad_off:$bad_len"

note "qemu-img convert of the whole disk fails with an I/O error (no silent hole)"
rc=0; qemu-img convert -f raw -O raw "$EXPORT_URI" "$T/copy.raw" 2> "$T/convert.err" || rc=$?
[[ $rc != 0 ]] || fail "qemu-img convert succeeded over a failing range"
grep -qi "Input/output error" "$T/convert.err" || fail "convert: $(cat "$T/convert.err")"

note "the server counted the failures"
kill -USR1 "$EXPORT_PID"; sleep 0.5
tail -1 "$EXPORT_LOG" | python3 -c '
import json, sys
s = json.loads(sys.stdin.readline())
assert s["failed_reads"] >= 3, s
print("stats:", s)'
stop_pid "$EXPORT_PID"
[[ $STOP_RC == 0 ]] || fail "fault server exited $STOP_RC"
echo "PASS"
