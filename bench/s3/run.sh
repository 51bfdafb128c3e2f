#!/usr/bin/env bash
# S3 backup benchmark against a local Ceph RGW (tests/servers/rgw.sh), side by side in one run,
# on the data users have: a 1 GiB ext4 disk image of a server (day 1) and the same disk after a
# day of real file activity (day 2), both from bench/data/make-ext4-days.sh --seed 1:
#   pvesafe                     backup day 1 (full), day 2, restore of day 2
#   rclone crypt                rclone copyto of each day's image into a crypt remote over an
#                               S3 remote, restore with rclone copyto
#   zstd -1 | gpg --symmetric | aws s3 cp -    (the "encrypt and upload" baseline, no dedup)
#   restic backup --stdin       (Debian's restic with its s3 backend), restore with restic dump
#   aws s3 cp --recursive       a plain parallel download of pvesafe's packs (the bytes its
#                               restore reads): the restore target is at most 1.1x of it; and a
#                               plain download of the raw day-2 image for reference
# Every run starts a fresh gateway. Each run has two passes over fresh buckets: the timed pass
# talks to the gateway directly; the counting pass runs the same commands through
# tests/s3/fault_proxy.py (rate 0) and reads its request counter before and after each phase, so
# the proxy's own cost never enters the timed figures. Prints medians over RUNS runs of wall
# time, CPU time (user+sys, children included), CPU used meanwhile by the gateway's daemons
# (radosgw, ceph-osd, ceph-mon), peak RSS, bytes uploaded (growth of the bucket), S3 requests per
# GiB of image, and the ratios issue-level targets are about. Wall times are only meaningful on an
# idle machine: under CPU contention a pipeline with more runnable threads gets a larger share.
#
#   bench/s3/run.sh [BUILD_DIR]   (default ./build; needs bin/pvesafe and bin/pvesafe-stage-bench,
#                                  and the packages of scripts/install-deps.sh --test)
#   env: RUNS=3  COUNT=1 (0: skip the counting pass)  BENCH_DIR=/var/tmp (work space)
#        DAYS_DIR=DIR  reuse DIR/day1.img and DIR/day2.img (else made with --size $DAYS_SIZE, 1G)
set -euo pipefail
BUILD=${1:-${PVESAFE_BUILD_DIR:-build}}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PVESAFE=$(cd "$BUILD" && pwd)/bin/pvesafe
STAGES=$(cd "$BUILD" && pwd)/bin/pvesafe-stage-bench
AWS=/usr/bin/aws
RUNS=${RUNS:-3}
COUNT=${COUNT:-1}
for tool in "$PVESAFE" "$STAGES" "$AWS" restic rclone gpg zstd radosgw curl python3 /usr/bin/time; do
  command -v "$tool" > /dev/null || { echo "missing $tool (scripts/install-deps.sh --test)"; exit 1; }
done
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/pvesafe-s3bench.XXXXXX")
RGW_DIR="" PROXY_PID=""
stop_servers() {
  [[ -n "$PROXY_PID" ]] && { kill "$PROXY_PID" 2> /dev/null || true; wait "$PROXY_PID" 2> /dev/null || true; }
  PROXY_PID=""
  [[ -n "$RGW_DIR" ]] && bash "$SRC/tests/servers/rgw.sh" stop "$RGW_DIR" > /dev/null 2>&1
  RGW_DIR=""
}
cleanup() {
  stop_servers
  rm -rf "$W"
}
trap cleanup EXIT
export GNUPGHOME=$W/gnupg AWS_EC2_METADATA_DISABLED=true
mkdir -m 700 "$GNUPGHOME"
( umask 077; echo "benchmark passphrase" > "$W/pass" )
export RESTIC_PASSWORD_FILE=$W/pass

DAYS=${DAYS_DIR:-}
if [[ -z "$DAYS" || ! -f "$DAYS/day2.img" ]]; then
  DAYS=${DAYS:-$W/days}
  "$SRC/bench/data/make-ext4-days.sh" "$DAYS" --size "${DAYS_SIZE:-1G}" --seed 1 > /dev/null
