#!/bin/bash
# Public-key encryption of objects against rnp 0.16: keys made by `rnpkeys --generate-key`
# (its default RSA, and EdDSA + Curve25519 through --expert), password-protected; pvesafe
# encrypting to the exported public key and rnp decrypting, rnp encrypting to the key and
# pvesafe decrypting with the exported secret key. Passwords come from a file descriptor.
source "$(dirname "$0")/lib.sh"
command -v rnp >/dev/null || { echo "rnp not installed"; exit 77; }
command -v rnpkeys >/dev/null || { echo "rnpkeys not installed"; exit 77; }

cd "$WORK"
mkdir -m 700 rnp
make_mixed big 10
head -c 100000 /dev/urandom > small
: > empty
KEYPASS="$WORK/keypass"
printf 'rnp key pässword\n' > "$KEYPASS"
for i in 1 2 3 4; do cat "$KEYPASS"; done > keypass4  # rnpkeys asks more than once
RK=(rnpkeys --homedir "$WORK/rnp" --notty)
"${RK[@]}" --generate-key --userid 'pvesafe rsa <rsa@rnp.example>' --pass-fd 3 3<keypass4 >/dev/null 2>&1
printf '22\n' | rnpkeys --homedir "$WORK/rnp" --generate-key --expert \
  --userid 'pvesafe cv25519 <cv@rnp.example>' --pass-fd 3 3<keypass4 >/dev/null 2>&1
for k in rsa cv; do
  "${RK[@]}" --export-key "$k@rnp.example" > "$k.pub.asc"
  "${RK[@]}" --export-key --secret "$k@rnp.example" > "$k.sec.asc"
done
export PVESAFE_PGP_KEY_PASSFILE="$KEYPASS"
RNP=(rnp --homedir "$WORK/rnp" --overwrite)

# The encryption key pvesafe picks is rnp's [E] subkey, and the key is RSA 2048 / cv25519.
for k in rsa cv; do
  CHECKS=$((CHECKS + 1))
  want=$("${RK[@]}" --list-keys "$k@rnp.example" | awk '/^sub .*\[E\]/ {getline; print toupper($1); exit}')
  got=$("$PGP_TOOL" key-info "$k.pub.asc" | awk '$1 == "encryption" {print $2}')
  [[ -n "$want" && "$want" == "$got" ]] || fail "$k: pvesafe encrypts to '$got', rnp lists '$want'"
done

# 1. pvesafe encrypts, rnp decrypts.
rnp_reads() {  # MSG PLAIN WHAT
  rm -f out.rnp
  if ! "${RNP[@]}" --decrypt "$1" --output out.rnp --pass-fd 3 3<"$KEYPASS" >/dev/null 2>rnp.err; then
    CHECKS=$((CHECKS + 1))
    fail "$3: rnp --decrypt failed: $(tr '\n' ' ' < rnp.err)"
    return
  fi
  check_same "$2" out.rnp "$3"
}
for k in rsa cv; do
  for f in empty small big; do
    "$PGP_TOOL" encrypt-to "$k.pub.asc" "$f" "$f.$k.pgp"
    rnp_reads "$f.$k.pgp" "$f" "rnp reads pvesafe message to rnp key $k ($f)"
  done
done

# 2. rnp encrypts, pvesafe decrypts with the exported secret key.
pvesafe_reads() {  # MSG PLAIN WHAT KEY
  rm -f out.pvesafe
  if ! "$PGP_TOOL" decrypt-key "$4.sec.asc" "$1" out.pvesafe 2>pvesafe.err; then
    CHECKS=$((CHECKS + 1))
    fail "$3: $(cat pvesafe.err)"
    return
  fi
  check_same "$2" out.pvesafe "$3"
}
for k in rsa cv; do
  for f in empty small big; do
    "${RNP[@]}" --encrypt -r "$k@rnp.example" --cipher AES256 -z 0 "$f" --output msg.rnp >/dev/null
    pvesafe_reads msg.rnp "$f" "pvesafe reads rnp --encrypt -r $k --cipher AES256 -z 0 ($f)" "$k"
  done
  "${RNP[@]}" --encrypt -r "$k@rnp.example" big --output msg.rnp >/dev/null  # rnp's defaults
  pvesafe_reads msg.rnp big "pvesafe reads rnp --encrypt -r $k (defaults)" "$k"
  "${RNP[@]}" --encrypt -r "$k@rnp.example" --cipher AES128 --bzip < big --output msg.rnp >/dev/null
  pvesafe_reads msg.rnp big "pvesafe reads rnp --encrypt -r $k --cipher AES128 --bzip (stdin)" "$k"
done

# 3. rnp's AEAD mode is refused as unsupported (12), naming it.
CHECKS=$((CHECKS + 1))
"${RNP[@]}" --encrypt -r cv@rnp.example --aead=ocb small --output aead.rnp >/dev/null
rc=0
"$PGP_TOOL" decrypt-key cv.sec.asc aead.rnp x 2>pvesafe.err || rc=$?
if [[ $rc -ne 12 ]] || ! grep -q AEAD pvesafe.err; then
  fail "rnp --aead=ocb: exit $rc, expected 12 naming AEAD: $(cat pvesafe.err)"
fi

finish
