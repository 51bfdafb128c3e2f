#!/usr/bin/env bash
# site.yml against three Debian nodes over SSH, as an operator runs it (tests/cluster/lib/lab.sh):
#   1. converges; the corosync the nodes then run is the corosync.conf the role wrote (two links,
#      three members); pvesafe comes from its Debian package through a signed apt repository
#   2. a second run reports changed=0 on every node (through the hardened sshd the first wrote)
#   3. version unison: pvesafe held back a version on pve-03; `pvesafe audit` and the health
#      report name the node and the package (and did not before: the control), the next run
#      aligns it, `drift` exits 0. PVESAFE_CLUSTER_NO_SKEW=1 skips the downgrade: the test must
#      then fail (it does: "the audit does not name pve-03 and pvesafe")
#   4. a node lost: real corosync drops it, pvesim's HA manager (timings x0.05) fences it and
#      recovers its guests by group priority; the HA states and pve-ha-crm's journal come in
#      pve-ha-manager's order (unknown, fence, fencing acknowledged, recovery, started)
#   5. bad input: a node whose corosync.conf is newer (the role refuses), a changed host key, an
#      unreachable node (the others converge, the recap names it)
# No vault secret may appear in any output. Needs root; the rootfs and the packages' dependencies
# are fetched before entering the namespaces.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../ansible/lib/common.sh"
need ansible-playbook debootstrap unshare zstd curl apt-ftparchive gpg corosync-keygen
[[ -x ${PVESAFE_BIN:-} && -x ${PVESIM_BIN:-} ]] || { echo "SKIP: pvesafe/pvesim not built"; exit 77; }
source "$here/../ansible/lib/rootfs.sh"
source "$here/../package/lib/apt_repo.sh"
source "$here/lib/lab.sh"
rc=0; lab_check_tools || rc=$?
((rc == 0)) || exit "$rc"

DEB_DIR=${PVESAFE_DEB_DIR:-$PVESAFE_BUILD_DIR/deb}
if [[ -z ${PVESAFE_LAB_IN_NS:-} ]]; then
  rootfs_tarball >/dev/null
  ls "$DEB_DIR"/pvesafe_*.deb >/dev/null 2>&1 || { echo "FAIL: no packages in $DEB_DIR (ctest -R package_build)"; exit 1; }
  LAB_DEPS=$(apt_repo_deps "$(ls "$DEB_DIR"/pvesafe_*_amd64.deb | sort -V | tail -n1)" | tr '\n' ' ')
  export LAB_DEPS
  rm -rf "$T"; trap - EXIT
  lab_enter "$0" "$@"
fi

NEW_DEB=$(ls "$DEB_DIR"/pvesafe_*_amd64.deb | sort -V | tail -n1)
OLD_DEB=$(ls "$DEB_DIR"/pvesafe_*_amd64.deb | sort -V | head -n1)
NEW_V=$(dpkg-deb -f "$NEW_DEB" Version) OLD_V=$(dpkg-deb -f "$OLD_DEB" Version)
[[ $NEW_V != "$OLD_V" ]] || fail "need two versions of the package in $DEB_DIR"
LAB_DIR="$T/lab"
mkdir -p "$LAB_DIR"
CLEANUP+=("lab_down")
trap 'exit 143' TERM INT HUP  # a timeout or ^C still runs the EXIT trap: lab_down
t0=$SECONDS
phase() { echo "== $* (t=$((SECONDS - t0)) s)"; }

phase "lab: three nodes, three networks, sshd"
lab_up

# The operator's apt repository on the management network, and the cluster's API.
lab_apt_serve "$NEW_DEB" "$OLD_DEB" $LAB_DEPS
lab_pvesim --config "$here/pvesim-lab.toml" --ha-time-scale 0.05 --task-seconds 0.2

# --- the inventory, as a user writes it ---------------------------------------------------------
INV="$T/inventory"
lab_inventory "$INV"

