#!/usr/bin/env bash
# The three-node lab: what an operator has before running site.yml, minus the hardware.
#
#   pve-01..03   each a Debian 12 root (the cached debootstrap tarball, one read-only copy under
#                three overlay mounts) with its own network namespace, UTS name, sshd, and later
#                corosync and a node-mode exporter; /etc/pve is one directory all three see (the
#                cluster file system pmxcfs gives a real cluster)
#   networks     management 192.0.2.0/24 (SSH, the apt repository, Prometheus scrapes; the
#                controller is 192.0.2.1), corosync link0 10.10.10.0/24 (dedicated) and link1
#                10.20.20.0/24: the addresses of deploy/ansible/inventory/host_vars
#   controller   this shell: names resolve through its own /etc/hosts, SSH with a key and a
#                known_hosts file (StrictHostKeyChecking), pvesim as the cluster's PVE API
#
# Source it from a script that runs as root inside `unshare --mount --net` (lab_enter does the
# re-exec), then: lab_up; lab_ssh NODE CMD; lab_pmxcfs_sync; lab_start_corosync N;
# lab_kill_node N; ... Everything (mounts, namespaces, processes) ends with the script.
set -euo pipefail

LAB_NODES=(pve-01 pve-02 pve-03)
LAB_SRC=${PVESAFE_SOURCE_DIR:?}
LAB_PY=/usr/bin/python3
LAB_DIR=${LAB_DIR:-}

lab_log() { echo "lab[$(date +%H:%M:%S)]: $*" >&2; }
lab_ip() { echo "192.0.2.1${1#pve-0}"; }        # management address of pve-0N
lab_link0() { echo "10.10.10.1${1#pve-0}"; }
lab_link1() { echo "10.20.20.1${1#pve-0}"; }
lab_root() { echo "$LAB_DIR/nodes/$1/root"; }
lab_ns() { echo "lab-$1"; }

# lab_enter SCRIPT ARGS...: re-executes SCRIPT in a private mount and network namespace (once).
lab_enter() {
  [[ -n ${PVESAFE_LAB_IN_NS:-} ]] && return 0
  exec unshare --mount --net --propagation private env PVESAFE_LAB_IN_NS=1 bash "$@"
}

lab_check_tools() {
  local t
  [[ $(id -u) == 0 ]] || { echo "SKIP: the lab needs root (namespaces, mounts)"; return 77; }
  for t in unshare ip ssh ssh-keygen ansible-playbook zstd curl corosync-keygen; do
    command -v "$t" >/dev/null || { echo "SKIP: $t not installed"; return 77; }
  done
  unshare --net true 2>/dev/null || { echo "SKIP: cannot create network namespaces"; return 77; }
}

# The base root file system, unpacked once; each node gets an overlay of it.
lab_base() {
  local base="$LAB_DIR/base"
  mkdir -p "$base"
  rootfs_extract "$base"
  # A node's identity is made at first boot, not in the image: no shared host keys or machine id.
  rm -f "$base"/etc/ssh/ssh_host_* "$base/etc/machine-id"
  # The Debian package's example corosync.conf has no nodelist; a node starts without one.
  rm -f "$base/etc/corosync/corosync.conf"
}

lab_mount_node() {
  local n=$1 d="$LAB_DIR/nodes/$1" root
  root=$(lab_root "$n")
  mkdir -p "$d/upper" "$d/work" "$root"
  mount -t overlay overlay -o "lowerdir=$LAB_DIR/base,upperdir=$d/upper,workdir=$d/work" "$root"
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mount -t tmpfs -o mode=755 tmpfs "$root/run"
  mkdir -p "$root/run/sshd" "$root/run/lock" "$root/etc/pve" "$root/srv/pvesafe-repo"
  mount --bind "$LAB_DIR/pmxcfs" "$root/etc/pve"
  mount --bind "$LAB_DIR/shared-repo" "$root/srv/pvesafe-repo"
}

