#!/usr/bin/env bash
# Instant restore from a directory repository when the repository fails under the guest:
#  1. the repository directory goes away during the copy: the copy stops (exit 6: a pack the
#     snapshot needs is missing), the guest runs on with the file it wrote;
#  2. a chunk of the guest's payload fails authentication: the guest's own read of that file
#     fails with an I/O error (md5sum fails inside the guest), its other files read fine, the
#     copy stops with exit 6 naming the chunk; nothing wrong is ever served.
source "$(dirname "$0")/../nbd/lib.sh"
source "$(dirname "$0")/lib.sh"
PVESIM_BIN=${PVESIM_BIN:-$PVESAFE_BUILD_DIR/bin/pvesim}
[[ -x "$PVESIM_BIN" ]] || fail "pvesim not built ($PVESIM_BIN)"

G=$T/guest
build_test_guest "$G" --disk-size 1G --payload-mib 48
PASS=$T/pass; (umask 077; echo "instant test passphrase" > "$PASS")
REPO=$T/repo
PV=(--repo "$REPO" --passphrase-file "$PASS")
"$PVESAFE_BIN" init "${PV[@]}" > /dev/null
printf 'boot: order=scsi0\nscsi0: local-lvm:vm-100-disk-0,size=1G\n' > "$T/qemu-server.conf"
vma=$T/vzdump-qemu-100-2026_12_04-01_00_00.vma
"$PVESIM_BIN" make-archive vma --disk drive-scsi0="$G/disk.raw" --config "$T/qemu-server.conf" --out "$vma" > /dev/null
"$PVESAFE_BIN" backup "${PV[@]}" --json "$vma" > "$T/backup.json"
rm -f "$vma"
SNAP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["snapshot_id"])' "$T/backup.json")

restore_and_write() {  # LOG RUN TARGET
  instant_restore_bg "$1" "$G" "${PV[@]}" "$SNAP" --disk drive-scsi0 --to "$3" --run-dir "$2" --copy-rate 4M
  on_exit "python3 '$GUEST_DIR/guestctl.py' stop --run-dir '$2'"
  wait_phase "$1" healthy 300 || fail "no healthy guest: $(cat "$1" "$1.err")"
  STAMP="kept-$RANDOM$RANDOM"
  guestctl cmd "$2/serial.sock" write /root/during-copy.txt "$STAMP" | grep -q "PVESAFE ok write" ||
    fail "the guest could not write"
  grep -q '"phase":"pivoted"' "$1" && fail "the copy was already over"
  return 0
}

note "1. the repository directory goes away during the copy"
restore_and_write "$T/ir1.log" "$T/run1" "$T/t1.raw"
mv "$REPO" "$REPO.away"
# The copy stops; the in-process export keeps serving the guest until it stops.
wait_phase "$T/ir1.log" failed 300 || fail "the copy did not fail: $(cat "$T/ir1.log" "$T/ir1.log.err")"
note "$(grep '"phase":"failed"' "$T/ir1.log")"
grep '"phase":"failed"' "$T/ir1.log" | grep -q "missing" || fail "the failure does not say what is missing"
guestctl health "$T/run1/serial.sock" --timeout 30 > /dev/null || fail "the guest stopped answering"
mv "$REPO.away" "$REPO"
guestctl cmd "$T/run1/serial.sock" cat /root/during-copy.txt | grep -qx "PVESAFE data $STAMP" || fail "file lost"
guestctl cmd "$T/run1/serial.sock" poweroff > /dev/null || true
rc=0; wait "$IR_PID" || rc=$?
[[ $rc == 6 ]] || fail "exit $rc, want 6: $(cat "$T/ir1.log.err")"
note "$(tail -1 "$T/ir1.log.err")"

note "2. a chunk of the payload fails authentication while the guest reads it"
# Packs hold the disk's chunks in disk order; the newest pack holds the end of the payload.
pack=$(find "$REPO/packs" -type f -printf '%T@ %s %p\n' | sort -n | tail -1 | cut -d' ' -f3)
size=$(stat -c %s "$pack")
printf '\xff' | dd of="$pack" bs=1 seek=$((size / 2)) conv=notrunc status=none
rc=0; "$PVESAFE_BIN" files get "${PV[@]}" "$SNAP" --disk drive-scsi0 /data/payload --to "$T/p" 2> /dev/null || rc=$?
[[ $rc == 6 ]] || fail "the corrupted byte is not in the payload (files get exited $rc)"
restore_and_write "$T/ir2.log" "$T/run2" "$T/t2.raw"
# guestctl exits 1 on a "PVESAFE fail" answer: that is the answer wanted here.
answer=$(guestctl cmd "$T/run2/serial.sock" md5 /data/payload) || true
[[ $answer == "PVESAFE fail md5 /data/payload" ]] || fail "the guest's read did not fail: $answer"
guestctl cmd "$T/run2/serial.sock" cat /etc/hostname | grep -qx "PVESAFE data pvesafe-guest" || fail "other reads fail too"
guestctl cmd "$T/run2/serial.sock" cat /root/during-copy.txt | grep -qx "PVESAFE data $STAMP" || fail "file lost"
wait_phase "$T/ir2.log" failed 300 || fail "the copy did not fail: $(cat "$T/ir2.log" "$T/ir2.log.err")"
note "$(grep '"phase":"failed"' "$T/ir2.log")"
grep '"phase":"failed"' "$T/ir2.log" | grep -q "chunk [0-9a-f]\{64\}" || fail "the failure does not name the chunk"
grep -q "read of .* failed: .*damaged" "$T/ir2.log.err" || fail "the export did not log the guest's failed read"
guestctl health "$T/run2/serial.sock" --timeout 30 > /dev/null || fail "the guest stopped answering"
guestctl cmd "$T/run2/serial.sock" poweroff > /dev/null || true
rc=0; wait "$IR_PID" || rc=$?
[[ $rc == 6 ]] || fail "exit $rc, want 6: $(cat "$T/ir2.log.err")"
note "$(tail -1 "$T/ir2.log.err")"
[[ $(summary_field "$T/ir2.log" error_category) == integrity ]] || fail "category $(summary_field "$T/ir2.log" error_category)"
echo "PASS"
