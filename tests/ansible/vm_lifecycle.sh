#!/usr/bin/env bash
# vm-lifecycle.yml end to end against pvesim (create, start, snapshot, HA, migrate with
# validation, stop, destroy) through community.general.proxmox_* and the API; then the same
# playbook must fail when the migration task fails (the validation is not a formality); then the
# pve_ha role applies an HA rule and resource through the API and is idempotent.
source "$(dirname "$0")/lib/common.sh"
need ansible-playbook curl
[[ -f /usr/lib/python3/dist-packages/ansible_collections/community/general/plugins/modules/proxmox_kvm.py ]] ||
  { echo "SKIP: community.general not installed"; exit 77; }
source "$PVESAFE_SOURCE_DIR/tests/pvesim/lib.sh"
pvesim_start --config "$PVESAFE_SOURCE_DIR/tools/pvesim/pvesim.example.toml" --task-seconds 0.1
CLEANUP+=("pvesim_stop")
trap on_exit EXIT

INV="$T/inventory"
mkdir -p "$INV/group_vars/all"
token=$(sed -n 's/^root@pam!pvesafe=\([^ ]*\) .*/\1/p' "$PVESIM_TOKENS")
[[ -n $token ]] || fail "no pvesafe token in $PVESIM_TOKENS"
make_vault "$INV/group_vars/all"
# The PVE token goes into the vault too.
ansible-vault decrypt --vault-password-file "$T/vault-pass" "$INV/group_vars/all/vault.yml" >/dev/null
printf 'vault_pve_api_token_secret: "%s"\n' "$token" >> "$INV/group_vars/all/vault.yml"
ansible-vault encrypt --vault-password-file "$T/vault-pass" "$INV/group_vars/all/vault.yml" >/dev/null
SECRETS+=("$token")
cat > "$INV/hosts.ini" <<H
[pve_nodes]
pve-01
pve-02
pve-03
H
cat > "$INV/group_vars/all/main.yml" <<V
---
ansible_connection: local
pve_major_version: 9
pve_api_host: 127.0.0.1
pve_api_port: $PVESIM_PORT
pve_api_token_id: "root@pam!pvesafe"
pve_api_token_secret: "{{ vault_pve_api_token_secret }}"
pve_api_ca_file: "$PVESIM_CERT"
pve_api_validate_certs: true
V
run() {  # run LOG PLAYBOOK [args]
  local log=$1 pb=$2; shift 2
  (cd "$ANSIBLE_DIR" && ansible-playbook -i "$INV/hosts.ini" --vault-password-file "$T/vault-pass" "$pb" "$@") > "$log" 2>&1
}

echo "== lifecycle"
run "$T/lifecycle.log" playbooks/vm-lifecycle.yml || { tail -n 40 "$T/lifecycle.log"; fail "vm-lifecycle.yml failed"; }
grep -q 'failed=0' "$T/lifecycle.log" || fail "lifecycle recap shows failures"
for t in "Validate create" "Validate start" "Validate snapshot" "Validate the migration (task, log, target node, HA)" \
         "Validate stop" "Validate destroy"; do
  grep -q "TASK \[$t\]" "$T/lifecycle.log" || fail "step '$t' did not run"
done
# pvesim's own view: the migration ran as an HA migration of 9100 from pve-01.
printf 'Authorization: PVEAPIToken=root@pam!pvesafe=%s\n' "$token" > "$T/hdr"
curl -sS --fail --cacert "$PVESIM_CERT" -H @"$T/hdr" "$PVESIM_URL/api2/json/nodes/pve-01/tasks?vmid=9100" > "$T/tasks.json"
python3 - "$T/tasks.json" <<'PY' || fail "pvesim has no successful migration task for 9100"
import json, sys
tasks = json.load(open(sys.argv[1]))["data"]
mig = [t for t in tasks if t["type"] in ("hamigrate", "qmigrate")]
assert mig and mig[0].get("status") == "OK", tasks
PY

