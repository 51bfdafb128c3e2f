#!/usr/bin/env bash
# Whole-site disaster recovery against two pvesim clusters and a real sshd on 127.0.0.1:
#   site A (tests/pve/site/site-a.toml: 3 nodes, 20 guests, qemu and lxc, several disks on two
#   storages, HA started/stopped, an HA rule) is backed up with its cluster configuration; a
#   guest created after the backups has no snapshot. Site B (site-b.toml) is empty, with other
#   storage names. `restore latest --all --storage-map ...` brings every guest back: each
#   archive's sha256, config and HA state match site A, HA guests were healthy before any other
#   guest started, the guest without a snapshot is named in the summary (exit 5), the HA rule is
#   back. Then `drill --site` restores a set as scratch copies, times the site RTO and removes
#   them again.
# Bad input: a storage map naming a storage site B does not have, site B without quorum, vmid
# conflicts under fail, skip, new-id and replace.
# With SITE_REPO=rgw (pve_e2e_site_rgw) the repository is on a real Ceph RADOS Gateway.
source "$(dirname "$0")/lib.sh"
SITE_DIR=$PVESAFE_SOURCE_DIR/tests/pve/site
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

if [ "${SITE_REPO:-local}" = rgw ]; then
  command -v radosgw >/dev/null || { echo "SKIP: radosgw not installed"; exit 77; }
  RGW_SH=$PVESAFE_SOURCE_DIR/tests/servers/rgw.sh
  CLEANUP+=("bash '$RGW_SH' stop '$WORK/rgw'")
  bash "$RGW_SH" start "$WORK/rgw" >/dev/null
  eval "$(bash "$RGW_SH" env "$WORK/rgw")"
  export AWS_ACCESS_KEY_ID=$PVESAFE_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$PVESAFE_TEST_S3_SECRET_KEY
  export AWS_EC2_METADATA_DISABLED=true
  P=(--repo "s3://pve-site-$$/site-a" --passphrase-file "$PASSFILE"
     -o "s3.endpoint=$PVESAFE_TEST_S3_ENDPOINT" -o s3.create-bucket=true)
else
  P=(--repo "$WORK/repo" --passphrase-file "$PASSFILE")
fi
pve_start_sshd

# start_site NAME CONFIG: a pvesim for one site; sets NAME_PORT, NAME_FP, NAME_DATA and the
# connection flags in the array NAME_flags (API token of lib.sh's tokens file, SSH to the nodes).
start_site() {
  local name=$1 config=$2 data=$WORK/$1
  mkdir -p "$data"
  if [ ! -f "$WORK/tokens" ]; then
    (umask 077
     printf 'root@pam!pvesafe=%s Administrator\n' "$(python3 -c 'import uuid; print(uuid.uuid4())')" >"$WORK/tokens"
     sed -E 's/.*=([^ ]+) .*/\1/' "$WORK/tokens" >"$WORK/token.secret")
  fi
  "$PVESIM_BIN" --config "$config" --port 0 --data-dir "$data" --tokens "$WORK/tokens" \
    >"$WORK/$name.out" 2>"$WORK/$name.log" &
  PIDS+=($!)
  local i line
  for i in $(seq 1 100); do
    grep -q "pvesim listening" "$WORK/$name.out" 2>/dev/null && break
    sleep 0.1
  done
  line=$(grep "pvesim listening" "$WORK/$name.out") || fail "pvesim $name did not start"
  local port fp
  port=$(echo "$line" | sed -E 's#.*https://[^:]+:([0-9]+).*#\1#')
  fp=$(echo "$line" | sed -E 's#.*fingerprint ([0-9A-Fa-f:]+).*#\1#')
  eval "${name}_PORT=$port ${name}_DATA=$data"
  eval "${name}_flags=(--pve-host 127.0.0.1 --pve-port $port --pve-fingerprint $fp
    --pve-token-id 'root@pam!pvesafe' --pve-token-file $WORK/token.secret
    --ssh-key $SSH_KEY --ssh-known-hosts $KNOWN_HOSTS --ssh-port $SSHD_PORT
    --ssh-host pve-01=127.0.0.1 --ssh-host pve-02=127.0.0.1 --ssh-host pve-03=127.0.0.1
    --dump-dir '$data/nodes/{node}/{storage}/dump' --node-root '$data/rootfs/{node}')"
}
api() {  # api PORT METHOD PATH [curl args]: the PVE API of a site, "data" printed
  local port=$1 method=$2 path=$3; shift 3
  curl -sS --fail -k -X "$method" -H "Authorization: PVEAPIToken=root@pam!pvesafe=$(cat "$WORK/token.secret")" \
    "$@" "https://127.0.0.1:$port/api2/json$path" | jget 'json.dumps(d["data"])'
}
sim() { curl -sS --fail -k -X "$2" ${3:+-d ''} "https://127.0.0.1:$1/pvesim/$4"; }

