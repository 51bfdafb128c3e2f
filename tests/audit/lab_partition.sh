#!/usr/bin/env bash
# A 1|2 partition on the corosync lab (tests/lab/lab.sh: three real corosync nodes in network
# namespaces, both links): n3 is cut off on both links. Read through libvotequorum - by pvesafe's
# own reader (the node exporter's pvesafe_corosync_quorate/members, src/cluster/corosync_runtime)
# and by corosync-quorumtool - the minority (n3) loses quorum and the majority (n1, n2) keeps
# it; after healing all three are quorate again. Waits poll state; nothing is timed.
set -euo pipefail
source "$PVESAFE_SOURCE_DIR/tests/lab/lab.sh"
rc=0; lab_check_tools || rc=$?
(( rc == 0 )) || exit "$rc"
trap lab_down EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }
lab_up
lab_wait_healthy 120 || fail "lab did not become healthy"

metric() {  # metric N NAME: value of NAME from node N's exporter (read inside its namespace)
  ip netns exec "$(ns_of "$1")" curl -fsS --max-time 5 "http://$(data_ip "$1"):9221/metrics" |
    awk -v m="$2" '!done && $1 ~ "^"m"({|$)" {print $2; done=1}'
}
quorumtool() {  # quorumtool N: "yes"/"no" from corosync-quorumtool in node N's namespace
  ip netns exec "$(ns_of "$1")" corosync-quorumtool -s 2>/dev/null | awk -F: '/^Quorate/ {gsub(/ /,"",$2); print tolower($2)}'
}
wait_state() {  # wait_state N QUORATE(0|1) MEMBERS: until the exporter of node N reports it
  local i q m
  for ((i = 0; i < 120; i++)); do
    q=$(metric "$1" pvesafe_corosync_quorate || true)
    m=$(metric "$1" pvesafe_corosync_members || true)
    [[ $q == "$2" && $m == "$3" ]] && return 0
    sleep 1
  done
  fail "n$1: quorate=$q members=$m, want quorate=$2 members=$3"
}

for n in 1 2 3; do wait_state "$n" 1 3; done

echo "== partition: n3 cut off on link0 (cluster) and link1 (data)"
ip netns exec "$(ns_of 3)" nft -f - <<NFT
table inet pvsaudit {
  chain in { type filter hook input priority 0; policy accept; iifname { "cl0", "data0" } drop; }
  chain out { type filter hook output priority 0; policy accept; oifname { "cl0", "data0" } drop; }
}
NFT
wait_state 3 0 1
wait_state 1 1 2
wait_state 2 1 2
[[ $(quorumtool 3) == no ]] || fail "corosync-quorumtool on n3 does not report the quorum lost"
[[ $(quorumtool 1) == yes && $(quorumtool 2) == yes ]] || fail "corosync-quorumtool: majority lost quorum"

echo "== heal"
ip netns exec "$(ns_of 3)" nft delete table inet pvsaudit
for n in 1 2 3; do wait_state "$n" 1 3; done
echo "partition 1|2: n3 lost quorum (members 1), n1 and n2 kept it (members 2); healed to 3 quorate members"