play() { lab_play "$INV" "$@"; }
recap() { lab_recap "$@"; }
audit_json() {
  PVESAFE_PVE_TOKEN_SECRET=$(lab_token 'auditor@pve!monitor') "$PVESAFE_BIN" audit --json \
    --pve-host 127.0.0.1 --pve-port "$LAB_API_PORT" --pve-token-id 'auditor@pve!monitor' \
    --pve-fingerprint "$LAB_API_FP" --skip storage --skip certs >"$1" || true
}
# skew_named FILE NODE PACKAGE: the audit in FILE has a versions finding naming NODE and PACKAGE.
skew_named() {
  $LAB_PY - "$@" <<'PY'
import json, sys
path, node, pkg = sys.argv[1:4]
found = [f for f in json.load(open(path))["findings"]
         if f["check"] == "versions" and f.get("node") == node and pkg in f["message"]]
sys.exit(0 if found else 1)
PY
}

# --- 1. converge ----------------------------------------------------------------------------------
phase "1. site.yml converges the three nodes over SSH"
play "$T/run1.log" || { tail -n 60 "$T/run1.log"; fail "first site.yml run failed"; }
for n in "${LAB_NODES[@]}"; do
  [[ $(recap "$T/run1.log" "$n" changed) -gt 0 ]] || fail "$n: first run changed nothing"
  [[ $(recap "$T/run1.log" "$n" failed) == 0 && $(recap "$T/run1.log" "$n" unreachable) == 0 ]] || fail "$n failed"
  v=$(chroot "$(lab_root "$n")" dpkg-query -W -f '${Version} ${Status}' pvesafe)
  [[ $v == "$NEW_V install ok installed" ]] || fail "$n: pvesafe from the repository: $v"
  chroot "$(lab_root "$n")" /usr/sbin/sshd -t || fail "$n: sshd -t rejects the written sshd_config"
done
grep -q '^passphrase-file = "/etc/pvesafe/credentials/passphrase"' "$(lab_root pve-02)/etc/pvesafe/pvesafe.toml" ||
  fail "the nodes' pvesafe.toml lacks the passphrase file"
conf="$LAB_DIR/pmxcfs/corosync.conf"
grep -q 'config_version: 1' "$conf" || fail "corosync.conf not at config_version 1"
for n in "${LAB_NODES[@]}"; do
  grep -q "ring0_addr: $(lab_link0 "$n")" "$conf" && grep -q "ring1_addr: $(lab_link1 "$n")" "$conf" ||
    fail "corosync.conf lacks both links of $n"
done

phase "corosync from the role's corosync.conf, two links, three members"
lab_pmxcfs_sync
for n in "${LAB_NODES[@]}"; do
  cmp -s "$conf" "$(lab_root "$n")/etc/corosync/corosync.conf" || fail "$n does not run the role's corosync.conf"
  lab_start_corosync "$n"
done
lab_wait_quorum 60 || fail "corosync did not form the cluster from the role's configuration"
lab_in pve-01 corosync-cfgtool -s | sed 's/^/   /'

phase "2. second run: changed=0 on every node, through the hardened sshd"
for n in "${LAB_NODES[@]}"; do lab_restart_sshd "$n"; done
lab_wait_ssh "${LAB_NODES[@]}"
play "$T/run2.log" || { tail -n 60 "$T/run2.log"; fail "second site.yml run failed"; }
for n in "${LAB_NODES[@]}"; do
  c=$(recap "$T/run2.log" "$n" changed)
  if [[ $c != 0 ]]; then
    grep -E '^(changed|TASK)' "$T/run2.log" | grep -B1 "^changed: \[$n" >&2 || true
    fail "second run is not idempotent on $n: changed=$c"
  fi
done
grep '^pve-0' "$T/run2.log" | sed 's/^/   /'

