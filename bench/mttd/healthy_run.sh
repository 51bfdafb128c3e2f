#!/usr/bin/env bash
# False pages in a healthy lab: runs the lab for MINUTES (default 10) without faults, plus a
# cluster link blip shorter than the totem token every minute, and counts notifications.
#   PVESAFE_BIN=... PVESIM_BIN=... bench/mttd/healthy_run.sh [MINUTES] [--no-blips]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../tests/lab/lab.sh"
minutes=${1:-10}; blips=1; [[ "${2:-}" == --no-blips ]] && blips=0
lab_check_tools
trap lab_down EXIT INT TERM
lab_up
lab_wait_healthy 120
t0=$(now); end=$(($(date +%s) + minutes * 60)); nblips=0
while (($(date +%s) < end)); do
  if ((blips)); then
    n=$((1 + RANDOM % LAB_NODES)); fault_cut_cluster_link "$n"; sleep 2; recover_cut_cluster_link "$n"
    nblips=$((nblips + 1))
  fi
  sleep 58
done
pages=$(pages_since "$t0" | sort | uniq -c)
echo "healthy run: $minutes min, $nblips cluster-link blips of 2 s (token 3650 ms)"
if [[ -n "$pages" ]]; then echo "false notifications:"; echo "$pages"; else echo "false notifications: 0"; fi
