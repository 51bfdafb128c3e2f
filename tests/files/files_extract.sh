#!/usr/bin/env bash
# pvesafe files on the test guest's disk backed up as a VMA snapshot: the partition table (GPT)
# and the ext4 file system are read through the repository's disk reader, without root, a
# mount or a restore. /etc/hostname and a 50 MiB file come out bit for bit, and the bytes
# fetched from the repository stay under twice the files' size plus the file system's metadata
# (fetched_bytes: chunk data; repository_read_bytes: all the store returned, held against the
# kernel's count of what the process read). Directories, symbolic links, errors
# (missing path, partition, disk; a stream snapshot; a target that exists) and a chunk that
# fails authentication (exit 6, no partial file left).
source "$(dirname "$0")/../nbd/lib.sh"
source "$(dirname "$0")/lib.sh"
need sfdisk mke2fs busybox cpio openssl python3

G=$T/guest
build_test_guest "$G" --disk-size 1G --payload-mib 50
make_repo
backup_disk "$G/disk.raw"
note "snapshot $SNAP"
F=(files)

note "partitions: GPT, partition 1 holds ext4"
"$PVESAFE_BIN" --json files partitions "${PV[@]}" "$SNAP" --disk drive-scsi0 > "$T/parts.json"
[[ $(json_field "$T/parts.json" 'j["partition_table"]') == gpt ]] || fail "not GPT: $(cat "$T/parts.json")"
[[ $(json_field "$T/parts.json" '[p["filesystem"] for p in j["partitions"]]') == "['ext4']" ]] ||
  fail "partition 1 is not ext4: $(cat "$T/parts.json")"
"$PVESAFE_BIN" files partitions "${PV[@]}" "$SNAP" --disk drive-scsi0 | tee "$T/parts.txt"
grep -q "pvesafe-root" "$T/parts.txt" || fail "the table does not show the label"

note "ls /etc (table and JSON)"
"$PVESAFE_BIN" files ls "${PV[@]}" "$SNAP" --disk drive-scsi0 /etc | tee "$T/ls.txt"
grep -q " hostname$" "$T/ls.txt" || fail "ls /etc does not show hostname"
"$PVESAFE_BIN" --json files ls "${PV[@]}" "$SNAP" --disk drive-scsi0 /etc > "$T/ls.json"
python3 - "$T/ls.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
e = {x["name"]: x for x in j["entries"]}
assert e["hostname"]["type"] == "file" and e["hostname"]["size_bytes"] == len("pvesafe-guest\n"), e["hostname"]
assert j["partition"] == 1 and j["filesystem"]["type"] == "ext4" and j["filesystem"]["label"] == "pvesafe-root", j
PY
note "ls /bin shows symbolic links with their targets"
"$PVESAFE_BIN" --json files ls "${PV[@]}" "$SNAP" --disk drive-scsi0 /bin > "$T/bin.json"
[[ $(json_field "$T/bin.json" '[x["target"] for x in j["entries"] if x["name"] == "sh"][0]') == busybox ]] ||
  fail "/bin/sh is not shown as a link to busybox"

# Runs CMD... and writes to OUT the bytes it read through read(2)/pread(2) (rchar of
# /proc/PID/io, taken when it has exited and before it is reaped): the kernel's count of what the
# process read, pack ranges included, to hold pvesafe's own count against.
run_counting() {  # OUT CMD...
  /usr/bin/python3 -c '
import os, subprocess, sys
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL)
os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
io = dict(l.split(": ", 1) for l in open(f"/proc/{p.pid}/io").read().splitlines())
open(sys.argv[1], "w").write(io["rchar"].strip() + "\n")
sys.exit(p.wait())' "$@"
}
# The bound: twice the files' size plus the file system's metadata. The metadata a lookup reads
# (superblock, group descriptors, the inode table blocks and directory blocks on the path,
# extent tree blocks) lies in a few disk chunks of 128 KiB, and read-ahead fetches up to 8
# chunks past a sequential read: allow 32 chunks (4 MiB). What the store returns besides chunk
# data (key file, manifest, chunk index) is read once: at most the repository's bytes outside
# its packs.
meta=$((4 << 20))
repo_meta=$(find "$REPO" -type f -not -path "$REPO/packs/*" -printf '%s\n' | awk '{s += $1} END {print s + 0}')
check_fetched() {  # WHAT SIZE JSON IO
  local what=$1 size=$2 chunks all rchar
  chunks=$(json_field "$3" 'j["fetched_bytes"]')
  all=$(json_field "$3" 'j["repository_read_bytes"]')
  rchar=$(cat "$4")
  echo "$what ($size bytes): $all bytes read from the repository, $chunks of them chunk data; the process read $rchar bytes in all"
  (( chunks <= 2 * size + meta )) || fail "$what: $chunks bytes of chunk data fetched, over 2 x $size + $meta"
  (( all <= 2 * size + meta + repo_meta )) || fail "$what: $all bytes read from the repository"
  (( all > chunks )) || fail "$what: the repository count ($all) misses its metadata"
  # pvesafe's count is what the kernel saw it read, give or take what is not the repository
  # (passphrase file, shared libraries' headers, locale, the catalog): under 1 MiB.
  (( rchar >= all && rchar - all < (1 << 20) )) ||
    fail "$what: pvesafe says $all bytes read from the repository, the kernel counted $rchar"
}

