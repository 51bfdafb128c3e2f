# Helpers for the observability tests: start pvesim and pvesafe exporters on free loopback
# ports, stop them on exit. Source after `set -euo pipefail`.
OBS_TMP=$(mktemp -d /tmp/pvesafe-obs.XXXXXX)
OBS_PIDS=()
obs_cleanup() {
  local p
  for p in "${OBS_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.2
  for p in "${OBS_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$OBS_TMP"
}
trap obs_cleanup EXIT INT TERM

obs_need() {
  local t
  for t in "$@"; do command -v "$t" >/dev/null || { echo "$t not installed" >&2; exit 77; }; done
  [[ -x "${PVESAFE_BIN:-}" ]] || { echo "pvesafe not built" >&2; exit 77; }
}

obs_wait_line() {  # FILE REGEX: wait up to 30 s for a line
  local i
  for ((i = 0; i < 300; i++)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timeout waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1
}

# obs_pvesim NAME ARGS...: starts pvesim; sets PVESIM_PORT, PVESIM_FP, PVESIM_TOKEN (auditor).
obs_pvesim() {
  [[ -x "${PVESIM_BIN:-}" ]] || { echo "pvesim not built" >&2; exit 77; }
  local d="$OBS_TMP/$1"; shift
  mkdir -p "$d"
  "$PVESIM_BIN" "$@" --listen 127.0.0.1:0 --data-dir "$d/data" --tokens "$d/tokens" \
    >"$d/out" 2>"$d/log" &
  OBS_PIDS+=($!)
  obs_wait_line "$d/out" "listening on"
  PVESIM_PORT=$(grep -o 'https://127.0.0.1:[0-9]*' "$d/out" | head -1 | sed 's/.*://')
  PVESIM_FP=$(grep -o 'fingerprint [0-9A-Fa-f:]*' "$d/out" | head -1 | awk '{print $2}')
  PVESIM_TOKEN=$(grep '^auditor@pve!monitor=' "$d/tokens" | sed 's/^[^=]*=//; s/ .*//')
}

pvesim_ctl() { curl -fsS -k --max-time 10 -d '' "https://127.0.0.1:$PVESIM_PORT/pvesim/$1" >/dev/null; }

# obs_exporter NAME ARGS...: starts `pvesafe exporter ARGS --listen 127.0.0.1:0`; sets
# EXPORTER_URL and EXPORTER_LOG. The token secret travels in the environment, never argv.
obs_exporter() {
  local n=$1; shift
  "$PVESAFE_BIN" exporter "$@" --listen 127.0.0.1:0 >"$OBS_TMP/$n.out" 2>"$OBS_TMP/$n.log" &
  OBS_PIDS+=($!)
  obs_wait_line "$OBS_TMP/$n.out" "listening on"
  EXPORTER_URL=$(grep -o 'http://[0-9.:]*' "$OBS_TMP/$n.out" | head -1)
  EXPORTER_LOG="$OBS_TMP/$n.log"
}

# metric_value TEXT_FILE 'name{labels}' -> value (empty if absent)
metric_value() { awk -v k="$2" 'index($0, k " ") == 1 { print $NF; exit }' "$1"; }
