#!/usr/bin/env bash
# Exporter scrape time and peak RSS against pvesim clusters: 3 nodes / 100 guests and
# 100 nodes / 10,000 guests (targets for the large one: scrape < 1 s, RSS < 64 MiB).
# Side by side with Debian's prometheus-pve-exporter when it is packaged (it is not in Debian 12:
# `apt-cache policy prometheus-pve-exporter` is empty), so only pvesafe is measured then.
#   PVESAFE_BIN=build/bin/pvesafe PVESIM_BIN=build/bin/pvesim bench/exporter/bench.sh [SCRAPES]
set -euo pipefail
scrapes=${1:-7}
tmp=$(mktemp -d /tmp/pvesafe-bench-exporter.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
wait_line() { for ((i = 0; i < 600; i++)); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; cat "$1" >&2; return 1; }

# API_MS (variable): latency pvesim adds to each per-node call (/nodes/...), as a real cluster's
# pveproxy has (5-30 ms); 0 = none (pvesim answers in well under a millisecond).
API_MS=0
run() {  # NODES GUESTS [extra exporter flags]
  local nodes=$1 guests=$2; shift 2
  local d; d=$(mktemp -d "$tmp/$nodes-$guests.XXXX")
  "$PVESIM_BIN" --nodes "$nodes" --guests "$guests" --listen 127.0.0.1:0 --data-dir "$d/data" \
    --tokens "$d/tokens" >"$d/sim.out" 2>"$d/sim.log" &
  local sim=$!; pids+=($sim)
  wait_line "$d/sim.out" "listening on"
  local port fp tok
  port=$(grep -o 'https://127.0.0.1:[0-9]*' "$d/sim.out" | head -1 | sed 's/.*://')
  fp=$(grep -o 'fingerprint [0-9A-Fa-f:]*' "$d/sim.out" | awk '{print $2}')
  tok=$(grep '^auditor@pve!monitor=' "$d/tokens" | sed 's/^[^=]*=//; s/ .*//')
  PVESAFE_PVE_TOKEN_SECRET=$tok "$PVESAFE_BIN" exporter --mode central --no-catalog \
    --listen 127.0.0.1:0 --target "c=127.0.0.1:$port" --pve-token-id 'auditor@pve!monitor' \
    --pve-fingerprint "$fp" "$@" >"$d/exp.out" 2>"$d/exp.log" &
  local exp=$!; pids+=($exp)
  wait_line "$d/exp.out" "listening on"
  local url; url=$(grep -o 'http://[0-9.:]*' "$d/exp.out" | head -1)
  if ((API_MS > 0)); then
    curl -fsSk -d '' -o /dev/null "https://127.0.0.1:$port/pvesim/slow?ms=$API_MS&path=/nodes"
  fi
  local times=() t samples cpu0 cpu1 api
  # Reference: what the simulated API itself takes for the biggest answer (/cluster/resources).
  api=$(curl -fsSk -o /dev/null -w '%{time_total}' -H "Authorization: PVEAPIToken=auditor@pve!monitor=$tok" \
    "https://127.0.0.1:$port/api2/json/cluster/resources")
  cpu0=$(awk '{print $14 + $15}' "/proc/$exp/stat")
  for ((s = 0; s < scrapes; s++)); do
    t=$(curl -fsS -o "$d/m.prom" -w '%{time_total}' -H 'X-Prometheus-Scrape-Timeout-Seconds: 10' "$url/metrics?target=c")
    times+=("$t")
  done
  cpu1=$(awk '{print $14 + $15}' "/proc/$exp/stat")
  local cpu; cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$scrapes" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.3f", (b - a) / hz / n}')
  samples=$(grep -vc '^#' "$d/m.prom")
  local down; down=$(grep -c '^pvesafe_source_up{.*} 0' "$d/m.prom" || true)
  local rss; rss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$exp/status")
  local med; med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  local min; min=$(printf '%s\n' "${times[@]}" | sort -n | head -1)
  local max; max=$(printf '%s\n' "${times[@]}" | sort -n | tail -1)
  local what="pvesafe $nodes nodes/$guests guests${*:+ ($*)}"
  if ((API_MS > 0)); then what+=" (node calls +${API_MS} ms)"; fi
  printf '%-46s %7s %9s %9s %9s %9s %9s %9s %8s %8s\n' "$what" \
    "$scrapes" "$min" "$med" "$max" "$cpu" "$api" "$rss" "$samples" "$down"
  kill "$exp" "$sim" 2>/dev/null || true
}

# cpu_s: exporter CPU time per scrape; api_s: one GET /cluster/resources straight from pvesim.
printf '%-46s %7s %9s %9s %9s %9s %9s %9s %8s %8s\n' exporter scrapes min_s median_s max_s cpu_s api_s rss_MiB samples src_down
run 3 100
run 100 10000
run 100 10000 --no-node-details
API_MS=15 run 100 10000
run 100 10000 --audit-interval 300   # the background audit runs while the scrapes do
if apt-cache policy prometheus-pve-exporter 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  echo "prometheus-pve-exporter is packaged: install it with scripts/install-deps.sh and add it here"
else
  echo "prometheus-pve-exporter: not packaged in this Debian release (apt-cache policy is empty); not compared"
fi
