#!/usr/bin/env bash
# Object Lock that holds (docs/s3.md, "Object Lock"), against a real Ceph RGW with a lock-enabled
# bucket. Days are shortened for the test (s3.retention-day-seconds=DAY: a faked clock on
# retention dates; RGW enforces them on its real clock):
#   day 1   backup A                    objects locked until ~t0 + 2 days
#   day 2   backup B, reusing A's packs  those packs extended to B's date (~t0 + 3 days)
#           prune --keep-last 1 while A is locked: A stays, said so, exit 0
#   A free  prune --keep-last 1, gc --grace 0 with deleting credentials: A goes; gc skips what is
#           locked and says so; then an attacker with the same credentials deletes every version
#           of every object: B's objects survive and B restores bit-identical.
# --negative-control runs the same with PVESAFE_TEST_NO_RETENTION_EXTENSION=1 on day 2 and passes
# only if B then does NOT survive (the extension is what protects it).
source "$(dirname "$0")/../repo/lib.sh"
source "$(dirname "$0")/lib.sh"
CONTROL=0
[[ "${1:-}" == --negative-control ]] && CONTROL=1
s3_start_rgw
S3REQ="$PVESAFE_SOURCE_DIR/tests/s3/s3req.py"
export S3REQ_ENDPOINT=$PVESAFE_TEST_S3_ENDPOINT S3REQ_ACCESS_KEY=$PVESAFE_TEST_S3_ACCESS_KEY \
  S3REQ_SECRET_KEY=$PVESAFE_TEST_S3_SECRET_KEY

DAY=${PVESAFE_TEST_LOCK_DAY_SECONDS:-40}
BUCKET=lock-$$
REPO="s3://$BUCKET/repo"
O=(-o "s3.endpoint=$PVESAFE_TEST_S3_ENDPOINT" -o s3.path-style=true -o s3.retention-days=2
   -o "s3.retention-day-seconds=$DAY" -o s3.retention-margin-days=0)
P=(--passphrase-file "$PASSFILE")
ps3() { psafe -r "$REPO" "${O[@]}" "$@"; }

if [[ $CONTROL == 0 ]]; then
  note "a bucket without Object Lock asked for retention: one line, exit 3, nothing written"
  python3 "$S3REQ" PUT "/plain-$$" > /dev/null
  expect_exit 3 psafe -r "s3://plain-$$/repo" "${O[@]}" init "${P[@]}"
  [[ $(wc -l < "$T/err") == 1 ]] && grep -q "has no Object Lock" "$T/err" || { cat "$T/err"; echo "FAIL: unclear error"; exit 1; }
  python3 "$S3REQ" GET "/plain-$$?list-type=2" | grep -q "<Key>" && { echo "FAIL: init wrote to the bucket"; exit 1; }
fi

t0=$(date +%s)
ps3 -o s3.create-bucket=true init "${P[@]}" > /dev/null
python3 "$S3REQ" GET "/$BUCKET?object-lock" | grep -q "<ObjectLockEnabled>Enabled</ObjectLockEnabled>"
python3 "$S3REQ" GET "/$BUCKET?versioning" | grep -q "<Status>Enabled</Status>"

gen_image --size $((48 * 1024 * 1024)) --seed 5 > "$T/day1.img"
gen_image --size $((48 * 1024 * 1024)) --seed 5 --mutate-percent 3 --mutate-regions 3 --mutate-seed 9 > "$T/day2.img"
cp "$T/day1.img" "$T/disk.img"
note "day 1: backup A"
ps3 --json backup "${P[@]}" "$T/disk.img" > "$T/a.json"
A=$(json_field "$T/a.json" snapshot_id)
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("A retain_until", j["object_lock"]["retain_until"])' "$T/a.json"

sleep $(( t0 + DAY - $(date +%s) > 0 ? t0 + DAY - $(date +%s) : 0 ))
note "day 2: backup B reuses A's chunks"
cp "$T/day2.img" "$T/disk.img"
if [[ $CONTROL == 1 ]]; then export PVESAFE_TEST_NO_RETENTION_EXTENSION=1; fi
ps3 --json backup "${P[@]}" "$T/disk.img" > "$T/b.json"
unset PVESAFE_TEST_NO_RETENTION_EXTENSION
B=$(json_field "$T/b.json" snapshot_id)
python3 - "$T/b.json" "$CONTROL" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
lock = j["object_lock"]
print(f"B reused {j['reused_chunks']} chunks; retention: {lock['objects_checked']} objects checked, "
      f"{lock['objects_extended']} extended, {lock['requests']} requests, {lock['seconds']:.2f} s")
