#!/usr/bin/env bash
# A 1 GiB disk-like image: bit-identical round trip, peak memory bounded, a second backup of the
# same image stores almost nothing, a 2%-changed image stores under 5% of its size.
source "$(dirname "$0")/lib.sh"

SIZE=$((1024 * 1024 * 1024))
REPO=$(new_repo)
P=(--passphrase-file "$PASSFILE")
psafe -r "$REPO" init "${P[@]}" > /dev/null
gen_image --size "$SIZE" --seed 42 > "$T/disk.img"
gen_image --size "$SIZE" --seed 42 --mutate-percent 2 --mutate-regions 8 --mutate-seed 7 > "$T/disk2.img"
note "second image: the first with 2% of its bytes rewritten in 8 regions"

field() { sed -n "s/.*\"$1\": \([0-9.e+]*\).*/\1/p" "$2"; }
peak_kib() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }

/usr/bin/time -v -o "$T/time1" "$PVESAFE_BIN" "${STORE_OPTS[@]}" -r "$REPO" backup "${P[@]}" --json "$T/disk.img" > "$T/b1.json"
stored1=$(field stored_bytes "$T/b1.json")
id1=$(sed -n 's/.*"snapshot_id": "\([0-9a-f]*\)".*/\1/p' "$T/b1.json")
note "first backup: size $SIZE stored $stored1 ($(awk -v a="$stored1" -v s="$SIZE" 'BEGIN{printf "%.1f", 100*a/s}')%), peak RSS $(peak_kib "$T/time1") KiB"

/usr/bin/time -v -o "$T/time2" "$PVESAFE_BIN" "${STORE_OPTS[@]}" -r "$REPO" restore "${P[@]}" "$id1" --to "$T/restored.img" > /dev/null
cmp "$T/disk.img" "$T/restored.img"
rm -f "$T/restored.img"
note "restore bit-identical, peak RSS $(peak_kib "$T/time2") KiB"

psafe -r "$REPO" backup "${P[@]}" --json "$T/disk.img" > "$T/b2.json"
stored2=$(field stored_bytes "$T/b2.json")
note "same image again: stored $stored2 bytes, new chunks $(field new_chunks "$T/b2.json")"

psafe -r "$REPO" backup "${P[@]}" --json "$T/disk2.img" > "$T/b3.json"
stored3=$(field stored_bytes "$T/b3.json")
note "2%-changed image: stored $stored3 bytes = $(awk -v a="$stored3" -v s="$SIZE" 'BEGIN{printf "%.2f", 100*a/s}')% of its size, new chunks $(field new_chunks "$T/b3.json"), reused $(field reused_chunks "$T/b3.json")"

# Assertions on sizes and memory (never on time).
(( stored2 < SIZE / 1000 ))                     # "almost nothing": under 0.1%
(( stored3 < SIZE * 5 / 100 ))                  # under 5%
(( $(peak_kib "$T/time1") < 256 * 1024 ))
(( $(peak_kib "$T/time2") < 256 * 1024 ))
psafe -r "$REPO" restore "${P[@]}" latest --to "$T/restored2.img" > /dev/null
cmp "$T/disk2.img" "$T/restored2.img"
echo "PASS"