echo "== a failed migration fails the playbook"
curl -sS --fail --cacert "$PVESIM_CERT" -X POST --data "" "$PVESIM_URL/pvesim/fail-next-task?node=pve-01&type=hamigrate" >/dev/null
rc=0; run "$T/lifecycle-fail.log" playbooks/vm-lifecycle.yml -e lifecycle_vmid=9101 || rc=$?
[[ $rc != 0 ]] || fail "vm-lifecycle.yml passed although the migration task failed"
grep -q "migration of 9101 to pve-02 not confirmed" "$T/lifecycle-fail.log" ||
  { tail -n 30 "$T/lifecycle-fail.log"; fail "the failure was not caught by the migration validation"; }

echo "== pve_ha role through the API"
cat > "$T/ha.yml" <<'P'
- name: HA configuration
  hosts: pve_nodes
  gather_facts: false
  vars:
    pve_ha_manage_watchdog: false
    pve_ha_shutdown_policy: migrate
    pve_ha_resources:
      - {sid: "vm:103", state: started, max_restart: 2, max_relocate: 1, comment: build}
    pve_ha_rules:
      - {rule: build-prefers-03, nodes: "pve-03:2,pve-01:1", resources: "vm:103", strict: false}
  roles:
    - role: pve_ha
P
ANSIBLE_ROLES_PATH="$ANSIBLE_DIR/roles" run "$T/ha1.log" "$T/ha.yml" || { tail -n 40 "$T/ha1.log"; fail "pve_ha first run"; }
[[ $(recap_changed "$T/ha1.log") -gt 0 ]] || fail "pve_ha changed nothing"
curl -sS --fail --cacert "$PVESIM_CERT" -H @"$T/hdr" "$PVESIM_URL/api2/json/cluster/ha/rules" | grep -q build-prefers-03 ||
  fail "HA rule not created"
curl -sS --fail --cacert "$PVESIM_CERT" -H @"$T/hdr" "$PVESIM_URL/api2/json/cluster/ha/resources" | grep -q '"vm:103"' ||
  fail "HA resource not created"
curl -sS --fail --cacert "$PVESIM_CERT" -H @"$T/hdr" "$PVESIM_URL/api2/json/cluster/options" |
  grep -q '"ha":{"shutdown_policy":"migrate"}' || fail "HA shutdown policy not set in datacenter.cfg"
ANSIBLE_ROLES_PATH="$ANSIBLE_DIR/roles" run "$T/ha2.log" "$T/ha.yml" || { tail -n 40 "$T/ha2.log"; fail "pve_ha second run"; }
[[ $(recap_changed "$T/ha2.log") == 0 ]] || { grep -B2 changed: "$T/ha2.log"; fail "pve_ha second run not idempotent"; }

if [[ -x ${PVESAFE_BIN:-} ]]; then
  echo "== health report"
  run "$T/health.log" playbooks/health-report.yml -e "health_pvesafe=$PVESAFE_BIN" -e "health_report_dir=$T/report" \
    -e "pve_api_fingerprint=$PVESIM_FPR" || { tail -n 40 "$T/health.log"; fail "health-report.yml failed"; }
  python3 - "$T/report/health-report.json" <<'PY' || fail "health report incomplete"
import json, sys
r = json.load(open(sys.argv[1]))
assert sorted(r["nodes"]) == ["pve-01", "pve-02", "pve-03"], r["nodes"].keys()
n = r["nodes"]["pve-03"]
assert n["versions"]["pve-manager"] and n["services"]["pve-ha-lrm"] == "dead", n["services"]
assert any(f["node"] == "pve-03" and "pve-ha-lrm" in f["message"] for f in r["audit"]["findings"] if "node" in f)
PY
  assert_no_secrets "$T/report/health-report.json"
fi

assert_no_secrets "$T"/*.log
echo "vm-lifecycle: create/start/snapshot/HA/migrate/stop/destroy validated; failed migration caught; pve_ha idempotent"