lab_net() {
  local n i ns br
  ip link set lo up
  for br in mgmt link0 link1; do
    ip link add "$br" type bridge
    ip link set "$br" up
  done
  ip addr add 192.0.2.1/24 dev mgmt
  for n in "${LAB_NODES[@]}"; do
    ns=$(lab_ns "$n") i=${n#pve-0}
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    for br in mgmt link0 link1; do
      ip link add "$br-$i" type veth peer name "n$i-$br"
      ip link set "$br-$i" master "$br" up
      ip link set "n$i-$br" netns "$ns"
    done
    ip -n "$ns" link set n$i-mgmt name eth0
    ip -n "$ns" link set n$i-link0 name eth1
    ip -n "$ns" link set n$i-link1 name eth2
    ip -n "$ns" addr add "$(lab_ip "$n")/24" dev eth0
    ip -n "$ns" addr add "$(lab_link0 "$n")/24" dev eth1
    ip -n "$ns" addr add "$(lab_link1 "$n")/24" dev eth2
    for i in eth0 eth1 eth2; do ip -n "$ns" link set "$i" up; done
  done
}

# lab_in NODE CMD...: runs CMD as the node's system would (its namespace, name and root).
lab_in() {
  local n=$1; shift
  ip netns exec "$(lab_ns "$n")" unshare --uts -- sh -c 'hostname "$1"; shift; exec chroot "$@"' \
    sh "$n" "$(lab_root "$n")" "$@"
}

# lab_daemon NODE NAME CMD...: starts a daemon on the node, log and pid in LAB_DIR/nodes/NODE.
lab_daemon() {
  local n=$1 name=$2; shift 2
  lab_in "$n" "$@" >"$LAB_DIR/nodes/$n/$name.log" 2>&1 &
  echo $! >"$LAB_DIR/nodes/$n/$name.pid"
}

lab_start_sshd() {
  lab_daemon "$1" sshd /usr/sbin/sshd -D -e
}

# lab_stop_sshd NODE: the listener and every session (SSH multiplexing keeps sessions open, so
# killing the listener alone would let clients go on with the old daemon).
lab_stop_sshd() {
  local p
  for p in $(ip netns pids "$(lab_ns "$1")"); do
    [[ $(cat "/proc/$p/comm" 2>/dev/null) == sshd ]] && kill "$p" 2>/dev/null || true
  done
  rm -f "$LAB_DIR/ssh/cm-$1"
}

lab_restart_sshd() {
  lab_stop_sshd "$1"
  sleep 0.2
  lab_start_sshd "$1"
}

lab_wait_ssh() {
  local n i
  for n in "$@"; do
    for ((i = 0; i < 100; i++)); do
      lab_ssh "$n" true 2>/dev/null && break
      sleep 0.2
    done
    lab_ssh "$n" true || { tail -n 20 "$LAB_DIR/nodes/$n/sshd.log" >&2; echo "lab: no SSH to $n" >&2; return 1; }
  done
}

lab_ssh() {
  local n=$1; shift
  ssh -F "$LAB_DIR/ssh/config" "$n" "$@"
}

# First boot of a node: its name, addresses of its peers, host keys, the operator's SSH key.
lab_first_boot() {
  local n=$1 root
  root=$(lab_root "$n")
  echo "$n" >"$root/etc/hostname"
  cp "$LAB_DIR/hosts" "$root/etc/hosts"
  chroot "$root" ssh-keygen -A >/dev/null
  cat "$root"/etc/ssh/ssh_host_*_key.pub | sed "s/^/$n /" >>"$LAB_DIR/ssh/known_hosts"
  install -d -m 700 "$root/root/.ssh"
  install -m 600 "$LAB_DIR/ssh/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
  install -m 400 "$LAB_DIR/corosync-authkey" "$root/etc/corosync/authkey"
}

lab_up() {
  LAB_DIR=${LAB_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/pvesafe-cluster.XXXXXX")}
  chmod 700 "$LAB_DIR"
  mkdir -p "$LAB_DIR/ssh" "$LAB_DIR/pmxcfs" "$LAB_DIR/shared-repo" "$LAB_DIR/nodes"
  # Private name spaces for this lab: network namespace names and /etc/hosts.
  mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns
  {
    echo "127.0.0.1 localhost"
    echo "192.0.2.1 controller apt.lab"
    for n in "${LAB_NODES[@]}"; do echo "$(lab_ip "$n") $n.lab $n"; done
  } >"$LAB_DIR/hosts"
  mount --bind "$LAB_DIR/hosts" /etc/hosts
  lab_net
  ssh-keygen -q -t ed25519 -N '' -C operator@controller -f "$LAB_DIR/ssh/id_ed25519"
  : >"$LAB_DIR/ssh/known_hosts"
  cat >"$LAB_DIR/ssh/config" <<SSH
Host pve-*
  User root
  IdentityFile $LAB_DIR/ssh/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $LAB_DIR/ssh/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 5
  ControlMaster auto
  ControlPath $LAB_DIR/ssh/cm-%h
  ControlPersist 60
SSH
  corosync-keygen -k "$LAB_DIR/corosync-authkey" >/dev/null 2>&1
  lab_base
  local n
  for n in "${LAB_NODES[@]}"; do
    lab_mount_node "$n"
    lab_first_boot "$n"
    lab_start_sshd "$n"
  done
  lab_wait_ssh "${LAB_NODES[@]}"
  # What Ansible uses: the operator's key, these host keys, nothing else.
  export ANSIBLE_PRIVATE_KEY_FILE="$LAB_DIR/ssh/id_ed25519" ANSIBLE_REMOTE_USER=root
  export ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=$LAB_DIR/ssh/known_hosts -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"
  export ANSIBLE_SSH_CONTROL_PATH_DIR="$LAB_DIR/ssh/cp"
  export ANSIBLE_TIMEOUT=10
  lab_log "3 nodes up in $LAB_DIR (SSH by name, host keys pinned)"
}

lab_down() {
  local n f
  [[ -n $LAB_DIR && -d $LAB_DIR ]] || return 0
  for f in "$LAB_DIR"/*.pid; do [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null || true; done
  for n in "${LAB_NODES[@]}"; do
    ip netns pids "$(lab_ns "$n")" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  done
  sleep 0.2
  for n in "${LAB_NODES[@]}"; do
    umount -R -l "$(lab_root "$n")" 2>/dev/null || true
  done
  # The roots hold /dev and the shared directories: never let a recursive delete reach them.
  if grep -q " $LAB_DIR/" /proc/self/mounts; then
    echo "lab: mounts left under $LAB_DIR; not deleting it" >&2
    T=""  # on_exit (tests/ansible/lib/common.sh) removes $T after this hook: not this time
  fi
}

# --- the cluster file system and corosync -----------------------------------------------------

# What pmxcfs does with /etc/pve/corosync.conf: a node takes it when its config_version is newer
# than the node's own copy, then corosync reloads (started here the first time, as systemd would).
lab_pmxcfs_sync() {
  local n root have want
  [[ -f $LAB_DIR/pmxcfs/corosync.conf ]] || { echo "lab: no /etc/pve/corosync.conf" >&2; return 1; }
  want=$(sed -n 's/^ *config_version: *\([0-9]*\)/\1/p' "$LAB_DIR/pmxcfs/corosync.conf")
  for n in "${LAB_NODES[@]}"; do
    root=$(lab_root "$n")
    have=$(sed -n 's/^ *config_version: *\([0-9]*\)/\1/p' "$root/etc/corosync/corosync.conf" 2>/dev/null || true)
    if [[ -z $have || $want -gt $have ]]; then
      cp "$LAB_DIR/pmxcfs/corosync.conf" "$root/etc/corosync/corosync.conf.new"
      mv "$root/etc/corosync/corosync.conf.new" "$root/etc/corosync/corosync.conf"
      if lab_corosync_running "$n"; then lab_in "$n" corosync-cfgtool -R >/dev/null; fi
    fi
  done
}

lab_corosync_running() {
  [[ -f $LAB_DIR/nodes/$1/corosync.pid ]] && kill -0 "$(cat "$LAB_DIR/nodes/$1/corosync.pid")" 2>/dev/null
}

lab_start_corosync() {
  local n=$1
  mkdir -p "$(lab_root "$n")/var/log/corosync"
  lab_daemon "$n" corosync corosync -f
}

# lab_wait_quorum SECONDS: every node sees all three members over both links.
lab_wait_quorum() {
  local i n ok
  for ((i = 0; i < ${1:-60} * 2; i++)); do
    ok=1
    for n in "${LAB_NODES[@]}"; do
      lab_corosync_running "$n" || { ok=0; break; }
      [[ $(lab_in "$n" corosync-quorumtool -s 2>/dev/null | sed -n 's/^Total votes: *//p') == 3 ]] || { ok=0; break; }
      [[ $(lab_in "$n" corosync-cfgtool -s 2>/dev/null | grep -c 'connected') -ge 4 ]] || { ok=0; break; }
    done
    ((ok)) && return 0
    sleep 0.5
  done
  for n in "${LAB_NODES[@]}"; do lab_in "$n" corosync-cfgtool -s >&2 || true; done
  echo "lab: corosync did not reach three members on two links" >&2
  return 1
}

# The node-mode exporter of the pvesafe package installed on the node.
lab_start_exporter() {
  lab_daemon "$1" exporter /usr/bin/pvesafe exporter --mode node --node "$1" --no-catalog \
    --listen "$(lab_ip "$1"):9221"
}

# lab_kill_node NODE: everything on the node dies at once (power loss).
lab_kill_node() {
  ip netns pids "$(lab_ns "$1")" | xargs -r kill -9
}

# lab_boot_node NODE: the node comes back: sshd, corosync, the exporter.
lab_boot_node() {
  lab_start_sshd "$1"
  lab_start_corosync "$1"
  lab_start_exporter "$1"
}

# --- the cluster's PVE API (pvesim) -----------------------------------------------------------

# lab_pvesim ARGS...: pvesim on the controller's loopback as the cluster's API; sets LAB_API_PORT,
# LAB_API_FP, LAB_API_CA, LAB_API_TOKENS.
lab_pvesim() {
  "$PVESIM_BIN" --listen 127.0.0.1:0 --data-dir "$LAB_DIR/pvesim" --cert-out "$LAB_DIR/pvesim-ca.pem" \
    "$@" >"$LAB_DIR/pvesim.out" 2>"$LAB_DIR/pvesim.log" &
  echo $! >"$LAB_DIR/pvesim.pid"
  local i
  for ((i = 0; i < 200; i++)); do
    grep -q "listening on" "$LAB_DIR/pvesim.out" 2>/dev/null && break
    sleep 0.05
  done
  LAB_API_PORT=$(grep -o 'https://127.0.0.1:[0-9]*' "$LAB_DIR/pvesim.out" | sed 's/.*://')
  LAB_API_FP=$(grep -o 'fingerprint [0-9A-Fa-f:]*' "$LAB_DIR/pvesim.out" | awk '{print $2}')
  LAB_API_CA="$LAB_DIR/pvesim-ca.pem"
  LAB_API_TOKENS="$LAB_DIR/pvesim/tokens"
  [[ -n $LAB_API_PORT ]] || { cat "$LAB_DIR/pvesim.log" >&2; echo "lab: pvesim did not start" >&2; return 1; }
  export LAB_API_PORT LAB_API_FP LAB_API_CA LAB_API_TOKENS
}

lab_token() {  # lab_token USER@REALM!ID -> secret
  sed -n "s/^$1=\([^ ]*\) .*/\1/p" "$LAB_API_TOKENS"
}

# lab_api_control METHOD PATH[?K=V&...] [curl args]: pvesim's control plane; a POST sends the
# query as a form body (values such as 1.25-3+deb12u1 must not be read as URL syntax).
lab_api_control() {
  local m=$1 p=$2 q="" kv x a=(); shift 2
  if [[ $p == *\?* ]]; then q=${p#*\?} p=${p%%\?*}; fi
  if [[ $m == POST ]]; then
    IFS='&' read -ra kv <<<"$q"
    for x in "${kv[@]}"; do a+=(--data-urlencode "$x"); done
    ((${#a[@]})) || a=(--data '')
    curl -fsS --cacert "$LAB_API_CA" -X POST "https://127.0.0.1:$LAB_API_PORT/pvesim/$p" "${a[@]}" "$@"
  else
    curl -fsS --cacert "$LAB_API_CA" -X "$m" "https://127.0.0.1:$LAB_API_PORT/pvesim/$p${q:+?$q}" "$@"
  fi
}

# What each node's API reports for its packages (pveproxy reads dpkg): the installed versions of
# the watched packages, published to pvesim.
lab_publish_versions() {
  local n p v
  for n in "${LAB_NODES[@]}"; do
    for p in "$@"; do
      v=$(chroot "$(lab_root "$n")" dpkg-query -W -f '${Version}' "$p" 2>/dev/null || true)
      [[ -n $v ]] && lab_api_control POST "package?node=$n&name=$p&version=$v" >/dev/null
    done
  done
}

# --- what the operator brings: an apt repository and an inventory ---------------------------------

# lab_apt_serve DEB...: a signed repository of the packages (lib/apt_repo.sh) served on the
# management network at http://apt.lab:8080/.
lab_apt_serve() {
  apt_repo_make "$LAB_DIR/apt" "$@"
  (cd "$LAB_DIR/apt" && exec $LAB_PY -m http.server 8080 --bind 192.0.2.1) >"$LAB_DIR/apt.log" 2>&1 &
  echo $! >"$LAB_DIR/apt.pid"
  local i
  for ((i = 0; i < 100; i++)); do curl -fsS -o /dev/null http://apt.lab:8080/InRelease 2>/dev/null && return 0; sleep 0.1; done
  echo "lab: the apt repository did not come up" >&2
  return 1
}

# lab_inventory DIR: the inventory a user writes for these nodes: hosts.ini by name, the shipped
# host_vars (corosync ids and links), group_vars with a vault (tests/ansible/lib/common.sh's
# make_vault, plus the API token of pvesim). Needs T, lab_pvesim and lab_apt_serve first.
lab_inventory() {
  local inv=$1 api_secret
  mkdir -p "$inv/group_vars/all" "$inv/host_vars"
  make_vault "$inv/group_vars/all"
  cp "$ANSIBLE_DIR"/inventory/host_vars/pve-0?.yml "$inv/host_vars/"
  api_secret=$(lab_token 'root@pam!pvesafe')
  SECRETS+=("$api_secret")
  printf -- '---\nvault_pve_api_token_secret: "%s"\n' "$api_secret" >"$inv/group_vars/all/vault_api.yml"
  ansible-vault encrypt --vault-password-file "$T/vault-pass" "$inv/group_vars/all/vault_api.yml" >/dev/null
  cat >"$inv/hosts.ini" <<H
# The lab's three nodes, by name (the controller resolves them like any DNS name).
[pve_nodes]
pve-01
pve-02
pve-03

[commander]
pve-01

[monitoring]
pve-01
H
  mkdir -p "$LAB_DIR/deploy"
  cp -a "$LAB_SRC"/deploy/{systemd,prometheus,alertmanager,grafana} "$LAB_DIR/deploy/"
  {
    cat <<V
---
# The nodes have no init system: the lab starts sshd, corosync and the exporters itself.
common_manage_services: false
common_sysctl_apply: false
pvesafe_manage_services: false
monitoring_manage_services: false
corosync_reload: false
pve_repos_update_cache: false

pve_major_version: 8
pve_repos_channel: no-subscription
pve_repos_unison_packages: [corosync, libknet1, pvesafe]
pve_repos_align_versions: true
corosync_cluster_name: lab
common_admin_users:
  - name: admin
    groups: [sudo]
    ssh_keys: ["$(cat "$LAB_DIR/ssh/id_ed25519.pub")"]

pve_api_host: 127.0.0.1
pve_api_port: $LAB_API_PORT
pve_api_token_id: "root@pam!pvesafe"
pve_api_token_secret: "{{ vault_pve_api_token_secret }}"
pve_api_ca_file: "$LAB_API_CA"
pve_api_validate_certs: true
pve_api_fingerprint: "$LAB_API_FP"
pve_ha_groups:
  - {group: prefer-01, nodes: "pve-01:2,pve-02:1"}
  - {group: prefer-03, nodes: "pve-03:2,pve-02:1"}
pve_ha_resources:
  - {sid: "vm:100", state: started, group: prefer-01}
  - {sid: "ct:101", state: started}
  - {sid: "vm:102", state: started, group: prefer-03}

pvesafe_deploy_dir: "$LAB_DIR/deploy"
monitoring_deploy_dir: "$LAB_DIR/deploy"
pvesafe_apt_url: http://apt.lab:8080/
pvesafe_apt_suite: ./
pvesafe_apt_components: []
pvesafe_apt_key: |
V
    sed 's/^/  /' "$LAB_DIR/apt/key.asc"
    cat <<V
pvesafe_repository: /srv/pvesafe-repo
pvesafe_vzdump_hook_store: true
pvesafe_pve_token_id: "pvesafe@pve!backup"
pvesafe_repository_passphrase: "{{ vault_pvesafe_repository_passphrase }}"
pvesafe_pve_token_secret: "{{ vault_pvesafe_pve_token_secret }}"
V
  } >"$inv/group_vars/all/main.yml"
}

# lab_play INVENTORY LOG [args]: site.yml over SSH; prints its exit code and time.
lab_play() {
  local inv=$1 log=$2 rc=0 s=$SECONDS; shift 2
  (cd "$ANSIBLE_DIR" && ansible-playbook -i "$inv/hosts.ini" --vault-password-file "$T/vault-pass" \
     playbooks/site.yml "$@") >"$log" 2>&1 || rc=$?
  echo "   site.yml $*: exit $rc in $((SECONDS - s)) s"
  return $rc
}

# lab_recap LOG HOST FIELD: the number of FIELD (ok, changed, failed, unreachable) for HOST.
lab_recap() {
  awk -v h="$2" -v f="$3" '/^PLAY RECAP/{r=1;next} r && $1==h {for(i=1;i<=NF;i++) if($i ~ "^"f"="){split($i,a,"=");print a[2]}}' "$1"
}
