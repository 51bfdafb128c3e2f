#!/usr/bin/env bash
# Which disk layouts pvesafe files reads, on images built here without root (the same reader
# serves a snapshot's disk; files_extract.sh goes through the repository):
#   MBR with primary and logical partitions (ext2 with 1 KiB blocks, ext3, ext4), an
#   unpartitioned ext4 disk, GPT with two ext4 partitions (--partition chooses; without it the
#   command asks) - all read; XFS (mkfs.xfs), an LVM2 physical volume and NTFS - recognised and
#   refused with exit 12 and a message naming them. The LVM label and the NTFS boot sector are
#   written here as pvcreate and mkntfs write them (those tools need a block device / are not
#   installed); only their signatures matter to the refusal.
source "$(dirname "$0")/../nbd/lib.sh"
need sfdisk mke2fs python3

content() {  # DIR TEXT: a small tree to put in a file system
  mkdir -p "$1/etc" "$1/srv/data"
  echo "$2" > "$1/etc/hostname"
  head -c 300000 /dev/urandom > "$1/srv/data/blob"
  ln -s ../etc/hostname "$1/srv/link"
}

mkfs_at() {  # IMAGE START_SECTOR SECTORS TYPE TEXT
  local d=$T/tree.$RANDOM
  content "$d" "$5"
  case $4 in
    ext2) mke2fs -q -F -t ext2 -b 1024 -d "$d" -E offset=$(($2 * 512)) "$1" $(($3 / 2))k ;;
    *) mke2fs -q -F -t "$4" -d "$d" -E offset=$(($2 * 512)) "$1" $(($3 / 2))k ;;
  esac
  cp "$d/srv/data/blob" "$T/blob.$5"
}

part() {  # IMAGE N -> "start size" in sectors
  sfdisk -J "$1" | python3 -c "
import json,sys
for p in json.load(sys.stdin)['partitiontable']['partitions']:
    if p['node'].endswith('$2') and p['node'][-len('$2')-1].isalpha() or p['node'].endswith('p$2'): print(p['start'], p['size'])"
}

files() { "$PVESAFE_BIN" files "$@"; }
expect_rc() {
  local want=$1 rc=0; shift
  "$@" > "$T/out" 2> "$T/err" || rc=$?
  [[ $rc == "$want" ]] || fail "exit $rc, want $want: $* : $(cat "$T/err")"
}
check_volume() {  # IMAGE PARTITION TEXT
  local args=(--image "$1"); [[ $2 != 0 ]] && args+=(--partition "$2")
  [[ $(files get "${args[@]}" /etc/hostname --to - 2>/dev/null) == "$3" ]] || fail "$1 partition $2: hostname"
  files get "${args[@]}" /srv/data/blob --to "$T/got.$3" > /dev/null
  cmp "$T/got.$3" "$T/blob.$3" || fail "$1 partition $2: blob differs"
  [[ $(files get "${args[@]}" /srv/link --to - 2>/dev/null) == "$3" ]] || fail "$1 partition $2: link"
  rm -f "$T/got.$3"
}

note "MBR: ext2 (1 KiB blocks) primary, ext3 and ext4 logical"
img=$T/mbr.raw
truncate -s 64M "$img"
# Named lines: sfdisk makes a line after the extended partition another primary, not a logical.
printf 'label: dos\n%s1 : start=2048, size=16M, type=83\n%s2 : size=44M, type=5\n%s5 : size=20M, type=83\n%s6 : size=20M, type=83\n' \
  "$img" "$img" "$img" "$img" | sfdisk -q "$img"
read -r s n < <(part "$img" 1); mkfs_at "$img" "$s" "$n" ext2 mbr-one
read -r s n < <(part "$img" 5); mkfs_at "$img" "$s" "$n" ext3 mbr-five
read -r s n < <(part "$img" 6); mkfs_at "$img" "$s" "$n" ext4 mbr-six
"$PVESAFE_BIN" --json files partitions --image "$img" > "$T/mbr.json"
python3 - "$T/mbr.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["partition_table"] == "mbr", j
got = [(p["number"], p["filesystem"]) for p in j["partitions"]]
assert got == [(1, "ext2"), (5, "ext3"), (6, "ext4")], got
PY
check_volume "$img" 1 mbr-one
check_volume "$img" 5 mbr-five
check_volume "$img" 6 mbr-six
expect_rc 2 files ls --image "$img" /
grep -q -- "--partition" "$T/err" || fail "several ext partitions: the message does not say --partition"

