#!/usr/bin/env bash
# pvesafe drill --instant against pvesim, the way it runs on a Proxmox VE node: the snapshot is
# mounted with FUSE in the pvesafe process, the scratch guest is created through the API with
# every disk as STORAGE:0,import-from=<mounted image> and live-restore=1 (qemu-server's live
# import, modelled by pvesim: the guest runs at once and the task reads the whole image, here
# through the FUSE mount and the repository's disk reader, at --bwlimit).
#  1. pvesim's live import itself: a guest created from an image in `pvesafe mount` holds a disk
#     whose SHA-256 is the image's; an API token may not pass an absolute path (root@pam only);
#  2. the drill: RTO (guest agent answers) well before the background copy ends; table, JSON
#     report, catalog row with mode=instant, the exporter's metrics with the mode label; no
#     scratch guest, no mount left;
#  3. bad input: a snapshot without disks (exit 12), a token login (exit 4, PVE refuses the path).
source "$(dirname "$0")/lib.sh"
[ -c /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit 77; }
[ "$(id -u)" -eq 0 ] || { echo "SKIP: the FUSE mount read by another process (pvesim) needs root here"; exit 77; }
pve_start_pvesim
REPO=$WORK/repo
P=(--repo "$REPO" --passphrase-file "$PASSFILE")
"$PVESAFE_BIN" init "${P[@]}" > /dev/null
(umask 077; echo pvesim > "$WORK/root.password")
ROOT=(--pve-host 127.0.0.1 --pve-port "$PVE_PORT" --pve-fingerprint "$PVE_FP" --pve-user root@pam
      --pve-password-file "$WORK/root.password")
TOKEN=(--pve-host 127.0.0.1 --pve-port "$PVE_PORT" --pve-fingerprint "$PVE_FP"
       --pve-token-id 'root@pam!pvesafe' --pve-token-file "$PVE_TOKEN_FILE")
api() {  # METHOD PATH [curl args]: as root@pam!pvesafe
  local m=$1 p=$2; shift 2
  curl -sS --fail -k -X "$m" -H "Authorization: PVEAPIToken=root@pam!pvesafe=$(cat "$PVE_TOKEN_FILE")" \
    "https://127.0.0.1:$PVE_PORT/api2/json$p" "$@"
}
guests() { api GET "/cluster/resources?type=vm" | python3 -c 'import json,sys; print(" ".join(sorted(str(g["vmid"]) for g in json.load(sys.stdin)["data"])))'; }
before=$(guests)

# A 96 MiB disk with 40 MiB of data, backed up as guest 100's VMA snapshot.
img=$WORK/disk.raw
truncate -s 96M "$img"
head -c $((32 << 20)) /dev/urandom | dd of="$img" conv=notrunc status=none
head -c $((8 << 20)) /dev/urandom | dd of="$img" bs=1M seek=80 conv=notrunc status=none
printf 'agent: 1\nboot: order=scsi0\ncores: 1\nmemory: 512\nname: web\nnet0: virtio=BC:24:11:00:00:01,bridge=vmbr0\nonboot: 1\nscsi0: local-lvm:vm-100-disk-0,discard=on,size=96M\nscsihw: virtio-scsi-single\n' > "$WORK/qemu-server.conf"
vma=$WORK/vzdump-qemu-100-2026_12_04-01_00_00.vma
"$PVESIM_BIN" make-archive vma --disk drive-scsi0="$img" --config "$WORK/qemu-server.conf" --out "$vma" > /dev/null
"$PVESAFE_BIN" backup "${P[@]}" --node pve-01 --json "$vma" > "$WORK/backup.json"
rm -f "$vma"
SNAP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["snapshot_id"])' "$WORK/backup.json")
img_sha=$(sha256sum < "$img" | cut -d' ' -f1)

echo "== 1. pvesim's live import reads the image pvesafe mount serves"
mnt=$WORK/mnt; mkdir "$mnt"
"$PVESAFE_BIN" --json mount "${P[@]}" "$mnt" > "$WORK/mount.log" 2>&1 &
MPID=$!; PIDS+=("$MPID"); CLEANUP+=("fusermount3 -u '$mnt'")
for _ in $(seq 100); do grep -q '"mounted"' "$WORK/mount.log" && break; sleep 0.1; done
grep -q '"mounted"' "$WORK/mount.log" || fail "mount: $(cat "$WORK/mount.log")"
src=$mnt/$SNAP/drive-scsi0.raw
# An API token is not root@pam: PVE refuses absolute paths in import-from.
code=$(curl -sk -o /dev/null -w '%{http_code}' -X POST -H "Authorization: PVEAPIToken=root@pam!pvesafe=$(cat "$PVE_TOKEN_FILE")" \
  "https://127.0.0.1:$PVE_PORT/api2/json/nodes/pve-01/qemu" --data-urlencode vmid=9100 \
  --data-urlencode "scsi0=local-lvm:0,import-from=$src" --data-urlencode live-restore=1)
