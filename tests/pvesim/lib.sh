# Shared by the pvesim tests: starts a private pvesim on a free port and stops it on exit.
#   pvesim_start [pvesim args...]  sets PVESIM_DIR PVESIM_PORT PVESIM_URL PVESIM_FPR PVESIM_CERT
#                                  PVESIM_TOKENS (file) and registers the cleanup trap.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1  # keep the source tree clean

: "${PVESIM_BIN:?PVESIM_BIN must point to the pvesim binary}"
[ -x "$PVESIM_BIN" ] || { echo "pvesim binary not built: $PVESIM_BIN" >&2; exit 77; }

PVESIM_PID=""
PVESIM_DIR=""

pvesim_stop() {
  if [ -n "$PVESIM_PID" ]; then
    kill "$PVESIM_PID" 2>/dev/null || true
    wait "$PVESIM_PID" 2>/dev/null || true
    PVESIM_PID=""
  fi
  if [ -n "$PVESIM_DIR" ] && [ -z "${PVESIM_KEEP:-}" ]; then rm -rf "$PVESIM_DIR"; fi
}

pvesim_start() {
  PVESIM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pvesim-test.XXXXXX")
  trap pvesim_stop EXIT
  "$PVESIM_BIN" --port 0 --data-dir "$PVESIM_DIR/data" --cert-out "$PVESIM_DIR/cert.pem" "$@" \
    >"$PVESIM_DIR/stdout" 2>"$PVESIM_DIR/stderr" &
  PVESIM_PID=$!
  for _ in $(seq 1 300); do
    grep -q "pvesim listening" "$PVESIM_DIR/stdout" 2>/dev/null && break
    kill -0 "$PVESIM_PID" 2>/dev/null || { cat "$PVESIM_DIR/stderr" >&2; echo "pvesim did not start" >&2; exit 1; }
    sleep 0.1
  done
  grep -q "pvesim listening" "$PVESIM_DIR/stdout" || { echo "pvesim not ready" >&2; exit 1; }
  PVESIM_PORT=$(sed -n 's|.*https://127.0.0.1:\([0-9]*\) .*|\1|p' "$PVESIM_DIR/stdout")
  PVESIM_FPR=$(sed -n 's|.* fingerprint \(.*\)$|\1|p' "$PVESIM_DIR/stdout")
  PVESIM_URL="https://127.0.0.1:$PVESIM_PORT"
  PVESIM_CERT="$PVESIM_DIR/cert.pem"
  PVESIM_TOKENS="$PVESIM_DIR/data/tokens"
  export PVESIM_DIR PVESIM_PORT PVESIM_URL PVESIM_FPR PVESIM_CERT PVESIM_TOKENS
}
