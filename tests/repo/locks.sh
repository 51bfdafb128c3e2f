#!/usr/bin/env bash
# Concurrency: two backups at once both succeed and the repository verifies; gc during a backup
# and a backup during an exclusive lock are refused with exit 9 naming the holder; a lock left by
# a dead process on this machine is stale at once and `pvesafe unlock` removes it; a lock of
# another machine is overridden only after the stale timeout of watching it unchanged.
source "$(dirname "$0")/lib.sh"

REPO=$(new_repo)
P=(--passphrase-file "$PASSFILE")
psafe -r "$REPO" init "${P[@]}" > /dev/null
gen_image --size $((48 * 1024 * 1024)) --seed 1 > "$T/a.img"
gen_image --size $((48 * 1024 * 1024)) --seed 2 > "$T/b.img"

# Two concurrent backups.
psafe -r "$REPO" backup "${P[@]}" --json "$T/a.img" > "$T/a.json" &
pa=$!
psafe -r "$REPO" backup "${P[@]}" --json "$T/b.img" > "$T/b.json" &
pb=$!
wait $pa; wait $pb
psafe -r "$REPO" verify "${P[@]}" --read-data > /dev/null
for x in a b; do
  id=$(sed -n 's/.*"snapshot_id": "\([0-9a-f]*\)".*/\1/p' "$T/$x.json")
  psafe -r "$REPO" restore "${P[@]}" "$id" --to "$T/$x.out" > /dev/null
  cmp "$T/$x.img" "$T/$x.out"
done
note "two concurrent backups ok"

# A backup in progress (reading from a FIFO we hold open) holds a shared lock: gc is refused.
mkfifo "$T/fifo"
psafe -r "$REPO" backup "${P[@]}" --stdin --stdin-name slow.img < "$T/fifo" > "$T/slow.out" 2>&1 &
pslow=$!
exec 3> "$T/fifo"
on_exit "kill $pslow 2>/dev/null"
head -c 1000000 /dev/urandom | tee "$T/slow.img" >&3
# Wait until its lock exists (the backup takes it after opening the repository).
for _ in $(seq 1 300); do
  n=$(psafe -r "$REPO" unlock "${P[@]}" --json | sed -n 's/.*"remaining": \([0-9]*\).*/\1/p')
  [[ "$n" == 1 ]] && break
  sleep 0.1
done
[[ "$n" == 1 ]]
expect_exit 9 psafe -r "$REPO" gc "${P[@]}"
grep -q "locked" "$T/err"; grep -q "pvesafe unlock" "$T/err"; grep -q "backup" "$T/err"
# One error line; a log line beside it (a warning) is shown, not judged.
[[ $(grep -c '^pvesafe: error:' "$T/err") == 1 ]] || { cat "$T/err"; exit 1; }
(( $(wc -l < "$T/err") == 1 )) || note "gc also logged: $(grep -v '^pvesafe: error:' "$T/err")"
expect_exit 9 psafe -r "$REPO" prune "${P[@]}" --keep-last 1
head -c 1000000 /dev/urandom | tee -a "$T/slow.img" >&3
exec 3>&-
wait $pslow
note "gc and prune refused during a backup; the backup completed"

