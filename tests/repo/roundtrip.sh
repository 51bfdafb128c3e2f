#!/usr/bin/env bash
# Round trips bit-identical for empty input, 1 byte, sizes around the chunk bounds, stdin of
# unknown length; vzdump name parsing; snapshots/restore filters; key management; the catalog.
source "$(dirname "$0")/lib.sh"

REPO=$(new_repo)
P=(--passphrase-file "$PASSFILE")
psafe -r "$REPO" init "${P[@]}" > "$T/init.out"
grep -q "docs/recovery.md" "$T/init.out"
grep -q "^key " "$T/init.out"

MIN=$((512 * 1024)); MAX=$((8 * 1024 * 1024))
i=0
for size in 0 1 $((MIN - 1)) $MIN $((MIN + 1)) $((MAX - 1)) $MAX $((MAX + 1)) $((2 * MAX + 3)); do
  i=$((i + 1))
  # Random content so that no content-defined boundary hides the forced ones.
  head -c "$size" /dev/urandom > "$T/in.$i"
  psafe -r "$REPO" backup "${P[@]}" --json "$T/in.$i" > "$T/b.json"
  id=$(sed -n 's/.*"snapshot_id": "\([0-9a-f]*\)".*/\1/p' "$T/b.json")
  [[ -n "$id" ]]
  psafe -r "$REPO" restore "${P[@]}" "$id" --to "$T/out.$i" > /dev/null
  cmp "$T/in.$i" "$T/out.$i"
  note "size $size: round trip ok ($id)"
done

# A disk-like image (with zero runs) restores to a sparse file with the same bytes; --no-sparse
# allocates every block.
gen_image --size $((48 * 1024 * 1024)) --seed 3 > "$T/disk.img"
psafe -r "$REPO" backup "${P[@]}" --json "$T/disk.img" > "$T/b.json"
id=$(sed -n 's/.*"snapshot_id": "\([0-9a-f]*\)".*/\1/p' "$T/b.json")
psafe -r "$REPO" restore "${P[@]}" "$id" --to "$T/disk.sparse" > /dev/null
psafe -r "$REPO" restore "${P[@]}" "$id" --to "$T/disk.full" --no-sparse > /dev/null
cmp "$T/disk.img" "$T/disk.sparse"; cmp "$T/disk.img" "$T/disk.full"
size=$(stat -c %s "$T/disk.img")
sparse_alloc=$(( $(stat -c %b "$T/disk.sparse") * $(stat -c %B "$T/disk.sparse") ))
full_alloc=$(( $(stat -c %b "$T/disk.full") * $(stat -c %B "$T/disk.full") ))
(( full_alloc >= size && sparse_alloc < size * 85 / 100 )) || {
  echo "allocation: sparse $sparse_alloc, full $full_alloc of $size bytes" >&2; exit 1; }
note "disk image restores sparse ($sparse_alloc of $size bytes allocated), --no-sparse in full"
rm -f "$T/disk.img" "$T/disk.sparse" "$T/disk.full"

# stdin of unknown length (a pipe), vzdump name gives guest and type; restore to stdout.
NAME=vzdump-qemu-100-2026_11_24-01_00_00.vma.zst
head -c 3000000 /dev/urandom > "$T/vm.img"
cat "$T/vm.img" "$T/vm.img" | psafe -r "$REPO" backup "${P[@]}" --stdin --stdin-name "$NAME" --tag env=test --json > "$T/b.json"
grep -q '"guest_id": "100"' "$T/b.json"
grep -q '"guest_type": "qemu"' "$T/b.json"
cat "$T/vm.img" "$T/vm.img" > "$T/vm2.img"
psafe -r "$REPO" restore "${P[@]}" latest --guest 100 --to - > "$T/vm.out"
cmp "$T/vm2.img" "$T/vm.out"
note "stdin round trip ok"

# lxc archive name with flags overriding the node.
head -c 1000 /dev/urandom > "$T/vzdump-lxc-101-2026_11_25-02_00_00.tar.zst"
psafe -r "$REPO" backup "${P[@]}" --node pve-07 "$T/vzdump-lxc-101-2026_11_25-02_00_00.tar.zst" > /dev/null
psafe -r "$REPO" snapshots "${P[@]}" --json --guest 101 > "$T/s.json"
grep -q '"node": "pve-07"' "$T/s.json"
grep -q '"guest_type": "lxc"' "$T/s.json"
psafe -r "$REPO" snapshots "${P[@]}" --tag env=test > "$T/s.txt"
grep -q "$NAME" "$T/s.txt"
grep -q "^1 snapshots" "$T/s.txt"

