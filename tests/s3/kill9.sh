#!/usr/bin/env bash
# kill -9 of a backup to S3 at KILL_POINTS (default 10) random moments never corrupts the
# repository: after each kill, verify passes; at the end a backup succeeds and restores
# bit-identical. Each round backs up new data (another seed) so there is work to interrupt.
source "$PVESAFE_SOURCE_DIR/tests/repo/lib.sh"
source "$PVESAFE_SOURCE_DIR/tests/s3/lib.sh"
s3_start_rgw
P=(--passphrase-file "$PASSFILE")
OPTS=(-o "s3.endpoint=$PVESAFE_TEST_S3_ENDPOINT" -o s3.create-bucket=true)
REPO="s3://kill9-$$/repo"
SIZE=$((48 * 1024 * 1024))
POINTS=${KILL_POINTS:-10}
"$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" init "${P[@]}" > /dev/null

# How long an uninterrupted backup of this size takes here.
gen_image --size "$SIZE" --seed 100 > "$T/img"
start=$(date +%s%N)
"$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" backup "${P[@]}" "$T/img" > /dev/null
full_ms=$(( ($(date +%s%N) - start) / 1000000 ))
note "uninterrupted backup: $full_ms ms"

killed=0
for i in $(seq 1 "$POINTS"); do
  gen_image --size "$SIZE" --seed $((100 + i)) > "$T/img"
  delay_ms=$(( RANDOM % (full_ms > 50 ? full_ms : 50) ))
  "$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" backup "${P[@]}" "$T/img" > /dev/null 2>&1 &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
  wait "$pid" 2>/dev/null || true
  # The repository stays consistent: every snapshot's chunks are there.
  "$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" verify "${P[@]}" > "$T/verify.$i" 2>&1 || {
    echo "FAIL: verify after kill $i at $delay_ms ms"; cat "$T/verify.$i"; exit 1; }
done
note "$killed of $POINTS backups killed mid-way; verify passed after each"
(( killed >= POINTS * 7 / 10 )) || { echo "FAIL: only $killed kills landed during a backup"; exit 1; }

gen_image --size "$SIZE" --seed 999 > "$T/img"
"$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" backup "${P[@]}" --json "$T/img" > "$T/b.json"
id=$(json_field "$T/b.json" snapshot_id)
"$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" verify "${P[@]}" --read-data > /dev/null
"$PVESAFE_BIN" "${OPTS[@]}" -r "$REPO" restore "${P[@]}" "$id" --to "$T/out" > /dev/null
cmp "$T/img" "$T/out"
note "backup after the kills: ok, verify --read-data ok, restore bit-identical"
