#!/usr/bin/env bash
# Instant restore from the repository, for real: the test guest's disk is backed up as a VMA
# snapshot (pvesim make-archive + pvesafe backup), then `pvesafe instant-restore SNAPSHOT --disk
# drive-scsi0` boots it through the repository-backed NBD export. The guest answers its health
# check having fetched a few MiB, writes a file during the background copy; after the pivot the
# repository is made unreachable and the guest still runs, reads its file and its whole payload.
#   instant_restore_repo.sh local   a directory repository, moved away after the copy; also the
#                                   bad input that fails before QEMU starts (a stream snapshot,
#                                   a disk the snapshot does not have: exit 5)
#   instant_restore_repo.sh s3      a Ceph RGW repository behind a fault proxy: first the proxy
#                                   fails every request during a copy (exit 7, the guest runs on
#                                   with its file), then a good run after which RGW is stopped
source "$(dirname "$0")/../nbd/lib.sh"
source "$(dirname "$0")/lib.sh"
mode=${1:-local}
PVESIM_BIN=${PVESIM_BIN:-$PVESAFE_BUILD_DIR/bin/pvesim}
[[ -x "$PVESIM_BIN" ]] || fail "pvesim not built ($PVESIM_BIN)"

G=$T/guest
build_test_guest "$G" --disk-size 1G --payload-mib 48
PASS=$T/pass; (umask 077; echo "instant test passphrase" > "$PASS")
OPTS=()
if [[ $mode == s3 ]]; then
  command -v radosgw >/dev/null || { echo "SKIP: radosgw not installed" >&2; exit 77; }
  RGW_SH=$PVESAFE_SOURCE_DIR/tests/servers/rgw.sh
  on_exit "bash '$RGW_SH' stop '$T/rgw'"
  bash "$RGW_SH" start "$T/rgw" > /dev/null
  eval "$(bash "$RGW_SH" env "$T/rgw")"
  python3 "$PVESAFE_SOURCE_DIR/tests/s3/fault_proxy.py" --upstream "$PVESAFE_TEST_S3_ENDPOINT" \
    --port-file "$T/proxy.port" > "$T/proxy.txt" 2>&1 &
  BG_PIDS+=($!)
  for _ in $(seq 100); do [[ -s "$T/proxy.port" ]] && break; sleep 0.1; done
  PROXY_URL="http://127.0.0.1:$(cat "$T/proxy.port")"
  # A gateway that has just started can answer 503 SlowDown for a moment on a loaded machine:
  # setting up the repository keeps the default retry budget; the commands that meet the
  # failing repository try 3 times, so they end quickly.
  OPTS=(-o "s3.endpoint=$PROXY_URL" -o s3.create-bucket=true)
  SETUP_OPTS=("${OPTS[@]}")
  OPTS+=(-o s3.max-attempts=3)
  REPO="s3://instant-$$/repo"
else
  SETUP_OPTS=()
  REPO=$T/repo
fi
PV=(--repo "$REPO" --passphrase-file "$PASS")
psafe() { "$PVESAFE_BIN" "${OPTS[@]}" "$@"; }
psafe_setup() { "$PVESAFE_BIN" "${SETUP_OPTS[@]}" "$@"; }
psafe_setup init "${PV[@]}" > /dev/null
printf 'boot: order=scsi0\nmemory: 256\nname: instant-test\nscsi0: local-lvm:vm-100-disk-0,size=1G\n' > "$T/qemu-server.conf"
vma=$T/vzdump-qemu-100-2026_12_04-01_00_00.vma
"$PVESIM_BIN" make-archive vma --disk drive-scsi0="$G/disk.raw" --config "$T/qemu-server.conf" \
  --out-of-order 3 --out "$vma" > /dev/null
psafe_setup backup "${PV[@]}" --json "$vma" > "$T/backup.json"
rm -f "$vma"
SNAP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["snapshot_id"])' "$T/backup.json")
note "snapshot $SNAP in $REPO"

# instant_restore_bg with the repository's options before the subcommand.
ir_bg() {  # LOG RUN TARGET [ARGS]
  local log=$1 run=$2 target=$3; shift 3
  "$PVESAFE_BIN" "${OPTS[@]}" instant-restore --json --kernel "$G/vmlinuz" --initrd "$G/initrd.img" \
    --append "$(cat "$G/cmdline")" --memory 256 --accel "${PVESAFE_TEST_ACCEL:-tcg}" \
    --health-send ping --health-expect "PVESAFE pong" --health-timeout 4m \
    "${PV[@]}" "$SNAP" --disk drive-scsi0 --to "$target" --run-dir "$run" "$@" > "$log" 2> "$log.err" &
  IR_PID=$!
  BG_PIDS+=("$IR_PID")
  on_exit "python3 '$GUEST_DIR/guestctl.py' stop --run-dir '$run'"
}

write_during_copy() {  # LOG RUN -> STAMP
  wait_phase "$1" healthy 300 || fail "no healthy guest: $(cat "$1" "$1.err")"
  note "healthy: $(grep '"phase":"healthy"' "$1")"
  STAMP="written-during-copy-$RANDOM$RANDOM"
  guestctl cmd "$2/serial.sock" write /root/during-copy.txt "$STAMP" | grep -q "PVESAFE ok write" ||
    fail "the guest could not write"
  grep -q '"phase":"pivoted"' "$1" && fail "the copy was already over: the write did not happen during it"
  return 0
}

