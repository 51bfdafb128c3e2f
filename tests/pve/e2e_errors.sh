#!/usr/bin/env bash
# Bad input and failures against pvesim and a real sshd: each must give a clear one-line error
# with its documented exit code, and leave nothing half-restored behind (no scratch guest, no
# staged archive, no partial file).
source "$(dirname "$0")/lib.sh"
pve_env_up

guests() {
  curl -sS --fail -k -H "Authorization: PVEAPIToken=root@pam!pvesafe=$(cat "$PVE_TOKEN_FILE")" \
    "https://127.0.0.1:$PVE_PORT/api2/json/cluster/resources?type=vm" |
    python3 -c 'import json,sys; print(" ".join(sorted(str(g["vmid"])+"@"+g["node"] for g in json.load(sys.stdin)["data"])))'
}
no_leftovers() {
  local left
  left=$(find "$PVE_DATA" -path '*/dump/*' \( -name '*.partial' -o -newer "$WORK/mark" \) -type f | grep -v '\.log$' || true)
  [ -z "$left" ] || { echo "$left"; fail "files left in a dump directory: $1"; }
  [ "$(guests)" = "$before" ] || fail "guests changed ($1): $(guests) != $before"
}
before=$(guests)
echo "guests: $before"

# Good snapshots to restore from: guest 100 (qemu, pve-01) and 102 (lxc, pve-03).
"$PVESAFE_BIN" backup --guest 100 "${P[@]}" "${pve_flags[@]}" --json >"$WORK/b100.json"
"$PVESAFE_BIN" backup --guest 102 "${P[@]}" "${pve_flags[@]}" --json >"$WORK/b102.json"
snap100=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["guests"][0]["snapshot_id"])' <"$WORK/b100.json")
snap102=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["guests"][0]["snapshot_id"])' <"$WORK/b102.json")
touch "$WORK/mark"; sleep 1.1

expect_fail 5 "guest 999 not found" "$PVESAFE_BIN" backup --guest 999 "${P[@]}" "${pve_flags[@]}"

# A node that is down: backup of its guest and restore onto it.
simctl POST node/pve-02/offline >/dev/null
expect_fail 7 "node pve-02 is offline" "$PVESAFE_BIN" backup --guest 101 "${P[@]}" "${pve_flags[@]}"
expect_fail 7 "node pve-02 is offline" "$PVESAFE_BIN" restore "$snap100" --guest 100 --new-id 150 --node pve-02 "${P[@]}" "${pve_flags[@]}"
simctl POST node/pve-02/online >/dev/null
no_leftovers "offline node"

# vzdump fails on the node: the task's error and log lines are in the message.
simctl POST "fail-next-task?node=pve-01&type=vzdump" >/dev/null
expect_fail 10 "PVE task vzdump 100 on pve-01 failed: simulated failure" "$PVESAFE_BIN" backup --guest 100 "${P[@]}" "${pve_flags[@]}"

# The node's SSH host key is not the one in known_hosts.
bad=("${pve_flags[@]}")
for i in "${!bad[@]}"; do [ "${bad[$i]}" = "$KNOWN_HOSTS" ] && bad[$i]=$BAD_KNOWN_HOSTS; done
expect_fail 4 "SSH host key of root@127.0.0.1:$SSHD_PORT \(node pve-01\) \(SHA256:.*does NOT match" \
  "$PVESAFE_BIN" backup --guest 100 "${P[@]}" "${bad[@]}"
expect_fail 4 "does NOT match" "$PVESAFE_BIN" restore "$snap100" --guest 100 --new-id 151 --node pve-03 "${P[@]}" "${bad[@]}"

# A token without the privileges (PVEAuditor): 403 naming path and privilege.
aud=("${pve_flags[@]}")
for i in "${!aud[@]}"; do
  [ "${aud[$i]}" = 'root@pam!pvesafe' ] && aud[$i]='auditor@pve!monitor'
  [ "${aud[$i]}" = "$PVE_TOKEN_FILE" ] && aud[$i]=$PVE_AUDITOR_TOKEN_FILE
done
expect_fail 4 "denied POST /nodes/pve-01/vzdump for auditor@pve!monitor: Permission check failed \(/" \
  "$PVESAFE_BIN" backup --guest 100 "${P[@]}" "${aud[@]}"
# A wrong token secret: 401.
(umask 077; echo wrong-secret >"$WORK/wrong.secret")
wrong=("${pve_flags[@]}")
for i in "${!wrong[@]}"; do [ "${wrong[$i]}" = "$PVE_TOKEN_FILE" ] && wrong[$i]=$WORK/wrong.secret; done
expect_fail 4 "rejected the token root@pam!pvesafe" "$PVESAFE_BIN" backup --guest 100 "${P[@]}" "${wrong[@]}"
grep -q wrong-secret "$WORK/err.txt" && fail "secret in the error message"
# A wrong certificate pin.
pin=("${pve_flags[@]}")
for i in "${!pin[@]}"; do [ "${pin[$i]}" = "$PVE_FP" ] && pin[$i]=$(echo "$PVE_FP" | tr '0-9A-F' '1-9A-F0'); done
expect_fail 4 "fingerprint .* but --pve-fingerprint pins" "$PVESAFE_BIN" backup --guest 100 "${P[@]}" "${pin[@]}"

# An lxc snapshot into an existing qemu guest is refused before anything is written.
expect_fail 12 "snapshot holds an lxc container but guest 100 on pve-01 is a qemu VM" \
  "$PVESAFE_BIN" restore "$snap102" --guest 100 --node pve-01 --force "${P[@]}" "${pve_flags[@]}"
# An existing vmid needs --force.
expect_fail 2 "guest 100 already exists on pve-01" \
  "$PVESAFE_BIN" restore "$snap100" --guest 100 --node pve-01 "${P[@]}" "${pve_flags[@]}"
no_leftovers "refused restores"

# The restore task fails on the node: the half-created guest and the staged archive are removed.
simctl POST "fail-next-task?node=pve-03&type=qmrestore" >/dev/null
expect_fail 10 "qmrestore 152 on pve-03 failed" \
  "$PVESAFE_BIN" restore "$snap100" --guest 100 --new-id 152 --node pve-03 "${P[@]}" "${pve_flags[@]}"
no_leftovers "failed restore task"
sqlite3 "$PVESAFE_CATALOG" "select result from events where kind='restore' and guest_id='152'" | grep -q error \
  || fail "failed restore not recorded"

# Malformed API replies.
simctl POST "malformed?path=/cluster/resources" >/dev/null
expect_fail 10 "malformed reply" "$PVESAFE_BIN" backup --guest 100 "${P[@]}" "${pve_flags[@]}"
echo PASS
