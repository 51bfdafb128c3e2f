#!/usr/bin/env bash
# Site RTO: the 20 guests of tests/pve/site/site-a.toml (qemu and lxc, several disks, HA and
# not) backed up from pvesim into a repository on a real Ceph RADOS Gateway (REPO=local: a
# directory), then `pvesafe drill --site` onto the empty cluster site-b (other storage names),
# RUNS times for 1, 2 and 4 guests at once. Prints the median seconds of every stage summed over
# the guests, the site RTO (wall, start until the last guest is healthy) and its prediction for
# PREDICT (default 2T) of disks over 1 Gbit/s and 10 Gbit/s beside the SLA (15 min).
#
#   PVESAFE_BIN=build/bin/pvesafe PVESIM_BIN=build/bin/pvesim bench/site/site_rto.sh
#   RUNS=5 SCALE=16 JOBS="1 4 8" bench/site/site_rto.sh
#
# Needs root (sshd), radosgw for REPO=rgw (the default).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PVESAFE_SOURCE_DIR=${PVESAFE_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
export PVESAFE_BIN=${PVESAFE_BIN:-$PVESAFE_SOURCE_DIR/build/bin/pvesafe}
export PVESIM_BIN=${PVESIM_BIN:-$PVESAFE_SOURCE_DIR/build/bin/pvesim}
RUNS=${RUNS:-3}
JOBS=${JOBS:-"1 2 4"}
PREDICT=${PREDICT:-2T}
SCALE=${SCALE:-4}   # archive sizes of site-a.toml (2-8 MiB) times this
OUT=${OUT:-/tmp/pvesafe-site-bench-$(date +%Y%m%dT%H%M%S)}   # the drill reports are kept here
mkdir -p "$OUT"
source "$PVESAFE_SOURCE_DIR/tests/pve/lib.sh"
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

if [ "${REPO:-rgw}" = rgw ]; then
  RGW_SH=$PVESAFE_SOURCE_DIR/tests/servers/rgw.sh
  CLEANUP+=("bash '$RGW_SH' stop '$WORK/rgw'")
  bash "$RGW_SH" start "$WORK/rgw" >/dev/null
  eval "$(bash "$RGW_SH" env "$WORK/rgw")"
  export AWS_ACCESS_KEY_ID=$PVESAFE_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$PVESAFE_TEST_S3_SECRET_KEY
  export AWS_EC2_METADATA_DISABLED=true
  P=(--repo "s3://site-bench-$$/site-a" --passphrase-file "$PASSFILE"
     -o "s3.endpoint=$PVESAFE_TEST_S3_ENDPOINT" -o s3.create-bucket=true)
else
  P=(--repo "$WORK/repo" --passphrase-file "$PASSFILE")
fi
pve_start_sshd
python3 -c 'import re,sys; print(re.sub(r"backup_size = \"(\d+)M\"", lambda m: "backup_size = \"%dM\"" % (int(m.group(1)) * int(sys.argv[2])), open(sys.argv[1]).read()), end="")' \
  "$PVESAFE_SOURCE_DIR/tests/pve/site/site-a.toml" "$SCALE" >"$WORK/site-a.toml"
