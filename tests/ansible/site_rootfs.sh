#!/usr/bin/env bash
# site.yml on a real Debian rootfs (debootstrap, cached), over the chroot connection:
#   1. converges; 2. a second run reports changed=0; 3. hand edits (sshd_config, an apt source,
#   the sysctl file, the apt pin file, a dpkg hold) are each reported by bin/drift with task and
#   file, exit 11; 4. the next run corrects them and drift exits 0. No vault secret may appear in
#   any output, and the secret files must be 0600.
# The whole test runs in a private mount and network namespace, so /dev and /proc bind mounts
# vanish with it. The rootfs is fetched (or found in the cache) before entering the namespace,
# where no mirror is reachable.
source "$(dirname "$0")/lib/common.sh"
need ansible-playbook debootstrap unshare zstd curl
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root for chroot"; exit 77; }
source "$(dirname "$0")/lib/rootfs.sh"

if [[ -z ${PVESAFE_IN_NS:-} ]]; then
  rootfs_tarball > /dev/null
  rm -rf "$T"; trap - EXIT
  exec unshare --mount --net --propagation private env PVESAFE_IN_NS=1 bash "$0" "$@"
fi
# Own network namespace: pve-01's corosync link addresses are local, as on the real node
# (corosync -t looks for the local node in the nodelist).
ip link set lo up
ip addr add 10.10.10.11/32 dev lo
ip addr add 10.20.20.11/32 dev lo

ROOT="$T/rootfs"
rootfs_extract "$ROOT"
mount --bind /dev "$ROOT/dev"
mount -t proc proc "$ROOT/proc"
CLEANUP+=("umount -l '$ROOT/proc'" "umount -l '$ROOT/dev'")

# What a PVE node has before Ansible runs: /etc/pve (pmxcfs; a plain directory here) and the
# cluster's corosync authkey.
mkdir -p "$ROOT/etc/pve" "$ROOT/etc/corosync"
head -c 256 /dev/urandom > "$ROOT/etc/corosync/authkey"
chmod 400 "$ROOT/etc/corosync/authkey"

INV="$T/inventory"
mkdir -p "$INV/group_vars/all" "$INV/host_vars"
make_vault "$INV/group_vars/all"
cat > "$INV/hosts.ini" <<H
[pve_nodes]
pve-01 ansible_connection=community.general.chroot ansible_host=$ROOT

[commander]
pve-01

[monitoring]
pve-01

# Members of the corosync nodelist; only pve-01 is a real (chroot) host in this test.
[corosync_members]
pve-01
pve-02
pve-03
H
for i in 1 2 3; do
  printf 'corosync_nodeid: %s\ncorosync_link0: 10.10.10.1%s\ncorosync_link1: 10.20.20.1%s\n' "$i" "$i" "$i" \
    > "$INV/host_vars/pve-0$i.yml"
done
# A snapshot of the deployment files other roles ship (rules, units, alertmanager.yml), so edits
# in the working tree during the test do not look like drift.
mkdir -p "$T/deploy"
cp -a "$PVESAFE_SOURCE_DIR/deploy/systemd" "$PVESAFE_SOURCE_DIR/deploy/prometheus" "$T/deploy/"
[[ -d $PVESAFE_SOURCE_DIR/deploy/alertmanager ]] && cp -a "$PVESAFE_SOURCE_DIR/deploy/alertmanager" "$T/deploy/"
[[ -d $PVESAFE_SOURCE_DIR/deploy/grafana ]] && cp -a "$PVESAFE_SOURCE_DIR/deploy/grafana" "$T/deploy/"
cat > "$INV/group_vars/all/main.yml" <<V
---
# Test-only switches: a chroot has no init system and must not touch the host kernel.
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
pve_repos_pins:
  - {package: corosync, version: "3.1.*", priority: 1001}
corosync_nodes_group: corosync_members
corosync_cluster_name: lab
common_admin_users:
  - name: admin
    groups: [sudo]
    ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBXvWqcW7QqG7zqGQ1QyTt9KQ1q5bq7vGp0Qe3N0vN3q admin@test"]