start_site A "$SITE_DIR/site-a.toml"
start_site B "$SITE_DIR/site-b.toml"
"$PVESAFE_BIN" init "${P[@]}" >/dev/null
MAP=(--storage-map local-lvm=nvme-thin --storage-map ceph-vm=rbd-fast)

# (a) Site A: every guest, then a guest that has no backup yet, then the configuration.
t0=$(date +%s.%N)
ok=0
for n in pve-01 pve-02 pve-03; do
  "$PVESAFE_BIN" backup --all --node $n --jobs 4 --keep-archive "${P[@]}" "${A_flags[@]}" --json >"$WORK/ba.json"
  ok=$((ok + $(jget 'sum(1 for g in d["guests"] if "snapshot_id" in g)' <"$WORK/ba.json")))
done
[ "$ok" -eq 20 ] || fail "$ok guests backed up, not 20"
api "$A_PORT" POST /nodes/pve-02/qemu -d vmid=120 -d name=late-vm -d scsi0=local-lvm:1 >/dev/null
for i in $(seq 1 50); do api "$A_PORT" GET /cluster/resources | grep -q '"vmid": 120' && break; sleep 0.2; done
"$PVESAFE_BIN" backup --cluster-config "${P[@]}" "${A_flags[@]}" >/dev/null
echo "backup of site A: $(python3 -c "import time; print(round(time.time()-$t0,1))") s"

# (b) bad input first, while site B is empty.
expect_fail 2 "--all restores every guest: it does not take" \
  "$PVESAFE_BIN" restore latest --all --storage nvme-thin "${P[@]}" "${B_flags[@]}"
expect_fail 2 "unknown vmid conflict policy 'overwrite'" \
  "$PVESAFE_BIN" restore latest --all --on-conflict overwrite "${MAP[@]}" "${P[@]}" "${B_flags[@]}"
expect_fail 5 "nope is not a storage of cluster site-b" \
  "$PVESAFE_BIN" restore latest --all --storage-map local-lvm=nope --storage-map ceph-vm=rbd-fast "${P[@]}" "${B_flags[@]}"
expect_fail 5 "storage (local-lvm|ceph-vm) does not exist on cluster site-b" \
  "$PVESAFE_BIN" restore latest --all "${P[@]}" "${B_flags[@]}"
sim "$B_PORT" POST x node/pve-02/offline >/dev/null
sim "$B_PORT" POST x node/pve-03/offline >/dev/null
expect_fail 10 "no quorum" "$PVESAFE_BIN" restore latest --all "${MAP[@]}" "${P[@]}" "${B_flags[@]}"
sim "$B_PORT" POST x node/pve-02/online >/dev/null
sim "$B_PORT" POST x node/pve-03/online >/dev/null
[ "$(api "$B_PORT" GET /cluster/resources | jget 'sum(1 for r in d if r["type"] in ("qemu","lxc"))')" -eq 0 ] \
  || fail "a refused site restore created guests"

# (c) the site comes back on B.
"$PVESAFE_BIN" restore latest --all --dry-run "${MAP[@]}" "${P[@]}" "${B_flags[@]}" >"$WORK/plan.txt"
cat "$WORK/plan.txt"
rc=0
"$PVESAFE_BIN" restore latest --all --jobs 4 "${MAP[@]}" "${P[@]}" "${B_flags[@]}" --json \
  >"$WORK/site.json" 2>"$WORK/site.err" || rc=$?
