#!/usr/bin/env bash
# Guest backup through vzdump + SFTP into an S3 repository on a real Ceph RADOS Gateway, then
# destroy the guest in pvesim and restore it on another node: the restored archive must be bit
# for bit the one vzdump wrote.
source "$(dirname "$0")/lib.sh"
command -v radosgw >/dev/null || { echo "SKIP: radosgw not installed"; exit 77; }
RGW_SH=$PVESAFE_SOURCE_DIR/tests/servers/rgw.sh
[ -f "$RGW_SH" ] || { echo "SKIP: no tests/servers/rgw.sh"; exit 77; }
CLEANUP+=("bash '$RGW_SH' stop '$WORK/rgw'")
bash "$RGW_SH" start "$WORK/rgw" >/dev/null
eval "$(bash "$RGW_SH" env "$WORK/rgw")"
export AWS_ACCESS_KEY_ID=$PVESAFE_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$PVESAFE_TEST_S3_SECRET_KEY
export AWS_EC2_METADATA_DISABLED=true
pve_start_sshd
pve_start_pvesim
pve_set_flags
P=(--repo "s3://pve-guest-$$/cluster" --passphrase-file "$PASSFILE"
   -o "s3.endpoint=$PVESAFE_TEST_S3_ENDPOINT" -o s3.create-bucket=true)
"$PVESAFE_BIN" init "${P[@]}" >/dev/null

"$PVESAFE_BIN" backup --guest 101 --keep-archive "${P[@]}" "${pve_flags[@]}" --json >"$WORK/b.json"
snap=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["guests"][0]["snapshot_id"])' <"$WORK/b.json")
archive=$(ls "$PVE_DATA"/nodes/pve-02/local/dump/vzdump-qemu-101-*.vma)
want=$(sha256sum "$archive" | cut -d' ' -f1)
curl -sS --fail -k -X POST -d '' -H "Authorization: PVEAPIToken=root@pam!pvesafe=$(cat "$PVE_TOKEN_FILE")" \
  "https://127.0.0.1:$PVE_PORT/api2/json/nodes/pve-02/qemu/101/status/stop" >/dev/null
for i in $(seq 1 100); do
  simctl GET guest/101 | grep -q '"status":"stopped"' && break
  sleep 0.1
done
upid=$(curl -sS --fail -k -X DELETE -H "Authorization: PVEAPIToken=root@pam!pvesafe=$(cat "$PVE_TOKEN_FILE")" \
  "https://127.0.0.1:$PVE_PORT/api2/json/nodes/pve-02/qemu/101" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"])')
for i in $(seq 1 100); do
  simctl GET guest/101 >/dev/null 2>&1 || break
  sleep 0.1
done
"$PVESAFE_BIN" restore "$snap" --guest 101 --node pve-01 "${P[@]}" "${pve_flags[@]}"
got=$(simctl GET guest/101 | python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; print(d["sha256"], d["node"])')
[ "$got" = "$want pve-01" ] || fail "restored: $got, want $want pve-01"
echo PASS
