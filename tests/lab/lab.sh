#!/usr/bin/env bash
# MTTD lab: a real 3-node corosync 3 cluster (knet, crypto on, PVE's totem defaults), one node
# per network namespace, link0 on a dedicated cluster bridge and link1 on a data bridge (like a
# PVE cluster with a redundant ring), a node-mode pvesafe exporter in each namespace, a central
# exporter against pvesim, and Prometheus + Alertmanager from Debian with the shipped configs
# (only targets, paths and ports overridden), notifying a webhook that timestamps what it gets.
#
# Source this file, then: lab_up; fault_* / recover_*; wait_alert ...; lab_down (trap it).
# Names carry this shell's PID (pvs-<pid>-nN, bridges pvsc<pid>/pvsd<pid>), and lab_clean_stale
# removes what a crashed run left behind, so runs never poison each other.
#
# Needs root (namespaces, bridges, nftables), corosync, prometheus, prometheus-alertmanager,
# python3-yaml, and PVESAFE_BIN / PVESIM_BIN.
set -euo pipefail

LAB_ID=${LAB_ID:-$$}
LAB_NODES=${LAB_NODES:-3}
LAB_SRC=${PVESAFE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LAB_NET=$((20 + LAB_ID % 200))
LAB_DIR=""
LAB_PY=/usr/bin/python3

lab_log() { echo "lab[$(date +%H:%M:%S)]: $*" >&2; }

lab_check_tools() {
  local t
  [[ $(id -u) -eq 0 ]] || { echo "lab: needs root" >&2; return 77; }
  for t in corosync corosync-keygen prometheus prometheus-alertmanager nft ip unshare curl; do
    command -v "$t" >/dev/null || { echo "lab: $t not installed" >&2; return 77; }
  done
  [[ -x "${PVESAFE_BIN:-}" ]] || { echo "lab: PVESAFE_BIN not built" >&2; return 77; }
  $LAB_PY -c 'import yaml' 2>/dev/null || { echo "lab: python3-yaml missing" >&2; return 77; }
  ip netns add "pvs-probe-$$" 2>/dev/null || { echo "lab: cannot create network namespaces" >&2; return 77; }
  ip netns del "pvs-probe-$$"
}

lab_free_port() {
  $LAB_PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Removes namespaces, bridges and processes of lab runs whose shell is gone.
lab_clean_stale() {
  local ns pid br
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^pvs-[0-9]+-n[0-9]+$' || true); do
    pid=${ns#pvs-}; pid=${pid%%-*}
    if ! kill -0 "$pid" 2>/dev/null; then
      ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
      ip netns del "$ns" 2>/dev/null || true
      lab_log "removed stale namespace $ns"
    fi
  done
  for br in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | grep -E '^pvs[cd][0-9]+$' || true); do
    pid=${br#pvs?}
    if ! kill -0 "$pid" 2>/dev/null; then ip link del "$br" 2>/dev/null || true; fi
  done
}

ns_of() { echo "pvs-$LAB_ID-n$1"; }
cl_ip() { echo "10.$LAB_NET.1.$1"; }
data_ip() { echo "10.$LAB_NET.2.$1"; }

lab_write_corosync_conf() {
  local n f="$LAB_DIR/corosync.conf"
  {
    cat <<CONF
# PVE's corosync.conf shape (pvecm create/addnode): knet, secauth on, two links,
# default token (3000 ms + 650 ms token_coefficient per node above two).
logging {
  debug: off
  to_syslog: no
  to_stderr: yes
  timestamp: on
}
nodelist {
CONF
    for ((n = 1; n <= LAB_NODES; n++)); do
      cat <<CONF
  node {
    name: n$n
    nodeid: $n
    quorum_votes: 1
    ring0_addr: $(cl_ip "$n")
    ring1_addr: $(data_ip "$n")
  }
CONF
    done
    cat <<CONF
}
quorum {
  provider: corosync_votequorum
}
totem {
  cluster_name: pvslab$LAB_ID
  config_version: 1
  interface {
    linknumber: 0
  }
  interface {
    linknumber: 1
  }
  ip_version: ipv4-6
  link_mode: passive
  secauth: on
  keyfile: $LAB_DIR/authkey
  version: 2
}
CONF
  } >"$f"
}

# Starts corosync in node N's namespace with a private /run, /var/lib/corosync and /var/log
# (corosync 3.1 hard-codes /var/run/corosync.pid).
lab_start_corosync() {
  local n=$1 ns; ns=$(ns_of "$n")
  ip netns exec "$ns" unshare -m --propagation private sh -c "
    mount -t tmpfs tmpfs /run && mkdir -p /run/corosync &&
    mount -t tmpfs tmpfs /var/lib/corosync 2>/dev/null || { mkdir -p /var/lib/corosync && mount -t tmpfs tmpfs /var/lib/corosync; }
    mount -t tmpfs tmpfs /var/log 2>/dev/null
    mkdir -p /var/log/corosync
    exec corosync -f -c $LAB_DIR/corosync.conf" >"$LAB_DIR/corosync-n$n.log" 2>&1 &
  echo $! >"$LAB_DIR/corosync-n$n.pid"
}

lab_start_node_exporter() {
  local n=$1 ns; ns=$(ns_of "$n")
  ip netns exec "$ns" "$PVESAFE_BIN" exporter --mode node --node "n$n" --no-catalog \
    --listen "$(data_ip "$n"):9221" >"$LAB_DIR/exporter-n$n.out" 2>"$LAB_DIR/exporter-n$n.log" &
  echo $! >"$LAB_DIR/exporter-n$n.pid"
}

lab_wait_http() {  # URL [tries]
  local i
  for ((i = 0; i < ${2:-100}; i++)); do
    curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "lab: $1 did not come up" >&2
  return 1
}

lab_up() {
  lab_clean_stale
  LAB_DIR=$(mktemp -d /tmp/pvesafe-lab.XXXXXX)
  lab_log "dir $LAB_DIR, net 10.$LAB_NET.0.0/16"
  local n ns brc="pvsc$LAB_ID" brd="pvsd$LAB_ID"
  ip link add "$brc" type bridge && ip link set "$brc" up
  ip link add "$brd" type bridge && ip link set "$brd" up
  ip addr add "10.$LAB_NET.2.254/24" dev "$brd"   # Prometheus reaches the exporters here
  for ((n = 1; n <= LAB_NODES; n++)); do
    ns=$(ns_of "$n")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add "pvc${LAB_ID}n$n" type veth peer name "pvC${LAB_ID}n$n"
    ip link set "pvC${LAB_ID}n$n" netns "$ns"
    ip -n "$ns" link set "pvC${LAB_ID}n$n" name cl0
    ip link set "pvc${LAB_ID}n$n" master "$brc" up
    ip link add "pvd${LAB_ID}n$n" type veth peer name "pvD${LAB_ID}n$n"
    ip link set "pvD${LAB_ID}n$n" netns "$ns"
    ip -n "$ns" link set "pvD${LAB_ID}n$n" name data0
    ip link set "pvd${LAB_ID}n$n" master "$brd" up
    ip -n "$ns" addr add "$(cl_ip "$n")/24" dev cl0
    ip -n "$ns" addr add "$(data_ip "$n")/24" dev data0
    ip -n "$ns" link set cl0 up
    ip -n "$ns" link set data0 up
  done
  corosync-keygen -k "$LAB_DIR/authkey" >/dev/null 2>&1
  chmod 600 "$LAB_DIR/authkey"
  lab_write_corosync_conf
  for ((n = 1; n <= LAB_NODES; n++)); do lab_start_corosync "$n"; done
  for ((n = 1; n <= LAB_NODES; n++)); do lab_start_node_exporter "$n"; done

  # pvesim and the central exporter in the root namespace (loopback).
  LAB_PVESIM_PORT=""
  if [[ -x "${PVESIM_BIN:-}" ]]; then
    "$PVESIM_BIN" --nodes 3 --guests 6 --listen 127.0.0.1:0 --data-dir "$LAB_DIR/pvesim" \
      --tokens "$LAB_DIR/tokens" >"$LAB_DIR/pvesim.out" 2>"$LAB_DIR/pvesim.log" &
    echo $! >"$LAB_DIR/pvesim.pid"
    local i
    for ((i = 0; i < 100; i++)); do
      grep -q "listening on" "$LAB_DIR/pvesim.out" 2>/dev/null && break
      sleep 0.1
    done
    LAB_PVESIM_PORT=$(grep -o 'https://127.0.0.1:[0-9]*' "$LAB_DIR/pvesim.out" | head -1 | sed 's/.*://')
    LAB_PVESIM_FP=$(grep -o 'fingerprint [0-9A-Fa-f:]*' "$LAB_DIR/pvesim.out" | head -1 | awk '{print $2}')
  fi
  LAB_CENTRAL_PORT=$(lab_free_port)
  local catalog_args=(--no-catalog)
  [[ -n "${LAB_CATALOG:-}" ]] && catalog_args=(--catalog "$LAB_CATALOG")
  if [[ -n "$LAB_PVESIM_PORT" ]]; then
    PVESAFE_PVE_TOKEN_SECRET=$(grep '^auditor@pve!monitor=' "$LAB_DIR/tokens" | sed 's/^[^=]*=//; s/ .*//') \
      "$PVESAFE_BIN" exporter --mode central \
      --listen "127.0.0.1:$LAB_CENTRAL_PORT" "${catalog_args[@]}" --target "lab=127.0.0.1:$LAB_PVESIM_PORT" \
      --pve-token-id 'auditor@pve!monitor' --pve-fingerprint "$LAB_PVESIM_FP" --call-timeout 3 \
      >"$LAB_DIR/central.out" 2>"$LAB_DIR/central.log" &
  else
    "$PVESAFE_BIN" exporter --mode central --listen "127.0.0.1:$LAB_CENTRAL_PORT" --no-catalog \
      --target lab=127.0.0.1:1 --pve-token-id 'root@pam!pvesafe' --pve-fingerprint \
      00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00 \
      >"$LAB_DIR/central.out" 2>"$LAB_DIR/central.log" &
  fi
  echo $! >"$LAB_DIR/central.pid"

  LAB_AM_PORT=$(lab_free_port)
  LAB_WEBHOOK_PORT=$(lab_free_port)
  LAB_PROM_PORT=$(lab_free_port)
  LAB_ALERTS="$LAB_DIR/webhook.jsonl"
  : >"$LAB_ALERTS"
  local targets=()
  for ((n = 1; n <= LAB_NODES; n++)); do targets+=("n$n=$(data_ip "$n"):9221"); done
  $LAB_PY "$LAB_SRC/tests/lab/render_config.py" "$LAB_SRC" "$LAB_DIR" "$LAB_AM_PORT" \
    "$LAB_WEBHOOK_PORT" "127.0.0.1:$LAB_CENTRAL_PORT" "${targets[@]}"
  $LAB_PY "$LAB_SRC/tests/lab/webhook.py" "$LAB_WEBHOOK_PORT" "$LAB_ALERTS" >"$LAB_DIR/webhook.out" 2>&1 &
  echo $! >"$LAB_DIR/webhook.pid"
  prometheus-alertmanager --config.file="$LAB_DIR/alertmanager.yml" \
    --storage.path="$LAB_DIR/am" --web.listen-address="127.0.0.1:$LAB_AM_PORT" \
    --cluster.listen-address= >"$LAB_DIR/alertmanager.log" 2>&1 &
  echo $! >"$LAB_DIR/alertmanager.pid"
  prometheus --config.file="$LAB_DIR/prometheus.yml" --storage.tsdb.path="$LAB_DIR/prom" \
    --web.listen-address="127.0.0.1:$LAB_PROM_PORT" >"$LAB_DIR/prometheus.log" 2>&1 &
  echo $! >"$LAB_DIR/prometheus.pid"
  for ((n = 1; n <= LAB_NODES; n++)); do lab_wait_http "http://$(data_ip "$n"):9221/-/healthy"; done
  lab_wait_http "http://127.0.0.1:$LAB_AM_PORT/-/ready"
  lab_wait_http "http://127.0.0.1:$LAB_PROM_PORT/-/ready"
  export LAB_DIR LAB_ALERTS LAB_PROM_PORT LAB_AM_PORT LAB_PVESIM_PORT LAB_CENTRAL_PORT
}

lab_down() {
  local n f
  [[ -n "$LAB_DIR" && -d "$LAB_DIR" ]] || return 0
  for f in prometheus alertmanager webhook central pvesim; do
    [[ -f "$LAB_DIR/$f.pid" ]] && kill "$(cat "$LAB_DIR/$f.pid")" 2>/dev/null || true
  done
  for ((n = 1; n <= LAB_NODES; n++)); do
    ip netns pids "$(ns_of "$n")" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$(ns_of "$n")" 2>/dev/null || true
  done
  ip link del "pvsc$LAB_ID" 2>/dev/null || true
  ip link del "pvsd$LAB_ID" 2>/dev/null || true
  sleep 0.3
  for f in prometheus alertmanager webhook central pvesim; do
    [[ -f "$LAB_DIR/$f.pid" ]] && kill -9 "$(cat "$LAB_DIR/$f.pid")" 2>/dev/null || true
  done
  if [[ "${LAB_KEEP:-0}" == 1 ]]; then lab_log "kept $LAB_DIR"; else rm -rf "$LAB_DIR"; fi
  LAB_DIR=""
}

# --- queries ---------------------------------------------------------------------------------
prom_query() {  # PROMQL -> JSON result array
  curl -fsS --max-time 5 "http://127.0.0.1:$LAB_PROM_PORT/api/v1/query" --data-urlencode "query=$1" |
    $LAB_PY -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["data"]["result"]))'
}

# Waits until every node sees every peer on every link (and the cluster is quorate).
lab_wait_healthy() {
  local i want=$((LAB_NODES * (LAB_NODES - 1) * 2)) r
  for ((i = 0; i < ${1:-120}; i++)); do
    r=$(prom_query 'sum(pvesafe_corosync_link_connected) and on() (min(pvesafe_corosync_quorate) == 1)' 2>/dev/null || echo '[]')
    if [[ $(echo "$r" | $LAB_PY -c 'import json,sys; r=json.load(sys.stdin); print(int(float(r[0]["value"][1])) if r else 0)') -eq $want ]]; then
      r=$(curl -fsS --max-time 5 "http://127.0.0.1:$LAB_AM_PORT/api/v2/alerts?active=true&silenced=false&inhibited=false" 2>/dev/null || echo '[]')
      if [[ $(echo "$r" | $LAB_PY -c 'import json,sys; print(len([a for a in json.load(sys.stdin) if a["labels"].get("severity")=="critical"]))') -eq 0 ]]; then
        return 0
      fi
    fi
    sleep 1
  done
  echo "lab: cluster did not become healthy" >&2
  return 1
}

# wait_alert STATUS ALERTNAME NODE SINCE TIMEOUT: waits for a webhook notification received after
# SINCE (epoch seconds) that lists ALERTNAME for NODE with STATUS (firing|resolved); prints the
# receive time.
wait_alert() {
  local status=$1 name=$2 node=$3 since=$4 timeout=$5 end t
  end=$(($(date +%s) + timeout))
  while (($(date +%s) < end)); do
    t=$($LAB_PY - "$LAB_ALERTS" "$status" "$name" "$node" "$since" <<'PY'
import json, sys
path, status, name, node, since = sys.argv[1:6]
for line in open(path):
    m = json.loads(line)
    if m["receive_time"] < float(since):
        continue
    for a in m.get("alerts", []):
        if a["status"] == status and a["labels"].get("alertname") == name and a["labels"].get("node") == node:
            print(m["receive_time"]); sys.exit(0)
PY
)
    if [[ -n "$t" ]]; then echo "$t"; return 0; fi
    sleep 0.2
  done
  return 1
}

# Any firing notification after SINCE, as "alertname/node" lines.
pages_since() {
  $LAB_PY - "$LAB_ALERTS" "$1" <<'PY'
import json, sys
path, since = sys.argv[1], float(sys.argv[2])
for line in open(path):
    m = json.loads(line)
    if m["receive_time"] >= since:
        for a in m.get("alerts", []):
            if a["status"] == "firing":
                print(a["labels"].get("alertname"), a["labels"].get("node"), a["labels"].get("severity"))
PY
}

now() { date +%s.%N; }

# --- faults ----------------------------------------------------------------------------------
fault_kill_node() {  # all processes of the node, at once
  ip netns pids "$(ns_of "$1")" | xargs -r kill -9
}
recover_kill_node() {
  lab_start_corosync "$1"
  lab_start_node_exporter "$1"
}
fault_cut_cluster_link() {  # drop everything on the node's cluster interface (link0)
  ip netns exec "$(ns_of "$1")" nft -f - <<NFT
table inet pvslab {
  chain in { type filter hook input priority 0; policy accept; iifname "cl0" drop; }
  chain out { type filter hook output priority 0; policy accept; oifname "cl0" drop; }
}
NFT
}
recover_cut_cluster_link() {
  ip netns exec "$(ns_of "$1")" nft delete table inet pvslab
}
fault_stop_corosync() {
  kill -TERM "$(cat "$LAB_DIR/corosync-n$1.pid")"
}
recover_stop_corosync() {
  wait "$(cat "$LAB_DIR/corosync-n$1.pid")" 2>/dev/null || true
  lab_start_corosync "$1"
}
pvesim_post() {
  curl -fsS -k --max-time 5 -d '' "https://127.0.0.1:$LAB_PVESIM_PORT/pvesim/$1" >/dev/null
}
fault_pvesim_offline() { pvesim_post "node/$1/offline"; }
recover_pvesim_offline() { pvesim_post "node/$1/online"; }
