#!/usr/bin/env bash
# The exporter against pvesim: a healthy scrape is `promtool check metrics` clean and complete;
# then each bad input (API slow beyond the timeout, malformed JSON, 401, unreachable API,
# corosync not running) must leave the exporter serving, report the failure in
# pvesafe_source_up / pvesafe_source_errors_total, expose no stale values, and log one line.
# Also: with --audit-interval, the background cluster audit reports what `pvesafe audit` reports.
set -euo pipefail
source "$(dirname "$0")/common.sh"
obs_need promtool curl
obs_pvesim sim --nodes 3 --guests 12

export PVESAFE_PVE_TOKEN_SECRET=$PVESIM_TOKEN
# --cache-ttl 0: each scrape below must see the API as pvesim serves it at that moment.
common=(--mode central --no-catalog --pve-token-id 'auditor@pve!monitor' --pve-fingerprint "$PVESIM_FP"
        --call-timeout 2 --cache-ttl 0)
obs_exporter central "${common[@]}" --target "lab=127.0.0.1:$PVESIM_PORT"
scrape() {  # OUT [TIMEOUT_HEADER]
  curl -fsS --max-time 15 -H "X-Prometheus-Scrape-Timeout-Seconds: ${2:-4}" \
    "$EXPORTER_URL/metrics?target=lab" -o "$1"
}

# 1. healthy
scrape "$OBS_TMP/ok.prom"
promtool check metrics <"$OBS_TMP/ok.prom"
for s in cluster_status cluster_resources ha node_status node_versions; do
  [[ $(metric_value "$OBS_TMP/ok.prom" "pvesafe_source_up{source=\"$s\"}") == 1 ]] || { echo "source $s not up" >&2; exit 1; }
done
[[ $(grep -c '^pvesafe_node_up{' "$OBS_TMP/ok.prom") -eq 3 ]]
[[ $(grep -c '^pvesafe_guest_running{' "$OBS_TMP/ok.prom") -eq 12 ]]
grep -q '^pvesafe_node_package_info{' "$OBS_TMP/ok.prom"
[[ $(metric_value "$OBS_TMP/ok.prom" 'pvesafe_cluster_quorate') == 1 ]]

# 1b. the background cluster audit (--audit-interval): its findings arrive with the scrapes,
# promtool-clean, and agree check by check with `pvesafe audit --json` on the same cluster (the
# simulator's default cluster has HA guests on local storage: a critical finding).
obs_exporter audit "${common[@]}" --target "lab=127.0.0.1:$PVESIM_PORT" --audit-interval 60
for _ in $(seq 150); do
  curl -fsS --max-time 15 "$EXPORTER_URL/metrics?target=lab" -o "$OBS_TMP/audit.prom"
  grep -q '^pvesafe_audit_up ' "$OBS_TMP/audit.prom" && break
  sleep 0.2
done
promtool check metrics <"$OBS_TMP/audit.prom"
[[ $(metric_value "$OBS_TMP/audit.prom" 'pvesafe_audit_up') == 1 ]] || { echo "audit not up" >&2; exit 1; }
"$PVESAFE_BIN" audit --json --pve-host 127.0.0.1 --pve-port "$PVESIM_PORT" --pve-token-id 'auditor@pve!monitor' \
  --pve-fingerprint "$PVESIM_FP" > "$OBS_TMP/audit.json" || true
python3 - "$OBS_TMP/audit.json" "$OBS_TMP/audit.prom" <<'PY'
import json, re, sys
rank = {"ok": 0, "info": 1, "warning": 2, "critical": 3}
cli = json.load(open(sys.argv[1]))
prom = {}
for line in open(sys.argv[2]):
    m = re.match(r'pvesafe_audit_check_severity\{check="([^"]+)"\} (\S+)', line)
    if m:
        prom[m.group(1)] = float(m.group(2))
    m = re.match(r'pvesafe_audit_worst_severity (\S+)', line)
    if m:
        worst = float(m.group(1))
want = {c["check"]: rank[c["worst"]] for c in cli["checks"]}
assert want and prom == want, f"exporter {prom} != pvesafe audit {want}"
assert worst == rank[cli["summary"]["worst"]], (worst, cli["summary"])
print("audit metrics agree with pvesafe audit:", want)
PY

# 2. API slower than the scrape budget: the scrape still answers, sources report down.
pvesim_ctl "slow?ms=8000"
start=$(date +%s)
scrape "$OBS_TMP/slow.prom" 3
echo "slow scrape answered after $(( $(date +%s) - start )) s"
promtool check metrics <"$OBS_TMP/slow.prom"
[[ $(metric_value "$OBS_TMP/slow.prom" 'pvesafe_source_up{source="cluster_resources"}') == 0 ]]
! grep -q '^pvesafe_guest_running{' "$OBS_TMP/slow.prom"
pvesim_ctl "slow?ms=0"
pvesim_ctl reset

