#!/bin/bash
# pvesafe's OpenPGP writer against gpg's reader, and gpg's writer against pvesafe's reader.
source "$(dirname "$0")/lib.sh"
command -v gpg >/dev/null || { echo "gpg not installed"; exit 77; }

GPG=(gpg --batch --yes --quiet --no-tty --pinentry-mode loopback --passphrase-file "$PASSFILE")
cd "$WORK"
make_mixed big 10
head -c 100000 /dev/urandom > small
: > empty
printf 'x' > one

# 1. pvesafe writes, gpg reads.
gpg_reads() {  # MSG PLAIN WHAT
  CHECKS=$((CHECKS + 1))
  if ! "${GPG[@]}" --status-fd 3 --decrypt --output out.gpg "$1" 2>gpg.err 3>gpg.status; then
    fail "$3: gpg --decrypt failed: $(tr '\n' ' ' < gpg.err)"
    return
  fi
  grep -q '^\[GNUPG:\] DECRYPTION_OKAY' gpg.status || fail "$3: gpg did not report DECRYPTION_OKAY"
  grep -q '^\[GNUPG:\] GOODMDC' gpg.status || fail "$3: gpg did not verify an MDC"
  if grep -qi 'warning' gpg.err; then fail "$3: gpg warned: $(tr '\n' ' ' < gpg.err)"; fi
  CHECKS=$((CHECKS - 1))
  check_same "$2" out.gpg "$3"
  rm -f out.gpg
}
for f in empty one small big; do
  "$PGP_TOOL" encrypt --name "$f.bin" "$f" "$f.pgp"
  gpg_reads "$f.pgp" "$f" "gpg reads pvesafe message ($f)"
done
"$PGP_TOOL" encrypt --strong small small.strong.pgp
gpg_reads small.strong.pgp small "gpg reads pvesafe message (kStrong S2K)"
"$PGP_TOOL" encrypt --partial 9 small small.partial.pgp
gpg_reads small.partial.pgp small "gpg reads pvesafe message with partial body lengths"
"${GPG[@]}" --list-packets small.partial.pgp 2>/dev/null | grep -q 'partial' ||
  fail "the --partial message has no partial body lengths"

# 2. gpg writes (from stdin, so partial body lengths), pvesafe reads.
pvesafe_reads() {  # MSG PLAIN WHAT
  rm -f out.pvesafe
  if ! "$PGP_TOOL" decrypt "$1" out.pvesafe 2>pvesafe.err; then
    CHECKS=$((CHECKS + 1))
    fail "$3: $(cat pvesafe.err)"
    return
  fi
  check_same "$2" out.pvesafe "$3"
}
gpg_writes() {  # PLAIN WHAT GPG-OPTIONS...
  local plain="$1" what="$2"
  shift 2
  "${GPG[@]}" "$@" --symmetric --output msg.gpg < "$plain"
  "${GPG[@]}" --list-packets msg.gpg 2>/dev/null | grep -q 'partial' ||
    fail "$what: gpg did not use partial body lengths (test precondition)"
  pvesafe_reads msg.gpg "$plain" "pvesafe reads gpg $what"
}
gpg_writes big "default compression" 
gpg_writes big "--compress-algo zip" --compress-algo zip
gpg_writes big "--compress-algo zlib" --compress-algo zlib
gpg_writes big "--compress-algo bzip2" --compress-algo bzip2
gpg_writes big "--compress-algo none" --compress-algo none
for mode in 0 1 3; do
  gpg_writes small "--s2k-mode $mode" --s2k-mode "$mode" --compress-algo none
done
for algo in AES128 AES192 AES256 CAMELLIA128 CAST5; do
  gpg_writes small "--cipher-algo $algo" --cipher-algo "$algo" --compress-algo zip
done
"${GPG[@]}" --symmetric --output empty.gpg < empty
pvesafe_reads empty.gpg empty "pvesafe reads gpg (empty input)"

# 3. Failures are reported with pvesafe's exit codes: 4 wrong passphrase, 6 tampered.
"${GPG[@]}" --compress-algo none --symmetric --output t.gpg < small
CHECKS=$((CHECKS + 1))
rc=0; PVESAFE_PGP_PASSFILE=<(printf 'not the passphrase\n') "$PGP_TOOL" decrypt t.gpg x 2>/dev/null || rc=$?
[[ $rc -eq 4 ]] || fail "wrong passphrase on a gpg message: exit $rc, expected 4"
CHECKS=$((CHECKS + 1))
size=$(stat -c %s t.gpg)
printf '\x55' | dd of=t.gpg bs=1 seek=$((size - 30)) conv=notrunc status=none
rc=0; "$PGP_TOOL" decrypt t.gpg x 2>/dev/null || rc=$?
[[ $rc -eq 6 ]] || fail "tampered gpg message: exit $rc, expected 6"
CHECKS=$((CHECKS + 1))
"$PGP_TOOL" encrypt small mine.pgp
printf '\x55' | dd of=mine.pgp bs=1 seek=5000 conv=notrunc status=none
if "${GPG[@]}" --decrypt --output /dev/null mine.pgp 2>/dev/null; then
  fail "gpg accepted a tampered pvesafe message"
fi

finish