pve_api_host: 127.0.0.1
pvesafe_deploy_dir: "$T/deploy"
monitoring_deploy_dir: "$T/deploy"
# The Debian package has its own test (tests/package); here the units come from deploy/.
pvesafe_install_package: false
pvesafe_repository: s3://pvesafe-test/cluster
pvesafe_store_options: [s3.endpoint=https://127.0.0.1:7480, s3.region=us-east-1]
pvesafe_pve_token_id: "pvesafe@pve!backup"
pvesafe_repository_passphrase: "{{ vault_pvesafe_repository_passphrase }}"
pvesafe_pve_token_secret: "{{ vault_pvesafe_pve_token_secret }}"
pvesafe_s3_access_key_id: "{{ vault_pvesafe_s3_access_key_id }}"
pvesafe_s3_secret_access_key: "{{ vault_pvesafe_s3_secret_access_key }}"
V

play() {  # play LOG [args]: site.yml against the rootfs
  local log=$1; shift
  (cd "$ANSIBLE_DIR" && ansible-playbook -i "$INV/hosts.ini" --vault-password-file "$T/vault-pass" \
     playbooks/site.yml "$@") > "$log" 2>&1
}
drift() {  # drift LOG: bin/drift against the rootfs; returns its exit code
  local log=$1 rc=0
  "$ANSIBLE_DIR/bin/drift" -i "$INV/hosts.ini" --vault-password-file "$T/vault-pass" > "$log" 2>&1 || rc=$?
  return $rc
}

t0=$SECONDS
phase() { echo "== $* (t=$((SECONDS - t0)) s)"; }
phase "converge"
play "$T/run1.log" || { tail -n 60 "$T/run1.log"; fail "first site.yml run failed"; }
c1=$(recap_changed "$T/run1.log")
[[ $c1 -gt 0 ]] || fail "first run changed nothing (changed=$c1): the rootfs was not configured"

phase "second run must report changed=0 (first run changed=$c1)"
play "$T/run2.log" || { tail -n 60 "$T/run2.log"; fail "second site.yml run failed"; }
c2=$(recap_changed "$T/run2.log")
if [[ $c2 != 0 ]]; then
  grep -E '^(changed|TASK)' "$T/run2.log" | grep -B1 '^changed' >&2 || true
  fail "second run is not idempotent: changed=$c2"
fi

# The result is what the roles promise.
grep -q '^PasswordAuthentication no' "$ROOT/etc/ssh/sshd_config" || fail "sshd_config not hardened"
chroot "$ROOT" /usr/sbin/sshd -t -f /etc/ssh/sshd_config || fail "sshd -t rejects the written sshd_config"
grep -q 'pve-no-subscription' "$ROOT/etc/apt/sources.list.d/pve-no-subscription.list" || fail "PVE source missing"
grep -q '^vm.swappiness = 10' "$ROOT/etc/sysctl.d/90-pvesafe.conf" || fail "sysctl file missing"
grep -q 'config_version: 1' "$ROOT/etc/pve/corosync.conf" || fail "corosync.conf not written at config_version 1"
chroot "$ROOT" corosync -t -c /etc/pve/corosync.conf || fail "corosync -t rejects the written corosync.conf"
for f in passphrase pve-token aws-credentials; do
  [[ $(stat -c %a "$ROOT/etc/pvesafe/credentials/$f") == 600 ]] || fail "credentials/$f is not mode 0600"
done
grep -qF "${SECRETS[0]}" "$ROOT/etc/pvesafe/credentials/passphrase" || fail "passphrase not delivered"
chroot "$ROOT" promtool check config /etc/prometheus/prometheus.yml > /dev/null || fail "prometheus.yml invalid"

phase "hand edits"
echo 'PasswordAuthentication yes' >> "$ROOT/etc/ssh/sshd_config"
sed -i 's/pve-no-subscription/pvetest/' "$ROOT/etc/apt/sources.list.d/pve-no-subscription.list"
sed -i 's/^vm.swappiness = 10/vm.swappiness = 60/' "$ROOT/etc/sysctl.d/90-pvesafe.conf"
printf '\nPackage: chrony\nPin: version 4.0*\nPin-Priority: 1001\n' >> "$ROOT/etc/apt/preferences.d/pvesafe-pins"
chroot "$ROOT" apt-mark hold corosync > /dev/null
sed -i 's/token: 3000/token: 800/' "$ROOT/etc/pve/corosync.conf"

rc=0; drift "$T/drift1.log" || rc=$?
cat "$T/drift1.log"
[[ $rc == 11 ]] || fail "drift exited $rc on a drifted host, want 11"
expect() { grep -qF -- "$1" "$T/drift1.log" || fail "drift did not report: $1"; }
expect "task 'common : SSH daemon configuration (keys only, modern algorithms)' file /etc/ssh/sshd_config"
expect "task 'pve_repos : Proxmox VE source (one-line)' file /etc/apt/sources.list.d/pve-no-subscription.list"
expect "task 'common : Kernel settings persisted in /etc/sysctl.d' file /etc/sysctl.d/90-pvesafe.conf"
expect "task 'pve_repos : Apt pins' file /etc/apt/preferences.d/pvesafe-pins"
expect "task 'pve_repos : Hold state of the unison packages (held only when listed)' item corosync"
expect "task 'corosync : Show the pending change of corosync.conf' file /etc/pve/corosync.conf"
# Check mode changed nothing.
grep -q '^PasswordAuthentication yes' "$ROOT/etc/ssh/sshd_config" || fail "check mode modified sshd_config"

phase "the next run corrects the drift"
play "$T/run3.log" || { tail -n 60 "$T/run3.log"; fail "correcting site.yml run failed"; }
[[ $(recap_changed "$T/run3.log") -gt 0 ]] || fail "correcting run changed nothing"
grep -q '^PasswordAuthentication yes' "$ROOT/etc/ssh/sshd_config" && fail "sshd_config still drifted"
[[ $(chroot "$ROOT" apt-mark showhold) == "" ]] || fail "corosync still held"
grep -q 'config_version: 2' "$ROOT/etc/pve/corosync.conf" || fail "corosync.conf change did not bump config_version to 2"
grep -q 'token: 3000' "$ROOT/etc/pve/corosync.conf" || fail "corosync token not restored"
[[ -f $ROOT/etc/pve/corosync.conf.bak ]] || fail "no backup of the previous corosync.conf"
drift "$T/drift2.log" || { cat "$T/drift2.log"; fail "drift after correction exited $?"; }

assert_no_secrets "$T"/*.log
phase "done"
echo "site.yml: first run changed=$c1, second run changed=0; drift found $(grep -c '^DRIFT' "$T/drift1.log") drifted tasks (exit 11), corrected, then none"
