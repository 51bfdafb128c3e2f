#!/usr/bin/env bash
# Follows docs/runbook.md literally: its ```sh blocks, extracted and run in order by bash -e with
# the variables the page asks for, against
#   - a new node: a Debian root file system (debootstrap, cached) over Ansible's chroot
#     connection, rebuilt by the site playbook (step 1);
#   - a new cluster: pvesim site-b (tests/pve/site/site-b.toml: other storage names), reached
#     through a real sshd on 127.0.0.1 (steps 3-5);
#   - the repository holding the lost cluster's backups: a pvesim cluster of 6 guests, backed up
#     with its configuration.
# Afterwards: every guest is on site B with its archive's sha256, the configuration is applied
# (datacenter.cfg as on the old site, site B's storages kept), the node has the pvesafe units and
# timers. Negative control: the same page without its guest-restore step, against a fresh site B,
# must fail the same checks.
# Runs in a private mount and network namespace (the chroot's /dev and /proc go with it); the
# rootfs is fetched or found in the cache before entering it.
set -euo pipefail
: "${PVESAFE_SOURCE_DIR:?}" "${PVESAFE_BIN:?}" "${PVESIM_BIN:?}"
if [[ -z ${PVESAFE_IN_NS:-} ]]; then
  for t in ansible-playbook debootstrap unshare zstd; do
    command -v "$t" >/dev/null || { echo "SKIP: $t not installed"; exit 77; }
  done
  [[ $(id -u) == 0 ]] || { echo "SKIP: needs root for chroot"; exit 77; }
  (source "$PVESAFE_SOURCE_DIR/tests/ansible/lib/common.sh"
   source "$PVESAFE_SOURCE_DIR/tests/ansible/lib/rootfs.sh"
   rootfs_tarball >/dev/null) || { echo "SKIP: no Debian rootfs (debootstrap failed)"; exit 77; }
  exec unshare --mount --net --propagation private env PVESAFE_IN_NS=1 bash "$0" "$@"
fi
ip link set lo up
ip addr add 10.10.10.11/32 dev lo
ip addr add 10.20.20.11/32 dev lo

source "$PVESAFE_SOURCE_DIR/tests/ansible/lib/common.sh"
source "$PVESAFE_SOURCE_DIR/tests/ansible/lib/rootfs.sh"
ANSIBLE_T=$T
source "$(dirname "$0")/lib.sh"   # its trap (pve_cleanup) runs CLEANUP, then removes $WORK
CLEANUP+=("rm -rf '$ANSIBLE_T'")
SITE_DIR=$PVESAFE_SOURCE_DIR/tests/pve/site
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# --- The new node: a rootfs and an inventory for it (as tests/ansible/site_rootfs.sh).
new_node() {  # new_node DIR: a fresh rootfs with /dev and /proc, an inventory in DIR/inventory
  local d=$1 root=$1/rootfs
  rootfs_extract "$root"
  mount --bind /dev "$root/dev"
  mount -t proc proc "$root/proc"
  CLEANUP=("umount -l '$root/proc'" "umount -l '$root/dev'" "${CLEANUP[@]}")
  mkdir -p "$root/etc/pve" "$root/etc/corosync"
  head -c 256 /dev/urandom >"$root/etc/corosync/authkey"
  chmod 400 "$root/etc/corosync/authkey"
  local inv=$d/inventory
  mkdir -p "$inv/group_vars/all" "$inv/host_vars" "$d/deploy"
  T=$d make_vault "$inv/group_vars/all"
  cp "$d/vault-pass" "$d/vault.pass"
  printf '[pve_nodes]\npve-01 ansible_connection=community.general.chroot ansible_host=%s\n[commander]\npve-01\n[monitoring]\npve-01\n[corosync_members]\npve-01\npve-02\npve-03\n' "$root" >"$inv/hosts.ini"
  for i in 1 2 3; do
    printf 'corosync_nodeid: %s\ncorosync_link0: 10.10.10.1%s\ncorosync_link1: 10.20.20.1%s\n' "$i" "$i" "$i" >"$inv/host_vars/pve-0$i.yml"
  done
  cp -a "$PVESAFE_SOURCE_DIR/deploy/systemd" "$PVESAFE_SOURCE_DIR/deploy/prometheus" \
    "$PVESAFE_SOURCE_DIR/deploy/alertmanager" "$PVESAFE_SOURCE_DIR/deploy/grafana" "$d/deploy/"
  cat >"$inv/group_vars/all/main.yml" <<V
---
common_manage_services: false
common_sysctl_apply: false
pvesafe_manage_services: false
monitoring_manage_services: false
corosync_reload: false
pve_repos_update_cache: false
pve_ha_manage: false
pve_major_version: 8
pve_repos_channel: no-subscription
pve_repos_unison_packages: [corosync, openssh-server, chrony]
corosync_nodes_group: corosync_members
corosync_cluster_name: site-b
pve_api_host: 127.0.0.1
pvesafe_deploy_dir: "$d/deploy"
monitoring_deploy_dir: "$d/deploy"
pvesafe_install_package: false
pvesafe_repository: $WORK/repo
pvesafe_pve_token_id: "root@pam!pvesafe"
pvesafe_repository_passphrase: "{{ vault_pvesafe_repository_passphrase }}"
pvesafe_pve_token_secret: "{{ vault_pvesafe_pve_token_secret }}"
pvesafe_s3_access_key_id: "{{ vault_pvesafe_s3_access_key_id }}"
pvesafe_s3_secret_access_key: "{{ vault_pvesafe_s3_secret_access_key }}"
V
}