cat "$WORK/site.err"
jget 'json.dumps({k: d[k] for k in ("rto_seconds","critical_rto_seconds","restored","failed","missing","ha_rules","ha_notes")})' <"$WORK/site.json"
[ "$rc" -eq 5 ] || fail "restore --all: exit $rc, want 5 (guest 120 has no snapshot)"
grep -q "guest 120 has no snapshot" "$WORK/site.err" || fail "the summary does not name guest 120"
[ "$(jget 'd["restored"]' <"$WORK/site.json")" -eq 20 ] || fail "not 20 guests restored"
[ "$(jget '[g["source_vmid"] for g in d["guests"] if g["status"]=="missing"]' <"$WORK/site.json")" = "['120']" ] \
  || fail "guest 120 is not the one missing"

# Every guest as on site A: archive sha256, config (storages mapped), HA state; HA came first.
python3 - "$WORK/site.json" "$A_PORT" "$B_PORT" "$WORK/token.secret" "$A_DATA" <<'PY' || fail "site B differs from site A"
import glob, hashlib, json, re, ssl, sys, urllib.request
site, pa, pb, tokf, adata = sys.argv[1:]
tok = open(tokf).read().strip()
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def get(port, path, sim=False):
    url = f"https://127.0.0.1:{port}/" + ("pvesim/" if sim else "api2/json") + path
    req = urllib.request.Request(url, headers={"Authorization": f"PVEAPIToken=root@pam!pvesafe={tok}"})
    return json.load(urllib.request.urlopen(req, context=ctx))["data"]
smap = {"local-lvm": "nvme-thin", "ceph-vm": "rbd-fast"}
res = json.load(open(site))
ga = {str(r["vmid"]): r for r in get(pa, "/cluster/resources") if r["type"] in ("qemu", "lxc")}
gb = {str(r["vmid"]): r for r in get(pb, "/cluster/resources") if r["type"] in ("qemu", "lxc")}
ha_a = {h["sid"]: h for h in get(pa, "/cluster/ha/resources")}
ha_b = {h["sid"]: h for h in get(pb, "/cluster/ha/resources")}
bad = []
def norm(cfg, mapped):
    out = {}
    for k, v in cfg.items():
        if k in ("digest", "lock"): continue
        v = str(v)
        if mapped:
            for o, n in smap.items():
                if v.startswith(o + ":"): v = n + v[len(o):]
        # The target allocates volume names (a disk moved to another storage gets the next free
        # one, as move_disk does on PVE): storage, size and options must match, not the number.
        out[k] = re.sub(r"^([\w-]+:vm-\d+-disk-)\d+", r"\1N", v)
    return out
for vmid in sorted(set(ga) - {"120"}):
    a = ga[vmid]; b = gb.get(vmid)
    if not b: bad.append(f"{vmid} missing on B"); continue
    arch = glob.glob(f"{adata}/nodes/{a['node']}/local/dump/vzdump-{a['type']}-{vmid}-*.*")
    arch = [x for x in arch if not x.endswith(".log")]
    want = hashlib.sha256(open(sorted(arch)[-1], "rb").read()).hexdigest()
    got = get(pb, f"guest/{vmid}", sim=True).get("sha256")
    if got != want: bad.append(f"{vmid}: archive sha256 {got} != {want}")
    ca = norm(get(pa, f"/nodes/{a['node']}/{a['type']}/{vmid}/config"), True)
    cb = norm(get(pb, f"/nodes/{b['node']}/{b['type']}/{vmid}/config"), False)
    if ca != cb:
        diff = {k: (ca.get(k), cb.get(k)) for k in set(ca) | set(cb) if ca.get(k) != cb.get(k)}
        bad.append(f"{vmid}: config differs {diff}")
    sid = ("ct:" if a["type"] == "lxc" else "vm:") + vmid
    if sid in ha_a:
        hb = ha_b.get(sid)
        if not hb or hb.get("state") != ha_a[sid].get("state"):
            bad.append(f"{sid}: HA {hb} != {ha_a[sid]}")
    elif sid in ha_b:
        bad.append(f"{sid}: HA on B but not on A")
    if a["node"] != b["node"]: bad.append(f"{vmid}: on {b['node']}, was on {a['node']}")
