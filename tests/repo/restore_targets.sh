#!/usr/bin/env bash
# `restore --to` never follows a symbolic link, never writes through a link planted under the
# partial file's name, replaces an existing file or a device only with --force (exit 2 and one
# line saying so otherwise), and a restore that fails on a device says how many bytes it wrote
# there (a 1 MiB loop device when this machine can make one).
source "$(dirname "$0")/lib.sh"

REPO=$(new_repo)
P=(--passphrase-file "$PASSFILE")
psafe -r "$REPO" init "${P[@]}" > /dev/null
head -c $((3 * 1024 * 1024)) /dev/urandom > "$T/a.img"
psafe -r "$REPO" backup "${P[@]}" --json "$T/a.img" > "$T/b.json"
ID=$(sed -n 's/.*"snapshot_id": "\([0-9a-f]*\)".*/\1/p' "$T/b.json")
one_line() { [[ $(wc -l < "$T/err") == 1 ]] || { cat "$T/err"; exit 1; }; }
restore() { psafe -r "$REPO" restore "${P[@]}" "$ID" "$@"; }

psafe restore --help > "$T/help"; grep -q -- "--force" "$T/help"

# A symbolic link at the target: refused, with or without --force; its target untouched.
echo precious > "$T/victim"
ln -s "$T/victim" "$T/link.img"
expect_exit 2 restore --to "$T/link.img"
grep -q "restore target $T/link.img is a symbolic link, which pvesafe does not follow" "$T/err"; one_line
expect_exit 2 restore --to "$T/link.img" --force
[[ $(cat "$T/victim") == precious ]]
note "symbolic link at the target refused"

# A link planted under the partial file's name is removed, not written through.
ln -s "$T/victim" "$T/p.img.pvesafe-partial"
restore --to "$T/p.img" > /dev/null
[[ $(cat "$T/victim") == precious && -f "$T/p.img" && ! -L "$T/p.img" ]]
cmp "$T/a.img" "$T/p.img"
[[ ! -e "$T/p.img.pvesafe-partial" && ! -L "$T/p.img.pvesafe-partial" ]]
note "link planted at the partial name not followed"

# An existing file: kept without --force, replaced with it.
echo yesterday > "$T/old.img"
expect_exit 2 restore --to "$T/old.img"
grep -q "restore target $T/old.img already exists; add --force to replace it" "$T/err"; one_line
[[ $(cat "$T/old.img") == yesterday ]]
restore --to "$T/old.img" --force > /dev/null
cmp "$T/a.img" "$T/old.img"
note "existing file replaced only with --force"

# Devices: /dev/null needs no --force, other devices do.
restore --to /dev/null > /dev/null
expect_exit 2 restore --to /dev/zero
grep -q "restore target /dev/zero is a character device; add --force to overwrite it" "$T/err"; one_line
restore --to /dev/zero --force > /dev/null
note "devices written only with --force (/dev/null needs none)"

# A device smaller than the snapshot: exit 8 naming how much reached it; it holds exactly that.
if [[ $(id -u) == 0 ]] && truncate -s 1M "$T/backing" && dev=$(losetup -f --show "$T/backing" 2> /dev/null); then
  on_exit "losetup -d $dev"
  expect_exit 2 restore --to "$dev"
  grep -q "is a block device; add --force" "$T/err"
  expect_exit 8 restore --to "$dev" --force
  grep -q "disk full writing $dev" "$T/err"
  grep -q "(1048576 bytes were written to $dev before the failure: it holds an incomplete image)" "$T/err"
  one_line
  cmp -n 1048576 "$T/a.img" "$dev"
  note "restore onto a 1 MiB loop device failed after 1048576 bytes and said so"
else
  note "SKIP loop device case: cannot make one here"
fi
echo PASS
