#!/usr/bin/env bash
# corosync.conf lint on the lab's own configuration (tests/lab/lab.sh writes it the way pvecm
# does: two knet links, three nodes). The lab config and three risky variants of it are first
# accepted by corosync itself (`corosync -t` in a namespace holding node 1's addresses), then
# `pvesafe audit --offline` must flag exactly the risk each variant carries:
#   one link only               -> corosync.links            (no redundancy)
#   two nodes, no QDevice       -> corosync.votes            (even node count)
#   config_version differs      -> corosync.config-version   (between two nodes' copies)
# and the healthy lab config must have no critical finding.
set -euo pipefail
source "$PVESAFE_SOURCE_DIR/tests/lab/lab.sh"
[[ $(id -u) -eq 0 ]] || { echo "needs root (network namespace)"; exit 77; }
command -v corosync >/dev/null || { echo "corosync not installed"; exit 77; }
LAB_DIR=$(mktemp -d)
ns="pvs-lint-$$"
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$LAB_DIR"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

corosync-keygen -k "$LAB_DIR/authkey" >/dev/null 2>&1
lab_write_corosync_conf
base=$LAB_DIR/corosync.conf

# A namespace that owns node 1's link0 and link1 addresses, so corosync -t finds "this" node.
ip netns add "$ns"
ip -n "$ns" link add cl0 type veth peer name cl0p
ip -n "$ns" link add data0 type veth peer name data0p
ip -n "$ns" addr add "$(cl_ip 1)/24" dev cl0
ip -n "$ns" addr add "$(data_ip 1)/24" dev data0
for l in cl0 cl0p data0 data0p; do ip -n "$ns" link set "$l" up; done
corosync_accepts() {
  ip netns exec "$ns" corosync -t -c "$1" >"$LAB_DIR/t.log" 2>&1 ||
    fail "corosync rejects $(basename "$1"): $(tail -1 "$LAB_DIR/t.log")"
}

audit_checks() {  # audit_checks FILE...: "check severity" lines of pvesafe's findings
  local args=() f rc=0
  for f in "$@"; do args+=(--corosync-conf "$f"); done
  "$PVESAFE_BIN" audit --offline "${args[@]}" --json >"$LAB_DIR/audit.json" 2>"$LAB_DIR/audit.err" || rc=$?
  [[ $rc == 0 || $rc == 11 ]] || fail "pvesafe audit exited $rc: $(cat "$LAB_DIR/audit.err")"
  /usr/bin/python3 -c '
import json, sys
for f in json.load(open(sys.argv[1]))["findings"]:
    print(f["check"], f["severity"])' "$LAB_DIR/audit.json"
}

echo "== lab config: accepted by corosync, no critical finding"
corosync_accepts "$base"
out=$(audit_checks "$base")
echo "$out"
! grep -q ' critical$' <<<"$out" || fail "healthy lab config has critical findings"
! grep -qE '^corosync\.(links|votes|config-version) ' <<<"$out" || fail "healthy lab config flagged: $out"

echo "== one link only"
one=$LAB_DIR/one-link.conf
sed -e '/ring1_addr/d' "$base" |
  awk '/interface \{/ {buf=$0; getline l; if (l ~ /linknumber: 1/) {getline; next} print buf; print l; next} {print}' >"$one"
grep -q ring1_addr "$one" && fail "variant still has link 1"
corosync_accepts "$one"
out=$(audit_checks "$one"); echo "$out"
grep -q '^corosync\.links ' <<<"$out" || fail "single link not flagged"

echo "== two nodes without a QDevice"
two=$LAB_DIR/two-nodes.conf
awk '/^  node \{/ {blk=$0; while ((getline l) > 0) {blk=blk "\n" l; if (l ~ /^  \}/) break}
     if (blk ~ /name: n3/) next; print blk; next} {print}' "$base" >"$two"
grep -q 'name: n3' "$two" && fail "variant still has n3"
corosync_accepts "$two"
out=$(audit_checks "$two"); echo "$out"
grep -q '^corosync\.votes ' <<<"$out" || fail "even node count without QDevice not flagged"

echo "== config_version mismatch between two nodes' copies"
v2=$LAB_DIR/node2-corosync.conf
sed -e 's/config_version: 1/config_version: 2/' "$base" >"$v2"
corosync_accepts "$v2"
out=$(audit_checks "$base" "$v2"); echo "$out"
grep -q '^corosync\.config-version ' <<<"$out" || fail "config_version mismatch not flagged"

echo "lab corosync.conf lint: single link, even node count without QDevice and config_version mismatch each flagged; healthy config clean"
