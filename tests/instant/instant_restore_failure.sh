#!/usr/bin/env bash
# The source fails while instant restore copies the disk. Each time the copy stops with a
# clear error and the documented exit code, the guest keeps running, and what it wrote before
# the failure is kept locally (in the overlay):
#  1. the export's reads start failing (an outage), then it comes back: the guest reads its own
#     file and its whole payload again; exit 7 (transient);
#  2. the NBD server is killed: exit 7; the overlay, read through a restarted export, holds
#     the guest's file;
#  3. the in-process source fails authentication (kIntegrity): exit 6, the message says so.
source "$(dirname "$0")/../nbd/lib.sh"
source "$(dirname "$0")/lib.sh"
[[ -x "$FAULT_SERVER" ]] || { echo "SKIP: $FAULT_SERVER not built" >&2; exit 77; }
FAULTY_JOB=$PVESAFE_BUILD_DIR/bin/pvesafe-instant-faulty
[[ -x "$FAULTY_JOB" ]] || { echo "SKIP: $FAULTY_JOB not built" >&2; exit 77; }

G=$T/guest
build_test_guest "$G" --disk-size 1G --payload-mib 48
md5=$(payload_md5 48)

# Waits for the guest's pid to go after a poweroff.
wait_poweroff() {
  local pid=$1
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  fail "the guest did not power off"
}

# Runs until the guest is healthy and has written /root/during-copy.txt; sets STAMP.
restore_and_write() {  # log run target uri
  instant_restore_bg "$1" "$G" --nbd "$4" --to "$3" --run-dir "$2" --copy-rate 4M
  on_exit "python3 '$GUEST_DIR/guestctl.py' stop --run-dir '$2'"
  wait_phase "$1" healthy 300 || fail "no healthy guest: $(cat "$1" "$1.err")"
  STAMP="kept-$RANDOM$RANDOM"
  guestctl cmd "$2/serial.sock" write /root/during-copy.txt "$STAMP" | grep -q "PVESAFE ok write" ||
    fail "the guest could not write"
  grep -q '"phase":"pivoted"' "$1" && fail "the copy was already over"
  return 0
}

check_failed_summary() {  # log category
  [[ $(summary_field "$1" copied) == False ]] || fail "copied despite the failure"
  [[ $(summary_field "$1" guest_running) == True ]] || fail "the guest was not left running"
  [[ $(summary_field "$1" error_category) == "$2" ]] || fail "category $(summary_field "$1" error_category), want $2"
  summary_field "$1" error | grep -q "stopped at" || fail "the error does not say where the copy stopped"
  grep -q "pvesafe: error: " "$1.err" || fail "no error line on stderr"
}

note "1. the source's reads fail during the copy, then it comes back"
start_fault_export --image "$G/disk.raw" --socket "$T/src1.sock" --fail-flag "$T/outage"
restore_and_write "$T/ir1.log" "$T/run1" "$T/t1.raw" "$EXPORT_URI"
touch "$T/outage"
rc=0; wait "$IR_PID" || rc=$?
[[ $rc == 7 ]] || fail "exit $rc, want 7: $(cat "$T/ir1.log.err")"
check_failed_summary "$T/ir1.log" transient-io
note "$(tail -1 "$T/ir1.log.err")"
"$PVESAFE_BIN" report --json --kind instant-restore | python3 -c '
import json, sys
e = json.load(sys.stdin)
assert len(e) == 1 and e[0]["result"] == "error" and "stopped at" in e[0]["error"], e'

pid=$(summary_field "$T/ir1.log" qemu_pid)
guestctl health "$T/run1/serial.sock" --timeout 30 >/dev/null || fail "the guest stopped answering"
rm "$T/outage"
guestctl cmd "$T/run1/serial.sock" cat /root/during-copy.txt | grep -qx "PVESAFE data $STAMP" ||
  fail "the guest lost its file"
[[ $(guestctl cmd "$T/run1/serial.sock" md5 /data/payload) == "PVESAFE md5 $md5" ]] || fail "payload after the outage"
guestctl cmd "$T/run1/serial.sock" poweroff >/dev/null
wait_poweroff "$pid"
stop_pid "$EXPORT_PID"

note "2. the NBD server is killed during the copy"
start_fault_export --image "$G/disk.raw" --socket "$T/src2.sock"
restore_and_write "$T/ir2.log" "$T/run2" "$T/t2.raw" "$EXPORT_URI"
kill -9 "$EXPORT_PID"
rc=0; wait "$IR_PID" || rc=$?
[[ $rc == 7 ]] || fail "exit $rc, want 7: $(cat "$T/ir2.log.err")"
check_failed_summary "$T/ir2.log" transient-io
note "$(tail -1 "$T/ir2.log.err")"
pid=$(summary_field "$T/ir2.log" qemu_pid)
guestctl health "$T/run2/serial.sock" --timeout 30 >/dev/null || fail "the guest stopped answering"
guestctl cmd "$T/run2/serial.sock" sync >/dev/null || true
guestctl qmp "$T/run2/qmp.sock" quit >/dev/null || true
wait_poweroff "$pid"
overlay=$(summary_field "$T/ir2.log" overlay)
[[ -s "$overlay" ]] || fail "the overlay is gone"
# The overlay names its backing export; with the export back, it reads as the guest's disk.
start_fault_export --image "$G/disk.raw" --socket "$T/src2.sock"
qemu-img convert -f qcow2 -O raw "$overlay" "$T/recovered.raw"
debugfs -R 'cat /root/during-copy.txt' "$T/recovered.raw?offset=1048576" 2>/dev/null | grep -qx "$STAMP" ||
  fail "the guest's file is not in the overlay"
stop_pid "$EXPORT_PID"

note "3. the in-process source fails authentication during the copy"
rc=0
"$FAULTY_JOB" "$G/disk.raw" "$T/t3.raw" "$T/run3" "$G/vmlinuz" "$G/initrd.img" "$(cat "$G/cmdline")" \
  "${PVESAFE_TEST_ACCEL:-tcg}" > "$T/ir3.json" 2> "$T/ir3.err" || rc=$?
cat "$T/ir3.json"
[[ $rc == 6 ]] || fail "exit $rc, want 6 (integrity): $(cat "$T/ir3.err")"
python3 - "$T/ir3.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["healthy"] and not r["copied"], r
assert r["category"] == "integrity", r
assert "injected fault" in r["error"] and "stopped at" in r["error"], r
assert r["reported"] == r["error"], r
PY
echo "PASS"
