#!/usr/bin/env bash
# DR drill of a guest with a 1 GiB disk, against pvesim (3 nodes) and a real sshd on 127.0.0.1,
# with a local-directory repository. Prints, for RUNS drills (default 3): the median seconds of
# every stage, the RTO, and side by side the raw transfer of the same archive with OpenSSH's
# sftp client into the same node directory (the floor for moving the bytes), with the ratio.
#
#   PVESAFE_BIN=build/bin/pvesafe PVESIM_BIN=build/bin/pvesim bench/drill/drill_1g.sh
#   SIZE=4G RUNS=5 bench/drill/drill_1g.sh
#
# Needs root (sshd) and about 4x SIZE of free space under /tmp.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PVESAFE_BIN=${PVESAFE_BIN:-$here/../../build/bin/pvesafe}
export PVESIM_BIN=${PVESIM_BIN:-$here/../../build/bin/pvesim}
SIZE=${SIZE:-1G}
RUNS=${RUNS:-3}
PVESIM_EXTRA_ARGS="--backup-size $SIZE"
source "$here/../../tests/pve/lib.sh"
pve_env_up

echo "== backup of guest 100 ($SIZE disk) through vzdump + SFTP"
t0=$(date +%s.%N)
"$PVESAFE_BIN" backup --guest 100 --keep-archive "${P[@]}" "${pve_flags[@]}"
t1=$(date +%s.%N)
archive=$(ls "$PVE_DATA"/nodes/pve-01/local/dump/vzdump-qemu-100-*.vma.zst)
bytes=$(stat -c %s "$archive")
printf 'archive %s: %d bytes, backup wall %.2f s\n' "$(basename "$archive")" "$bytes" "$(echo "$t1 - $t0" | bc)"
du -sh "$REPO" | sed 's/^/repository size: /'

for i in $(seq 1 "$RUNS"); do
  "$PVESAFE_BIN" drill --guest 100 --node pve-02 --sla 15m --link 1Gbit --report "$WORK/drill-$i.json" \
    "${P[@]}" "${pve_flags[@]}" >"$WORK/drill-$i.txt"
  [ "$i" -eq 1 ] && { echo "== drill 1 of $RUNS"; cat "$WORK/drill-1.txt"; }
  # Baseline: the same bytes with OpenSSH's sftp into pve-02's dump directory.
  dst=$PVE_DATA/nodes/pve-02/local/dump/baseline-$i.bin
  s0=$(date +%s.%N)
  sftp -q -i "$SSH_KEY" -o UserKnownHostsFile="$KNOWN_HOSTS" -o BatchMode=yes -P "$SSHD_PORT" \
    root@127.0.0.1 <<<"put $archive $dst" >/dev/null
  s1=$(date +%s.%N)
  echo "$s1 - $s0" | bc >"$WORK/sftp-$i.txt"
  rm -f "$dst"
done

python3 - "$WORK" "$RUNS" "$bytes" <<'PY'
import json, statistics, sys
work, runs, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
drills = [json.load(open(f"{work}/drill-{i}.json"))["drills"][0] for i in range(1, runs + 1)]
sftp = [float(open(f"{work}/sftp-{i}.txt").read()) for i in range(1, runs + 1)]
keys = ["lookup", "fetch", "decrypt_verify", "provision", "boot", "health", "cleanup"]
print(f"\n== medians of {runs} drills, archive {size / 2**30:.2f} GiB")
print(f"  {'stage':<16}{'median s':>10}{'min s':>9}{'max s':>9}")
for k in keys:
    v = [d["stages"][k + "_seconds"] for d in drills]
    print(f"  {k:<16}{statistics.median(v):>10.3f}{min(v):>9.3f}{max(v):>9.3f}")
rto = [d["rto_seconds"] for d in drills]
print(f"  {'RTO':<16}{statistics.median(rto):>10.3f}{min(rto):>9.3f}{max(rto):>9.3f}   passed: {all(d['passed'] for d in drills)}")
transfer = [d["stages"]["fetch_seconds"] + d["stages"]["decrypt_verify_seconds"] for d in drills]
mt, ms = statistics.median(transfer), statistics.median(sftp)
print(f"\n  repository -> node (fetch+decrypt/verify+upload): {mt:.2f} s = {size / mt / 1e6:.0f} MB/s")
print(f"  openssh sftp put of the same archive:             {ms:.2f} s = {size / ms / 1e6:.0f} MB/s")
print(f"  ratio pvesafe / sftp: {mt / ms:.2f}")
p = drills[0]["prediction"]
print(f"  predicted RTO for the {p['disk_bytes'] / 2**30:.0f} GiB disk at 1 Gbit/s: {p['rto_seconds']:.0f} s")
PY
