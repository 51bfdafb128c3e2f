#!/bin/bash
# pvesafe's OpenPGP writer against rnp's reader, and rnp's writer against pvesafe's reader.
source "$(dirname "$0")/lib.sh"
command -v rnp >/dev/null || { echo "rnp not installed"; exit 77; }

mkdir -m 700 "$WORK/rnp"
# The password comes from file descriptor 3, never from argv.
RNP=(rnp --homedir "$WORK/rnp" --pass-fd 3 --overwrite)
cd "$WORK"
make_mixed big 10
make_mixed mid 1
head -c 100000 /dev/urandom > small
: > empty

# 1. pvesafe writes, rnp reads.
rnp_reads() {  # MSG PLAIN WHAT
  rm -f out.rnp
  if ! "${RNP[@]}" --decrypt "$1" --output out.rnp 3<"$PASSFILE" 2>rnp.err >/dev/null; then
    CHECKS=$((CHECKS + 1))
    fail "$3: rnp --decrypt failed: $(tr '\n' ' ' < rnp.err)"
    return
  fi
  check_same "$2" out.rnp "$3"
}
for f in empty small big; do
  "$PGP_TOOL" encrypt "$f" "$f.pgp"
  rnp_reads "$f.pgp" "$f" "rnp reads pvesafe message ($f)"
done
"$PGP_TOOL" encrypt --strong --name small.bin small small.strong.pgp
rnp_reads small.strong.pgp small "rnp reads pvesafe message (kStrong S2K, file name)"
"$PGP_TOOL" encrypt --partial 9 small small.partial.pgp
rnp_reads small.partial.pgp small "rnp reads pvesafe message with partial body lengths"

# 2. rnp writes, pvesafe reads.
rnp_writes() {  # PLAIN WHAT RNP-OPTIONS...
  local plain="$1" what="$2"
  shift 2
  "${RNP[@]}" "$@" --symmetric "$plain" --output msg.rnp 3<"$PASSFILE" >/dev/null
  rm -f out.pvesafe
  if ! "$PGP_TOOL" decrypt msg.rnp out.pvesafe 2>pvesafe.err; then
    CHECKS=$((CHECKS + 1))
    fail "pvesafe reads rnp $what: $(cat pvesafe.err)"
    return
  fi
  check_same "$plain" out.pvesafe "pvesafe reads rnp $what"
}
rnp_writes big "-c (default compression)"
rnp_writes big "-c -z 0" -z 0
rnp_writes mid "-c --zlib" --zlib
rnp_writes mid "-c --bzip" --bzip
rnp_writes small "-c --cipher AES128" --cipher AES128
rnp_writes small "-c --cipher CAMELLIA256" --cipher CAMELLIA256
rnp_writes empty "-c (empty input)"
# From stdin rnp streams with partial body lengths.
"${RNP[@]}" --symmetric - --output msg.rnp < small 3<"$PASSFILE" >/dev/null
rm -f out.pvesafe
"$PGP_TOOL" decrypt msg.rnp out.pvesafe || true
check_same small out.pvesafe "pvesafe reads rnp -c from stdin"

# 3. What pvesafe does not read is refused as unsupported (exit 12), naming the algorithm.
refused() {  # WHAT EXPECTED-TEXT RNP-OPTIONS...
  local what="$1" text="$2"
  shift 2
  CHECKS=$((CHECKS + 1))
  "${RNP[@]}" "$@" --symmetric small --output msg.rnp 3<"$PASSFILE" >/dev/null
  local rc=0
  "$PGP_TOOL" decrypt msg.rnp out.pvesafe 2>pvesafe.err || rc=$?
  if [[ $rc -ne 12 ]] || ! grep -q "$text" pvesafe.err; then
    fail "rnp $what: exit $rc, expected 12 naming '$text': $(cat pvesafe.err)"
  else
    echo "ok: rnp $what refused: $(cat pvesafe.err)"
  fi
}
refused "--aead=ocb" "AEAD" --aead=ocb
refused "--aead=eax" "AEAD" --aead=eax
refused "--cipher TWOFISH" "Twofish" --cipher TWOFISH

# 4. A wrong password is refused by rnp on a pvesafe message.
CHECKS=$((CHECKS + 1))
if "${RNP[@]}" --decrypt small.pgp --output x 3< <(printf 'wrong\n') >/dev/null 2>&1; then
  fail "rnp decrypted a pvesafe message with a wrong password"
fi

finish