# 3. malformed JSON on one endpoint: that source fails, the others stay up.
pvesim_ctl "malformed?path=/cluster/resources"
scrape "$OBS_TMP/bad.prom"
[[ $(metric_value "$OBS_TMP/bad.prom" 'pvesafe_source_up{source="cluster_resources"}') == 0 ]]
[[ $(metric_value "$OBS_TMP/bad.prom" 'pvesafe_source_up{source="cluster_status"}') == 1 ]]
! grep -q '^pvesafe_guest_running{' "$OBS_TMP/bad.prom"
errs=$(metric_value "$OBS_TMP/bad.prom" 'pvesafe_source_errors_total{source="cluster_resources"}')
scrape "$OBS_TMP/bad2.prom"
errs2=$(metric_value "$OBS_TMP/bad2.prom" 'pvesafe_source_errors_total{source="cluster_resources"}')
(( errs2 > errs ))
# one log line for the failure, not one per scrape
[[ $(grep -c 'source cluster_resources .*failed' "$EXPORTER_LOG") -eq 2 ]] ||
  [[ $(grep -c 'source cluster_resources .*failed' "$EXPORTER_LOG") -eq 1 ]]
pvesim_ctl "malformed?path="
pvesim_ctl reset
scrape "$OBS_TMP/again.prom"
[[ $(metric_value "$OBS_TMP/again.prom" 'pvesafe_source_up{source="cluster_resources"}') == 1 ]]
grep -q 'source cluster_resources .*recovered' "$EXPORTER_LOG"

# 4. 401: wrong token secret.
PVESAFE_PVE_TOKEN_SECRET=00000000-0000-0000-0000-000000000000 obs_exporter badtoken "${common[@]}" \
  --target "lab=127.0.0.1:$PVESIM_PORT"
for i in 1 2 3; do scrape "$OBS_TMP/401.prom"; done
promtool check metrics <"$OBS_TMP/401.prom"
[[ $(metric_value "$OBS_TMP/401.prom" 'pvesafe_source_up{source="cluster_status"}') == 0 ]]
[[ $(metric_value "$OBS_TMP/401.prom" 'pvesafe_source_errors_total{source="cluster_status"}') == 3 ]]
[[ $(grep -c 'source cluster_status .*failed' "$EXPORTER_LOG") -eq 1 ]]
! grep -q '00000000-0000-0000-0000-000000000000' "$EXPORTER_LOG"   # no secret in the log

# 5. API unreachable (nothing listens on the port).
dead=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
obs_exporter dead "${common[@]}" --target "lab=127.0.0.1:$dead"
scrape "$OBS_TMP/dead.prom"
[[ $(metric_value "$OBS_TMP/dead.prom" 'pvesafe_source_up{source="cluster_resources"}') == 0 ]]
curl -fsS "$EXPORTER_URL/-/healthy" | grep -q ok
[[ $(curl -s -o /dev/null -w '%{http_code}' "$EXPORTER_URL/metrics?target=nosuch") == 404 ]]

# 6. Node mode without a running corosync (a fresh network namespace when we may make one, so
#    no corosync of the host is visible): source corosync 0, still serving.
run=()
if [[ $(id -u) -eq 0 ]] && ip netns add "pvs-obs-$$" 2>/dev/null; then
  ip -n "pvs-obs-$$" link set lo up
  run=(ip netns exec "pvs-obs-$$")
  trap 'ip netns del "pvs-obs-$$" 2>/dev/null; obs_cleanup' EXIT
fi
"${run[@]}" "$PVESAFE_BIN" exporter --mode node --node n1 --no-catalog --cache-ttl 0 --listen 127.0.0.1:0 \
  >"$OBS_TMP/node.out" 2>"$OBS_TMP/node.log" &
OBS_PIDS+=($!)
obs_wait_line "$OBS_TMP/node.out" "listening on"
url=$(grep -o 'http://[0-9.:]*' "$OBS_TMP/node.out" | head -1)
for i in 1 2; do "${run[@]}" curl -fsS --max-time 10 "$url/metrics" -o "$OBS_TMP/node.prom"; done
promtool check metrics <"$OBS_TMP/node.prom"
[[ $(metric_value "$OBS_TMP/node.prom" 'pvesafe_source_up{source="corosync"}') == 0 ]]
[[ $(metric_value "$OBS_TMP/node.prom" 'pvesafe_source_errors_total{source="corosync"}') == 2 ]]
! grep -q '^pvesafe_corosync_quorate' "$OBS_TMP/node.prom"
[[ $(grep -c 'source corosync failed' "$OBS_TMP/node.log") -eq 1 ]]
echo ok
