#!/usr/bin/env bash
# What keeping reused objects under Object Lock costs on day 2 (docs/s3.md, "Object Lock"):
# a 1 GiB image backed up into a lock-enabled bucket of a local Ceph RGW, then a changed copy
# (day 2), once with s3.retention-margin-days=0 (every reused pack and index object is extended:
# the worst case, what a day 2 costs after each margin) and once with the default margin (the
# day-2 objects are still retained long enough: only the HEADs). Prints, per day-2 backup, the
# retention requests and seconds beside the backup's own requests and wall time.
#
#   bench/s3/object_lock.sh [BUILD_DIR]      env: SIZE_MIB=1024 CHANGE_PERCENT=2 BENCH_DIR=/var/tmp
set -euo pipefail
BUILD=${1:-${PVESAFE_BUILD_DIR:-build}}
PVESAFE=${PVESAFE_BIN:-$BUILD/bin/pvesafe}
GEN=$BUILD/bin/pvesafe-gen-image
SRC=$(cd "$(dirname "$0")/../.." && pwd)
SIZE=$(( ${SIZE_MIB:-1024} * 1024 * 1024 ))
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/pvesafe-lock-bench.XXXXXX")
cleanup() { bash "$SRC/tests/servers/rgw.sh" stop "$W/rgw" || true; rm -rf "$W"; }
trap cleanup EXIT
bash "$SRC/tests/servers/rgw.sh" start "$W/rgw" > /dev/null
eval "$(bash "$SRC/tests/servers/rgw.sh" env "$W/rgw")"
export PVESAFE_CATALOG=$W/catalog.db AWS_EC2_METADATA_DISABLED=true
( umask 077; echo "benchmark passphrase" > "$W/pass" )
"$GEN" --size "$SIZE" --seed 42 > "$W/day1.img"
"$GEN" --size "$SIZE" --seed 42 --mutate-percent "${CHANGE_PERCENT:-2}" --mutate-regions 16 --mutate-seed 7 > "$W/day2.img"
echo "image: $SIZE bytes, ${CHANGE_PERCENT:-2}% changed on day 2; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-22s %8s %9s %9s %9s %10s %10s\n' "day-2 backup" "wall s" "requests" "checked" "extended" "lock reqs" "lock s"
for margin in 0 default; do
  O=(-o "s3.endpoint=$PVESAFE_TEST_S3_ENDPOINT" -o s3.path-style=true -o s3.retention-days=30)
  [[ $margin == 0 ]] && O+=(-o s3.retention-margin-days=0)
  repo="s3://lock-bench-$margin-$$/repo"
  "$PVESAFE" -r "$repo" "${O[@]}" -o s3.create-bucket=true init --passphrase-file "$W/pass" > /dev/null
  cp "$W/day1.img" "$W/disk.img"
  "$PVESAFE" -r "$repo" "${O[@]}" --json backup --passphrase-file "$W/pass" "$W/disk.img" > "$W/d1.json"
  cp "$W/day2.img" "$W/disk.img"
  "$PVESAFE" -r "$repo" "${O[@]}" --json backup --passphrase-file "$W/pass" "$W/disk.img" > "$W/d2.json"
  python3 - "$W/d2.json" "margin $margin" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
l = j["object_lock"]
print(f"{sys.argv[2]:<22} {j['duration_seconds']:8.2f} {j['requests']['total']:9d} {l['objects_checked']:9d} "
      f"{l['objects_extended']:9d} {l['requests']:10d} {l['seconds']:10.2f}")
PY
done