fi
DAY1=$DAYS/day1.img DAY2=$DAYS/day2.img
SIZE=$(stat -c %s "$DAY1")
"$SRC/bench/data/diffstat" --json "$DAY1" "$DAY2" > "$W/diffstat.json"
echo "images: $DAYS (ext4, $SIZE bytes, make-ext4-days.sh --seed 1); $(nproc) CPUs;" \
  "load $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs, fresh RGW each;" \
  "$(rclone version 2> /dev/null | head -1), $(restic version | cut -d' ' -f1-2)"
GPG="gpg --batch --quiet --yes --pinentry-mode loopback --passphrase-file $W/pass"
GPGENC="$GPG --symmetric --cipher-algo AES256 --compress-algo none"

# measure RUN TOOL PHASE BUCKET COMMAND: one line "run tool phase wall cpu rss_kib bytes srv".
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

# count RUN TOOL PHASE COMMAND: S3 requests the command sent through the counting proxy.
count() {
  local run=$1 tool=$2 phase=$3; shift 3
  local r0 r1
  r0=$(proxy_requests)
  bash -c "$*" > /dev/null 2> "$W/err" || { echo "FAILED (counting pass): $tool $phase: $*"; cat "$W/err"; exit 1; }
  r1=$(proxy_requests)
  echo "$run $tool $phase $((r1 - r0))" >> "$W/requests"
  echo "$run $tool $phase requests $((r1 - r0))"
}

proxy_requests() {
  curl -sf "$PROXY_URL/__fault__/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'
}

# CPU ticks (user+sys) used so far by the gateway's daemons (radosgw, ceph-osd, ceph-mon).
server_cpu_ticks() {
  local total=0 f pid
  for f in rgw osd mon; do
    pid=$(cat "$RGW_DIR/$f.pid" 2> /dev/null) || continue
    total=$(( total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2> /dev/null || echo 0) ))
  done
  echo "$total"
}

bucket_bytes() {
  [[ -z "$1" ]] && { echo 0; return; }
  $AWS --endpoint-url "$PVESAFE_TEST_S3_ENDPOINT" s3 ls "s3://$1" --recursive --summarize 2> /dev/null |
    sed -n 's/^ *Total Size: *\([0-9]*\).*/\1/p' | tail -1 | grep . || echo 0
}

# rclone_config FILE ENDPOINT BUCKET: an S3 remote "s3" on the gateway (keys from the environment,
# env_auth) and a crypt remote "crypt" over it, in a file only the owner can read. The passwords
# are obscured by rclone obscure reading stdin, so they never appear in a process's argv.
rclone_config() {
  local file=$1 ep=$2 bucket=$3 pw1 pw2
  pw1=$(rclone obscure - < "$W/pass")
  pw2=$(sed 's/$/ salt/' "$W/pass" | rclone obscure -)
  ( umask 077
    cat > "$file" <<CONF
[s3]
type = s3
provider = Ceph
env_auth = true
endpoint = $ep
region = us-east-1

[crypt]
type = crypt
remote = s3:$bucket/crypt
password = $pw1
password2 = $pw2
CONF
  )
}

