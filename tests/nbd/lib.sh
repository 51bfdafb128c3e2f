# Shared helpers of the NBD and instant-restore tests (sourced). Everything lives under $T
# (removed on exit); every process started with bg is stopped at exit.
#   need CMD...            skip (77) unless every command exists
#   make_image PATH        a raw image with data, holes and a last partial chunk; its layout is
#                          in IMAGE_DATA (offset:length pairs) and IMAGE_SIZE
#   start_export ARGS...   pvesafe nbd ARGS --json in the background; waits for its "listening"
#                          line; sets EXPORT_PID, EXPORT_URI, EXPORT_LOG
#   start_fault_export ARGS...  the same with pvesafe-nbd-fault-server
#   stop_pid PID           SIGTERM and wait; the exit status is in $STOP_RC
#   on_exit CMD            run CMD at exit (before the background processes are killed)
#   fail MSG, note MSG
set -euo pipefail

: "${PVESAFE_BIN:?PVESAFE_BIN must point to the pvesafe binary}"
: "${PVESAFE_BUILD_DIR:=$(dirname "$(dirname "$PVESAFE_BIN")")}"
: "${PVESAFE_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
FAULT_SERVER="$PVESAFE_BUILD_DIR/bin/pvesafe-nbd-fault-server"
# python3-libnbd is a Debian package: use Debian's python3 even when another one is first in PATH.
SYSPY=${PVESAFE_SYSTEM_PYTHON:-/usr/bin/python3}
need_libnbd_python() {
  "$SYSPY" -c 'import nbd' 2>/dev/null || { echo "SKIP: python3-libnbd not installed" >&2; exit 77; }
}

T=$(mktemp -d "${TMPDIR:-/tmp}/pvesafe-nbd.XXXXXX")
export PVESAFE_CATALOG="$T/catalog.db"  # the audit log of this test only
BG_PIDS=()
EXIT_HOOKS=()
on_exit() { EXIT_HOOKS+=("$1"); }
_cleanup() {
  local rc=$? h
  for h in "${EXIT_HOOKS[@]}"; do eval "$h" >/dev/null 2>&1 || true; done
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ $rc -ne 0 && $rc -ne 77 ]]; then
    for f in "$T"/*.log; do [[ -f "$f" ]] && { echo "== $f" >&2; tail -30 "$f" >&2; }; done
  fi
  rm -rf "$T"
  exit $rc
}
trap _cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "== $*"; }
need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null || { echo "SKIP: $c not installed (scripts/install-deps.sh --test)" >&2; exit 77; }
  done
}

# 64 MiB + 1.5 MiB + 4.5 KiB: random data at 0..4 MiB, 20..21 MiB, 40 MiB + 64 KiB - 100 (not
# aligned), and the whole last partial 4 MiB chunk; holes elsewhere.
IMAGE_SIZE=$(( (64 << 20) + (3 << 19) + 4608 ))
IMAGE_DATA="0:$((4 << 20)) $((20 << 20)):$((1 << 20)) $(( (40 << 20) + 65536 - 100 )):300000 $((64 << 20)):$(( (3 << 19) + 4608 ))"
make_image() {
  local path=$1 pair off len
  truncate -s "$IMAGE_SIZE" "$path"
  for pair in $IMAGE_DATA; do
    off=${pair%%:*}; len=${pair##*:}
    head -c "$len" /dev/urandom | dd of="$path" bs=1M seek="$off" oflag=seek_bytes conv=notrunc status=none
  done
}

_wait_line() {  # file key timeout
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    if grep -q "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

start_export() {
  EXPORT_LOG=$T/export.$RANDOM.log
  "$PVESAFE_BIN" nbd --json "$@" > "$EXPORT_LOG" 2>&1 &
  EXPORT_PID=$!
  BG_PIDS+=("$EXPORT_PID")
  _wait_line "$EXPORT_LOG" '"listening"' 20 || fail "pvesafe nbd did not start: $(cat "$EXPORT_LOG")"
  EXPORT_URI=$(grep '"listening"' "$EXPORT_LOG" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["uri"])')
}

start_fault_export() {
  [[ -x "$FAULT_SERVER" ]] || { echo "SKIP: $FAULT_SERVER not built" >&2; exit 77; }
  EXPORT_LOG=$T/fault-export.$RANDOM.log
  "$FAULT_SERVER" "$@" > "$EXPORT_LOG" 2>&1 &
  EXPORT_PID=$!
  BG_PIDS+=("$EXPORT_PID")
  _wait_line "$EXPORT_LOG" '"uri"' 20 || fail "fault server did not start: $(cat "$EXPORT_LOG")"
  EXPORT_URI=$(grep '"uri"' "$EXPORT_LOG" | head -1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["uri"])')
}

stop_pid() {
  STOP_RC=0
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" || STOP_RC=$?
}
