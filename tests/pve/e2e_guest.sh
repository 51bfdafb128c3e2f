#!/usr/bin/env bash
# End to end against pvesim (3 nodes, guests 100-102) and a real sshd on 127.0.0.1:
# back up guest 100 through vzdump + SFTP, destroy it in the simulator, restore it on another
# node, and check the restored archive is bit for bit the one vzdump wrote. Also: --all with a
# summary, the stdin path (c) and the vzdump hook (b).
source "$(dirname "$0")/lib.sh"
pve_env_up

api() {  # api METHOD PATH [curl args]: the PVE API with the admin token, prints "data"
  local m=$1 p=$2; shift 2
  local body=(); [ "$m" = POST ] && body=(-d '')
  curl -sS --fail -k -X "$m" "${body[@]}" -H "Authorization: PVEAPIToken=root@pam!pvesafe=$(cat "$PVE_TOKEN_FILE")" \
    "https://127.0.0.1:$PVE_PORT/api2/json$p" "$@" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["data"]))'
}
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
wait_task() {  # wait_task NODE UPID
  local i
  for i in $(seq 1 100); do
    st=$(api GET "/nodes/$1/tasks/$2/status" | jget 'd["status"]')
    [ "$st" = stopped ] && return 0
    sleep 0.1
  done
  fail "task $2 did not finish"
}

node100=$(api GET /cluster/resources | jget '[g["node"] for g in d if g.get("vmid")==100][0]')
echo "guest 100 is on $node100"
dump=$PVE_DATA/nodes/$node100/local/dump

# (a) backup through the API, keeping the archive to compare it later. vzdump writes an
# uncompressed VMA (pvesafe asks for compress 0), which pvesafe stores disk by disk.
"$PVESAFE_BIN" backup --guest 100 --keep-archive "${P[@]}" "${pve_flags[@]}" --json >"$WORK/b1.json"
cat "$WORK/b1.json"
snap=$(jget 'd["guests"][0]["snapshot_id"]' <"$WORK/b1.json")
archive=$(ls "$dump"/vzdump-qemu-100-*.vma)
[ "$(echo "$archive" | wc -l)" -eq 1 ] || fail "expected one archive in $dump"
want=$(sha256sum "$archive" | cut -d' ' -f1)
"$PVESAFE_BIN" snapshots --repo "$REPO" --passphrase-file "$PASSFILE" --guest 100 --json >"$WORK/snaps.json"
jget '[s for s in (d if isinstance(d,list) else d["snapshots"]) if s["id"]=="'"$snap"'"][0]' <"$WORK/snaps.json" >"$WORK/s.txt"
grep -q "'node': '$node100'" "$WORK/s.txt" || { cat "$WORK/s.txt"; fail "snapshot lacks the node"; }
grep -q "'guest_type': 'qemu'" "$WORK/s.txt" || fail "snapshot lacks the type"
grep -q "'kind': 'vma'" "$WORK/s.txt" || fail "the VMA was not stored by disk"
rm -f "$dump"/vzdump-qemu-100-*

# Two days of guest 101 (256 MiB disk): day 2 stores what changed, not the archive again.
simctl POST "guest/101?backup_size=256M" >/dev/null
"$PVESAFE_BIN" backup --guest 101 "${P[@]}" "${pve_flags[@]}" --json >"$WORK/day1.json"
simctl POST "time?offset=86400" >/dev/null  # the next day: pvesim's guests wrote to their disks
"$PVESAFE_BIN" backup --guest 101 "${P[@]}" "${pve_flags[@]}" --json >"$WORK/day2.json"
simctl POST "time?offset=0" >/dev/null
python3 - "$WORK/day1.json" "$WORK/day2.json" <<'PY'
import json, sys
d1, d2 = (json.load(open(p))["guests"][0] for p in sys.argv[1:3])
disk = sum(d["size_bytes"] for d in d2["disks"]) if d2.get("disks") else d2["size_bytes"]
share = d2["stored_bytes"] / disk
print(f"guest 101: day 1 stored {d1['stored_bytes']} bytes, day 2 {d2['stored_bytes']} bytes = {100*share:.2f}% of its {disk}-byte disks")
assert d2.get("kind") == "vma", d2
assert share < 0.05, f"day 2 stored {100*share:.2f}% of the disk (target < 5%)"
PY

