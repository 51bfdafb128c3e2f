#!/usr/bin/env bash
# pvesafe's main job, end to end, on a local directory repository (no cloud account needed):
# create a repository, back up a guest's vzdump archive (a VMA laid out as Proxmox VE writes it,
# made by pvesim), back up the next day's archive (fresh uuid, clusters out of order, 1-3% of the
# disk rewritten: only what changed is stored), list the snapshots, restore the archive and
# compare it bit for bit, restore one disk as a raw image, verify every object, and print the
# catalog report. tests/repo/demo.sh runs it in the test suite.
#   scripts/demo.sh                 uses ./demo and a guest with 512 MiB of disk
#   PVESAFE_DEMO_DIR=/tmp/x PVESAFE_DEMO_SIZE=1G scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${PVESAFE_BUILD_DIR:-build}/bin
pvesafe=$bin/pvesafe
pvesim=$bin/pvesim
[[ -x $pvesafe && -x $pvesim ]] || { echo "demo: build first (scripts/build.sh)" >&2; exit 2; }
work=${PVESAFE_DEMO_DIR:-$PWD/demo}
size=${PVESAFE_DEMO_SIZE:-512M}

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
step "Two nights of vzdump for guest 100 ($size of disk, running: clusters out of order), as Proxmox VE writes them"
"$pvesim" make-archive qemu --vmid 100 --day 2026-11-24 --size "$size" --running --out "$day1" > /dev/null
"$pvesim" make-archive qemu --vmid 100 --day 2026-11-25 --size "$size" --running --out "$day2" > /dev/null
ls -l "$day1" "$day2"

step "pvesafe init (passphrase from a 0600 file: $pass)"
"$pvesafe" init --passphrase-file "$pass"

step "pvesafe backup, day 1 (node, guest and type parsed from the vzdump file name)"
"$pvesafe" backup --passphrase-file "$pass" --node pve-01 "$day1"

step "pvesafe backup, day 2: a fresh archive uuid and cluster order, yet only the changed disk regions are stored"
"$pvesafe" backup --passphrase-file "$pass" --node pve-01 "$day2"

step "pvesafe snapshots"
"$pvesafe" snapshots --passphrase-file "$pass"

step "pvesafe restore latest, then compare with the day-2 image"
"$pvesafe" restore latest --passphrase-file "$pass" --to "$work/restored.vma"
cmp "$day2" "$work/restored.vma" && echo "restored archive is bit-identical to what vzdump wrote (qmrestore takes it)"

step "pvesafe restore latest --disk drive-scsi0: one disk as a sparse raw image (for qm importdisk, a zvol, an RBD image)"
"$pvesafe" restore latest --passphrase-file "$pass" --disk drive-scsi0 --to "$work/drive-scsi0.raw"
echo "$(du -h --apparent-size "$work/drive-scsi0.raw" | cut -f1) disk, $(du -h "$work/drive-scsi0.raw" | cut -f1) allocated"

step "pvesafe verify --read-data (every object decrypted and its id re-checked)"
"$pvesafe" verify --read-data --passphrase-file "$pass"

step "pvesafe report (catalog and audit log)"
"$pvesafe" report

step "Repository on disk: every object is a standard OpenPGP message (packs hold them back to back)"
du -sh "$work/repo"
object=$(find "$work/repo/snapshots" -type f | head -1)
echo "$object:"
gpg --batch --list-packets --pinentry-mode cancel --homedir "$work/.gnupg" < "$object" 2>/dev/null | grep -E '^(:|#)' || true
echo
echo "Demo files are in $work (remove with: rm -rf $work). Recovery by hand: docs/recovery.md"
