# Helpers of the instant-restore tests (sourced after ../nbd/lib.sh):
#   build_test_guest DIR [ARGS]   the test guest (tests/guest/build_guest.sh)
#   guestctl ARGS                 tests/guest/guestctl.py
#   instant_restore_bg LOG ARGS   pvesafe instant-restore --json for the test guest, in the
#                                 background (sets IR_PID); the guest boots with TCG unless
#                                 PVESAFE_TEST_ACCEL says otherwise
#   wait_phase LOG PHASE [S]      waits for a status line of that phase
#   summary_field LOG KEY         a field of the final summary line
GUEST_DIR=$PVESAFE_SOURCE_DIR/tests/guest
need qemu-system-x86_64 qemu-img debugfs busybox sfdisk mke2fs cpio openssl
guestctl() { python3 "$GUEST_DIR/guestctl.py" "$@"; }
build_test_guest() { "$GUEST_DIR/build_guest.sh" "$@" >/dev/null || exit $?; }

instant_restore_bg() {
  local log=$1 g=$2; shift 2
  "$PVESAFE_BIN" instant-restore --json --kernel "$g/vmlinuz" --initrd "$g/initrd.img" \
    --append "$(cat "$g/cmdline")" --memory 256 --accel "${PVESAFE_TEST_ACCEL:-tcg}" \
    --health-send ping --health-expect "PVESAFE pong" --health-timeout 4m "$@" > "$log" 2> "$log.err" &
  IR_PID=$!
  BG_PIDS+=("$IR_PID")
}

wait_phase() {
  local log=$1 phase=$2 secs=${3:-300} i
  for ((i = 0; i < secs * 10; i++)); do
    grep -q "\"phase\":\"$phase\"" "$log" 2>/dev/null && return 0
    kill -0 "$IR_PID" 2>/dev/null || { grep -q "\"phase\":\"$phase\"" "$log" && return 0; return 1; }
    sleep 0.1
  done
  return 1
}

summary_field() {
  grep '"message_type":"summary"' "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"
}

payload_md5() {
  head -c $(($1 << 20)) /dev/zero | openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f \
    -iv 00000000000000000000000000000000 -nosalt | md5sum | cut -d' ' -f1
}