# Without --keep-archive the archive is removed from the node afterwards.
"$PVESAFE_BIN" backup --guest 100 "${P[@]}" "${pve_flags[@]}" >"$WORK/b2.txt"
cat "$WORK/b2.txt"
grep -qE '^100 +qemu +'"$node100"' +ok' "$WORK/b2.txt" || fail "summary row missing"
if ls "$dump"/vzdump-qemu-100-* 2>/dev/null; then fail "archive left on the node"; fi

# Destroy guest 100 in the simulator, restore the first snapshot on another node.
upid=$(api POST "/nodes/$node100/qemu/100/status/stop" | jget d)
wait_task "$node100" "$upid"
upid=$(api DELETE "/nodes/$node100/qemu/100" | jget d)
wait_task "$node100" "$upid"
other=pve-03; [ "$node100" = pve-03 ] && other=pve-02
"$PVESAFE_BIN" restore "$snap" --guest 100 --node "$other" --start "${P[@]}" "${pve_flags[@]}"
g=$(simctl GET guest/100)
echo "$g"
got=$(echo "$g" | jget 'd["data"]["sha256"]')
[ "$got" = "$want" ] || fail "restored archive sha256 $got != vzdump's $want"
echo "$g" | grep -q "\"$other\"" || fail "guest 100 not on $other"
api GET "/nodes/$other/qemu/100/status/current" | grep -q '"running"' || fail "guest 100 not started"
if ls "$PVE_DATA/nodes/$other/local/dump/" 2>/dev/null | grep -q .; then
  ls -la "$PVE_DATA/nodes/$other/local/dump/"; fail "staged archive left on $other"
fi
sqlite3 "$PVESAFE_CATALOG" "select kind, guest_id, node, result from events where kind='restore'" | grep -q "restore|100|$other|ok" \
  || fail "restore not in the catalog"
# What the store billed, per guest backup and restore, in the catalog (the exporter reads it).
for kind in backup restore; do
  n=$(sqlite3 "$PVESAFE_CATALOG" "select json_extract(details_json, '$.requests.total') from events where kind='$kind' and guest_id='100' and result='ok' order by id desc limit 1")
  [[ "$n" =~ ^[0-9]+$ && "$n" -gt 0 ]] || fail "$kind of guest 100: no request count in the catalog ($n)"
done

# --all --node: several guests, bounded concurrency, summary table.
"$PVESAFE_BIN" backup --all --node pve-02 --jobs 2 "${P[@]}" "${pve_flags[@]}" | tee "$WORK/all.txt"
grep -qE '^101 +qemu +pve-02 +ok' "$WORK/all.txt" || fail "--all summary lacks guest 101"

# (c) vzdump --stdout | pvesafe backup --stdin: the repository's stdin path with a vzdump name.
name=vzdump-qemu-101-2026_11_26-01_00_00.vma.zst
head -c 3000000 /dev/urandom >"$WORK/stream.bin"
"$PVESAFE_BIN" backup --stdin --stdin-name "$name" "${P[@]}" --json <"$WORK/stream.bin" >"$WORK/stdin.json"
grep -q '"guest_id": "101"' "$WORK/stdin.json" || { cat "$WORK/stdin.json"; fail "stdin backup lacks the guest"; }
grep -q '"guest_type": "qemu"' "$WORK/stdin.json" || fail "stdin backup lacks the type"

# (b) the vzdump hook: only backup-end stores $TARGET; other phases are no-ops.
"$PVESAFE_BIN" vzdump-hook job-start "${P[@]}"
"$PVESAFE_BIN" vzdump-hook backup-start snapshot 102 "${P[@]}"
TARGET=$WORK/stream.bin VMTYPE=lxc "$PVESAFE_BIN" vzdump-hook backup-end snapshot 102 "${P[@]}" | tee "$WORK/hook.txt"
grep -q "as snapshot" "$WORK/hook.txt" || fail "hook did not store the archive"
"$PVESAFE_BIN" snapshots --repo "$REPO" --passphrase-file "$PASSFILE" --guest 102 --json | grep -q '"lxc"' \
  || fail "hook snapshot lacks guest 102 / lxc"
expect_fail 2 "TARGET is not set" env -u TARGET "$PVESAFE_BIN" vzdump-hook backup-end snapshot 102 "${P[@]}"
echo PASS