if is_local_repo "$REPO"; then
  # An exclusive lock held by a live process (written the way any OpenPGP tool would: gpg with
  # the data passphrase from the key file) blocks a backup; once its process is gone it is stale.
  export GNUPGHOME="$T/gnupg"; mkdir -m 700 "$GNUPGHOME"
  G="gpg --batch --quiet --pinentry-mode loopback"
  $G --passphrase-file "$PASSFILE" --decrypt "$(ls "$REPO"/keys/* | head -1)" > "$T/key.json"
  sed -n 's/^ *"data_passphrase": "\([0-9a-f]*\)".*/\1/p' "$T/key.json" > "$T/data.pass"
  sleep 600 &
  holder=$!
  on_exit "kill $holder 2>/dev/null"
  # Its process identity on this machine (docs/format.md, Locks): boot id, pid namespace, pid,
  # start time.
  ns=$(readlink /proc/self/ns/pid); ns=${ns#pid:[}; ns=${ns%]}
  start=$(sed 's/.*) //' "/proc/$holder/stat" | cut -d' ' -f20)
  identity="$(cat /proc/sys/kernel/random/boot_id)/$ns/$holder/$start"
  put_lock() {  # put_lock ID JSON
    printf '%s\n' "$2" > "$T/lock.json"
    rm -f "$REPO/locks/$1"
    $G --passphrase-file "$T/data.pass" --symmetric --cipher-algo AES256 --compress-algo none --output "$REPO/locks/$1" "$T/lock.json"
  }
  put_lock 0123456789abcdef0123456789abcdef "$(printf '{"owner": "%s", "process": "%s", "seq": 1, "host": "%s", "pid": %d, "time": "%s", "kind": "exclusive", "command": "gc"}' \
    "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" "$identity" "$(hostname)" "$holder" "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
  expect_exit 9 psafe -r "$REPO" backup "${P[@]}" "$T/a.img"
  grep -q "exclusive lock 01234567 held by gc on host $(hostname) pid $holder" "$T/err"
  psafe -r "$REPO" unlock "${P[@]}" | grep -q "removed 0 locks, 1 remaining"
  kill $holder; wait $holder 2>/dev/null || true
  psafe -r "$REPO" backup "${P[@]}" "$T/a.img" > /dev/null     # stale: its process is gone
  psafe -r "$REPO" unlock "${P[@]}" | grep -q "removed 1 lock, 0 remaining"
  note "live exclusive lock refused a backup; stale lock ignored and removed by unlock"

  # A lock without a process identity (an older pvesafe, or another machine) naming this host
  # and a pid that does not run here: host name and pid prove nothing, so it is watched on this
  # machine's clock for the stale timeout (3 s here) before a backup overrides it.
  put_lock 89abcdef0123456789abcdef01234567 "$(printf '{"host": "%s", "pid": %d, "time": "%s", "kind": "exclusive", "command": "prune"}' \
    "$(hostname)" "$holder" "2020-01-01T00:00:00Z")"
  t0=$(date +%s%N)
  PVESAFE_LOCK_STALE_SECONDS=3 psafe -r "$REPO" backup "${P[@]}" "$T/a.img" > /dev/null 2> "$T/err"
  waited_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  grep -q "exclusive lock 89abcdef held by prune .* belongs to another machine or an older pvesafe; watching it for up to 3 s" "$T/err"
  grep -q "ignoring stale exclusive lock 89abcdef .*(unchanged for 3 s)" "$T/err"
  (( waited_ms >= 3000 )) || { echo "overrode a lock it watched for only $waited_ms ms"; exit 1; }
  PVESAFE_LOCK_STALE_SECONDS=3 psafe -r "$REPO" unlock "${P[@]}" | grep -q "removed 1 lock, 0 remaining"
  note "a lock of another machine was watched for the stale timeout ($waited_ms ms), then overridden"
fi

# prune = forget + gc; the survivors verify and nothing unreferenced is left.
psafe -r "$REPO" prune "${P[@]}" --keep-last 1 --grace 0 > "$T/prune.out"
grep -q "forgot" "$T/prune.out"
psafe -r "$REPO" verify "${P[@]}" --read-data --json > "$T/v.json"
grep -q '"ok": true' "$T/v.json"
ref=$(sed -n 's/.*"chunks_referenced": \([0-9]*\).*/\1/p' "$T/v.json")
have=$(sed -n 's/.*"chunks_in_store": \([0-9]*\).*/\1/p' "$T/v.json")
[[ "$ref" == "$have" ]]
# One snapshot per file survives; the newest (a.img where the local-only block above backed it
# up again, else the streamed slow.img) restores bit-identical.
read -r newest_id newest_file < <(psafe -r "$REPO" snapshots "${P[@]}" --json |
  python3 -c 'import json, sys; s = max(json.load(sys.stdin), key=lambda x: x["time"]); print(s["id"], s["file_name"])')
psafe -r "$REPO" restore "${P[@]}" "$newest_id" --to "$T/last.out" > /dev/null
cmp "$T/$newest_file" "$T/last.out"
echo "PASS"