# phases RUN MODE ENDPOINT SUFFIX: the whole sequence (init, day 1, day 2, restores) on fresh
# buckets bench-*SUFFIX; MODE measure (timed, direct) or count (through the proxy).
phases() {
  local run=$1 mode=$2 ep=$3 suf=$4 b
  local ps="$PVESAFE -o s3.endpoint=$ep -r s3://bench-pvesafe$suf/repo"
  # rclone's AWS SDK refuses AWS_CA_BUNDLE with its own HTTP transport; the gateway is plain HTTP.
  local aws="$AWS --endpoint-url $ep" rc="env -u AWS_CA_BUNDLE RCLONE_CONFIG=$W/rclone$suf.conf rclone"
  local out=$W/out.img
  for b in pvesafe gpg restic rclone plain; do
    $AWS --endpoint-url "$PVESAFE_TEST_S3_ENDPOINT" s3 mb "s3://bench-$b$suf" > /dev/null
  done
  rclone_config "$W/rclone$suf.conf" "$ep" "bench-rclone$suf"
  export PVESAFE_CATALOG=$W/catalog$run$suf.db
  $ps init --passphrase-file "$W/pass" > /dev/null
  export RESTIC_CACHE_DIR=$W/restic-cache$suf RESTIC_REPOSITORY="s3:$ep/bench-restic$suf"
  rm -rf "$RESTIC_CACHE_DIR"
  restic init > /dev/null 2>&1
  step() { # TOOL PHASE BUCKET COMMAND
    if [[ $mode == measure ]]; then measure "$run" "$@"; else count "$run" "$1" "$2" "${@:4}"; fi
  }
  local day
  for day in 1 2; do
    local img=$DAYS/day$day.img
    step pvesafe "day$day" "bench-pvesafe$suf" "$ps backup --passphrase-file $W/pass --json $img"
    step rclone-crypt "day$day" "bench-rclone$suf" "$rc copyto $img crypt:day$day.img"
    step gpg+awscli "day$day" "bench-gpg$suf" \
      "zstd -1 -T0 -c $img | $GPGENC | $aws s3 cp - s3://bench-gpg$suf/day$day.img.zst.gpg"
    step restic "day$day" "bench-restic$suf" "restic backup --quiet --stdin --stdin-filename disk.img < $img"
  done

  # Restores of day 2, each checked, against plain parallel downloads: of the packs pvesafe's
  # restore reads (the same bytes), and of the raw image. The first read of the packs may meet
  # colder gateway caches than the second: the download of the packs goes before pvesafe's
  # restore in even runs and after the other restores in odd runs, so neither is always first.
  packs_download() {
    step aws-packs restore "" "$aws s3 cp --recursive --quiet s3://bench-pvesafe$suf/repo/packs/ $W/packs-dl"
    if [[ $mode == measure ]]; then
      du -sb --apparent-size "$W/packs-dl" | cut -f1 > "$W/packs-bytes"
    fi
    rm -rf "$W/packs-dl"
  }
  if (( run % 2 == 0 )); then packs_download; fi
  step pvesafe restore "" "$ps restore --passphrase-file $W/pass latest --to $out"
  cmp "$DAY2" "$out"; rm -f "$out"
  step rclone-crypt restore "" "$rc copyto crypt:day2.img $out"
  cmp "$DAY2" "$out"; rm -f "$out"
  step gpg+awscli restore "" "$aws s3 cp s3://bench-gpg$suf/day2.img.zst.gpg - | $GPG --decrypt | zstd -d -c > $out"
  cmp "$DAY2" "$out"; rm -f "$out"
  step restic restore "" "restic dump --quiet latest /disk.img > $out"
  cmp "$DAY2" "$out"; rm -f "$out"
  if (( run % 2 == 1 )); then packs_download; fi
  $AWS --endpoint-url "$PVESAFE_TEST_S3_ENDPOINT" s3 cp --quiet "$DAY2" "s3://bench-plain$suf/day2.img"
  step aws-image restore "" "$aws s3 cp --quiet s3://bench-plain$suf/day2.img $out"
  rm -f "$out"
}

for run in $(seq 1 "$RUNS"); do
  stop_servers
  RGW_DIR=$W/rgw$run
  bash "$SRC/tests/servers/rgw.sh" start "$RGW_DIR" > /dev/null
  eval "$(bash "$SRC/tests/servers/rgw.sh" env "$RGW_DIR")"
  phases "$run" measure "$PVESAFE_TEST_S3_ENDPOINT" ""
  if (( COUNT )); then
    rm -f "$W/proxy.port"
    python3 "$SRC/tests/s3/fault_proxy.py" --upstream "$PVESAFE_TEST_S3_ENDPOINT" --rate 0 \
      --port-file "$W/proxy.port" > "$W/proxy.log" 2>&1 &
    PROXY_PID=$!
    for _ in $(seq 100); do [[ -s "$W/proxy.port" ]] && break; sleep 0.1; done
    [[ -s "$W/proxy.port" ]] || { echo "fault proxy did not start"; cat "$W/proxy.log"; exit 1; }
    PROXY_URL="http://127.0.0.1:$(cat "$W/proxy.port")"
    phases "$run" count "$PROXY_URL" "-n"
  fi