g = [x for x in res["guests"] if x["status"] == "ok"]
ha_done = max(x["healthy_after_seconds"] for x in g if x["priority_class"] == 0)
rest_start = min(x["healthy_after_seconds"] - x["seconds"] for x in g if x["priority_class"] == 1)
if not ha_done <= rest_start + 0.01:
    bad.append(f"HA guests healthy at {ha_done:.2f} s, but others started at {rest_start:.2f} s")
if sorted(x["source_vmid"] for x in g if x["priority_class"] == 0) != ["100", "104", "105", "108", "113", "117"]:
    bad.append("the HA class is not the six started HA guests")
order0 = [x["source_vmid"] for x in res["guests"] if x["priority_class"] == 0]
if order0[0] != "105": bad.append(f"the critical HA guest 105 is not first: {order0}")
rules = {r["rule"]: r for r in get(pb, "/cluster/ha/rules")}
if "web-prefers-01" not in rules: bad.append(f"HA rule not restored: {rules}")
for x in bad: print(x)
print(f"checked {len(set(ga)) - 1} guests: {len(bad)} differences; HA healthy at {ha_done:.2f} s, rest from {rest_start:.2f} s")
sys.exit(1 if bad else 0)
PY
if command -v sqlite3 >/dev/null; then
  rows=$(sqlite3 "$PVESAFE_CATALOG" "select count(*) from events where kind='restore' and result='ok'")
  [ "$rows" -eq 20 ] || fail "$rows catalog rows for the guests, want 20"
  site_row=$(sqlite3 "$PVESAFE_CATALOG" "select result, json_extract(details_json, '$.restored'), json_extract(details_json, '$.missing') from events where kind='site-restore' order by id desc limit 1")
  [ "$site_row" = "error|20|1" ] || fail "site catalog row: $site_row, want error|20|1 (guest 120 missing)"
fi

# Selection and node map, as plans: --tag picks the six guests tagged web (guest 120, untagged,
# is not reported missing then); --node-map moves a guest's node.
"$PVESAFE_BIN" restore latest --all --tag web --on-conflict skip --dry-run --json "${MAP[@]}" "${P[@]}" "${B_flags[@]}" >"$WORK/tag.json"
[ "$(jget 'sorted(g["source_vmid"] for g in d["guests"])' <"$WORK/tag.json")" = "['100', '101', '102', '103', '104', '105']" ] \
  || fail "--tag web: $(jget '[g["source_vmid"] for g in d["guests"]]' <"$WORK/tag.json")"
"$PVESAFE_BIN" restore latest --all --guests 100 --node-map pve-01=pve-03 --on-conflict new-id --dry-run --json "${MAP[@]}" "${P[@]}" "${B_flags[@]}" >"$WORK/nm.json"
[ "$(jget 'd["guests"][0]["node"]' <"$WORK/nm.json")" = pve-03 ] || fail "--node-map pve-01=pve-03 was not applied"

# (d) vmid conflicts: site B has every guest now.
expect_fail 2 "20 vmids exist on cluster site-b: 100 \(qemu on pve-01\)" \
  "$PVESAFE_BIN" restore latest --all "${MAP[@]}" "${P[@]}" "${B_flags[@]}"
