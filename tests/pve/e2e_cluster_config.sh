#!/usr/bin/env bash
# The cluster's own configuration against pvesim (3 nodes, /etc/pve as files under
# $PVE_DATA/pmxcfs, each node's /etc under $PVE_DATA/rootfs/NODE) and a real sshd on 127.0.0.1:
#   backup --cluster-config stores /etc/pve (secrets included), the API's view and the nodes'
#   files as one encrypted snapshot; restore --cluster-config --to DIR gives back every file as it
#   was, with private modes; --diff shows drift on the running cluster and changes nothing;
#   --apply --only writes the chosen file back, keeping the replaced one in the undo directory.
# Bad input: a guest snapshot, a non-empty target directory, an unknown cluster, --diff without
# --cluster-config.
source "$(dirname "$0")/lib.sh"
pve_env_up
root=(--node-root "$PVE_DATA/rootfs/{node}")
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
PMX=$PVE_DATA/pmxcfs
[ -f "$PMX/storage.cfg" ] || fail "pvesim did not write $PMX/storage.cfg"

# (a) backup.
"$PVESAFE_BIN" backup --cluster-config "${P[@]}" "${pve_flags[@]}" "${root[@]}" --json >"$WORK/b.json"
cat "$WORK/b.json"
snap=$(jget 'd["snapshot_id"]' <"$WORK/b.json")
[ "$(jget 'd["cluster"]' <"$WORK/b.json")" != "" ] || fail "no cluster name"
[ "$(jget 'sum(1 for n in d["nodes"] if n["collected"])' <"$WORK/b.json")" -eq 3 ] \
  || fail "not every node's files were collected"
[ "$(jget 'len(d["warnings"])' <"$WORK/b.json")" -eq 0 ] || fail "warnings on a healthy cluster"
"$PVESAFE_BIN" snapshots "${P[@]}" --tag content=pve-cluster-config --json >"$WORK/snaps.json"
grep -q "$snap" "$WORK/snaps.json" || fail "snapshots --tag content=pve-cluster-config lacks $snap"

# The token secret is in the snapshot, but nowhere in the repository in the clear.
secret=$(cat "$PVE_TOKEN_FILE")
grep -q "$secret" "$PMX/priv/token.cfg" || fail "pvesim's priv/token.cfg lacks the token"
if grep -rqF "$secret" "$REPO"; then fail "the token secret is readable in the repository"; fi

# (b) restore to a directory: /etc/pve as it was, node files, the API view, private modes.
out=$WORK/restored
"$PVESAFE_BIN" restore latest --cluster-config --to "$out" "${P[@]}" >"$WORK/r.txt"
cat "$WORK/r.txt"
diff -r "$PMX" "$out/pve" || fail "the restored /etc/pve differs from the cluster's"
for n in pve-01 pve-02 pve-03; do
  cmp "$PVE_DATA/rootfs/$n/etc/network/interfaces" "$out/nodes/$n/etc/network/interfaces" \
    || fail "network/interfaces of $n differs"
  cmp "$PVE_DATA/rootfs/$n/etc/hosts" "$out/nodes/$n/etc/hosts" || fail "hosts of $n differs"
done
[ -f "$out/api/cluster-resources.json" ] || fail "the API view is missing"
[ "$(stat -c %a "$out")" = 700 ] || fail "the target directory is not 0700"
[ "$(stat -c %a "$out/pve/priv/token.cfg")" = 600 ] || fail "priv/token.cfg is not 0600"
[ -f "$out/pvesafe-cluster-config.json" ] || fail "the summary is missing"