start() {  # start NAME CONFIG -> NAME_flags
  local name=$1 data=$WORK/$1
  mkdir -p "$data"
  if [ ! -f "$WORK/tokens" ]; then
    (umask 077
     printf 'root@pam!pvesafe=%s Administrator\n' "$(python3 -c 'import uuid; print(uuid.uuid4())')" >"$WORK/tokens"
     sed -E 's/.*=([^ ]+) .*/\1/' "$WORK/tokens" >"$WORK/token.secret")
  fi
  "$PVESIM_BIN" --config "$2" --port 0 --data-dir "$data" --tokens "$WORK/tokens" >"$WORK/$name.out" 2>"$WORK/$name.log" &
  PIDS+=($!)
  for i in $(seq 1 100); do grep -q "pvesim listening" "$WORK/$name.out" 2>/dev/null && break; sleep 0.1; done
  local line port fp
  line=$(grep "pvesim listening" "$WORK/$name.out")
  port=$(echo "$line" | sed -E 's#.*https://[^:]+:([0-9]+).*#\1#')
  fp=$(echo "$line" | sed -E 's#.*fingerprint ([0-9A-Fa-f:]+).*#\1#')
  eval "${name}_flags=(--pve-host 127.0.0.1 --pve-port $port --pve-fingerprint $fp
    --pve-token-id 'root@pam!pvesafe' --pve-token-file $WORK/token.secret
    --ssh-key $SSH_KEY --ssh-known-hosts $KNOWN_HOSTS --ssh-port $SSHD_PORT
    --ssh-host pve-01=127.0.0.1 --ssh-host pve-02=127.0.0.1 --ssh-host pve-03=127.0.0.1
    --dump-dir '$data/nodes/{node}/{storage}/dump' --node-root '$data/rootfs/{node}')"
}
start A "$WORK/site-a.toml"
start B "$PVESAFE_SOURCE_DIR/tests/pve/site/site-b.toml"
"$PVESAFE_BIN" init "${P[@]}" >/dev/null
for n in pve-01 pve-02 pve-03; do
  "$PVESAFE_BIN" backup --all --node $n --jobs 4 "${P[@]}" "${A_flags[@]}" >/dev/null
done
"$PVESAFE_BIN" snapshots "${P[@]}" --json | jget '"%d snapshots, %.1f MiB of archives" % (len(d), sum(s["size_bytes"] for s in d) / 2**20)'
echo "repository: ${REPO:-rgw}; archive sizes x$SCALE; $RUNS runs per row; prediction for $PREDICT"

for j in $JOBS; do
  for r in $(seq 1 "$RUNS"); do
    "$PVESAFE_BIN" drill --site --jobs "$j" --storage nvme-thin --sla 15m --predict-size "$PREDICT" \
      "${P[@]}" "${B_flags[@]}" --report "$OUT/site-$j-$r.json" >/dev/null
  done
done
python3 - "$OUT" "$JOBS" "$RUNS" <<'PY'
import json, statistics, sys
work, jobs, runs = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
stages = ["lookup", "fetch", "decrypt_verify", "provision", "boot", "health"]
cols = []
for j in jobs:
    rs = [json.load(open(f"{work}/site-{j}-{r}.json")) for r in range(1, runs + 1)]
    assert all(x["passed"] for x in rs), "a site drill failed"
    med = lambda f: statistics.median(f(x) for x in rs)
    col = {s: med(lambda x: x["stage_totals"][s + "_seconds"]) for s in stages}
    col["cleanup (wall)"] = med(lambda x: x["cleanup_seconds"])
    col["SITE RTO (wall)"] = med(lambda x: x["rto_seconds"])
    col["HA guests healthy"] = med(lambda x: x["critical_rto_seconds"])
    for p in rs[0]["predictions_by_link"]:
        g = p["link_bytes_per_second"] * 8 / 1e9
        col[f"predicted, {g:.0f} Gbit/s"] = med(lambda x: [q for q in x["predictions_by_link"] if q["link_bytes_per_second"] == p["link_bytes_per_second"]][0]["rto_seconds"])
    col["_disk"] = rs[0]["prediction"]["disk_bytes"]
    cols.append((j, col))
print(f"\nmedians of {runs} site drills of 20 guests (stages summed over the guests; seconds)")
print(f"{'':24}" + "".join(f"{j + ' at once':>14}" for j, _ in cols))
for k in [k for k in cols[0][1] if not k.startswith("_")]:
    print(f"{k:24}" + "".join(f"{c[k]:14.2f}" for _, c in cols))
print(f"{'SLA':24}" + "".join(f"{900:14.2f}" for _ in cols))
base = cols[0][1]["SITE RTO (wall)"]
print(f"{'RTO ratio vs ' + cols[0][0] + ' at once':24}" + "".join(f"{base / c['SITE RTO (wall)']:14.2f}x" for _, c in cols))
print(f"prediction for {cols[0][1]['_disk'] / 2**40:.2f} TiB of disks in all (fitted line: {rs[0]['prediction']['fitted']}); verdict vs 15 min SLA:")
for j, c in cols:
    for k in c:
        if k.startswith("predicted"):
            print(f"  {j} at once, {k[11:]}: {c[k]/60:.1f} min -> {'PASS' if c[k] <= 900 else 'FAIL'}")
PY