note "no partition table: ext4 on the whole disk"
img=$T/whole.raw
truncate -s 32M "$img"
mkfs_at "$img" 0 $((32 * 2048)) ext4 whole
[[ $(files --json partitions --image "$img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["partition_table"])') == none ]] ||
  fail "an unpartitioned disk"
check_volume "$img" 0 whole

note "GPT with XFS, an LVM2 physical volume, NTFS and ext4"
img=$T/gpt.raw
truncate -s 400M "$img"
printf 'label: gpt\nstart=2048, size=300M, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\nsize=16M, type=E6D6D379-F507-44C2-A23C-238F2A3DF928\nsize=16M, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\nsize=40M, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' |
  sfdisk -q "$img"
read -r s n < <(part "$img" 4); mkfs_at "$img" "$s" "$n" ext4 gpt-four
read -r s2 n2 < <(part "$img" 2)
read -r s3 n3 < <(part "$img" 3)
# LVM2 PV label: sector 1 holds "LABELONE", its sector number, crc, offset, then "LVM2 001".
printf 'LABELONE\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x20\x00\x00\x00LVM2 001' |
  dd of="$img" bs=1 seek=$(( s2 * 512 + 512 )) conv=notrunc status=none
# NTFS boot sector: a jump, then the OEM id "NTFS    ", and 55 AA at its end.
printf '\xeb\x52\x90NTFS    ' | dd of="$img" bs=1 seek=$(( s3 * 512 )) conv=notrunc status=none
printf '\x55\xaa' | dd of="$img" bs=1 seek=$(( s3 * 512 + 510 )) conv=notrunc status=none
have_xfs=0
if command -v mkfs.xfs > /dev/null; then
  read -r s1 n1 < <(part "$img" 1)
  truncate -s $((n1 * 512)) "$T/xfs.raw"
  mkfs.xfs -q "$T/xfs.raw" && dd if="$T/xfs.raw" of="$img" bs=1M seek=$((s1 * 512)) oflag=seek_bytes conv=notrunc,sparse status=none && have_xfs=1
fi
"$PVESAFE_BIN" --json files partitions --image "$img" > "$T/gpt.json"
python3 - "$T/gpt.json" "$have_xfs" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["partition_table"] == "gpt", j
got = {p["number"]: (p["type"], p["filesystem"], p["readable"]) for p in j["partitions"]}
if sys.argv[2] == "1":
    assert got[1] == ("Linux filesystem", "xfs", False), got
assert got[2] == ("Linux LVM", "LVM2_member", False), got
assert got[3] == ("Microsoft basic data", "ntfs", False), got
assert got[4] == ("Linux filesystem", "ext4", True), got
PY
# Without --partition, the one ext partition is chosen.
[[ $(files get --image "$img" /etc/hostname --to - 2>/dev/null) == gpt-four ]] || fail "the ext4 partition was not chosen"
check_volume "$img" 4 gpt-four
[[ $have_xfs == 1 ]] && { expect_rc 12 files ls --image "$img" --partition 1 /; grep -q xfs "$T/err" || fail "xfs: $(cat "$T/err")"; }
expect_rc 12 files ls --image "$img" --partition 2 /
grep -q LVM2_member "$T/err" || fail "LVM: $(cat "$T/err")"
expect_rc 12 files ls --image "$img" --partition 3 /
grep -q ntfs "$T/err" || fail "NTFS: $(cat "$T/err")"

note "a damaged primary GPT: the backup at the end of the disk is used; both damaged: exit 6"
printf 'X' | dd of="$img" bs=1 seek=$((512 + 40)) conv=notrunc status=none  # first usable LBA
[[ $(files get --image "$img" --partition 4 /etc/hostname --to - 2>/dev/null) == gpt-four ]] ||
  fail "the backup GPT was not used"
size=$(stat -c %s "$img")
printf 'X' | dd of="$img" bs=1 seek=$((size - 512 + 40)) conv=notrunc status=none
expect_rc 6 files partitions --image "$img"
grep -q "CRC" "$T/err" || fail "damaged GPT: $(cat "$T/err")"
echo "PASS"