if [[ $mode == local ]]; then
  note "bad input fails before QEMU starts: a stream snapshot, a disk the snapshot does not have"
  echo "a plain file" > "$T/notes.txt"
  stream=$(psafe backup "${PV[@]}" --json "$T/notes.txt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["snapshot_id"])')
  rc=0; psafe instant-restore "${PV[@]}" "$stream" --disk drive-scsi0 --to "$T/x.raw" --run-dir "$T/xrun" \
    --kernel "$G/vmlinuz" 2> "$T/err" || rc=$?
  [[ $rc == 5 ]] || fail "stream snapshot: exit $rc: $(cat "$T/err")"
  note "$(cat "$T/err")"
  rc=0; psafe instant-restore "${PV[@]}" "$SNAP" --disk drive-virtio3 --to "$T/x.raw" --run-dir "$T/xrun" \
    --kernel "$G/vmlinuz" 2> "$T/err" || rc=$?
  [[ $rc == 5 ]] || fail "missing disk: exit $rc: $(cat "$T/err")"
  grep -q drive-scsi0 "$T/err" || fail "the error does not name the disks there are: $(cat "$T/err")"
  [[ ! -e "$T/x.raw" ]] || fail "a target was left behind"
else
  note "the repository stops answering during the copy (every request fails at the proxy)"
  ir_bg "$T/irf.log" "$T/runf" "$T/tf.raw" --copy-rate 4M
  write_during_copy "$T/irf.log" "$T/runf"
  curl -sf -X POST "$PROXY_URL/__fault__/config?rate=1" > /dev/null
  # The copy stops; the in-process export keeps serving the guest until it stops.
  wait_phase "$T/irf.log" failed 300 || fail "the copy did not fail: $(cat "$T/irf.log" "$T/irf.log.err")"
  note "$(grep '"phase":"failed"' "$T/irf.log")"
  guestctl health "$T/runf/serial.sock" --timeout 30 >/dev/null || fail "the guest stopped answering"
  guestctl cmd "$T/runf/serial.sock" cat /root/during-copy.txt | grep -qx "PVESAFE data $STAMP" ||
    fail "the guest lost its file"
  guestctl cmd "$T/runf/serial.sock" poweroff > /dev/null || true
  rc=0; wait "$IR_PID" || rc=$?
  [[ $rc == 7 ]] || fail "exit $rc, want 7: $(cat "$T/irf.log.err")"
  note "$(tail -1 "$T/irf.log.err")"
  curl -sf -X POST "$PROXY_URL/__fault__/config?rate=0" > /dev/null
fi

note "instant restore from the repository, copy limited to 6 MiB/s"
run=$T/run
ir_bg "$T/ir.log" "$run" "$T/target.raw" --copy-rate 6M
write_during_copy "$T/ir.log" "$run"
wait "$IR_PID" || fail "instant-restore exited $?: $(cat "$T/ir.log.err")"
[[ $(summary_field "$T/ir.log" copied) == True ]] || fail "not copied: $(tail -1 "$T/ir.log")"
at_healthy=$(summary_field "$T/ir.log" source_bytes_at_healthy)
total=$(summary_field "$T/ir.log" source_bytes_total)
note "fetched from the repository: $at_healthy bytes before healthy, $total in all ($(summary_field "$T/ir.log" seconds_to_healthy) s to healthy)"
(( at_healthy > 0 && at_healthy < 16 * 1024 * 1024 )) || fail "boot fetched $at_healthy bytes"
(( total > 48 * 1024 * 1024 )) || fail "the copy fetched only $total bytes"
pid=$(summary_field "$T/ir.log" qemu_pid)

note "the repository becomes unreachable; the guest runs on from the target"
if [[ $mode == s3 ]]; then
  bash "$RGW_SH" stop "$T/rgw" > /dev/null
  rc=0; psafe snapshots "${PV[@]}" > /dev/null 2>&1 || rc=$?
  [[ $rc != 0 ]] || fail "the repository still answers"
else
  mv "$REPO" "$REPO.gone"
fi
kill -0 "$pid" || fail "the guest is not running"
guestctl qmp "$run/qmp.sock" query-named-block-nodes > "$T/nodes.json"
python3 - "$T/nodes.json" <<'PY'
import json, sys
assert not [n for n in json.load(open(sys.argv[1])) if n["drv"] == "nbd"], "an NBD node is left"
PY
guestctl cmd "$run/serial.sock" cat /root/during-copy.txt | grep -qx "PVESAFE data $STAMP" || fail "file lost"
[[ $(guestctl cmd "$run/serial.sock" md5 /data/payload) == "PVESAFE md5 $(payload_md5 48)" ]] || fail "payload"
guestctl cmd "$run/serial.sock" write /root/after.txt after | grep -q "PVESAFE ok write" || fail "write after"
guestctl cmd "$run/serial.sock" poweroff > /dev/null
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
debugfs -R 'cat /root/during-copy.txt' "$T/target.raw?offset=1048576" 2>/dev/null | grep -qx "$STAMP" ||
  fail "the file is not on the target"
echo "PASS"