# (c) drift on the running cluster: --diff shows it and changes nothing.
cp "$PMX/datacenter.cfg" "$WORK/datacenter.orig"
echo "keyboard: de" >>"$PMX/datacenter.cfg"
cp "$PMX/datacenter.cfg" "$WORK/datacenter.drift"
"$PVESAFE_BIN" restore latest --cluster-config --diff "${P[@]}" "${pve_flags[@]}" "${root[@]}" >"$WORK/d.txt"
cat "$WORK/d.txt"
grep -E '^-keyboard: de' "$WORK/d.txt" || fail "--diff does not show the drift in datacenter.cfg"
grep -E '^datacenter.cfg +changed +replace' "$WORK/d.txt" || fail "--diff lacks the datacenter.cfg row"
grep -E '^corosync.conf .* skip' "$WORK/d.txt" >/dev/null || true  # same files are not listed
cmp "$PMX/datacenter.cfg" "$WORK/datacenter.drift" || fail "--diff changed the cluster"
"$PVESAFE_BIN" restore latest --cluster-config --diff --json "${P[@]}" "${pve_flags[@]}" "${root[@]}" >"$WORK/d.json"
[ "$(jget '[f["state"] for f in d["files"] if f["path"]=="datacenter.cfg"][0]' <"$WORK/d.json")" = changed ] \
  || fail "--json: datacenter.cfg is not 'changed'"
[ "$(jget '[f["action"] for f in d["files"] if f["path"]=="corosync.conf"][0]' <"$WORK/d.json")" = skip ] \
  || fail "--json: corosync.conf would be applied"
[ "$(jget 'any("diff" in f for f in d["files"] if f["secret"])' <"$WORK/d.json")" = False ] \
  || fail "a secret's diff is shown"

# (d) --apply --only datacenter.cfg: back as in the backup, the drifted file in the undo dir.
undo=$WORK/undo
"$PVESAFE_BIN" restore latest --cluster-config --apply --only datacenter.cfg --undo-dir "$undo" \
  "${P[@]}" "${pve_flags[@]}" "${root[@]}" >"$WORK/a.txt"
cat "$WORK/a.txt"
cmp "$PMX/datacenter.cfg" "$WORK/datacenter.orig" || fail "--apply did not restore datacenter.cfg"
cmp "$undo/datacenter.cfg" "$WORK/datacenter.drift" || fail "the undo directory lacks the replaced file"
[ "$(stat -c %a "$undo")" = 700 ] || fail "the undo directory is not 0700"
"$PVESAFE_BIN" restore latest --cluster-config --diff --json "${P[@]}" "${pve_flags[@]}" "${root[@]}" >"$WORK/d2.json"
[ "$(jget '[f["state"] for f in d["files"] if f["path"]=="datacenter.cfg"][0]' <"$WORK/d2.json")" = same ] \
  || fail "after --apply datacenter.cfg still differs"
sqlite3 "$PVESAFE_CATALOG" "select kind, result from events" >"$WORK/events.txt" 2>/dev/null \
  && { grep -q '^cluster-config-apply|ok' "$WORK/events.txt" || fail "no catalog row for the apply"; }

# (e) bad input.
head -c 100000 /dev/urandom >"$WORK/file.bin"
other=$("$PVESAFE_BIN" backup "$WORK/file.bin" "${P[@]}" --json | jget 'd["snapshot_id"]')
expect_fail 2 "is not a cluster configuration" \
  "$PVESAFE_BIN" restore "$other" --cluster-config --to "$WORK/x" "${P[@]}"
expect_fail 2 "is not empty" "$PVESAFE_BIN" restore latest --cluster-config --to "$out" "${P[@]}"
expect_fail 5 "no cluster configuration snapshot of cluster nope" \
  "$PVESAFE_BIN" restore latest --cluster-config --cluster nope --to "$WORK/y" "${P[@]}"
expect_fail 2 "are for --cluster-config" "$PVESAFE_BIN" restore latest --diff --to "$WORK/z" "${P[@]}"
expect_fail 2 "needs --to DIR, --diff or --apply" "$PVESAFE_BIN" restore latest --cluster-config "${P[@]}"
[ ! -e "$WORK/x" ] || fail "a refused restore created its target"
echo "PASS"