done
touch "$W/requests"

# The CPU pvesafe's backup stages need on their own (one thread, the day-1 image): with the
# gateway on the same cores, its CPU adds to that floor.
"$STAGES" "$DAY1" "$RUNS" > "$W/stages"
python3 - "$W/results" "$SIZE" "$W/stages" "$(nproc)" "$W/requests" "$W/diffstat.json" "$W/packs-bytes" <<'PY'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
size = int(sys.argv[2])
gib = size / 2**30
med = {}
for key in sorted({(r[1], r[2]) for r in rows}):
    sel = [r for r in rows if (r[1], r[2]) == key]
    med[key] = [statistics.median(float(r[i]) for r in sel) for i in (3, 4, 5, 6, 7)]
reqs = {}
for l in open(sys.argv[5]):
    r = l.split()
    reqs.setdefault((r[1], r[2]), []).append(int(r[3]))
diff = json.load(open(sys.argv[6]))
packs = int(open(sys.argv[7]).read())
order = {"pvesafe": 0, "rclone-crypt": 1, "gpg+awscli": 2, "restic": 3, "aws-packs": 4, "aws-image": 5}
print()
print(f"{'tool':<14}{'phase':<9}{'wall s':>8}{'cpu s':>8}{'gw cpu s':>10}{'gw cpu s/GiB':>14}"
      f"{'RSS MiB':>9}{'upload MiB':>12}{'upl %':>8}{'requests':>10}{'req/GiB':>9}")
for (tool, phase), (wall, cpu, rss, up, srv) in sorted(med.items(), key=lambda kv: (kv[0][1], order.get(kv[0][0], 9))):
    n = reqs.get((tool, phase))
    rq = f"{statistics.median(n):>10.0f}{statistics.median(n) / gib:>9.0f}" if n else f"{'-':>10}{'-':>9}"
    print(f"{tool:<14}{phase:<9}{wall:>8.2f}{cpu:>8.2f}{srv:>10.2f}{srv / gib:>14.2f}{rss / 1024:>9.0f}"
          f"{up / 2**20:>12.1f}{100 * up / size:>7.2f}%{rq}")
print()
print(f"day 2 changed {diff['changed_blocks']} of {diff['blocks']} 4 KiB blocks "
      f"({100 * diff['changed_share']:.2f}%, {diff['changed_bytes'] / 2**20:.1f} MiB; bench/data/diffstat)")
def ratio(col, a, b): return med[a][col] / med[b][col] if med[b][col] else float("inf")
P = "pvesafe"
print("full backup wall, contender / pvesafe (target > 1 for each): " + ", ".join(
    f"{t} {ratio(0, (t, 'day1'), (P, 'day1')):.2f}x" for t in ("rclone-crypt", "gpg+awscli", "restic")))
print(f"gateway CPU per GiB of the full backup, pvesafe / rclone crypt = "
      f"{ratio(4, (P, 'day1'), ('rclone-crypt', 'day1')):.2f}x (target <= 1)")
print(f"day-2 upload, pvesafe / restic = {ratio(3, (P, 'day2'), ('restic', 'day2')):.2f}x (target <= 1): "
      f"pvesafe {med[(P, 'day2')][3] / 2**20:.1f} MiB, restic {med[('restic', 'day2')][3] / 2**20:.1f} MiB, "
      f"changed blocks {diff['changed_bytes'] / 2**20:.1f} MiB")
print(f"restore wall, pvesafe / plain parallel download of its packs ({packs / 2**20:.0f} MiB, aws s3 cp "
      f"--recursive) = {ratio(0, (P, 'restore'), ('aws-packs', 'restore')):.2f}x (target <= 1.10); "
      f"/ plain download of the raw image = {ratio(0, (P, 'restore'), ('aws-image', 'restore')):.2f}x")
floor = next(float(l.split()[1]) for l in open(sys.argv[3]) if l.startswith("floor "))
cores = int(sys.argv[4])
print(f"floor: pvesafe's backup stages need {floor:.2f} s of CPU for day 1 (pvesafe-stage-bench), "
      f"on {cores} cores shared with the gateway (its CPU is in the table)")
PY