# The package's exporter on each node reads that corosync.
for n in "${LAB_NODES[@]}"; do lab_start_exporter "$n"; done
for n in "${LAB_NODES[@]}"; do
  for ((i = 0; i < 50; i++)); do
    curl -fsS "http://$n:9221/metrics" 2>/dev/null | grep -q '^pvesafe_corosync_members{observer="'$n'"} 3' && break
    sleep 0.2
  done
  ((i < 50)) || fail "$n: the exporter of the package does not see three corosync members"
done

# --- 3. version unison ----------------------------------------------------------------------------
phase "3. version unison: control (no skew), then pvesafe held back on pve-03"
lab_publish_versions pvesafe corosync libknet1
audit_json "$T/audit0.json"
skew_named "$T/audit0.json" pve-03 pvesafe && fail "control: the audit reports a skew before there is one"
# PVESAFE_CLUSTER_NO_SKEW=1 leaves pve-03 alone: the test must then fail right below (its own
# control: the checks that follow cannot pass without the skew).
[[ -n ${PVESAFE_CLUSTER_NO_SKEW:-} ]] || lab_ssh pve-03 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --allow-downgrades \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "pvesafe=$OLD_V" >"$T/downgrade.log" 2>&1 ||
  { cat "$T/downgrade.log"; fail "could not hold pve-03 back"; }
lab_publish_versions pvesafe corosync libknet1
audit_json "$T/audit1.json"
skew_named "$T/audit1.json" pve-03 pvesafe || { cat "$T/audit1.json"; fail "the audit does not name pve-03 and pvesafe"; }
$LAB_PY -c 'import json,sys; [print("   audit:", f["severity"], f["message"]) for f in json.load(open(sys.argv[1]))["findings"] if f["check"]=="versions"]' "$T/audit1.json"
(cd "$ANSIBLE_DIR" && ansible-playbook -i "$INV/hosts.ini" --vault-password-file "$T/vault-pass" \
   playbooks/health-report.yml -e "health_report_dir=$T/reports" -e "health_pvesafe=$PVESAFE_BIN") \
  >"$T/health.log" 2>&1 || { tail -n 30 "$T/health.log"; fail "health-report.yml failed"; }
$LAB_PY - "$T/reports/health-report.json" "$OLD_V" <<'PY' || fail "the health report does not name pve-03's pvesafe"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["nodes"]["pve-03"]["versions"]["pvesafe"] == sys.argv[2], r["nodes"]["pve-03"]["versions"]
assert any(f["check"] == "versions" and f["node"] == "pve-03" and "pvesafe" in f["message"]
           for f in r["audit"]["findings"]), r["audit"]["findings"]
PY
phase "the role brings pve-03 in line"
# The part of site.yml that owns package versions (the pve_repos role, tag nodes); drift below
# checks the whole playbook afterwards.
play "$T/run3.log" --tags nodes || { tail -n 60 "$T/run3.log"; fail "aligning site.yml run failed"; }
grep -q "pvesafe differs between nodes" "$T/run3.log" || fail "site.yml did not report the skew"
[[ $(recap "$T/run3.log" pve-03 changed) -gt 0 && $(recap "$T/run3.log" pve-01 changed) == 0 ]] ||
  fail "the alignment changed the wrong nodes"
[[ $(chroot "$(lab_root pve-03)" dpkg-query -W -f '${Version}' pvesafe) == "$NEW_V" ]] || fail "pve-03 not aligned"
lab_publish_versions pvesafe corosync libknet1
audit_json "$T/audit2.json"
skew_named "$T/audit2.json" pve-03 pvesafe && fail "the audit still reports the skew"
rc=0; "$ANSIBLE_DIR/bin/drift" -i "$INV/hosts.ini" --vault-password-file "$T/vault-pass" >"$T/drift.log" 2>&1 || rc=$?
[[ $rc == 0 ]] || { cat "$T/drift.log"; fail "drift exited $rc after the alignment"; }
tail -n 1 "$T/drift.log" | sed 's/^/   /'

