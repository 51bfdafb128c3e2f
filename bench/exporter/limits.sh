#!/usr/bin/env bash
# The exporter under hostile clients: 200 slow clients (slowloris: each opens a connection and
# dribbles header lines, one every second, reconnecting whenever the exporter closes it) and
# clients sending 100 MiB request bodies (a POST, a GET) as fast as they can, while Prometheus-style scrapes (one a second, cache
# off, so each is a real collection from pvesim) must still be answered. Prints the exporter's
# peak RSS, the scrape times, what the attackers saw and the exporter's own refusal counters.
# Targets: RSS peak < 128 MiB, every scrape < 1 s.
#   PVESAFE_BIN=build/bin/pvesafe PVESIM_BIN=build/bin/pvesim bench/exporter/limits.sh [SECONDS]
# BASELINE_BIN=/path/to/an/older/pvesafe runs the same attack against it first, side by side
# (an exporter without these limits has no --cache-ttl; its flags are left out for it).
set -euo pipefail
secs=${1:-30}
slow=${SLOW_CLIENTS:-200}
tmp=$(mktemp -d /tmp/pvesafe-bench-limits.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
wait_line() { for ((i = 0; i < 600; i++)); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; cat "$1" >&2; return 1; }

run_one() {  # BIN LABEL EXTRA_EXPORTER_ARGS...
  local bin=$1 label=$2; shift 2
  local extra=("$@")
  local d
  d=$(mktemp -d "$tmp/run.XXXX")
  "$PVESIM_BIN" --nodes 3 --guests 100 --listen 127.0.0.1:0 --data-dir "$d/data" \
    --tokens "$d/tokens" >"$d/sim.out" 2>"$d/sim.log" &
  pids+=($!)
  wait_line "$d/sim.out" "listening on"
  port=$(grep -o 'https://127.0.0.1:[0-9]*' "$d/sim.out" | head -1 | sed 's/.*://')
  fp=$(grep -o 'fingerprint [0-9A-Fa-f:]*' "$d/sim.out" | awk '{print $2}')
  tok=$(grep '^auditor@pve!monitor=' "$d/tokens" | sed 's/^[^=]*=//; s/ .*//')
  PVESAFE_PVE_TOKEN_SECRET=$tok "$bin" exporter --mode central --no-catalog "${extra[@]}" \
    --listen 127.0.0.1:0 --target "c=127.0.0.1:$port" --pve-token-id 'auditor@pve!monitor' \
    --pve-fingerprint "$fp" >"$d/exp.out" 2>"$d/exp.log" &
  exp=$!
  pids+=($exp)
  wait_line "$d/exp.out" "listening on"
  url=$(grep -o 'http://[0-9.:]*' "$d/exp.out" | head -1)
  eport=${url##*:}

  # RSS of the exporter every 50 ms (VmHWM is read at the end too).
  (while kill -0 "$exp" 2>/dev/null; do awk '/VmRSS/ {print $2}' "/proc/$exp/status"; sleep 0.05; done) \
    >"$d/rss" 2>/dev/null &
  pids+=($!)

  scrape() { curl -sS --max-time 30 -o "$d/m.prom" -w '%{http_code} %{time_total}\n' \
    -H 'X-Prometheus-Scrape-Timeout-Seconds: 10' "$url/metrics?target=c" 2>/dev/null || true; }
  idle=$(for i in 1 2 3 4 5; do scrape; done | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {print a[3]}')

  # The attackers, in one Python process: slow clients, then a POST and a GET each sending a
  # 100 MiB body as fast as the exporter takes it.
  python3 - "$eport" "$slow" "$secs" >"$d/attack.out" 2>&1 <<'PY' &
import socket, sys, threading, time
port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
end = time.time() + secs
stats = {"connects": 0, "closed_by_server": 0, "answers": {}}
lock = threading.Lock()

def slow_client():
    s = None
    while time.time() < end:
        try:
            if s is None:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"GET /metrics?target=c HTTP/1.1\r\nHost: x\r\n")
                with lock: stats["connects"] += 1
            s.sendall(b"X-Slow: 1\r\n")  # never the blank line that ends the headers
            s.settimeout(1.0)
            try:
                data = s.recv(4096)
                with lock:
                    stats["closed_by_server"] += 1
                    code = data[9:12].decode() if data.startswith(b"HTTP/") else "closed"
                    stats["answers"][code] = stats["answers"].get(code, 0) + 1
                s.close(); s = None
            except socket.timeout:
                pass
        except OSError:
            with lock: stats["closed_by_server"] += 1
            try: s.close()
            except Exception: pass
            s = None; time.sleep(0.2)

def big_body(method):
    total = 100 << 20
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"%s /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (method, total))
    chunk = b"x" * (1 << 20)
    sent, answer = 0, b""
    t0 = time.time()
    try:
        while sent < total:
            sent += s.send(chunk)
    except OSError:
        pass
    try:
        s.settimeout(5)
        answer = s.recv(200)
    except OSError:
        pass
    print("%s with a 100 MiB body: sent %d of %d bytes before the exporter closed (%.2f s), "
          "answer: %r" % (method.decode(), sent, total, time.time() - t0, answer.split(b"\r\n")[0]))

threads = [threading.Thread(target=slow_client) for _ in range(n)]
for t in threads: t.start()
time.sleep(2)
big_body(b"POST")
big_body(b"GET")
for t in threads: t.join()
print("slow clients: %d connections, %d closed by the exporter, answers %s" %
      (stats["connects"], stats["closed_by_server"], stats["answers"]))
PY
  attack=$!
  pids+=($attack)
  sleep 3  # the slow clients are connected
  times=()
  local conns=0 c
  while kill -0 "$attack" 2>/dev/null; do
    out=$(scrape)
    times+=("${out#* }")
    [[ ${out% *} == 200 ]] || echo "scrape failed: $out" >&2
    # Connections the exporter held while answering this scrape (its own counter).
    c=$(awk '/^pvesafe_exporter_http_connections / {print $2}' "$d/m.prom" 2>/dev/null || true)
    ((${c:-0} > conns)) && conns=$c
    sleep 1
  done
  wait "$attack" || true
  metrics=$(curl -sS --max-time 30 "$url/metrics" || true)
  hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$exp/status")
  peak=$(sort -n "$d/rss" | tail -1 | awk '{printf "%.1f", $1/1024}')
  med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  max=$(printf '%s\n' "${times[@]}" | sort -n | tail -1)

  echo "== $label: exporter limits: $slow slow clients + 100 MiB request bodies (POST, GET) for ${secs} s, 3 nodes/100 guests (pvesim), cache off"
  cat "$d/attack.out"
  printf 'scrapes during the attack: %d, median %s s, max %s s (idle median %s s)\n' \
    "${#times[@]}" "$med" "$max" "$idle"
  printf 'exporter RSS: peak %s MiB (VmHWM %s MiB); most connections open at a scrape: %s\n' \
    "$peak" "$hwm" "$conns"
  grep -E '^pvesafe_exporter_http_(refused|connections)' <<<"$metrics" | sed 's/^/  /' || true
  ok=1
  awk -v m="$max" 'BEGIN {exit !(m < 1.0)}' || ok=0
  awk -v h="$hwm" 'BEGIN {exit !(h < 128)}' || ok=0
  ((ok)) && echo "targets met: every scrape < 1 s, RSS < 128 MiB" || echo "TARGETS MISSED"
}

if [[ -n ${BASELINE_BIN:-} ]]; then
  run_one "$BASELINE_BIN" "baseline $(basename "$BASELINE_BIN")" || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pids=()
  echo
fi
run_one "$PVESAFE_BIN" "pvesafe" --cache-ttl 0