"$PVESAFE_BIN" restore latest --all --guests 101,102 --on-conflict skip "${MAP[@]}" "${P[@]}" "${B_flags[@]}" --json >"$WORK/skip.json"
[ "$(jget 'd["skipped"]' <"$WORK/skip.json")" -eq 2 ] || fail "skip did not skip both"
"$PVESAFE_BIN" restore latest --all --guests 101,102 --on-conflict new-id "${MAP[@]}" "${P[@]}" "${B_flags[@]}" --json >"$WORK/new.json"
newids=$(jget '",".join(g["vmid"] for g in d["guests"] if g["status"]=="ok")' <"$WORK/new.json")
[ "$newids" != "101,102" ] && [ "$(echo "$newids" | tr ',' '\n' | wc -l)" -eq 2 ] || fail "new-id: $newids"
for v in ${newids//,/ }; do
  [ "$(sim "$B_PORT" GET "" "guest/$v" | jget 'd["data"]["sha256"] is not None')" = True ] || fail "new-id guest $v not restored"
done
# replace: a stopped guest is overwritten by its snapshot; a running one is refused.
expect_fail 2 "running|stop" \
  "$PVESAFE_BIN" restore latest --all --guests 101 --on-conflict replace "${MAP[@]}" "${P[@]}" "${B_flags[@]}"
api "$B_PORT" POST /nodes/pve-01/qemu/103/status/stop -d '' >/dev/null
for i in $(seq 1 50); do
  api "$B_PORT" GET /nodes/pve-01/qemu/103/status/current | grep -q '"status": "stopped"' && break
  sleep 0.2
done
"$PVESAFE_BIN" restore latest --all --guests 103 --on-conflict replace --no-start "${MAP[@]}" "${P[@]}" "${B_flags[@]}" --json >"$WORK/rep.json" \
  || { cat "$WORK/rep.json"; fail "replace of stopped guest 103 failed"; }
[ "$(jget '[g["status"] for g in d["guests"]]' <"$WORK/rep.json")" = "['ok']" ] || fail "replace: $(cat "$WORK/rep.json")"

# (e) site drill from the same repository onto site B: scratch copies, timed, removed.
before=$(api "$B_PORT" GET /cluster/resources | jget 'sum(1 for r in d if r["type"] in ("qemu","lxc"))')
"$PVESAFE_BIN" drill --site --guests 100,101,102,104,105,106 --jobs 2 --storage nvme-thin --sla 15m \
  --link 1Gbit --predict-size 2T "${P[@]}" "${B_flags[@]}" --report "$WORK/drill.json" >"$WORK/drill.txt"
cat "$WORK/drill.txt"
[ "$(jget 'd["passed"]' <"$WORK/drill.json")" = True ] || fail "site drill did not pass"
[ "$(jget 'len([g for g in d["guests"] if g["status"]=="ok"])' <"$WORK/drill.json")" -eq 6 ] || fail "not 6 drilled"
[ "$(jget 'all(int(g["vmid"]) not in (100,101,102,104,105,106) for g in d["guests"])' <"$WORK/drill.json")" = True ] \
  || fail "a scratch copy used a real vmid"
after=$(api "$B_PORT" GET /cluster/resources | jget 'sum(1 for r in d if r["type"] in ("qemu","lxc"))')
[ "$before" -eq "$after" ] || fail "scratch copies left behind: $before guests before, $after after"
grep -q "SITE RTO" "$WORK/drill.txt" || fail "no site RTO line"
# On a terminal the drill draws its live table (stage per guest, redrawn in place) on stderr.
if command -v script >/dev/null; then
  cmd=$(printf '%q ' "$PVESAFE_BIN" drill --site --guests 119 --storage nvme-thin "${P[@]}" "${B_flags[@]}" --report "$WORK/tty.json")
  script -qec "$cmd" /dev/null >"$WORK/tty.txt" 2>&1 || { cat "$WORK/tty.txt"; fail "drill on a terminal failed"; }
  grep -q $'\x1b\[' "$WORK/tty.txt" && grep -q "GUEST  VMID" "$WORK/tty.txt" && grep -qE "119 +[0-9]+ +pve-0[1-3] +done" "$WORK/tty.txt" \
    || { cat -v "$WORK/tty.txt" | head -20; fail "no live table on a terminal"; }
  if grep -q $'\x1b\[' "$WORK/drill.txt"; then fail "escape sequences in output that is not a terminal"; fi
fi
echo PASS
