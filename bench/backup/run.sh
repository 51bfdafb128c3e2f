#!/usr/bin/env bash
# Backup/restore benchmark: pvesafe against `zstd -1 -T0 | gpg --symmetric` on the same
# deterministic 1 GiB disk-like image, side by side in one run, RUNS runs each (default 3),
# medians of wall time, CPU time (user+sys) and peak RSS (/usr/bin/time -v), and ratios.
#
#   bench/backup/run.sh [BUILD_DIR]     (default: ./build; needs bin/pvesafe, bin/pvesafe-gen-image,
#                                        bin/pvesafe-stage-bench)
#   env: RUNS=3 SIZE_MIB=1024 BENCH_DIR=/var/tmp (scratch space: about 4 x SIZE)
#        IMAGE=compressed  the input is a vzdump archive as PVE writes it by default (.vma.zst:
#                          already compressed, so incompressible); default IMAGE=raw, a disk-like
#                          image that is about 70% compressible
set -euo pipefail
BUILD=${1:-${PVESAFE_BUILD_DIR:-build}}
PVESAFE=${PVESAFE_BIN:-$BUILD/bin/pvesafe}
GEN=$BUILD/bin/pvesafe-gen-image
STAGES=$BUILD/bin/pvesafe-stage-bench
RUNS=${RUNS:-3}
SIZE=$(( ${SIZE_MIB:-1024} * 1024 * 1024 ))
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/pvesafe-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
export PVESAFE_CATALOG=$W/catalog.db GNUPGHOME=$W/gnupg
mkdir -m 700 "$GNUPGHOME"
( umask 077; echo "benchmark passphrase" > "$W/pass" )
if [[ "${IMAGE:-raw}" == compressed ]]; then
  # What `vzdump --compress zstd` hands over: the disk-like image through zstd, cut to SIZE.
  # (head closes the pipe early, so the generator ends on SIGPIPE: check the size instead)
  ( "$GEN" --size $((SIZE * 4)) --seed 42 | zstd -1 -T0 -q -c | head -c "$SIZE" > "$W/disk.img" ) || true
  [[ $(stat -c %s "$W/disk.img") == "$SIZE" ]] || { echo "bench: could not make a ${SIZE}-byte compressed image" >&2; exit 1; }
else
  "$GEN" --size "$SIZE" --seed 42 > "$W/disk.img"
fi
echo "image: $SIZE bytes; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs each"
GPG="gpg --batch --quiet --yes --pinentry-mode loopback --passphrase-file $W/pass"

measure() {  # measure NAME COMMAND...: appends "name wall cpu rss_kib" to $W/results
  local name=$1; shift
  sync
  /usr/bin/time -v -o "$W/time" "$@" > /dev/null
  python3 - "$name" "$W/time" >> "$W/results" <<'PY'
import sys, re
name, path = sys.argv[1], sys.argv[2]
t = open(path).read()
def num(label):
    return float(re.search(re.escape(label) + r":\s*([0-9.:]+)", t).group(1))
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([0-9:.]+)", t).group(1)
secs = 0.0
for part in wall.split(":"):
    secs = secs * 60 + float(part)
print(name, secs, num("User time (seconds)") + num("System time (seconds)"), int(num("Maximum resident set size (kbytes)")))
PY
}

: > "$W/results"
for i in $(seq 1 "$RUNS"); do
  rm -rf "$W/repo" "$W/out.gpg" "$W/r1" "$W/r2"
  "$PVESAFE" -r "$W/repo" init --passphrase-file "$W/pass" > /dev/null
  measure pvesafe_backup "$PVESAFE" -q -r "$W/repo" backup --passphrase-file "$W/pass" "$W/disk.img"
  # The gpg side syncs its output file too: pvesafe fsyncs every object it stores and the file it
  # restores, so both sides pay for durability.
  measure gpg_backup sh -c "zstd -1 -T0 -q -c '$W/disk.img' | $GPG --symmetric --cipher-algo AES256 --compress-algo none -o '$W/out.gpg' && sync '$W/out.gpg'"
  measure pvesafe_restore "$PVESAFE" -q -r "$W/repo" restore --passphrase-file "$W/pass" latest --to "$W/r1"
  measure gpg_restore sh -c "$GPG --decrypt '$W/out.gpg' | zstd -d -q -o '$W/r2' && sync '$W/r2'"
  # Without the final file sync: restore to stdout, discarded.
  measure pvesafe_restore_pipe sh -c "'$PVESAFE' -q -r '$W/repo' restore --passphrase-file '$W/pass' latest --to - > /dev/null"
  measure gpg_restore_pipe sh -c "$GPG --decrypt '$W/out.gpg' | zstd -d -q > /dev/null"
  cmp "$W/disk.img" "$W/r1"; cmp "$W/disk.img" "$W/r2"
  repo_bytes=$(du -sb "$W/repo/packs" | cut -f1); gpg_bytes=$(stat -c %s "$W/out.gpg")
  # The CPU each stage of pvesafe's backup needs on its own (one thread, the same image): the
  # least CPU any schedule of the stages can use, so wall time / cores is the best any can do.
  # Measured in every round (the median of three), next to that round's backup: the load of
  # this machine's neighbours moves both alike, so the ratio of the two is steadier than either.
  "$STAGES" "$W/disk.img" 3 > "$W/stages.$i"
