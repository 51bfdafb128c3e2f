#!/usr/bin/env bash
# pvesafe audit against pvesim: a healthy cluster passes (exit 0), then three injected faults
# (an older pve-manager on one node, pve-ha-lrm stopped on another, an HA guest moved to local
# storage) are each reported with their node, and the exit code is 11 (kCheckFailed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[[ -x ${PVESAFE_BIN:-} ]] || { echo "SKIP: pvesafe not built"; exit 77; }
source "$PVESAFE_SOURCE_DIR/tests/pvesim/lib.sh"
pvesim_start --config "$here/data/pvesim-audit.toml"

out=$(mktemp -d)
trap 'pvesim_stop; rm -rf "$out"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
PVESAFE_PVE_TOKEN_SECRET=$(sed -n 's/^root@pam!pvesafe=\([^ ]*\) .*/\1/p' "$PVESIM_TOKENS")
[[ -n $PVESAFE_PVE_TOKEN_SECRET ]] || fail "no token in $PVESIM_TOKENS"
export PVESAFE_PVE_TOKEN_SECRET
audit() {  # audit NAME [flags]: runs pvesafe audit, output in $out/NAME.{out,err}; returns its code
  local name=$1; shift
  local rc=0
  "$PVESAFE_BIN" audit --pve-host 127.0.0.1 --pve-port "$PVESIM_PORT" --pve-token-id 'root@pam!pvesafe' \
    --pve-fingerprint "$PVESIM_FPR" "$@" > "$out/$name.out" 2> "$out/$name.err" || rc=$?
  return $rc
}
api() {  # api METHOD PATH [curl args]: the PVE API with the token (secret via a header file)
  local m=$1 p=$2; shift 2
  printf 'Authorization: PVEAPIToken=root@pam!pvesafe=%s\n' "$PVESAFE_PVE_TOKEN_SECRET" > "$out/hdr"
  curl -sS --fail --cacert "$PVESIM_CERT" -H @"$out/hdr" -X "$m" "$PVESIM_URL/api2/json$p" "$@"
}
control() { curl -sS --fail --cacert "$PVESIM_CERT" -X POST --data "" "$PVESIM_URL/pvesim/$1" > /dev/null; }

# Baseline: HA guests on shared storage.
api PUT /nodes/pve-01/qemu/100/config --data-urlencode 'scsi0=ceph-vm:vm-100-disk-0,size=32G' > /dev/null
api PUT /nodes/pve-02/qemu/101/config --data-urlencode 'scsi0=ceph-vm:vm-101-disk-0,size=32G' > /dev/null

rc=0; audit healthy --json || rc=$?
[[ $rc == 0 ]] || { cat "$out/healthy.out" "$out/healthy.err"; fail "healthy cluster: exit $rc, want 0"; }
python3 - "$out/healthy.out" <<'PY' || fail "healthy cluster has critical findings"
import json, sys
r = json.load(open(sys.argv[1]))
crit = [f for f in r["findings"] if f["severity"] == "critical"]
assert r["summary"]["nodes"] == ["pve-01", "pve-02", "pve-03"], r["summary"]
assert not crit, crit
PY

# Faults.
control "package?node=pve-02&name=pve-manager&version=8.4.14"
control "service?node=pve-03&name=pve-ha-lrm&state=stopped"
api PUT /nodes/pve-02/qemu/101/config --data-urlencode 'scsi0=local-lvm:vm-101-disk-0,size=32G' > /dev/null

rc=0; audit faults --json || rc=$?
[[ $rc == 11 ]] || { cat "$out/faults.out" "$out/faults.err"; fail "faulty cluster: exit $rc, want 11"; }
python3 - "$out/faults.out" <<'PY' || { cat "$out/faults.out"; fail "a fault was not reported as expected"; }
import json, sys
r = json.load(open(sys.argv[1]))
f = r["findings"]
def has(check, node, *words):
    return any(x["check"] == check and x.get("node") == node and x["severity"] == "critical"
               and all(w in x["message"] for w in words) and x["remedy"] for x in f)
assert has("versions", "pve-02", "pve-manager", "8.4.14"), "version skew on pve-02"
assert has("services", "pve-03", "pve-ha-lrm"), "pve-ha-lrm on pve-03"
assert has("ha", "pve-02", "vm:101", "local-lvm"), "vm:101 on local storage"
assert r["summary"]["worst"] == "critical"
# Nothing blamed on the healthy node.
assert not any(x.get("node") == "pve-01" and x["severity"] == "critical" for x in f), "pve-01 blamed"
PY

# The table names the same things.
rc=0; audit table || rc=$?
[[ $rc == 11 ]] || fail "table mode exit $rc"
for w in "pve-manager 8.4.14 on pve-02" "pve-ha-lrm on pve-03" "vm:101 scsi0 is on non-shared storage local-lvm"; do
  grep -qF "$w" "$out/table.out" || { cat "$out/table.out"; fail "table lacks '$w'"; }
done

# --fail-on warning turns the baseline's warnings into a failure only if there are any; skipping
# the failing checks brings the exit code back to 0.
rc=0; audit skipped --skip versions --skip services --skip ha || rc=$?
[[ $rc == 0 ]] || { cat "$out/skipped.out"; fail "--skip: exit $rc, want 0"; }

# No secret in any output.
for f in "$out"/*.out "$out"/*.err; do
  ! grep -qF "$PVESAFE_PVE_TOKEN_SECRET" "$f" || fail "token secret in $f"
done
echo "audit: healthy exit 0; version skew on pve-02, pve-ha-lrm on pve-03, vm:101 on local-lvm reported (exit 11)"
