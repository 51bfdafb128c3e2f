#!/usr/bin/env bash
# A throwaway Ceph RADOS Gateway on 127.0.0.1 for tests and benchmarks.
#
#   tests/servers/rgw.sh start DIR   start (or reuse) one ceph-mon, one memstore ceph-osd and one
#                                    radosgw (beast) under DIR; prints the S3 endpoint when S3 answers
#   tests/servers/rgw.sh env DIR     prints shell exports: endpoint and the test users' keys
#   tests/servers/rgw.sh stop DIR    stops the daemons by their pid files
#   env RGW_STS=1                    start with STS (AssumeRole) enabled
#
# No systemd, no cephx, pool size 1, free ports picked at start. The data lives in memory (memstore),
# so a stopped gateway keeps nothing. Two S3 users exist: "pvesafe" (owner of the test buckets) and
# "outsider" (valid keys, no access to anybody else's buckets). Their keys are fixed test values.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: $0 start|stop|env DIR" >&2; exit 2; }

ACCESS_KEY=PVESAFETESTACCESSKEY
SECRET_KEY=pvesafeTestSecretKey0123456789abcdefABCD
OUT_ACCESS_KEY=PVESAFEOUTSIDERKEY01
OUT_SECRET_KEY=pvesafeOutsiderSecret0123456789abcdefAB

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

s3_answers() {
  curl -s -o /dev/null --max-time 2 -w '%{http_code}' "http://127.0.0.1:$1/" 2>/dev/null | grep -q '^[2-4]'
}

print_env() {
  local port
  port=$(cat "$dir/rgw.port")
  cat <<EOF
export PVESAFE_TEST_S3_ENDPOINT=http://127.0.0.1:$port
export PVESAFE_TEST_S3_ACCESS_KEY=$ACCESS_KEY
export PVESAFE_TEST_S3_SECRET_KEY=$SECRET_KEY
export PVESAFE_TEST_S3_OUTSIDER_ACCESS_KEY=$OUT_ACCESS_KEY
export PVESAFE_TEST_S3_OUTSIDER_SECRET_KEY=$OUT_SECRET_KEY
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_DEFAULT_REGION=us-east-1
export AWS_REGION=us-east-1
EOF
}

stop_all() {
  local f
  for f in rgw osd mon; do
    if pid_alive "$dir/$f.pid"; then kill "$(cat "$dir/$f.pid")" 2>/dev/null || true; fi
  done
  for f in rgw osd mon; do
    local i=0
    # The data is in memory and thrown away: a short grace period is enough.
    while pid_alive "$dir/$f.pid" && (( i < 20 )); do sleep 0.1; i=$((i + 1)); done
    if pid_alive "$dir/$f.pid"; then kill -9 "$(cat "$dir/$f.pid")" 2>/dev/null || true; fi
    rm -f "$dir/$f.pid"
  done
}

start_all() {
  mkdir -p "$dir"
  chmod 700 "$dir"
  dir=$(cd "$dir" && pwd)
  if pid_alive "$dir/rgw.pid" && pid_alive "$dir/osd.pid" && pid_alive "$dir/mon.pid" &&
     [[ -f "$dir/rgw.port" ]] && s3_answers "$(cat "$dir/rgw.port")"; then
    echo "http://127.0.0.1:$(cat "$dir/rgw.port")"
    return 0
  fi
  stop_all
  rm -rf "$dir/mon" "$dir/osd" "$dir/log" "$dir/run"
  mkdir -p "$dir/mon" "$dir/osd" "$dir/log" "$dir/run"

  local mon_port rgw_port fsid conf
  mon_port=$(free_port)
  rgw_port=$(free_port)
  fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  conf="$dir/ceph.conf"
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
mon initial members = a
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
ms mon client mode = crc
ms bind msgr1 = false
ms bind msgr2 = true
run dir = $dir/run
log file = $dir/log/\$name.log
keyring = $dir/keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
mon warn on pool no redundancy = false
mon osd down out interval = 0
paxos propose interval = 0.05
osd crush chooseleaf type = 0
debug ms = 0
[mon.a]
mon data = $dir/mon
pid file = $dir/mon.pid
admin socket = $dir/run/mon.a.asok
[osd.0]
osd data = $dir/osd
pid file = $dir/osd.pid
admin socket = $dir/run/osd.0.asok
osd objectstore = memstore
memstore device bytes = 8589934592
osd max object size = 134217728
osd heartbeat grace = 60
[client.rgw]
pid file = $dir/rgw.pid
admin socket = $dir/run/client.rgw.asok
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw dns name = localhost
rgw gc obj min wait = 5
rgw gc processor period = 10
rgw enable usage log = false
rgw thread pool size = 64
rgw max chunk size = 4194304
rgw lc debug interval = 10
EOF
  # STS (AssumeRole) only when asked: with it on, this gateway answers a wrong key or secret with
  # AccessDenied instead of InvalidAccessKeyId / SignatureDoesNotMatch.
  if [[ -n "${RGW_STS:-}" ]]; then
    printf 'rgw sts key = pvesafestskey016\nrgw s3 auth use sts = true\n' >>"$conf"
  fi
  # A keyring is not used for authentication (auth none) but the tools want the file.
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/monmap" --keyring "$dir/keyring" >/dev/null 2>&1
  ceph-mon -c "$conf" -i a 2>/dev/null
  local i=0
  until timeout 10 ceph -c "$conf" mon stat >/dev/null 2>&1; do
    i=$((i + 1)); (( i < 60 )) || { echo "rgw.sh: ceph-mon did not answer (see $dir/log)" >&2; exit 1; }
    sleep 0.5
  done
  local osd_uuid
  osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  ceph -c "$conf" osd new "$osd_uuid" 0 >/dev/null 2>&1
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >/dev/null 2>&1
  ceph-osd -c "$conf" -i 0 2>/dev/null
  i=0
  until ceph -c "$conf" osd stat 2>/dev/null | grep -q '1 up'; do
    i=$((i + 1)); (( i < 120 )) || { echo "rgw.sh: ceph-osd did not come up (see $dir/log)" >&2; exit 1; }
    sleep 0.5
  done
  radosgw -c "$conf" -n client.rgw 2>/dev/null
  echo "$rgw_port" >"$dir/rgw.port"
  i=0
  until s3_answers "$rgw_port"; do
    i=$((i + 1)); (( i < 240 )) || { echo "rgw.sh: radosgw did not answer (see $dir/log)" >&2; exit 1; }
    sleep 0.25
  done
  radosgw-admin -c "$conf" -n client.admin user create --uid pvesafe --display-name "pvesafe tests" \
    --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" >/dev/null 2>&1
  radosgw-admin -c "$conf" -n client.admin user create --uid outsider --display-name "no access" \
    --access-key "$OUT_ACCESS_KEY" --secret-key "$OUT_SECRET_KEY" >/dev/null 2>&1
  echo "http://127.0.0.1:$rgw_port"
}

case "$cmd" in
  start) start_all ;;
  stop) [[ -d "$dir" ]] && { dir=$(cd "$dir" && pwd); stop_all; } ; true ;;
  env) [[ -f "$dir/rgw.port" ]] || { echo "rgw.sh: not started in $dir" >&2; exit 1; }; print_env ;;
  *) echo "usage: $0 start|stop|env DIR" >&2; exit 2 ;;
esac
