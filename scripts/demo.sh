#!/usr/bin/env bash
# pvesafe's main job, end to end, on a local directory repository (no cloud account needed):
# create a repository, back up a disk-like image named like a vzdump archive, back up the image
# again after a day of changes (deduplicated), list the snapshots, restore, compare bit for bit,
# verify every object, and print the catalog report.
#   scripts/demo.sh                 uses ./demo and a 512 MiB image
#   PVESAFE_DEMO_DIR=/tmp/x PVESAFE_DEMO_SIZE=1073741824 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${PVESAFE_BUILD_DIR:-build}/bin
pvesafe=$bin/pvesafe
[[ -x $pvesafe && -x $bin/pvesafe-gen-image ]] || { echo "demo: build first (scripts/build.sh)" >&2; exit 2; }
work=${PVESAFE_DEMO_DIR:-$PWD/demo}
size=${PVESAFE_DEMO_SIZE:-536870912}

rm -rf "$work"
mkdir -p "$work/.gnupg"
chmod 700 "$work" "$work/.gnupg"
export PVESAFE_CATALOG=$work/catalog.db
export PVESAFE_REPOSITORY=$work/repo
pass=$work/passphrase
( umask 077; openssl rand -base64 32 > "$pass" )
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

day1=$work/vzdump-qemu-100-2026_11_24-01_00_00.vma
day2=$work/vzdump-qemu-100-2026_11_25-01_00_00.vma
step "Generating a $((size / 1048576)) MiB disk-like image, and the same disk a day later (2% rewritten)"
"$bin/pvesafe-gen-image" --size "$size" --seed 100 > "$day1"
"$bin/pvesafe-gen-image" --size "$size" --seed 100 --mutate-percent 2 --mutate-regions 8 --mutate-seed 1 > "$day2"

step "pvesafe init (passphrase from a 0600 file: $pass)"
"$pvesafe" init --passphrase-file "$pass"

step "pvesafe backup, day 1 (node, guest and type parsed from the vzdump file name)"
"$pvesafe" backup --passphrase-file "$pass" --node pve-01 "$day1"

step "pvesafe backup, day 2: only the changed chunks are stored"
"$pvesafe" backup --passphrase-file "$pass" --node pve-01 "$day2"

step "pvesafe snapshots"
"$pvesafe" snapshots --passphrase-file "$pass"

step "pvesafe restore latest, then compare with the day-2 image"
"$pvesafe" restore latest --passphrase-file "$pass" --to "$work/restored.vma"
cmp "$day2" "$work/restored.vma" && echo "restored image is bit-identical to the original"

step "pvesafe verify --read-data (every object decrypted and its id re-checked)"
"$pvesafe" verify --read-data --passphrase-file "$pass"

step "pvesafe report (catalog and audit log)"
"$pvesafe" report

step "Repository on disk: every object is a standard OpenPGP message"
du -sh "$work/repo"
chunk=$(find "$work/repo/data" -type f | head -1)
echo "$chunk:"
gpg --batch --list-packets --pinentry-mode cancel --homedir "$work/.gnupg" < "$chunk" 2>/dev/null | grep -E '^(:|#)' || true
echo
echo "Demo files are in $work (remove with: rm -rf $work). Recovery by hand: docs/recovery.md"
