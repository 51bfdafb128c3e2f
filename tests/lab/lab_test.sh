#!/usr/bin/env bash
# End-to-end alerting test in the MTTD lab (see lab.sh): each fault once, asserting the right
# alert reaches the webhook naming the right node and resolves after recovery; a cluster link
# blip shorter than the totem token does not page. No timing assertions (bench/mttd measures).
set -euo pipefail
source "$(dirname "$0")/lab.sh"
rc=0; lab_check_tools || rc=$?
(( rc == 0 )) || exit "$rc"
trap lab_down EXIT INT TERM
lab_up
lab_wait_healthy 120
fail=0

check() {  # FAULT TARGET ALERT ALERT_NODE   (TARGET: lab node number, or pvesim node name)
  local fault=$1 node=$2 alert=$3 anode=$4 t0 tf tr
  t0=$(now)
  lab_log "fault $fault on $node, expecting $alert for $anode"
  "fault_$fault" "$node"
  if tf=$(wait_alert firing "$alert" "$anode" "$t0" 90); then
    lab_log "  $alert firing after $(echo "$tf - $t0" | bc) s"
  else
    lab_log "  FAIL: no $alert for $anode"; fail=1
    pages_since "$t0" >&2 || true
  fi
  "recover_$fault" "$node"
  if tr=$(wait_alert resolved "$alert" "$anode" "$t0" 120); then
    lab_log "  resolved"
  else
    lab_log "  FAIL: $alert for $anode did not resolve"; fail=1
  fi
  lab_wait_healthy 120 || fail=1
}

check cut_cluster_link 3 PveCorosyncLinkDown n3
check kill_node 2 PveNodeDown n2
check stop_corosync 1 PveCorosyncDown n1
if [[ -n "${LAB_PVESIM_PORT:-}" ]]; then
  check pvesim_offline pve-02 PveNodeDown pve-02
else
  lab_log "pvesim not built: skipping the API fault"
fi

# A cluster link blip shorter than the token (3.65 s for 3 nodes) must not notify at all.
t0=$(now)
lab_log "blip: cluster link of n2 cut for 2 s"
fault_cut_cluster_link 2; sleep 2; recover_cut_cluster_link 2
sleep 25
pages=$(pages_since "$t0")
if [[ -n "$pages" ]]; then lab_log "FAIL: blip paged: $pages"; fail=1; else lab_log "blip: no page"; fi
exit $fail
