#!/usr/bin/env bash
# Every bad input gives its documented exit code and a one-line message naming the object, and
# leaves existing snapshots intact: after each case the repository verifies (--read-data) and the
# first snapshot restores bit-identical.
source "$(dirname "$0")/lib.sh"

REPO=$(new_repo)
P=(--passphrase-file "$PASSFILE")
psafe -r "$REPO" init "${P[@]}" > /dev/null
gen_image --size $((24 * 1024 * 1024)) --seed 5 > "$T/a.img"
psafe -r "$REPO" backup "${P[@]}" --json "$T/a.img" > "$T/b.json"
ID=$(sed -n 's/.*"snapshot_id": "\([0-9a-f]*\)".*/\1/p' "$T/b.json")

still_good() {
  psafe -r "$REPO" verify "${P[@]}" --read-data > /dev/null
  psafe -r "$REPO" restore "${P[@]}" "$ID" --to "$T/check.img" > /dev/null
  cmp "$T/a.img" "$T/check.img"
  rm -f "$T/check.img"
  note "existing snapshots still verify: $1"
}
one_line() { [[ $(wc -l < "$T/err") == 1 ]] || { cat "$T/err"; exit 1; }; }

# Wrong passphrase -> 4.
BAD="$T/bad"; ( umask 077; echo wrong > "$BAD" )
expect_exit 4 psafe -r "$REPO" backup --passphrase-file "$BAD" "$T/a.img"
one_line; grep -q "wrong passphrase" "$T/err"
still_good "wrong passphrase"

# Unreadable source -> 8 (a directory), missing source -> 5.
expect_exit 8 psafe -r "$REPO" backup "${P[@]}" "$T"
one_line
expect_exit 5 psafe -r "$REPO" backup "${P[@]}" "$T/does-not-exist"
one_line
still_good "unreadable source"

# Restore onto a full disk -> 8 (a device: only with --force), saying how much reached it.
expect_exit 8 psafe -r "$REPO" restore "${P[@]}" "$ID" --to /dev/full --force
grep -q "disk full" "$T/err"; grep -q "(nothing was written to /dev/full)" "$T/err"; one_line

if is_local_repo "$REPO"; then
  # The chunks live in packs; damage the first pack.
  CHUNK=$(find "$REPO/packs" -type f | sort | head -1)
  KEY=${CHUNK#"$REPO"/}
  cp "$CHUNK" "$T/saved-chunk"

  # A flipped byte in a pack -> 6 naming the pack, for verify --read-data and restore.
  python3 - "$CHUNK" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 0x01
open(p, 'wb').write(b)
PY
  expect_exit 6 psafe -r "$REPO" verify "${P[@]}" --read-data
  grep -q "$KEY" "$T/out"; grep -q "$KEY" "$T/err"; one_line
  expect_exit 0 psafe -r "$REPO" verify "${P[@]}"   # structure alone cannot see it
  expect_exit 6 psafe -r "$REPO" restore "${P[@]}" "$ID" --to "$T/r.img"
  grep -q "$KEY" "$T/err"; one_line
  [[ ! -e "$T/r.img" && ! -e "$T/r.img.pvesafe-partial" ]]
  cp "$T/saved-chunk" "$CHUNK"
  still_good "corrupted chunk repaired"

  # Truncated pack -> 6 naming it.
  head -c 1000 "$T/saved-chunk" > "$CHUNK"
  expect_exit 6 psafe -r "$REPO" verify "${P[@]}" --read-data
  grep -q "$KEY" "$T/err"
  cp "$T/saved-chunk" "$CHUNK"

  # Missing pack -> 6 naming snapshot and pack (structure check finds it).
  rm "$CHUNK"
  expect_exit 6 psafe -r "$REPO" verify "${P[@]}"
  grep -q "$KEY" "$T/out"; grep -q "$ID" "$T/out"
  expect_exit 6 psafe -r "$REPO" restore "${P[@]}" "$ID" --to "$T/r.img"
  grep -q "$KEY" "$T/err"; grep -q "$ID" "$T/err"; one_line
  cp "$T/saved-chunk" "$CHUNK"
  still_good "missing chunk put back"

  # Corrupted manifest -> 6 naming it.
  SNAP="$REPO/snapshots/$ID"; cp "$SNAP" "$T/saved-snap"
  printf 'garbage' >> "$SNAP"
  expect_exit 6 psafe -r "$REPO" restore "${P[@]}" "$ID" --to "$T/r.img"
  grep -q "snapshots/$ID" "$T/err"; one_line
  cp "$T/saved-snap" "$SNAP"

  # Format from the future -> 12, nothing written.
  cp "$REPO/config" "$T/saved-config"
  sed -i 's/"format": 2/"format": 4/' "$REPO/config"
  expect_exit 12 psafe -r "$REPO" backup "${P[@]}" "$T/a.img"
  grep -q "repository format 4 is newer than this pvesafe supports (3); upgrade pvesafe" "$T/err"; one_line

  # Settings changed by someone without the key (smaller chunks) -> 6, nothing written.
  cp "$T/saved-config" "$REPO/config"
  sed -i 's/"min_size_bytes": [0-9]*/"min_size_bytes": 4096/' "$REPO/config"
  expect_exit 6 psafe -r "$REPO" backup "${P[@]}" "$T/a.img"
  grep -q "fail their authentication" "$T/err"; one_line
  cp "$T/saved-config" "$REPO/config"

  # A manifest stored under another snapshot's name -> 6 naming it.
  OTHER_ID=0123456789abcdef0123456789abcdef
  cp "$REPO/snapshots/$ID" "$REPO/snapshots/$OTHER_ID"
  expect_exit 6 psafe -r "$REPO" restore "${P[@]}" "$OTHER_ID" --to "$T/r.img"
  grep -q "holds the manifest of snapshot $ID" "$T/err"; one_line
  rm "$REPO/snapshots/$OTHER_ID"
  cp "$T/saved-config" "$REPO/config"
  still_good "future format"

  # Repository disk full while backing up -> 8, in a small tmpfs (user + mount namespace).
  if unshare -r -m true 2> /dev/null || [[ $(id -u) == 0 ]]; then
    SMALL="$T/small"; mkdir -p "$SMALL"
    head -c $((64 * 1024 * 1024)) /dev/urandom > "$T/big.img"
    # Copy the repository into a tmpfs 8 MiB larger than it, then back up 64 MiB of random data.
    fs_kib=$(( $(du -sk "$REPO" | cut -f1) + 8192 ))
    rc=0
    unshare -r -m sh -c '
      mount -t tmpfs -o size="$7"k none "$1" || exit 99
      cp -a "$2/." "$1/"
      "$3" -r "$1" backup --passphrase-file "$4" "$5" 2> "$6"; rc=$?
      "$3" -r "$1" verify --passphrase-file "$4" --read-data > /dev/null 2>> "$6" || exit 98
      exit $rc' sh "$SMALL" "$REPO" "$PVESAFE_BIN" "$PASSFILE" "$T/big.img" "$T/err" "$fs_kib" || rc=$?
    if [[ $rc == 99 ]]; then
      note "SKIP disk-full case: cannot mount tmpfs here"
    else
      [[ $rc == 8 ]] || { echo "disk full: expected 8, got $rc"; cat "$T/err"; exit 1; }
      grep -q "disk full writing" "$T/err"
      note "disk full while backing up -> 8, repository on the full disk still verifies"
    fi
  fi
fi

# The catalog recorded the failures with their messages.
psafe report --kind backup --json > "$T/rep.json"
grep -q '"result": "error"' "$T/rep.json"
echo "PASS"