done
python3 - "$W/results" "$SIZE" "$repo_bytes" "$gpg_bytes" "$W/stages" "$(nproc)" "$RUNS" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    n, w, c, r = line.split()
    rows[n].append((float(w), float(c), int(r)))
size = int(sys.argv[2])
med = {n: tuple(statistics.median(x[i] for x in v) for i in range(3)) for n, v in rows.items()}
print(f"{'':18}{'wall s':>9}{'cpu s':>9}{'MB/s':>9}{'peak RSS MiB':>14}")
for n in ["pvesafe_backup", "gpg_backup", "pvesafe_restore", "gpg_restore", "pvesafe_restore_pipe", "gpg_restore_pipe"]:
    w, c, r = med[n]
    print(f"{n:18}{w:9.2f}{c:9.2f}{size / w / 1e6:9.0f}{r / 1024:14.1f}")
b, g = med["pvesafe_backup"], med["gpg_backup"]
rb, rg = med["pvesafe_restore"], med["gpg_restore"]
print(f"backup:  pvesafe is {g[0] / b[0]:.2f}x the speed of zstd|gpg (wall), uses {b[1] / g[1]:.2f}x its CPU")
print(f"restore: pvesafe is {rg[0] / rb[0]:.2f}x the speed of gpg|zstd (wall), uses {rb[1] / rg[1]:.2f}x its CPU")
rp, gp = med["pvesafe_restore_pipe"], med["gpg_restore_pipe"]
print(f"restore to a pipe (no file, no sync): pvesafe is {gp[0] / rp[0]:.2f}x the speed of gpg|zstd (wall)")
print(f"pvesafe restore vs its backup: {b[0] / rb[0]:.2f}x (above 1 = restore faster)")
cores, runs = int(sys.argv[6]), int(sys.argv[7])
rounds = []  # per round: {stage: cpu s}, data_path, floor
for i in range(1, runs + 1):
    st, tot = {}, {}
    for l in open(f"{sys.argv[5]}.{i}"):
        f = l.split()
        if f[0] == "stage":
            st[f[1]] = float(f[2])
        elif f[0] in ("data_path", "floor"):
            tot[f[0]] = float(f[1])
    rounds.append((st, tot["data_path"], tot["floor"]))
backups = [w for n, w, c, r in (l.split() for l in open(sys.argv[1])) if n == "pvesafe_backup"]
backups = [float(w) for w in backups]
names = list(rounds[0][0])
st_med = {n: statistics.median(r[0][n] for r in rounds) for n in names}
floor = statistics.median(r[2] for r in rounds)
print("CPU per stage of pvesafe's backup, one stage at a time on one thread (pvesafe-stage-bench, "
      "once per round, medians):")
print("  " + ", ".join(f"{n} {st_med[n]:.2f} s" for n in names) + f"; sum {floor:.2f} s")
print(f"  on {cores} cores no schedule of these stages takes under {floor / cores:.2f} s: at best "
      f"{g[0] / (floor / cores):.2f}x the speed of zstd|gpg; pvesafe's backup uses {b[1] / floor:.2f}x the floor's CPU")
per_round = [w / (r[2] / cores) for w, r in zip(backups, rounds)]
ratio = statistics.median(per_round)
ratio_dp = statistics.median(w / (r[1] / cores) for w, r in zip(backups, rounds))
print(f"  pvesafe's backup takes {ratio:.2f}x the floor's wall time (median of the rounds' ratios; "
      f"{ratio_dp:.2f}x the data path alone: read, chunk, chunk-id, compress, seal)")
print("  each round's backup / floor: " + " ".join(f"{x:.2f}" for x in per_round))
print(f"stored: pvesafe {int(sys.argv[3])} bytes ({100 * int(sys.argv[3]) / size:.1f}%), zstd|gpg {int(sys.argv[4])} bytes ({100 * int(sys.argv[4]) / size:.1f}%)")
PY
