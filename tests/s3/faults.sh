#!/usr/bin/env bash
# Backup and restore through a fault-injection proxy in front of a real Ceph RGW:
#  1. 5% of requests of each kind fail (500, 503 SlowDown, TCP reset, 2 s slow answer, truncated
#     body): backup, verify and restore complete and the restore is bit-identical.
#  2. Every request fails after a while: the backup stops with a transient-error exit after
#     bounded retries and leaves no snapshot; a rerun without faults completes and reuses the
#     chunks uploaded before the failure.
# Image size: FAULT_IMAGE_MIB (default 128 in the suite; bench/s3/faults_1g.sh runs it with 1 GiB).
source "$PVESAFE_SOURCE_DIR/tests/repo/lib.sh"
source "$PVESAFE_SOURCE_DIR/tests/s3/lib.sh"
s3_start_rgw
s3_start_proxy --rate 0.05 --kinds 500,503,reset,slow,truncate --slow-seconds 2
SIZE=$(( ${FAULT_IMAGE_MIB:-128} * 1024 * 1024 ))
P=(--passphrase-file "$PASSFILE")
OPTS=(-o "s3.endpoint=$PROXY_URL" -o s3.create-bucket=true -o s3.max-attempts=10 -o s3.timeout=20)
REPO="s3://faults-$$/repo"

gen_image --size "$SIZE" --seed 11 > "$T/disk.img"
"$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" init "${P[@]}" > /dev/null
"$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" backup "${P[@]}" --json "$T/disk.img" > "$T/b1.json"
id=$(json_field "$T/b1.json" snapshot_id)
"$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" verify "${P[@]}" --read-data > /dev/null
"$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" restore "${P[@]}" "$id" --to "$T/restored.img" > /dev/null
cmp "$T/disk.img" "$T/restored.img"
rm -f "$T/restored.img"
proxy_stats > "$T/stats1.json"
note "5% faults of each kind: backup, verify, restore bit-identical; proxy: $(cat "$T/stats1.json")"
# The faults really happened, of every kind.
for kind in 500 503 reset slow truncate; do
  n=$(json_field "$T/stats1.json" "$kind")
  (( n > 0 )) || { echo "FAIL: no '$kind' fault was injected"; exit 1; }
done

# 2. Fail everything after 30 more requests (a few chunks into the next backup).
gen_image --size "$SIZE" --seed 12 > "$T/disk2.img"
before=$("$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" snapshots "${P[@]}" --json | grep -c '"id"' || true)
proxy_config "rate=0&fail_after=30"
expect_exit 7 "$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" backup "${P[@]}" --json "$T/disk2.img"
err=$(cat "$T/err")
note "stopped with: $err"
grep -q "after 10 attempts" "$T/err"
(( $(wc -l < "$T/err") <= 3 ))
proxy_config "fail_after=-1"
after=$("$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" snapshots "${P[@]}" --json | grep -c '"id"' || true)
[[ "$before" == "$after" ]] || { echo "FAIL: a failed backup left a snapshot ($before -> $after)"; exit 1; }
"$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" unlock "${P[@]}" > /dev/null 2>&1 || true
"$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" backup "${P[@]}" --json "$T/disk2.img" > "$T/b2.json"
reused=$(json_field "$T/b2.json" reused_chunks)
note "rerun: $(cat "$T/b2.json" | tr -d '\n')"
(( reused > 0 )) || { echo "FAIL: the rerun reused no chunk uploaded before the failure"; exit 1; }
id2=$(json_field "$T/b2.json" snapshot_id)
"$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" restore "${P[@]}" "$id2" --to "$T/restored2.img" > /dev/null
cmp "$T/disk2.img" "$T/restored2.img"
"$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" verify "${P[@]}" > /dev/null
note "100% failure: clean stop, no snapshot, rerun reused $reused chunks, restore bit-identical"
