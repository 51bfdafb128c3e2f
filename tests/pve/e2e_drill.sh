#!/usr/bin/env bash
# The DR fire drill against pvesim and a real sshd: a passing drill prints every stage and
# records kind=drill in the catalog with a JSON report; an impossible SLA fails with exit 11; a
# drill whose restore task fails exits non-zero; every drill leaves no scratch guest behind.
source "$(dirname "$0")/lib.sh"
pve_env_up

guests() {
  curl -sS --fail -k -H "Authorization: PVEAPIToken=root@pam!pvesafe=$(cat "$PVE_TOKEN_FILE")" \
    "https://127.0.0.1:$PVE_PORT/api2/json/cluster/resources?type=vm" |
    python3 -c 'import json,sys; print(" ".join(sorted(str(g["vmid"])+"@"+g["node"] for g in json.load(sys.stdin)["data"])))'
}
before=$(guests)
"$PVESAFE_BIN" backup --guest 100 "${P[@]}" "${pve_flags[@]}" >/dev/null

# Passing drill (guest 100 has the guest agent enabled in pvesim).
"$PVESAFE_BIN" drill --guest 100 --node pve-02 --sla 15m --link 1Gbit --report "$WORK/drill.json" \
  "${P[@]}" "${pve_flags[@]}" | tee "$WORK/drill.txt"
for stage in lookup fetch decrypt/verify provision boot health cleanup RTO; do
  grep -qE "^  $stage +[0-9]+\.[0-9]{3}" "$WORK/drill.txt" || fail "stage $stage missing"
done
grep -q "guest agent answered" "$WORK/drill.txt" || fail "no agent health check"
grep -q "PASS" "$WORK/drill.txt" || fail "drill did not pass"
grep -qE "predicted RTO for the guest's [0-9.]+ GiB disk at 1000 Mbit/s: " "$WORK/drill.txt" || fail "no prediction"
maxdisk=$(curl -sS --fail -k -H "Authorization: PVEAPIToken=root@pam!pvesafe=$(cat "$PVE_TOKEN_FILE")" \
  "https://127.0.0.1:$PVE_PORT/api2/json/cluster/resources?type=vm" |
  python3 -c 'import json,sys; print([g["maxdisk"] for g in json.load(sys.stdin)["data"] if g["vmid"]==100][0])')
python3 - "$WORK/drill.json" "$maxdisk" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["drills"][0]
assert d["passed"] is True and d["guest_id"] == "100" and d["node"] == "pve-02", d
st = d["stages"]
for k in ("lookup", "fetch", "decrypt_verify", "provision", "boot", "health", "cleanup"):
    assert st[k + "_seconds"] >= 0, k
rto = sum(st[k + "_seconds"] for k in ("lookup", "fetch", "decrypt_verify", "provision", "boot", "health"))
assert abs(rto - d["rto_seconds"]) < 1e-6, (rto, d["rto_seconds"])
assert d["sla_seconds"] == 900 and d["prediction"]["disk_bytes"] == int(sys.argv[2]), d["prediction"]
assert d["prediction"]["rto_seconds"] >= d["prediction"]["fetch_seconds"] > 0
PY
row=$(sqlite3 "$PVESAFE_CATALOG" "select guest_id, node, result, details_json from events where kind='drill'")
echo "$row" | grep -q '^100|pve-02|ok|' || fail "drill not in the catalog: $row"
echo "$row" | grep -q '"passed":true' || fail "catalog row lacks passed"
echo "$row" | grep -q '"sla_seconds":900' || fail "catalog row lacks the SLA"
[ "$(guests)" = "$before" ] || fail "scratch guest left behind: $(guests)"

# An SLA no restore can meet: exit 11, result recorded, scratch guest removed.
expect_fail 11 "drill of guest 100: RTO .* exceeds the SLA" \
  "$PVESAFE_BIN" drill --guest 100 --node pve-03 --sla 1ms "${P[@]}" "${pve_flags[@]}"
grep -q "FAIL" "$WORK/out.txt" || fail "no FAIL verdict printed"
[ "$(guests)" = "$before" ] || fail "scratch guest left behind after an over-SLA drill: $(guests)"

# The restore task fails: the drill fails and removes its half-created scratch guest.
simctl POST "fail-next-task?node=pve-03&type=qmrestore" >/dev/null
expect_fail 10 "drill of guest 100 failed: PVE task qmrestore" \
  "$PVESAFE_BIN" drill --guest 100 --node pve-03 "${P[@]}" "${pve_flags[@]}"
[ "$(guests)" = "$before" ] || fail "scratch guest left behind after a failed drill: $(guests)"
[ -z "$(find "$PVE_DATA" -path '*/dump/*' -name 'vzdump-qemu-1[0-9][0-9]-*' -newer "$WORK/drill.json")" ] \
  || fail "staged archive left behind"
[ "$(sqlite3 "$PVESAFE_CATALOG" "select count(*) from events where kind='drill' and result='error'")" = 2 ] \
  || fail "failed drills not recorded"
echo PASS
