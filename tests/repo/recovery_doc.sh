#!/usr/bin/env bash
# Follows docs/recovery.md literally: its ```sh blocks, extracted and run by /bin/sh with only
# gpg, zstd and POSIX tools, restore a snapshot bit-identical: a byte stream, then a qemu guest's
# VMA snapshot (its raw disks and its config, from the packs).
source "$(dirname "$0")/lib.sh"
command -v gpg > /dev/null && command -v zstd > /dev/null || { echo "SKIP: gpg or zstd missing"; exit 77; }

REPO=$(new_repo)
if ! is_local_repo "$REPO"; then
  echo "SKIP: the recovery walk-through test runs on a local copy only"; exit 77
fi
P=(--passphrase-file "$PASSFILE")
psafe -r "$REPO" init "${P[@]}" > /dev/null
# Two key files, so step 3 must find the right one; a mix of compressible and random data, so
# chunks of both zstd kinds (compressed and raw blocks) are decoded.
OTHER="$T/other"; ( umask 077; echo "someone else" > "$OTHER" )
psafe -r "$REPO" key add "${P[@]}" --new-passphrase-file "$OTHER" > /dev/null
gen_image --size $((40 * 1024 * 1024)) --seed 3 > "$T/vzdump-qemu-100-2026_11_24-01_00_00.vma.zst"
psafe -r "$REPO" backup "${P[@]}" --json "$T/vzdump-qemu-100-2026_11_24-01_00_00.vma.zst" > "$T/b.json"
head -c 100 /dev/urandom > "$T/other.img"
psafe -r "$REPO" backup "${P[@]}" "$T/other.img" > /dev/null
ID=$(sed -n 's/.*"snapshot_id": "\([0-9a-f]*\)".*/\1/p' "$T/b.json")

awk '/^```sh$/{on=1; next} /^```$/{on=0} on' "$PVESAFE_SOURCE_DIR/docs/recovery.md" > "$T/recovery.sh"
[[ $(grep -c . "$T/recovery.sh") -gt 10 ]]
mkdir -m 700 "$T/gnupg" "$T/home"
# Only the tools the document promises: a PATH with gpg, zstd, sh and coreutils, no pvesafe.
mkdir "$T/bin"
for tool in gpg gpg-agent zstd sh sed grep cut wc basename mkdir rm printf cat cp tail head dd truncate; do
  ln -s "$(command -v "$tool")" "$T/bin/$tool"
done
env -i PATH="$T/bin" HOME="$T/home" GNUPGHOME="$T/gnupg" \
  REPO="$REPO" PASSFILE="$PASSFILE" WORK="$T/work" SNAPSHOT="$ID" OUT="$T/restored" \
  sh "$T/recovery.sh" > "$T/recovery.out" 2>&1 || { cat "$T/recovery.out"; exit 1; }
cat "$T/recovery.out"
grep -q "key file opened" "$T/recovery.out"
grep -q "$ID" "$T/recovery.out"
cmp "$T/vzdump-qemu-100-2026_11_24-01_00_00.vma.zst" "$T/restored/vzdump-qemu-100-2026_11_24-01_00_00.vma.zst"
[[ ! -e "$T/work/data.pass" ]]

# A VMA snapshot: two disks (one with a hole and a partial last cluster) and the guest config.
PVESIM_BIN=${PVESIM_BIN:-$PVESAFE_BUILD_DIR/bin/pvesim}
truncate -s 24M "$T/d0.raw"; gen_image --size $((6 << 20)) --seed 5 | dd of="$T/d0.raw" bs=1M seek=2 conv=notrunc status=none
head -c $((3 << 20)) /dev/urandom | dd of="$T/d0.raw" bs=1M seek=16 conv=notrunc status=none
head -c $((5 << 20 | 12345)) /dev/urandom > "$T/d1.raw"
printf 'boot: order=scsi0\nscsi0: local-lvm:vm-101-disk-0,size=24M\nvirtio1: local-lvm:vm-101-disk-1\n' > "$T/qemu-server.conf"
V=$T/vzdump-qemu-101-2026_11_24-02_00_00.vma
"$PVESIM_BIN" make-archive vma --disk drive-scsi0="$T/d0.raw" --disk drive-virtio1="$T/d1.raw" \
  --config "$T/qemu-server.conf" --out-of-order 5 --out "$V" > /dev/null
psafe -r "$REPO" backup "${P[@]}" --json "$V" > "$T/bv.json"
VID=$(sed -n 's/.*"snapshot_id": "\([0-9a-f]*\)".*/\1/p' "$T/bv.json")
env -i PATH="$T/bin" HOME="$T/home" GNUPGHOME="$T/gnupg" \
  REPO="$REPO" PASSFILE="$PASSFILE" WORK="$T/work" SNAPSHOT="$VID" OUT="$T/restored-vma" \
  sh "$T/recovery.sh" > "$T/recovery-vma.out" 2>&1 || { cat "$T/recovery-vma.out"; exit 1; }
cat "$T/recovery-vma.out"
grep -q "vma" "$T/recovery-vma.out"
cmp "$T/d0.raw" "$T/restored-vma/drive-scsi0.raw"
cmp <(head -c $((5 << 20 | 12345)) "$T/restored-vma/drive-virtio1.raw") "$T/d1.raw"
cmp "$T/qemu-server.conf" "$T/restored-vma/qemu-server.conf"
[[ ! -e "$T/work/data.pass" ]]
# The same document, run the same way, on a repository with a recipient whose backups were made
# by a backup host's write-only key; the secret key (Curve25519, protected) comes from a file.
DATA="$PVESAFE_SOURCE_DIR/tests/crypto/data"
REPO3=$(new_repo)
psafe -r "$REPO3" init "${P[@]}" --recipient "$DATA/gpg_cv25519.pub.asc" > /dev/null
WO="$T/wo.pass"; ( umask 077; echo "backup host" > "$WO" )
psafe -r "$REPO3" key add "${P[@]}" --write-only --new-passphrase-file "$WO" > /dev/null
psafe -r "$REPO3" backup --passphrase-file "$WO" --json "$T/vzdump-qemu-100-2026_11_24-01_00_00.vma.zst" > "$T/b3.json"
ID3=$(sed -n 's/.*"snapshot_id": "\([0-9a-f]*\)".*/\1/p' "$T/b3.json")
( umask 077; cp "$DATA/gpg_cv25519.sec.asc" "$T/secret.asc"; echo "pvesafe fixture" > "$T/secret.pass" )
mkdir -m 700 "$T/gnupg3"
env -i PATH="$T/bin" HOME="$T/home" GNUPGHOME="$T/gnupg3" \
  REPO="$REPO3" PASSFILE="$PASSFILE" WORK="$T/work3" SNAPSHOT="$ID3" OUT="$T/restored3" \
  SECRET_KEY="$T/secret.asc" SECRET_PASS="$T/secret.pass" \
  sh "$T/recovery.sh" > "$T/recovery3.out" 2>&1 || { cat "$T/recovery3.out"; exit 1; }
cat "$T/recovery3.out"
grep -q "secret key imported" "$T/recovery3.out"
cmp "$T/vzdump-qemu-100-2026_11_24-01_00_00.vma.zst" "$T/restored3/vzdump-qemu-100-2026_11_24-01_00_00.vma.zst"
echo "PASS"
