#!/usr/bin/env bash
# S3 backup benchmark against a local Ceph RGW (tests/servers/rgw.sh), side by side in one run:
#   pvesafe                     backup (day 1 full, day 2 with ~2% changed) and restore
#   zstd -1 | gpg --symmetric | aws s3 cp -    (the "encrypt and upload" baseline, no dedup)
#   restic backup --stdin       (Debian's restic with its s3 backend, same gateway)
#   aws s3 cp s3://... FILE     (a plain parallel download of the image: the restore baseline)
# on the same deterministic disk-like image (bench/backup/gen_image.cpp). Every run starts a fresh
# gateway. Prints medians of RUNS runs: wall time, CPU time (user+sys, children included), peak
# RSS, bytes uploaded (growth of the bucket), CPU used meanwhile by the gateway's daemons (server
# cpu), and the ratios the targets are about. Wall times are only meaningful on an idle machine:
# under CPU contention a pipeline with more runnable threads gets a larger share of the cores.
#
#   bench/s3/run.sh [BUILD_DIR]   (default ./build; needs bin/pvesafe, bin/pvesafe-gen-image and
#                                  bin/pvesafe-stage-bench)
#   env: RUNS=3 SIZE_MIB=1024 CHANGE_PERCENT=2 CHANGE_REGIONS=8 BENCH_DIR=/var/tmp
set -euo pipefail
BUILD=${1:-${PVESAFE_BUILD_DIR:-build}}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PVESAFE=$(cd "$BUILD" && pwd)/bin/pvesafe
GEN=$(cd "$BUILD" && pwd)/bin/pvesafe-gen-image
STAGES=$(cd "$BUILD" && pwd)/bin/pvesafe-stage-bench
AWS=/usr/bin/aws
RUNS=${RUNS:-3}
SIZE=$(( ${SIZE_MIB:-1024} * 1024 * 1024 ))
for tool in "$PVESAFE" "$GEN" "$STAGES" "$AWS" restic gpg zstd radosgw /usr/bin/time; do
  command -v "$tool" > /dev/null || { echo "missing $tool"; exit 1; }
done
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/pvesafe-s3bench.XXXXXX")
RGW_DIR=""
cleanup() {
  [[ -n "$RGW_DIR" ]] && bash "$SRC/tests/servers/rgw.sh" stop "$RGW_DIR" > /dev/null 2>&1
  rm -rf "$W"
}
trap cleanup EXIT
export PVESAFE_CATALOG=$W/catalog.db GNUPGHOME=$W/gnupg AWS_EC2_METADATA_DISABLED=true
mkdir -m 700 "$GNUPGHOME"
( umask 077; echo "benchmark passphrase" > "$W/pass" )
export RESTIC_PASSWORD_FILE=$W/pass RESTIC_CACHE_DIR=$W/restic-cache
"$GEN" --size "$SIZE" --seed 42 > "$W/day1.img"
"$GEN" --size "$SIZE" --seed 42 --mutate-percent "${CHANGE_PERCENT:-2}" --mutate-regions "${CHANGE_REGIONS:-8}" \
  --mutate-seed 7 > "$W/day2.img"
echo "image: $SIZE bytes, day 2 with ${CHANGE_PERCENT:-2}% changed in ${CHANGE_REGIONS:-8} regions; $(nproc) CPUs;" \
  "load $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs, fresh RGW each"
GPG="gpg --batch --quiet --yes --pinentry-mode loopback --passphrase-file $W/pass --symmetric --cipher-algo AES256 --compress-algo none"

# measure RUN TOOL PHASE BUCKET COMMAND: one line "run tool phase wall cpu rss_kib bytes".
measure() {
  local run=$1 tool=$2 phase=$3 bucket=$4; shift 4
  local before after server0 server1
  before=$(bucket_bytes "$bucket")
  sync
  server0=$(server_cpu_ticks)
  /usr/bin/time -v -o "$W/time" bash -c "$*" > /dev/null 2> "$W/err" || {
    echo "FAILED: $tool $phase: $*"; cat "$W/err"; exit 1; }
  server1=$(server_cpu_ticks)
  after=$(bucket_bytes "$bucket")
  python3 - "$run" "$tool" "$phase" "$W/time" $((after - before)) $((server1 - server0)) >> "$W/results" <<'PY'
import os, re, sys
run, tool, phase, path, grown, ticks = sys.argv[1:7]
t = open(path).read()
num = lambda label: float(re.search(re.escape(label) + r":\s*([0-9.]+)", t).group(1))
wall = 0.0
for part in re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([0-9:.]+)", t).group(1).split(":"):
    wall = wall * 60 + float(part)
print(run, tool, phase, wall, num("User time (seconds)") + num("System time (seconds)"),
      int(num("Maximum resident set size (kbytes)")), grown,
      int(ticks) / os.sysconf("SC_CLK_TCK"))
PY
  tail -1 "$W/results"
}

# CPU ticks (user+sys) used so far by the gateway's daemons (radosgw, ceph-osd, ceph-mon).
server_cpu_ticks() {
  local total=0 f pid
  for f in rgw osd mon; do
    pid=$(cat "$RGW_DIR/$f.pid" 2>/dev/null) || continue
    total=$(( total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0) ))
  done
  echo "$total"
}

bucket_bytes() {
  [[ -z "$1" ]] && { echo 0; return; }
  $AWS --endpoint-url "$PVESAFE_TEST_S3_ENDPOINT" s3 ls "s3://$1" --recursive --summarize 2>/dev/null |
    sed -n 's/^ *Total Size: *\([0-9]*\).*/\1/p' | tail -1 | grep . || echo 0
}