note "get /etc/hostname to standard output"
run_counting "$T/hostname.io" "$PVESAFE_BIN" --json files get "${PV[@]}" "$SNAP" --disk drive-scsi0 /etc/hostname --to - \
  > "$T/hostname" 2> "$T/hostname.json"
[[ $(cat "$T/hostname") == pvesafe-guest ]] || fail "hostname: $(cat "$T/hostname")"
check_fetched /etc/hostname 14 "$T/hostname.json" "$T/hostname.io"

note "get /data/payload (50 MiB)"
run_counting "$T/payload.io" "$PVESAFE_BIN" --json files get "${PV[@]}" "$SNAP" --disk drive-scsi0 /data/payload --to "$T/payload" \
  > "$T/payload.json"
[[ $(md5sum < "$T/payload" | cut -d' ' -f1) == $(payload_md5 50) ]] || fail "payload differs"
check_fetched /data/payload 52428800 "$T/payload.json" "$T/payload.io"
p_fetched=$(json_field "$T/payload.json" 'j["fetched_bytes"]')
(( p_fetched >= 52428800 )) || fail "fetched $p_fetched bytes for a 50 MiB file of random data: the count is wrong"

note "the human output says it too"
"$PVESAFE_BIN" files get "${PV[@]}" "$SNAP" --disk drive-scsi0 /etc/hostname --to "$T/hostname2" > "$T/get.txt"
grep -q "fetched from the repository (.* of chunk data)" "$T/get.txt" || fail "get: $(cat "$T/get.txt")"
"$PVESAFE_BIN" files ls "${PV[@]}" "$SNAP" --disk drive-scsi0 /etc > /dev/null 2> "$T/ls.err"
grep -q "fetched from the repository" "$T/ls.err" || fail "ls: $(cat "$T/ls.err")"

note "get a directory tree; /bin/sh followed inside the file system"
"$PVESAFE_BIN" files get "${PV[@]}" "$SNAP" --disk drive-scsi0 /etc --to "$T/etc" > /dev/null
[[ $(cat "$T/etc/hostname") == pvesafe-guest ]] || fail "etc/hostname"
"$PVESAFE_BIN" files get "${PV[@]}" "$SNAP" --disk drive-scsi0 /bin/sh --to "$T/sh" > /dev/null
cmp "$T/sh" "$(command -v busybox)" || fail "/bin/sh is not busybox"
"$PVESAFE_BIN" files get "${PV[@]}" "$SNAP" --disk drive-scsi0 /bin --to "$T/bin" > /dev/null
[[ -L "$T/bin/sh" && $(readlink "$T/bin/sh") == busybox ]] || fail "a link inside a tree is not kept as a link"

note "errors"
expect_rc() {  # rc command...
  local want=$1 rc=0; shift
  "$@" > "$T/err.out" 2> "$T/err" || rc=$?
  [[ $rc == "$want" ]] || fail "exit $rc, want $want: $* : $(cat "$T/err")"
}
expect_rc 5 "$PVESAFE_BIN" files ls "${PV[@]}" "$SNAP" --disk drive-scsi0 /etc/nope
grep -q "no such file" "$T/err" || fail "missing path message: $(cat "$T/err")"
expect_rc 5 "$PVESAFE_BIN" files ls "${PV[@]}" "$SNAP" --disk drive-scsi0 --partition 3 /
expect_rc 5 "$PVESAFE_BIN" files ls "${PV[@]}" "$SNAP" --disk drive-virtio9 /
grep -q drive-scsi0 "$T/err" || fail "the error does not name the disks there are"
expect_rc 2 "$PVESAFE_BIN" files get "${PV[@]}" "$SNAP" --disk drive-scsi0 /etc/hostname --to "$T/payload"
expect_rc 2 "$PVESAFE_BIN" files ls "${PV[@]}" "$SNAP" --disk drive-scsi0 etc
echo "just a file" > "$T/notes.txt"
"$PVESAFE_BIN" backup "${PV[@]}" --json "$T/notes.txt" > "$T/stream.json"
stream=$(json_field "$T/stream.json" 'j["snapshot_id"]')
expect_rc 5 "$PVESAFE_BIN" files ls "${PV[@]}" "$stream" --disk drive-scsi0 /
note "stream snapshot: $(cat "$T/err")"

note "a chunk that fails authentication: exit 6, nothing left behind"
# The packs hold the disk's chunks in disk order; the largest holds the payload, the largest
# file (the newest is the stream snapshot's). Flip one byte in its middle.
pack=$(find "$REPO/packs" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
size=$(stat -c %s "$pack")
printf '\xff' | dd of="$pack" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect_rc 6 "$PVESAFE_BIN" files get "${PV[@]}" "$SNAP" --disk drive-scsi0 /data/payload --to "$T/payload2"
note "$(tail -1 "$T/err")"
grep -qi "authentic\|integrity\|MDC\|corrupt" "$T/err" || fail "the error does not say the data failed its check"
[[ ! -e "$T/payload2" && ! -e "$T/payload2.pvesafe-partial" ]] || fail "a partial file was left"
expect_rc 6 "$PVESAFE_BIN" files get "${PV[@]}" "$SNAP" --disk drive-scsi0 /data/payload --to - 
echo "PASS"
