#!/bin/bash
# Public-key encryption of objects against gpg: keys made by gpg --quick-gen-key (cv25519 and
# rsa3072, passphrase-protected), pvesafe encrypting to the exported public key and gpg
# decrypting, gpg encrypting to the key and pvesafe decrypting with the exported secret key
# file, through gpg-agent, and through a session key command built on gpg.
source "$(dirname "$0")/lib.sh"
command -v gpg >/dev/null || { echo "gpg not installed"; exit 77; }
command -v gpg-agent >/dev/null || { echo "gpg-agent not installed"; exit 77; }

cd "$WORK"
KEYPASS="$WORK/keypass"
printf 'interop key pässphrase, not the message one\n' > "$KEYPASS"
G=(gpg --batch --yes --quiet --no-tty --pinentry-mode loopback --passphrase-file "$KEYPASS")
make_mixed big 10
head -c 100000 /dev/urandom > small
: > empty

fpr_of() { gpg --with-colons --list-keys "$1" | awk -F: '$1 == "fpr" {print $10; exit}'; }
"${G[@]}" --quick-gen-key 'pvesafe cv25519 <cv@interop.example>' future-default default never
"${G[@]}" --quick-gen-key 'pvesafe rsa3072 <rsa@interop.example>' rsa3072 sign,cert never
"${G[@]}" --quick-add-key "$(fpr_of rsa@interop.example)" rsa3072 encr never
# An RSA primary key that encrypts itself (no subkey).
"${G[@]}" --quick-gen-key 'pvesafe rsa2048 primary <rsaprim@interop.example>' rsa2048 sign,cert,encr never
for k in cv rsa rsaprim; do
  gpg --export "$k@interop.example" > "$k.pub"
  gpg --export --armor "$k@interop.example" > "$k.pub.asc"
  "${G[@]}" --export-secret-keys "$k@interop.example" > "$k.sec"
done

# The key pvesafe picks is the one gpg encrypts to.
for k in cv rsa rsaprim; do
  CHECKS=$((CHECKS + 1))
  want=$(gpg --with-colons --list-keys "$k@interop.example" |
    awk -F: '($1 == "sub" || $1 == "pub") && $12 ~ /e/ {pick = 1} pick && $1 == "fpr" {print $10; exit}')
  got=$("$PGP_TOOL" key-info "$k.pub.asc" | awk '$1 == "encryption" {print $2}')
  [[ "$want" == "$got" ]] || fail "$k: pvesafe encrypts to $got, gpg to $want"
done

# 1. pvesafe encrypts to the public key, gpg decrypts with the secret key.
gpg_reads() {  # MSG PLAIN WHAT ALGO
  CHECKS=$((CHECKS + 1))
  if ! "${G[@]}" --status-fd 3 --decrypt --output out.gpg "$1" 2>gpg.err 3>gpg.status; then
    fail "$3: gpg --decrypt failed: $(tr '\n' ' ' < gpg.err)"
    return
  fi
  grep -q '^\[GNUPG:\] DECRYPTION_OKAY' gpg.status || fail "$3: gpg did not report DECRYPTION_OKAY"
  grep -q '^\[GNUPG:\] GOODMDC' gpg.status || fail "$3: gpg did not verify an MDC"
  grep -q "^\[GNUPG:\] ENC_TO [0-9A-F]* $4 " gpg.status || fail "$3: not encrypted to algorithm $4"
  grep -q '^\[GNUPG:\] DECRYPTION_INFO 2 9' gpg.status || fail "$3: not SEIPD with AES-256"
  if grep -qi 'warning' gpg.err; then fail "$3: gpg warned: $(tr '\n' ' ' < gpg.err)"; fi
  CHECKS=$((CHECKS - 1))
  check_same "$2" out.gpg "$3"
  rm -f out.gpg
}
for k in cv rsa rsaprim; do
  algo=18; [[ $k == cv ]] || algo=1
  for f in empty small big; do
    "$PGP_TOOL" encrypt-to --name "$f.bin" "$k.pub" "$f" "$f.$k.pgp"
    gpg_reads "$f.$k.pgp" "$f" "gpg reads pvesafe message to $k ($f)" "$algo"
  done
  "$PGP_TOOL" encrypt-to "$k.pub.asc" small "small.$k.armoredkey.pgp"
  gpg_reads "small.$k.armoredkey.pgp" small "gpg reads pvesafe message to $k (armored key)" "$algo"
