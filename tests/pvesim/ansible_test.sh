#!/bin/bash
# The real Ansible community.general.proxmox_kvm module drives pvesim: create, start, state=current,
# stop; then the VM is checked through the API.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
command -v ansible-playbook >/dev/null || { echo "ansible not installed" >&2; exit 77; }
[ -f /usr/lib/python3/dist-packages/ansible_collections/community/general/plugins/modules/proxmox_kvm.py ] ||
  { echo "community.general not installed" >&2; exit 77; }
pvesim_start --config "$here/../../tools/pvesim/pvesim.example.toml" --task-seconds 0.1

work="$PVESIM_DIR/ansible"
mkdir -p "$work/tmp"
export ANSIBLE_LOCAL_TEMP="$work/tmp" ANSIBLE_REMOTE_TEMP="$work/tmp" ANSIBLE_NOCOLOR=1
export ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_HOST_KEY_CHECKING=0
export ANSIBLE_LOCALHOST_WARNING=0 ANSIBLE_INVENTORY_UNPARSED_WARNING=0
# requests would let a CA bundle from the environment override validate_certs: false.
unset REQUESTS_CA_BUNDLE CURL_CA_BUNDLE
# Secrets through the environment, never argv.
export PROXMOX_PASSWORD=pvesim
PVESIM_TOKEN_SECRET=$(sed -n 's/^root@pam!pvesafe=\([^ ]*\) .*/\1/p' "$PVESIM_TOKENS")
export PVESIM_TOKEN_SECRET
printf 'pvesim_port: %s\nout_file: %s\n' "$PVESIM_PORT" "$work/vmid" >"$work/vars.yml"

ansible-playbook -i localhost, -e "@$work/vars.yml" "$here/ansible_kvm.yml"

vmid=$(cat "$work/vmid")
# Cross-check through the API what the module did.
cd "$here" && /usr/bin/python3 - "$vmid" <<'PY'
import sys
from pvesim_client import Client, control
vmid = int(sys.argv[1])
c = Client(token_id="root@pam!pvesafe")
cfg = c.get("/nodes/pve-02/qemu/%d/config" % vmid)
assert cfg["name"] == "ansible-01" and cfg["memory"] == "1024" and cfg["cores"] == 2, cfg
assert cfg["scsi0"].startswith("local-lvm:vm-%d-disk-0" % vmid), cfg
assert control("GET", "guest/%d" % vmid)["status"] == "stopped"
tasks = [(t["type"], t["user"]) for t in c.get("/nodes/pve-02/tasks", vmid=vmid)]
assert tasks == [("qmshutdown", "root@pam!pvesafe"), ("qmstart", "root@pam"), ("qmcreate", "root@pam")], tasks
print("ok   proxmox_kvm created, started, read and stopped VM %d" % vmid)
PY