# --- 4. a node lost -------------------------------------------------------------------------------
phase "4. pve-03 lost: corosync drops it, the HA manager fences it and recovers its guests"
$LAB_PY "$here/membership_bridge.py" "https://127.0.0.1:$LAB_API_PORT" "$LAB_API_CA" \
  pve-01=pve-01:9221 pve-02=pve-02:9221 pve-03=pve-03:9221 >"$T/bridge.out" 2>"$T/bridge.log" &
echo $! >"$LAB_DIR/bridge.pid"
sleep 1
lab_kill_node pve-03
$LAB_PY - "https://127.0.0.1:$LAB_API_PORT" "$LAB_API_CA" "$(lab_token 'root@pam!pvesafe')" <<'PY' || fail "HA recovery in the lab"
import sys, time, requests
url, ca, secret = sys.argv[1:4]
s = requests.Session(); s.verify = ca; s.trust_env = False  # REQUESTS_CA_BUNDLE must not replace the CA
s.headers["Authorization"] = "PVEAPIToken=root@pam!pvesafe=" + secret
get = lambda p: s.get(url + "/api2/json" + p, timeout=10).json()["data"]
hist, end = {}, time.time() + 90
while time.time() < end:
    for e in get("/cluster/ha/status/current"):
        if e.get("type") == "service":
            h = hist.setdefault(e["sid"], [])
            if not h or h[-1] != (e["state"], e["node"]):
                h.append((e["state"], e["node"]))
    r = {g["vmid"]: g for g in get("/cluster/resources?type=vm")}
    if r[102]["node"] == "pve-02" and r[102]["status"] == "running" and r[101]["node"] != "pve-03" and r[101]["status"] == "running":
        break
    time.sleep(0.2)
print("   HA:", hist)
assert hist["vm:102"][:2] == [("started", "pve-03"), ("fence", "pve-03")], hist["vm:102"]
assert hist["vm:102"][-1] == ("started", "pve-02"), hist["vm:102"]  # group prefer-03: pve-02 next
assert hist["vm:100"] == [("started", "pve-01")], hist["vm:100"]
assert r[102]["node"] == "pve-02" and r[102]["status"] == "running", r[102]
PY
# pve-ha-crm's journal (on the master, pve-01) in pve-ha-manager's order and wording.
$LAB_PY - "https://127.0.0.1:$LAB_API_PORT" "$LAB_API_CA" "$(lab_token 'root@pam!pvesafe')" <<'PY' || fail "pve-ha-crm's journal"
import sys, requests
url, ca, secret = sys.argv[1:4]
s = requests.Session(); s.verify = ca; s.trust_env = False
s.headers["Authorization"] = "PVEAPIToken=root@pam!pvesafe=" + secret
lines = [l["t"].split("]: ", 1)[1] for l in
         s.get(url + "/api2/json/nodes/pve-01/syslog", params={"service": "pve-ha-crm", "limit": 1000},
               timeout=10).json()["data"]]
want = ["node 'pve-03': state changed from 'online' => 'unknown'",
        "service 'vm:102': state changed from 'started' to 'fence'",
        "node 'pve-03': state changed from 'unknown' => 'fence'",
        "fencing: acknowledged - got agent lock for node 'pve-03'",
        "service 'vm:102': state changed from 'fence' to 'recovery'",
        "recover service 'vm:102' from fenced node 'pve-03' to node 'pve-02'",
        "service 'vm:102': state changed from 'recovery' to 'started'  (node = pve-02)"]
at = [next((i for i, l in enumerate(lines) if l == w), None) for w in want]
missing = [w for w, i in zip(want, at) if i is None]
assert not missing, ("missing", missing, lines)
assert at == sorted(at), ("out of order", list(zip(want, at)))
print("   pve-ha-crm: " + " | ".join(lines[i] for i in (at[0], at[3], at[5])))
PY
grep -q "pve-03 offline" "$T/bridge.out" || fail "the bridge did not see pve-03 leave corosync"
[[ $(lab_in pve-01 corosync-quorumtool -s | sed -n 's/^Total votes: *//p') == 2 ]] || fail "corosync still counts pve-03"
lab_boot_node pve-03
lab_wait_ssh pve-03
lab_wait_quorum 60 || fail "pve-03 did not rejoin"
kill "$(cat "$LAB_DIR/bridge.pid")"