assert j["reused_chunks"] > 0
if sys.argv[2] == "0":
    assert lock["objects_extended"] > 0, lock
else:
    assert lock["extension_skipped"], lock
EOF

note "prune while A is locked: A stays and the output says so"
ps3 prune "${P[@]}" --keep-last 1 --grace 0 > "$T/prune1.out"
cat "$T/prune1.out"
grep -q "stay under Object Lock" "$T/prune1.out"
ps3 snapshots "${P[@]}" | grep -q "${A:0:8}"

# Wait until A's objects are free (its date plus a little), well before B's.
a_until=$(python3 -c 'import json,sys,datetime; print(int(datetime.datetime.fromisoformat(json.load(open(sys.argv[1]))["object_lock"]["retain_until"].replace("Z","+00:00")).timestamp()))' "$T/a.json")
a_took=$(python3 -c 'import json,sys,math; print(math.ceil(json.load(open(sys.argv[1]))["duration_seconds"]))' "$T/a.json")
while (( $(date +%s) < a_until + a_took + 3 )); do sleep 1; done
note "A is free: prune and gc with credentials that may delete"
ps3 prune "${P[@]}" --keep-last 1 --grace 0 > "$T/prune2.out"
cat "$T/prune2.out"
if ps3 snapshots "${P[@]}" | grep -q "${A:0:8}"; then echo "FAIL: A was not forgotten once free"; exit 1; fi
ps3 gc "${P[@]}" --grace 0 > "$T/gc.out"
cat "$T/gc.out"

note "an attacker with the same credentials deletes every version of every object"
python3 "$S3REQ" GET "/$BUCKET?versions&prefix=repo/" > "$T/versions.xml"
python3 - "$T/versions.xml" > "$T/victims" <<'EOF'
import re, sys
xml = open(sys.argv[1]).read()
for m in re.finditer(r"<(?:Version|DeleteMarker)>(.*?)</(?:Version|DeleteMarker)>", xml, re.S):
    key = re.search(r"<Key>(.*?)</Key>", m.group(1)).group(1)
    vid = re.search(r"<VersionId>(.*?)</VersionId>", m.group(1)).group(1)
    print(key, vid)
EOF
deleted=0 refused=0
while read -r key vid; do
  code=$(python3 "$S3REQ" DELETE "/$BUCKET/$key?versionId=$vid" | head -1)
  if [[ $code == 204 || $code == 200 ]]; then deleted=$((deleted + 1)); else refused=$((refused + 1)); fi
done < "$T/victims"
echo "attack: $deleted versions deleted, $refused refused by Object Lock"
now=$(date +%s)
b_until=$(python3 -c 'import json,sys,datetime; print(int(datetime.datetime.fromisoformat(json.load(open(sys.argv[1]))["object_lock"]["retain_until"].replace("Z","+00:00")).timestamp()))' "$T/b.json")
(( now < b_until )) || { echo "FAIL: the test ran too slowly: B's retention ended before the attack"; exit 1; }

note "B restores bit-identical"
rc=0
ps3 restore "${P[@]}" "$B" --to "$T/restored.img" > /dev/null 2> "$T/restore.err" || rc=$?
if [[ $CONTROL == 0 ]]; then
  [[ $rc == 0 ]] || { cat "$T/restore.err"; echo "FAIL: B does not restore"; exit 1; }
  cmp "$T/restored.img" "$T/day2.img"
  grep -q "stay under Object Lock" "$T/gc.out"
  echo "PASS: every object of the locked snapshot survived $deleted deletions; t0+$((now - t0)) s"
else
  if [[ $rc == 0 ]] && cmp -s "$T/restored.img" "$T/day2.img"; then
    echo "FAIL (negative control): B survived without the retention extension: the test cannot fail"; exit 1
  fi
  echo "PASS (negative control): without the extension B is lost: $(head -1 "$T/restore.err")"
fi