done
"$PGP_TOOL" encrypt-to --fresh-ephemeral cv.pub small small.fresh.pgp
gpg_reads small.fresh.pgp small "gpg reads pvesafe message with a fresh ephemeral key" 18

# The session key pvesafe's secret-key provider finds is the one gpg reports.
for k in cv rsa; do
  CHECKS=$((CHECKS + 1))
  gpg_key=$("${G[@]}" --status-fd 1 --show-session-key --decrypt --output /dev/null "small.$k.pgp" 2>/dev/null |
    sed -n 's/^\[GNUPG:\] SESSION_KEY //p')
  # The PKESK is the first packet: its length from gpg --list-packets.
  len=$(gpg --list-packets "small.$k.pgp" 2>/dev/null | awk '/tag=1 / {for (i = 1; i <= NF; i++) if ($i ~ /^hlen=|^plen=/) {split($i, a, "="); s += a[2]} print s; exit}')
  ours=$(head -c "$len" "small.$k.pgp" | PVESAFE_PGP_KEY_PASSFILE="$KEYPASS" "$PGP_TOOL" session-key "$k.sec")
  [[ -n "$gpg_key" && "$gpg_key" == "$ours" ]] || fail "$k: session keys differ: gpg $gpg_key, pvesafe $ours"
done

# 2. gpg encrypts to the key, pvesafe decrypts: secret key file, gpg-agent, command.
CMD="{ cat; printf '\\322\\026\\001'; head -c 21 /dev/zero; } | gpg -q --batch --status-fd 3 --show-session-key -d -o /dev/null 3>&1 >/dev/null 2>&1 | sed -n 's/^\\[GNUPG:\\] SESSION_KEY //p'"
pvesafe_reads() {  # MSG PLAIN WHAT KEY
  local how
  for how in key agent command; do
    rm -f out.pvesafe
    local rc=0
    case $how in
      key) PVESAFE_PGP_KEY_PASSFILE="$KEYPASS" "$PGP_TOOL" decrypt-key "$4.sec" "$1" out.pvesafe 2>pvesafe.err || rc=$? ;;
      agent) PVESAFE_PGP_KEY_PASSFILE="$KEYPASS" "$PGP_TOOL" decrypt-agent "$1" out.pvesafe 2>pvesafe.err || rc=$? ;;
      command) "$PGP_TOOL" decrypt-command "$CMD" "$1" out.pvesafe 2>pvesafe.err || rc=$? ;;
    esac
    if [[ $rc -ne 0 ]]; then
      CHECKS=$((CHECKS + 1))
      fail "$3 ($how): $(cat pvesafe.err)"
      continue
    fi
    check_same "$2" out.pvesafe "$3 ($how)"
  done
}
for k in cv rsa rsaprim; do
  G_ENC=(gpg --batch --yes --quiet --trust-model always --output msg.gpg)
  "${G_ENC[@]}" --cipher-algo AES256 --compress-algo none -r "$k@interop.example" --encrypt small
  pvesafe_reads msg.gpg small "pvesafe reads gpg -r $k --cipher-algo AES256 --compress-algo none" "$k"
  "${G_ENC[@]}" -r "$k@interop.example" --encrypt < big  # defaults, compression, partial lengths
  pvesafe_reads msg.gpg big "pvesafe reads gpg -r $k (defaults, from stdin)" "$k"
done
"${G_ENC[@]}" -R cv@interop.example --compress-algo none --encrypt small
pvesafe_reads msg.gpg small "pvesafe reads gpg -R (anonymous recipient)" cv
"${G_ENC[@]}" -r rsa@interop.example -r cv@interop.example --encrypt small
pvesafe_reads msg.gpg small "pvesafe reads gpg to two recipients" cv
"${G_ENC[@]}" --cipher-algo AES128 --compress-algo zlib -r rsa@interop.example --encrypt small
pvesafe_reads msg.gpg small "pvesafe reads gpg --cipher-algo AES128 --compress-algo zlib" rsa

