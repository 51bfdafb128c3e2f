#!/usr/bin/env bash
# Mean time to detect, measured in the lab (tests/lab/lab.sh): for each fault kind, TRIALS
# trials (default 10) with a random phase against the scrape/evaluation cycle; each trial
# records fault -> first webhook notification of the expected alert for the expected node,
# then recovers and waits for a healthy cluster. Prints min/median/max per fault kind.
#
#   PVESAFE_BIN=build/bin/pvesafe PVESIM_BIN=build/bin/pvesim bench/mttd/mttd.sh [TRIALS] [KINDS...]
# KINDS: kill_node cut_cluster_link stop_corosync pvesim_offline (default: all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../tests/lab/lab.sh"
trials=${1:-10}; shift || true
kinds=("$@"); (( ${#kinds[@]} )) || kinds=(kill_node cut_cluster_link stop_corosync pvesim_offline)
lab_check_tools
trap lab_down EXIT INT TERM
lab_up
lab_wait_healthy 120
declare -A expect=([kill_node]=PveNodeDown [cut_cluster_link]=PveCorosyncLinkDown
                   [stop_corosync]=PveCorosyncDown [pvesim_offline]=PveNodeDown)
results="$LAB_DIR/mttd.tsv"
for kind in "${kinds[@]}"; do
  for ((i = 1; i <= trials; i++)); do
    n=$((1 + RANDOM % LAB_NODES)); node="n$n"; target=$n
    if [[ $kind == pvesim_offline ]]; then node="pve-0$n"; target=$node; fi
    sleep "$(awk -v r=$RANDOM 'BEGIN{printf "%.2f", 1 + (r % 5000) / 1000}')"  # random phase
    t0=$(now)
    "fault_$kind" "$target"
    if t=$(wait_alert firing "${expect[$kind]}" "$node" "$t0" 60); then
      d=$(echo "$t - $t0" | bc); echo -e "$kind\t$node\t$d" | tee -a "$results"
    else
      echo -e "$kind\t$node\tmissed" | tee -a "$results"
    fi
    "recover_$kind" "$target"
    wait_alert resolved "${expect[$kind]}" "$node" "$t0" 120 >/dev/null || true
    lab_wait_healthy 120
  done
done
echo
printf '%-18s %6s %8s %8s %8s %7s\n' fault trials min_s median_s max_s missed
/usr/bin/python3 - "$results" <<'PY'
import sys, statistics, collections
d = collections.defaultdict(list); miss = collections.Counter()
for line in open(sys.argv[1]):
    k, _, v = line.rstrip("\n").split("\t")
    if v == "missed": miss[k] += 1
    else: d[k].append(float(v))
for k in sorted(set(d) | set(miss)):
    v = d[k]
    if v:
        print(f"{k:<18} {len(v) + miss[k]:>6} {min(v):>8.1f} {statistics.median(v):>8.1f} {max(v):>8.1f} {miss[k]:>7}")
    else:
        print(f"{k:<18} {miss[k]:>6} {'-':>8} {'-':>8} {'-':>8} {miss[k]:>7}")
PY
