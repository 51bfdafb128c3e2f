#!/usr/bin/env bash
# pvesafe instant-restore of the test guest from a raw image (FileBlockSource, in-process NBD
# export): the guest answers its health check having read only its boot working set; it
# writes a file while the copy runs (rate-limited so the copy is still running); after the
# pivot the command exits, the export is gone, and the guest still runs from the target: the
# file reads back after dropping its caches, the whole payload checks out, QEMU has no NBD
# node left; the target holds the file (debugfs) and boots on its own.
source "$(dirname "$0")/../nbd/lib.sh"
source "$(dirname "$0")/lib.sh"

G=$T/guest
build_test_guest "$G" --disk-size 1G --payload-mib 48
src_md5=$(md5sum < "$G/disk.raw")
run=$T/run
on_exit "python3 '$GUEST_DIR/guestctl.py' stop --run-dir '$run'"

note "instant restore, copy limited to 6 MiB/s"
instant_restore_bg "$T/ir.log" "$G" --image "$G/disk.raw" --to "$T/target.raw" --run-dir "$run" --copy-rate 6M
wait_phase "$T/ir.log" healthy 300 || fail "no healthy guest: $(cat "$T/ir.log" "$T/ir.log.err")"
note "healthy: $(grep '"phase":"healthy"' "$T/ir.log")"

note "the guest writes a file during the copy"
stamp="written-during-copy-$RANDOM$RANDOM"
guestctl cmd "$run/serial.sock" write /root/during-copy.txt "$stamp" | grep -q "PVESAFE ok write" ||
  fail "the guest could not write"
grep -q '"phase":"pivoted"' "$T/ir.log" && fail "the copy was already over: the write did not happen during it"

wait "$IR_PID" || fail "instant-restore exited $?: $(cat "$T/ir.log.err")"
[[ $(summary_field "$T/ir.log" copied) == True ]] || fail "not copied: $(tail -1 "$T/ir.log")"
at_healthy=$(summary_field "$T/ir.log" source_bytes_at_healthy)
total=$(summary_field "$T/ir.log" source_bytes_total)
note "read from the source: $at_healthy bytes before healthy, $total in all"
(( at_healthy > 0 && at_healthy < 16 * 1024 * 1024 )) || fail "boot read $at_healthy bytes"
(( total > 48 * 1024 * 1024 )) || fail "the copy read only $total bytes"
[[ ! -e "$run/nbd.sock" ]] || fail "the export is still there"
[[ ! -e "$T/target.raw.overlay.qcow2" ]] || fail "the overlay was not removed"
pid=$(summary_field "$T/ir.log" qemu_pid)
kill -0 "$pid" || fail "the guest is not running"

note "the audit log has the instant restore"
"$PVESAFE_BIN" report --json --kind instant-restore > "$T/report.json"
python3 - "$T/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
events = r if isinstance(r, list) else r.get("events", r)
assert len(events) == 1 and events[0]["kind"] == "instant-restore", events
assert events[0].get("result", "ok") == "ok", events
PY

note "QEMU holds no NBD node; the disk is the target"
guestctl qmp "$run/qmp.sock" query-named-block-nodes > "$T/nodes.json"
python3 - "$T/nodes.json" "$T/target.raw" <<'PY'
import json, sys
nodes = json.load(open(sys.argv[1]))
assert not [n for n in nodes if n["drv"] == "nbd"], nodes
assert all(sys.argv[2] in n["file"] for n in nodes), [n["file"] for n in nodes]
PY

note "the source is gone: the guest reads its file and its whole payload from the target"
guestctl cmd "$run/serial.sock" cat /root/during-copy.txt | grep -qx "PVESAFE data $stamp" || fail "file lost"
[[ $(guestctl cmd "$run/serial.sock" md5 /data/payload) == "PVESAFE md5 $(payload_md5 48)" ]] || fail "payload"
guestctl cmd "$run/serial.sock" write /root/after-copy.txt after | grep -q "PVESAFE ok write" || fail "write after"
guestctl cmd "$run/serial.sock" poweroff >/dev/null
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the guest did not power off"

note "the target holds the guest's files, stays sparse, the source is untouched"
debugfs -R 'cat /root/during-copy.txt' "$T/target.raw?offset=1048576" 2>/dev/null | grep -qx "$stamp" ||
  fail "during-copy.txt is not on the target"
debugfs -R 'cat /root/after-copy.txt' "$T/target.raw?offset=1048576" 2>/dev/null | grep -qx after ||
  fail "after-copy.txt is not on the target"
used=$(du -k "$T/target.raw" | cut -f1)
(( used < 200 * 1024 )) || fail "the target uses $used KiB of a 1 GiB disk: zeros were written out"
[[ $(md5sum < "$G/disk.raw") == "$src_md5" ]] || fail "the source image changed"

note "the target boots on its own"
guestctl boot --guest "$G" --disk "$T/target.raw" --run-dir "$T/run2" --accel "${PVESAFE_TEST_ACCEL:-tcg}" >/dev/null
on_exit "python3 '$GUEST_DIR/guestctl.py' stop --run-dir '$T/run2'"
guestctl cmd "$T/run2/serial.sock" cat /root/during-copy.txt | grep -qx "PVESAFE data $stamp" || fail "reboot: file"
guestctl stop --run-dir "$T/run2"
echo "PASS"
