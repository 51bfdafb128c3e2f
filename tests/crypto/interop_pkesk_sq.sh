#!/bin/bash
# Public-key encryption of objects against Sequoia (sq 0.27): keys made by `sq key generate`
# (cv25519 and rsa3k, unprotected, and cv25519 protected by a password), pvesafe encrypting to
# the certificate sq extracts and sq decrypting, sq encrypting to it and pvesafe decrypting with
# the key file. sq reads passwords only from its terminal: `pgp_tool pty` types them.
source "$(dirname "$0")/lib.sh"
command -v sq >/dev/null || { echo "sq not installed"; exit 77; }
"$PGP_TOOL" pty true >/dev/null 2>&1 || { echo "no pseudo-terminals available for sq's prompt"; exit 77; }

cd "$WORK"
make_mixed big 10
head -c 100000 /dev/urandom > small
: > empty
SQ=(sq --force)
"${SQ[@]}" key generate --userid '<cv@sq.example>' --export cv.key 2>/dev/null
"${SQ[@]}" key generate --cipher-suite rsa3k --userid '<rsa@sq.example>' --export rsa.key 2>/dev/null
"$PGP_TOOL" pty sq --force key generate --with-password --userid '<cvp@sq.example>' --export cvp.key \
  >/dev/null 2>&1
for k in cv rsa cvp; do
  "${SQ[@]}" key extract-cert --output "$k.cert" "$k.key" 2>/dev/null
done
# pvesafe's key password for cvp is the one pgp_tool pty typed.
export PVESAFE_PGP_KEY_PASSFILE="$PASSFILE"
N=0

# 1. pvesafe encrypts to the certificate, sq decrypts with the key; same session key.
sq_reads() {  # MSG PLAIN WHAT KEY
  N=$((N + 1))
  local run=("${SQ[@]}")
  [[ $4 == cvp ]] && run=("$PGP_TOOL" pty sq --force)
  if ! "${run[@]}" decrypt --recipient-key "$4.key" --dump-session-key --output "out.sq.$N" "$1" \
      >/dev/null 2>sq.err; then
    CHECKS=$((CHECKS + 1))
    fail "$3: sq decrypt failed: $(tr '\r\n' '  ' < sq.err)"
    return
  fi
  check_same "$2" "out.sq.$N" "$3"
  rm -f "out.sq.$N"
}
for k in cv rsa cvp; do
  for f in empty big small; do  # small last: its session key is compared below
    "$PGP_TOOL" encrypt-to "$k.cert" "$f" "$f.$k.pgp"
    sq_reads "$f.$k.pgp" "$f" "sq reads pvesafe message to sq key $k ($f)" "$k"
  done
  CHECKS=$((CHECKS + 1))
  sqkey=$(tr -d '\r' < sq.err | sed -n 's/^ *Session key: //p')
  len=$(sq packet dump "small.$k.pgp" 2>/dev/null | sed -n 's/^Public-Key Encrypted Session Key Packet, new CTB, \([0-9]*\) bytes/\1/p')
  # New-format header: 2 octets for bodies under 192 octets, 3 up to 8383.
  hdr=2; [[ $len -ge 192 ]] && hdr=3
  ours=$(head -c $((len + hdr)) "small.$k.pgp" | "$PGP_TOOL" session-key "$k.key")
  [[ -n "$sqkey" && "9:$sqkey" == "$ours" ]] || fail "$k: session keys differ: sq 9:$sqkey, pvesafe $ours"
done

# 2. sq encrypts to the certificate, pvesafe decrypts with the key file.
pvesafe_reads() {  # MSG PLAIN WHAT KEY
  rm -f out.pvesafe
  if ! "$PGP_TOOL" decrypt-key "$4.key" "$1" out.pvesafe 2>pvesafe.err; then
    CHECKS=$((CHECKS + 1))
    fail "$3: $(cat pvesafe.err)"
    return
  fi
  check_same "$2" out.pvesafe "$3"
}
for k in cv rsa cvp; do
  for f in empty small big; do
    N=$((N + 1))
    "${SQ[@]}" encrypt --binary --recipient-cert "$k.cert" --output "msg.$N" "$f" 2>/dev/null
    pvesafe_reads "msg.$N" "$f" "pvesafe reads sq encrypt to $k ($f)" "$k"
  done
  N=$((N + 1))
  "${SQ[@]}" encrypt --binary --compression zlib --recipient-cert "$k.cert" --output "msg.$N" big 2>/dev/null
  pvesafe_reads "msg.$N" big "pvesafe reads sq encrypt --compression zlib to $k" "$k"
done
N=$((N + 1))
"${SQ[@]}" encrypt --binary --recipient-cert rsa.cert --recipient-cert cv.cert --output "msg.$N" small 2>/dev/null
pvesafe_reads "msg.$N" small "pvesafe reads sq encrypt to two recipients" cv

# 3. A wrong password for the protected key is refused (4).
CHECKS=$((CHECKS + 1))
rc=0
PVESAFE_PGP_KEY_PASSFILE=<(printf 'wrong\n') "$PGP_TOOL" decrypt-key cvp.key small.cvp.pgp x 2>/dev/null || rc=$?
[[ $rc -eq 4 ]] || fail "wrong password for the sq key: exit $rc, expected 4"

finish
