#!/bin/bash
# pvesafe's OpenPGP writer against Sequoia's reader, and Sequoia's writer against pvesafe's
# reader. sq 0.27 reads passwords only from its terminal and has no password-file option, so
# `pgp_tool pty` runs it on a pseudo-terminal and types the passphrase at its prompts (the
# passphrase never appears in argv or in the log).
source "$(dirname "$0")/lib.sh"
command -v sq >/dev/null || { echo "sq not installed"; exit 77; }
"$PGP_TOOL" pty true >/dev/null 2>&1 || { echo "no pseudo-terminals available for sq's prompt"; exit 77; }

cd "$WORK"
make_mixed big 10
make_mixed mid 1
head -c 100000 /dev/urandom > small
: > empty
N=0

# 1. pvesafe writes, sq reads.
sq_reads() {  # MSG PLAIN WHAT
  N=$((N + 1))
  if ! "$PGP_TOOL" pty sq decrypt --output "out.sq.$N" "$1" >/dev/null 2>"sq.err"; then
    CHECKS=$((CHECKS + 1))
    fail "$3: sq decrypt failed: $(tr '\r\n' '  ' < sq.err)"
    return
  fi
  check_same "$2" "out.sq.$N" "$3"
  rm -f "out.sq.$N"
}
for f in empty small big; do
  "$PGP_TOOL" encrypt "$f" "$f.pgp"
  sq_reads "$f.pgp" "$f" "sq reads pvesafe message ($f)"
done
"$PGP_TOOL" encrypt --strong --name small.bin small small.strong.pgp
sq_reads small.strong.pgp small "sq reads pvesafe message (kStrong S2K, file name)"
"$PGP_TOOL" encrypt --partial 9 small small.partial.pgp
sq_reads small.partial.pgp small "sq reads pvesafe message with partial body lengths"

# 2. sq writes (an encrypted session key; padding by default), pvesafe reads.
sq_writes() {  # PLAIN WHAT SQ-OPTIONS...
  local plain="$1" what="$2"
  shift 2
  N=$((N + 1))
  if ! "$PGP_TOOL" pty sq encrypt --binary --symmetric "$@" --output "msg.sq.$N" "$plain" \
      >/dev/null 2>sq.err; then
    CHECKS=$((CHECKS + 1))
    fail "sq encrypt $what failed: $(tr '\r\n' '  ' < sq.err)"
    return
  fi
  rm -f out.pvesafe
  if ! "$PGP_TOOL" decrypt "msg.sq.$N" out.pvesafe 2>pvesafe.err; then
    CHECKS=$((CHECKS + 1))
    fail "pvesafe reads sq $what: $(cat pvesafe.err)"
    return
  fi
  check_same "$plain" out.pvesafe "pvesafe reads sq $what"
}
sq_writes big "encrypt --symmetric (default: padded)"
sq_writes mid "--compression none" --compression none
sq_writes small "--compression zip" --compression zip
sq_writes small "--compression zlib" --compression zlib
sq_writes small "--compression bzip2" --compression bzip2
sq_writes empty "(empty input)"

# 3. sq refuses a tampered pvesafe message.
CHECKS=$((CHECKS + 1))
cp small.pgp bad.pgp
printf '\x55' | dd of=bad.pgp bs=1 seek=5000 conv=notrunc status=none
if "$PGP_TOOL" pty sq decrypt --output out.bad bad.pgp >/dev/null 2>&1; then
  fail "sq accepted a tampered pvesafe message"
fi

finish