# --- A pvesim site (as tests/pve/e2e_site.sh).
start_site() {  # start_site NAME ARGS...: sets NAME_PORT, NAME_FP, NAME_DATA
  local name=$1 data=$WORK/$1; shift
  mkdir -p "$data"
  if [ ! -f "$WORK/tokens" ]; then
    (umask 077
     printf 'root@pam!pvesafe=%s Administrator\n' "$(python3 -c 'import uuid; print(uuid.uuid4())')" >"$WORK/tokens"
     sed -E 's/.*=([^ ]+) .*/\1/' "$WORK/tokens" >"$WORK/token.secret")
  fi
  "$PVESIM_BIN" "$@" --port 0 --data-dir "$data" --tokens "$WORK/tokens" --task-seconds 0.1 \
    >"$WORK/$name.out" 2>"$WORK/$name.log" &
  PIDS+=($!)
  local i line
  for i in $(seq 1 100); do
    grep -q "pvesim listening" "$WORK/$name.out" 2>/dev/null && break
    sleep 0.1
  done
  line=$(grep "pvesim listening" "$WORK/$name.out") || fail "pvesim $name did not start"
  eval "${name}_PORT=$(echo "$line" | sed -E 's#.*https://[^:]+:([0-9]+).*#\1#')"
  eval "${name}_FP=$(echo "$line" | sed -E 's#.*fingerprint ([0-9A-Fa-f:]+).*#\1#')"
  eval "${name}_DATA=$data"
}
flags_of() {  # flags_of NAME: the PVE and SSH flags of a site, one string
  local port fp data
  eval "port=\$${1}_PORT fp=\$${1}_FP data=\$${1}_DATA"
  echo "--pve-host 127.0.0.1 --pve-port $port --pve-fingerprint $fp --pve-token-id root@pam!pvesafe" \
    "--pve-token-file $WORK/token.secret --ssh-key $SSH_KEY --ssh-known-hosts $KNOWN_HOSTS" \
    "--ssh-port $SSHD_PORT --ssh-host pve-01=127.0.0.1 --ssh-host pve-02=127.0.0.1" \
    "--ssh-host pve-03=127.0.0.1 --dump-dir $data/nodes/{node}/{storage}/dump" \
    "--node-root $data/rootfs/{node}"
}

pve_start_sshd
start_site A --nodes 3 --guests 6
# The lost site: its guests and its configuration in the repository.
export PVESAFE_REPOSITORY=$WORK/repo
"$PVESAFE_BIN" init --passphrase-file "$PASSFILE" >/dev/null
# shellcheck disable=SC2046
for n in pve-01 pve-02 pve-03; do
  "$PVESAFE_BIN" backup --all --node $n --keep-archive --passphrase-file "$PASSFILE" $(flags_of A) >/dev/null