[ "$code" = 403 ] || fail "a token passed an absolute import-from path (HTTP $code)"
ticket=$(curl -sS -k "https://127.0.0.1:$PVE_PORT/api2/json/access/ticket" --data-urlencode username=root@pam --data-urlencode password=pvesim)
tk=$(echo "$ticket" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["ticket"])')
csrf=$(echo "$ticket" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["CSRFPreventionToken"])')
as_root() { local m=$1 p=$2; shift 2; curl -sS --fail-with-body -k -X "$m" -b "PVEAuthCookie=$tk" -H "CSRFPreventionToken: $csrf" "https://127.0.0.1:$PVE_PORT/api2/json$p" "$@"; }
upid=$(as_root POST /nodes/pve-01/qemu --data-urlencode vmid=9100 --data-urlencode "scsi0=local-lvm:0,import-from=$src,discard=on" \
  --data-urlencode live-restore=1 --data-urlencode agent=1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"])')
for _ in $(seq 300); do
  st=$(as_root GET "/nodes/pve-01/tasks/$upid/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["status"])')
  [ "$st" = stopped ] && break; sleep 0.1
done
as_root GET "/nodes/pve-01/tasks/$upid/log" > "$WORK/task.json"
grep -q "restore-scsi0: stream-job finished" "$WORK/task.json" || fail "no stream in the task log: $(cat "$WORK/task.json")"
grep -q "restore-drive jobs finished successfully" "$WORK/task.json" || fail "task log"
simctl GET guest/9100 > "$WORK/g9100.json"
python3 - "$WORK/g9100.json" "$img_sha" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))["data"]
if isinstance(g, list): g = g[0]
disks = {d["name"]: d for d in g["disks"]}
assert disks["drive-scsi0"]["sha256"] == sys.argv[2], disks
assert g["config"]["scsi0"].startswith("local-lvm:vm-9100-disk-0,discard=on,size=96M"), g["config"]
assert g["status"] == "running" and not g["lock"], g
PY
as_root POST /nodes/pve-01/qemu/9100/status/stop --data "" > /dev/null; sleep 0.5
as_root DELETE "/nodes/pve-01/qemu/9100?purge=1" > /dev/null; sleep 0.5
kill -TERM "$MPID"; wait "$MPID" || fail "pvesafe mount exited $?"

echo "== 2. drill --instant"
"$PVESAFE_BIN" drill --instant --guest 100 --node pve-02 --sla 15m --bwlimit 8192 --run-dir "$WORK/instant" \
  --report "$WORK/drill.json" "${P[@]}" "${ROOT[@]}" | tee "$WORK/drill.txt"
for stage in lookup export provision boot health RTO "background copy" cleanup; do
  grep -qE "^  $stage +[0-9]+\.[0-9]{3}" "$WORK/drill.txt" || fail "stage $stage missing"
done
grep -q "PASS" "$WORK/drill.txt" || fail "the drill did not pass"
python3 - "$WORK/drill.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["drills"][0]
assert d["mode"] == "instant" and d["passed"] and d["background_copy_ok"], d
st = d["stages"]
rto = sum(st[k] for k in ("lookup", "export", "provision", "boot", "health"))
assert abs(rto - d["rto_seconds"]) < 1e-6, (rto, d)
# 96 MiB at 8 MiB/s: the copy takes ~12 s; the guest answered long before.
assert d["background_copy_seconds"] > 8 and d["rto_seconds"] < d["background_copy_seconds"] / 2, d
assert d["fetched_bytes"] >= 40 << 20 and d["fetched_bytes_at_healthy"] < d["fetched_bytes"], d
print(f"instant drill: RTO {d['rto_seconds']:.2f} s, background copy {d['background_copy_seconds']:.1f} s, "
      f"fetched {d['fetched_bytes_at_healthy']} bytes before healthy, {d['fetched_bytes']} in all")
PY
row=$(sqlite3 "$PVESAFE_CATALOG" "select guest_id, node, result, details_json from events where kind='drill'")
echo "$row" | grep -q '"mode":"instant"' || fail "catalog row lacks mode: $row"
[ "$(guests)" = "$before" ] || fail "scratch guest left behind: $(guests)"
grep -q " $WORK/instant" /proc/mounts && fail "a mount was left behind"
[ -z "$(ls -A "$WORK/instant")" ] || fail "run dir not cleaned: $(ls "$WORK/instant")"

echo "== the exporter shows the drill with mode=instant"
port=$(free_port)
"$PVESAFE_BIN" exporter --mode node --node pve-01 --no-corosync --no-ceph --listen "127.0.0.1:$port" > "$WORK/exporter.log" 2>&1 &
EPID=$!; PIDS+=("$EPID")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/metrics" > "$WORK/metrics.txt" 2>/dev/null && break; sleep 0.1; done
grep -E '^pvesafe_drill_last_rto_seconds\{.*mode="instant"' "$WORK/metrics.txt" || fail "no instant RTO metric: $(grep drill "$WORK/metrics.txt")"
grep -E '^pvesafe_drill_last_background_copy_seconds\{.*mode="instant"' "$WORK/metrics.txt" || fail "no background copy metric"
kill "$EPID"

echo "== 3. bad input"
echo "a plain file" > "$WORK/notes.txt"
"$PVESAFE_BIN" backup "${P[@]}" --guest 101 --node pve-01 --type lxc "$WORK/notes.txt" > /dev/null
expect_fail 12 "holds no disks" "$PVESAFE_BIN" drill --instant --guest 101 --node pve-02 --run-dir "$WORK/instant" "${P[@]}" "${ROOT[@]}"
expect_fail 4 "Only root can pass arbitrary filesystem paths" \
  "$PVESAFE_BIN" drill --instant --guest 100 --node pve-02 --run-dir "$WORK/instant" "${P[@]}" "${TOKEN[@]}"
[ "$(guests)" = "$before" ] || fail "scratch guest left behind: $(guests)"
grep -q " $WORK/instant" /proc/mounts && fail "a mount was left behind"
echo "PASS"
