#!/bin/bash
# pvesim's HA recovery after a lost node (ha_test.py), on PVE 9 (node-affinity rules) and PVE 8
# (HA groups), with pve-ha-manager's timings scaled down 20 times (fence delay 3 s, lock 6 s).
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
export PVESIM_HA_SCALE=0.05
pvesim_start --config "$here/ha_cluster.toml" --ha-time-scale "$PVESIM_HA_SCALE" --task-seconds 0.2
echo "== PVE 9, node-affinity rules"
(cd "$here" && /usr/bin/python3 "$here/ha_test.py" "$@")
pvesim_stop
sed 's/^version = "9.0.3"/version = "8.2.4"/' "$here/ha_cluster.toml" >"${TMPDIR:-/tmp}/ha_cluster_pve8.$$.toml"
trap 'rm -f "${TMPDIR:-/tmp}/ha_cluster_pve8.$$.toml"; pvesim_stop' EXIT
pvesim_start --config "${TMPDIR:-/tmp}/ha_cluster_pve8.$$.toml" --ha-time-scale "$PVESIM_HA_SCALE" --task-seconds 0.2
trap 'rm -f "${TMPDIR:-/tmp}/ha_cluster_pve8.$$.toml"; pvesim_stop' EXIT
echo "== PVE 8, HA groups"
(cd "$here" && PVESIM_PVE8=1 /usr/bin/python3 "$here/ha_test.py" "$@")