done
"$PVESAFE_BIN" backup --cluster-config --passphrase-file "$PASSFILE" $(flags_of A) >/dev/null
mkdir -p "$WORK/bin" && ln -sf "$PVESAFE_BIN" "$WORK/bin/pvesafe"

awk '/^```sh$/{on=1; next} /^```$/{on=0} on' "$PVESAFE_SOURCE_DIR/docs/runbook.md" >"$WORK/runbook.sh"
[[ $(grep -c 'pvesafe ' "$WORK/runbook.sh") -ge 8 ]] || fail "docs/runbook.md lost its steps"

# follow NAME SCRIPT: the page's blocks against a fresh new node and a fresh site B (NAME).
follow() {
  local name=$1 script=$2 d=$ANSIBLE_T/$1
  mkdir -p "$d"
  new_node "$d"
  start_site "$name" --config "$SITE_DIR/site-b.toml"
  mkdir -p "$WORK/$name-work"
  env PATH="$WORK/bin:$PATH" ANSIBLE_DIR="$PVESAFE_SOURCE_DIR/deploy/ansible" \
    INVENTORY="$d/inventory/hosts.ini" VAULT_PASS="$d/vault.pass" \
    PVESAFE_REPOSITORY="$PVESAFE_REPOSITORY" PASSFILE="$PASSFILE" NEW_PVE="$(flags_of "$name")" \
    STORAGE_MAP="--storage-map local-lvm=nvme-thin" WORKDIR="$WORK/$name-work" \
    bash -e "$script" >"$WORK/$name.runbook.log" 2>&1
}
# check NAME: what the page promises, on site NAME and its new node.
check() {
  local name=$1 port data bad=0
  eval "port=\$${name}_PORT data=\$${name}_DATA"
  local root=$ANSIBLE_T/$name/rootfs
  [ -f "$root/etc/systemd/system/pvesafe-cluster-config.timer" ] || { echo "node: no pvesafe-cluster-config.timer"; bad=1; }
  grep -q '^PasswordAuthentication no' "$root/etc/ssh/sshd_config" || { echo "node: sshd not hardened"; bad=1; }
  grep -q '^nfs: backup-nfs' "$data/pmxcfs/storage.cfg" || { echo "the old site's storage backup-nfs was not merged"; bad=1; }
  [ -s "$WORK/$name-work/undo/storage.cfg" ] || { echo "no undo copy of storage.cfg"; bad=1; }
  grep -q '^lvmthin: nvme-thin' "$data/pmxcfs/storage.cfg" || { echo "site B lost its storage nvme-thin"; bad=1; }
  local v
  for v in 100 101 102 103 104 105; do
    curl -sfk "https://127.0.0.1:$port/pvesim/guest/$v" | grep -q '"sha256":"[0-9a-f]\{64\}"' \
      || { echo "guest $v not restored on $name"; bad=1; }
  done
  if [ -f "$WORK/$name-work/verify.txt" ] && grep -qE '^  [0-9]+ ' "$WORK/$name-work/verify.txt"; then
    echo "the verification plan would still restore guests"; bad=1
  fi
  return $bad
}

t0=$SECONDS
follow B "$WORK/runbook.sh" || { tail -40 "$WORK/B.runbook.log"; fail "the runbook failed (see above)"; }
grep -E '^pve-01 +: ok=[0-9]+ +changed=[0-9]+ .*failed=0' "$WORK/B.runbook.log" || fail "the site playbook did not end with failed=0"
grep -E 'site restore|restored' "$WORK/B.runbook.log" | head -5
check B || { tail -30 "$WORK/B.runbook.log"; fail "after the runbook the site is not back"; }
echo "runbook followed in $((SECONDS - t0)) s: every guest back, configuration applied, node rebuilt"

# Negative control: without step 4's restore, the same checks fail.
grep -v -- 'restore latest --all --jobs' "$WORK/runbook.sh" >"$WORK/runbook-no-guests.sh"
! cmp -s "$WORK/runbook.sh" "$WORK/runbook-no-guests.sh" || fail "the control did not remove a step"
follow C "$WORK/runbook-no-guests.sh" || { tail -20 "$WORK/C.runbook.log"; fail "the control run failed early"; }
if check C >"$WORK/control.txt"; then fail "the checks pass without the guest-restore step"; fi
cat "$WORK/control.txt"
echo PASS