# --- 5. bad input ---------------------------------------------------------------------------------
phase "5a. a node runs a newer corosync.conf: the role refuses to write over it"
cp "$conf" "$T/corosync.before"
sed -i 's/config_version: [0-9]*/config_version: 9/' "$(lab_root pve-03)/etc/corosync/corosync.conf"
rc=0; play "$T/refuse.log" --tags corosync -e corosync_token=3500 || rc=$?
[[ $rc != 0 ]] || fail "the role wrote corosync.conf over pve-03's newer one"
# The callback folds long messages over lines: compare with whitespace collapsed.
flat() { tr -s ' \n' ' ' <"$1"; }
[[ $(flat "$T/refuse.log") == *"refusing to write corosync.conf config_version 2: pve-03 runs config_version 9,"* ]] ||
  { tail -n 30 "$T/refuse.log"; fail "the refusal does not name pve-03 and the versions"; }
cmp -s "$conf" "$T/corosync.before" || fail "/etc/pve/corosync.conf changed despite the refusal"
[[ ! -e $conf.new ]] || fail "a corosync.conf.new was left behind"
flat "$T/refuse.log" | grep -o "refusing to write corosync.conf[^']*" | head -n1 | sed 's/^/   /'
cp "$conf" "$(lab_root pve-03)/etc/corosync/corosync.conf"

phase "5b. pve-02 shows another host key: refused, named"
root2=$(lab_root pve-02)
mkdir -p "$T/keys2" && cp -a "$root2"/etc/ssh/ssh_host_* "$T/keys2/"
rm -f "$root2"/etc/ssh/ssh_host_* && chroot "$root2" ssh-keygen -A >/dev/null
lab_restart_sshd pve-02; sleep 0.5
rc=0; play "$T/hostkey.log" --limit pve-02 || rc=$?
[[ $rc == 4 ]] || { tail -n 20 "$T/hostkey.log"; fail "a changed host key gave exit $rc, want 4 (unreachable)"; }
grep -q 'fatal: \[pve-02\]: UNREACHABLE' "$T/hostkey.log" && flat "$T/hostkey.log" | grep -qi 'host key verification failed\|REMOTE HOST IDENTIFICATION HAS CHANGED' ||
  { tail -n 20 "$T/hostkey.log"; fail "the changed host key is not named"; }
grep -m1 -i 'host key verification failed\|IDENTIFICATION HAS CHANGED' "$T/hostkey.log" | sed 's/^/   /'
rm -f "$root2"/etc/ssh/ssh_host_* && cp -a "$T/keys2"/* "$root2/etc/ssh/"
lab_restart_sshd pve-02; lab_wait_ssh pve-02

phase "5c. pve-03 unreachable during site.yml: the others converge, the recap names it"
lab_stop_sshd pve-03
rc=0; play "$T/unreach.log" || rc=$?
[[ $rc == 4 ]] || { tail -n 30 "$T/unreach.log"; fail "site.yml with pve-03 down exited $rc, want 4"; }
grep -q 'fatal: \[pve-03\]: UNREACHABLE' "$T/unreach.log" || fail "the play does not say pve-03 is unreachable"
[[ $(recap "$T/unreach.log" pve-03 unreachable) == 1 ]] || fail "recap: pve-03 not unreachable"
for n in pve-01 pve-02; do
  [[ $(recap "$T/unreach.log" "$n" failed) == 0 && $(recap "$T/unreach.log" "$n" unreachable) == 0 ]] ||
    fail "$n did not converge while pve-03 was down"
  grep -q "^PLAY \[Monitoring\]" "$T/unreach.log" || fail "site.yml stopped before its last play"
done
grep '^pve-0' "$T/unreach.log" | sed 's/^/   /'

assert_no_secrets "$T"/*.log "$T"/*.json
phase "done"
