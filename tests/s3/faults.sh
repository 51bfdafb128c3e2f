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
# Packs of 4 MiB: a backup of the test image is a dozen pack uploads, so one can fail midway.
"$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" init "${P[@]}" --pack-size 4194304 > /dev/null
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

# 2. The network goes away a few requests into the next backup: a clean stop, no snapshot.
gen_image --size "$SIZE" --seed 12 > "$T/disk2.img"
before=$("$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" snapshots "${P[@]}" --json | grep -c '"id"' || true)
snapshot_count_unchanged() {
  local after
  after=$("$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" snapshots "${P[@]}" --json | grep -c '"id"' || true)
  [[ "$before" == "$after" ]] || { echo "FAIL: a failed backup left a snapshot ($before -> $after)"; exit 1; }
}
proxy_config "rate=0&fail_after=3&scope="
expect_exit 7 "$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" backup "${P[@]}" --json "$T/disk2.img"
note "everything refused: $(cat "$T/err")"
grep -q "after 10 attempts" "$T/err"
(( $(wc -l < "$T/err") <= 3 ))
proxy_config "fail_after=-1"
snapshot_count_unchanged
"$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" unlock "${P[@]}" > /dev/null 2>&1 || true

# 3. The store refuses pack uploads after a few (a quota, say): the backup stops, and the packs
# it did store are indexed on the way out so a rerun does not upload them again.
proxy_config "fail_after=4&scope=/packs/"
expect_exit 7 "$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" backup "${P[@]}" --json "$T/disk2.img"
note "pack uploads refused: $(cat "$T/err")"
grep -q "after 10 attempts" "$T/err"
proxy_config "fail_after=-1&scope="
snapshot_count_unchanged
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