# Unknown snapshot -> not found (5); usage errors -> 2.
expect_exit 5 psafe -r "$REPO" restore "${P[@]}" deadbeef --to "$T/x"
expect_exit 5 psafe -r "$REPO" restore "${P[@]}" latest --guest 999 --to "$T/x"
expect_exit 2 psafe -r "$REPO" backup "${P[@]}"
[[ ! -e "$T/x" ]]

# Keys: add a second passphrase, open with it, change it, remove the first.
NEWPASS="$T/newpass"; ( umask 077; echo "another passphrase" > "$NEWPASS" )
psafe -r "$REPO" key add "${P[@]}" --new-passphrase-file "$NEWPASS" > /dev/null
psafe -r "$REPO" key list --passphrase-file "$NEWPASS" --json > "$T/keys.json"
[[ $(grep -c '"id"' "$T/keys.json") == 2 ]]
# When and where a key file was made is known for the one the passphrase opens, null for others.
python3 - "$T/keys.json" "$(hostname)" <<'PY'
import json, re, sys
keys = json.load(open(sys.argv[1]))
cur = [k for k in keys if k["current"]]
other = [k for k in keys if not k["current"]]
assert len(cur) == 1 and len(other) == 1, keys
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", cur[0]["created"]) and cur[0]["hostname"] == sys.argv[2], cur
assert other[0]["created"] is None and other[0]["hostname"] is None, other
PY
first=$(psafe -r "$REPO" key list "${P[@]}" --json | sed -n 's/.*"id": "\([0-9a-f]*\)".*/\1/p' | head -1)
current_new=$(psafe -r "$REPO" key list --passphrase-file "$NEWPASS" --json | tr -d '\n ' | sed 's/},{/}\n{/g' | grep '"current":true' | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
old_key=$(psafe -r "$REPO" key list "${P[@]}" --json | tr -d '\n ' | sed 's/},{/}\n{/g' | grep '"current":true' | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
[[ -n "$first" && -n "$current_new" && "$current_new" != "$old_key" ]]
expect_exit 2 psafe -r "$REPO" key remove "${P[@]}" "$old_key"          # the key in use
psafe -r "$REPO" key remove --passphrase-file "$NEWPASS" "$old_key" > /dev/null
expect_exit 4 psafe -r "$REPO" snapshots "${P[@]}"                     # old passphrase gone
psafe -r "$REPO" snapshots --passphrase-file "$NEWPASS" > /dev/null
THIRD="$T/third"; ( umask 077; echo "third passphrase" > "$THIRD" )
psafe -r "$REPO" key passwd --passphrase-file "$NEWPASS" --new-passphrase-file "$THIRD" > /dev/null
expect_exit 4 psafe -r "$REPO" snapshots --passphrase-file "$NEWPASS"
psafe -r "$REPO" verify --passphrase-file "$THIRD" > /dev/null
note "key add/list/remove/passwd ok"

# Passphrase sources: env, command, systemd credential; a group-readable file is refused.
PVESAFE_PASSPHRASE="third passphrase" psafe -r "$REPO" snapshots > /dev/null
psafe -r "$REPO" snapshots --passphrase-command "cat '$THIRD'" > /dev/null
mkdir "$T/creds"; cp "$THIRD" "$T/creds/pvesafe-passphrase"; chmod 600 "$T/creds/pvesafe-passphrase"
CREDENTIALS_DIRECTORY="$T/creds" psafe -r "$REPO" snapshots > /dev/null
chmod 640 "$THIRD"
expect_exit 3 psafe -r "$REPO" snapshots --passphrase-file "$THIRD"
grep -q "chmod 600" "$T/err"
chmod 600 "$THIRD"
expect_exit 3 psafe -r "$REPO" snapshots < /dev/null   # no source, no terminal

# The catalog recorded backups and restores.
psafe report --kind backup --csv > "$T/report.csv"
[[ $(grep -c ',backup,' "$T/report.csv") -ge 11 ]]
psafe report --json --kind restore --guest 100 > "$T/report.json"
grep -q '"result": "ok"' "$T/report.json"
psafe report --kind restore | grep -q 'restore'
note "catalog ok"

# No repository / repository exists.
expect_exit 3 psafe -r "$(new_repo)" snapshots "${P[@]}"
expect_exit 3 psafe -r "$REPO" init "${P[@]}"
echo "PASS"