for run in $(seq 1 "$RUNS"); do
  [[ -n "$RGW_DIR" ]] && bash "$SRC/tests/servers/rgw.sh" stop "$RGW_DIR" > /dev/null
  RGW_DIR=$W/rgw$run
  bash "$SRC/tests/servers/rgw.sh" start "$RGW_DIR" > /dev/null
  eval "$(bash "$SRC/tests/servers/rgw.sh" env "$RGW_DIR")"
  EP=$PVESAFE_TEST_S3_ENDPOINT
  for b in pvesafe gpg restic plain; do $AWS --endpoint-url "$EP" s3 mb "s3://bench-$b" > /dev/null; done
  PS="$PVESAFE -o s3.endpoint=$EP -r s3://bench-pvesafe/repo"
  $PS init --passphrase-file "$W/pass" > /dev/null
  rm -rf "$RESTIC_CACHE_DIR"
  export RESTIC_REPOSITORY="s3:$EP/bench-restic"
  restic init > /dev/null 2>&1

  measure "$run" pvesafe day1 bench-pvesafe "$PS backup --passphrase-file $W/pass --json $W/day1.img"
  measure "$run" gpg+awscli day1 bench-gpg "zstd -1 -T0 -c $W/day1.img | $GPG | $AWS --endpoint-url $EP s3 cp - s3://bench-gpg/day1.img.zst.gpg"
  measure "$run" restic day1 bench-restic "restic backup --quiet --stdin --stdin-filename disk.img < $W/day1.img"

  measure "$run" pvesafe day2 bench-pvesafe "$PS backup --passphrase-file $W/pass --json $W/day2.img"
  measure "$run" gpg+awscli day2 bench-gpg "zstd -1 -T0 -c $W/day2.img | $GPG | $AWS --endpoint-url $EP s3 cp - s3://bench-gpg/day2.img.zst.gpg"
  measure "$run" restic day2 bench-restic "restic backup --quiet --stdin --stdin-filename disk.img < $W/day2.img"

  # Restore of day 2 against a plain parallel download of the same image.
  $AWS --endpoint-url "$EP" s3 cp "$W/day2.img" s3://bench-plain/day2.img > /dev/null
  measure "$run" pvesafe restore "" "$PS restore --passphrase-file $W/pass latest --to $W/out.img"
  cmp "$W/day2.img" "$W/out.img"; rm -f "$W/out.img"
  measure "$run" aws-download restore "" "$AWS --endpoint-url $EP s3 cp s3://bench-plain/day2.img $W/out.img"
  rm -f "$W/out.img"
  measure "$run" restic restore "" "restic dump --quiet latest /disk.img > $W/out.img"
  rm -f "$W/out.img"
done

# The CPU pvesafe's backup stages need on their own (one thread, the day-1 image): with the
# gateway on the same cores, its CPU adds to that floor.
"$STAGES" "$W/day1.img" "$RUNS" > "$W/stages"
python3 - "$W/results" "$SIZE" "$W/stages" "$(nproc)" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
size = int(sys.argv[2])
med = {}
for key in sorted({(r[1], r[2]) for r in rows}):
    sel = [r for r in rows if (r[1], r[2]) == key]
    med[key] = [statistics.median(float(r[i]) for r in sel) for i in (3, 4, 5, 6, 7)]
print()
print(f"{'tool':<14}{'phase':<9}{'wall s':>9}{'cpu s':>9}{'server cpu s':>14}{'peak RSS MiB':>14}{'uploaded MiB':>14}{'upl % image':>12}")
for (tool, phase), (wall, cpu, rss, up, srv) in sorted(med.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    print(f"{tool:<14}{phase:<9}{wall:>9.2f}{cpu:>9.2f}{srv:>14.2f}{rss/1024:>14.1f}{up/2**20:>14.1f}{100*up/size:>11.2f}%")
def r(a, b): return med[a][0] / med[b][0]
print()
print(f"full backup: gpg+awscli / pvesafe wall = {r(('gpg+awscli','day1'), ('pvesafe','day1')):.2f}x (target >= 2)")
print(f"full backup: restic / pvesafe wall     = {r(('restic','day1'), ('pvesafe','day1')):.2f}x (target > 1)")
def c(a, b): return med[a][1] / med[b][1]
print(f"full backup CPU: gpg+awscli / pvesafe = {c(('gpg+awscli','day1'), ('pvesafe','day1')):.2f}x, "
      f"restic / pvesafe = {c(('restic','day1'), ('pvesafe','day1')):.2f}x")
print(f"day 2: pvesafe uploaded {100*med[('pvesafe','day2')][3]/size:.2f}% of the image (target < 5%), "
      f"restic {100*med[('restic','day2')][3]/size:.2f}%, gpg+awscli {100*med[('gpg+awscli','day2')][3]/size:.2f}%")
floor = next(float(l.split()[1]) for l in open(sys.argv[3]) if l.startswith("floor "))
cores = int(sys.argv[4])
gateway = min(med[(t, 'day1')][4] for t in ('pvesafe', 'gpg+awscli'))
best = (floor + gateway) / cores
print(f"floor: pvesafe's backup stages need {floor:.2f} s of CPU (pvesafe-stage-bench), the gateway at least "
      f"{gateway:.2f} s to take in the day-1 upload (the lower of the two runs above); sharing {cores} cores, "
      f"no run finishes under {best:.2f} s: at best {med[('gpg+awscli','day1')][0] / best:.2f}x the speed of gpg+awscli")
print(f"restore: pvesafe / plain aws download wall = {r(('pvesafe','restore'), ('aws-download','restore')):.2f}x (target <= 1.10)")
PY