# gpg --export-secret-subkeys: the primary key is a stub without secret; the subkey decrypts.
"${G[@]}" --export-secret-subkeys cv@interop.example > cv.subkeys.sec
rm -f out.pvesafe
PVESAFE_PGP_KEY_PASSFILE="$KEYPASS" "$PGP_TOOL" decrypt-key cv.subkeys.sec small.cv.pgp out.pvesafe 2>pvesafe.err ||
  cat pvesafe.err >&2
check_same small out.pvesafe "pvesafe reads with gpg --export-secret-subkeys (stub primary key)"

# 3. Failures: wrong key passphrase (4), agent that cannot ask (4), wrong key (4), tampering (6).
expect_rc() {  # RC WHAT COMMAND...   (with $SAYS set, stderr must contain it)
  local want="$1" what="$2"
  shift 2
  CHECKS=$((CHECKS + 1))
  local rc=0
  "$@" >/dev/null 2>pvesafe.err </dev/null || rc=$?
  if [[ $rc -ne $want ]] || { [[ -n "${SAYS:-}" ]] && ! grep -q -- "$SAYS" pvesafe.err; }; then
    fail "$what: exit $rc, expected $want${SAYS:+ saying '$SAYS'}: $(cat pvesafe.err)"
  else
    echo "ok: $what: $(head -c 300 pvesafe.err)"
  fi
}
printf 'not the key passphrase\n' > wrongpass
SAYS="does not unlock" expect_rc 4 "secret key file, wrong passphrase" env PVESAFE_PGP_KEY_PASSFILE=wrongpass "$PGP_TOOL" decrypt-key cv.sec small.cv.pgp x
SAYS="none was given" expect_rc 4 "secret key file, no passphrase" "$PGP_TOOL" decrypt-key cv.sec small.cv.pgp x
gpgconf --kill gpg-agent
SAYS="Bad passphrase" expect_rc 4 "gpg-agent, wrong loopback passphrase" env PVESAFE_PGP_KEY_PASSFILE=wrongpass "$PGP_TOOL" decrypt-agent small.cv.pgp x
gpgconf --kill gpg-agent
expect_rc 4 "gpg-agent, no passphrase cached and no terminal for pinentry" env -u GPG_TTY -u DISPLAY "$PGP_TOOL" decrypt-agent small.cv.pgp x
expect_rc 0 "gpg-agent, loopback passphrase" env PVESAFE_PGP_KEY_PASSFILE="$KEYPASS" "$PGP_TOOL" decrypt-agent small.cv.pgp x
expect_rc 0 "gpg-agent, passphrase now cached by the agent" env -u GPG_TTY -u DISPLAY "$PGP_TOOL" decrypt-agent small.cv.pgp x
SAYS="encrypted to key ID" expect_rc 4 "secret key of another key" env PVESAFE_PGP_KEY_PASSFILE="$KEYPASS" "$PGP_TOOL" decrypt-key rsaprim.sec small.cv.pgp x
cp small.cv.pgp bad.pgp
printf '\x55' | dd of=bad.pgp bs=1 seek=5000 conv=notrunc status=none
SAYS="integrity check" expect_rc 6 "tampered object" env PVESAFE_PGP_KEY_PASSFILE="$KEYPASS" "$PGP_TOOL" decrypt-key cv.sec bad.pgp x
CHECKS=$((CHECKS + 1))
if "${G[@]}" --decrypt --output /dev/null bad.pgp 2>/dev/null; then
  fail "gpg accepted a tampered pvesafe message"
fi
SAYS="expired on" expect_rc 3 "a key expired since (pvesafe refuses to encrypt to it)" bash -c \
  "gpg --batch --quiet --pinentry-mode loopback --passphrase-file '$KEYPASS' --quick-set-expire $(fpr_of rsa@interop.example) seconds=1 '*' && sleep 2 && gpg --export rsa@interop.example > rsa.expired.pub && '$PGP_TOOL' encrypt-to rsa.expired.pub small x"
# ... while what was encrypted to it before still decrypts.
expect_rc 0 "decrypting with the expired key" env PVESAFE_PGP_KEY_PASSFILE="$KEYPASS" "$PGP_TOOL" decrypt-key rsa.sec small.rsa.pgp x
check_same small x "what was encrypted to the key before it expired still decrypts"

finish
