#!/bin/bash
# Cost of encrypting objects to a public key (PKESK v3 + SEIPD v1) against today's passphrase
# mode (SKESK v4 + SEIPD v1): per object and per GiB, X25519 (cv25519) and RSA, encrypt and
# decrypt, and the throughput per core on 256 KiB and 2 MiB objects. See pkesk_bench.cpp.
#
#   cmake --build build --target pkesk_bench -j2
#   bench/crypto/bench_pkesk.sh [BUILD_DIR] [RUNS] [MIB]        (defaults: build, 5, 128)
#
# Also the cost of one object's session key through gpg-agent and through a gpg process (the
# keys are imported into a private GNUPGHOME for that).
#
# Keys: the committed gpg fixtures (tests/crypto/data: cv25519 protected by a passphrase,
# rsa3072) and, generated here by gpg without passphrase, cv25519, rsa2048 and rsa4096
# (per-object cost only). Medians of RUNS runs. Not part of the test
# suite.
set -euo pipefail

BUILD="${1:-build}"
RUNS="${2:-5}"
MIB="${3:-128}"
BENCH="$BUILD/bin/pkesk_bench"
[[ -x "$BENCH" ]] || { echo "missing $BENCH: cmake --build $BUILD --target pkesk_bench" >&2; exit 2; }
command -v gpg >/dev/null || { echo "gpg is not installed" >&2; exit 2; }
DATA_DIR="$(cd "$(dirname "$0")/../../tests/crypto/data" && pwd)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/pvesafe-pkesk-bench.XXXXXX")"
export GNUPGHOME="$WORK/gnupg"
cleanup() {
  gpgconf --homedir "$GNUPGHOME" --kill all >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -m 700 "$GNUPGHOME"
umask 077
printf 'pvesafe fixture\n' > "$WORK/keypass"
export PVESAFE_PGP_KEY_PASSFILE="$WORK/keypass"

G=(gpg --batch --quiet --pinentry-mode loopback --passphrase '')
# An unprotected cv25519 key besides the protected fixture: gpg-agent unlocks a protected key
# (its own S2K) for every operation, an unprotected one not.
"${G[@]}" --quick-gen-key 'bench cv25519 <cv@bench.example>' future-default default never
gpg --export cv@bench.example > "$WORK/cv.pub"
"${G[@]}" --export-secret-keys cv@bench.example > "$WORK/cv.sec"
for bits in 2048 4096; do
  "${G[@]}" --quick-gen-key "bench rsa$bits <rsa$bits@bench.example>" "rsa$bits" sign,cert,encr never
  gpg --export "rsa$bits@bench.example" > "$WORK/rsa$bits.pub"
  "${G[@]}" --export-secret-keys "rsa$bits@bench.example" > "$WORK/rsa$bits.sec"
done

gpg --batch --quiet --pinentry-mode loopback --passphrase-file "$WORK/keypass" --import \
  "$DATA_DIR/gpg_cv25519.sec.asc" "$DATA_DIR/gpg_rsa3072.sec.gpg"
export PVESAFE_BENCH_GPG=1

# Mixed data: random, text and zero MiBs in turn (encryption does not compress).
DATA="$WORK/data"
yes 'pvesafe benchmark line of compressible text, 0123456789' | head -c 1048576 > "$WORK/text" || true
for ((i = 0; i < MIB; i++)); do
  case $((i % 3)) in
    0) head -c 1048576 /dev/urandom ;;
    1) cat "$WORK/text" ;;
    2) head -c 1048576 /dev/zero ;;
  esac
done > "$DATA"

echo "data: $MIB MiB; $RUNS runs each; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
"$BENCH" "$DATA" "$RUNS" \
  "cv25519=$DATA_DIR/gpg_cv25519.pub.asc,$DATA_DIR/gpg_cv25519.sec.asc" \
  "cv25519-unprotected=$WORK/cv.pub,$WORK/cv.sec,per-object" \
  "rsa2048=$WORK/rsa2048.pub,$WORK/rsa2048.sec,per-object" \
  "rsa3072=$DATA_DIR/gpg_rsa3072.pub.gpg,$DATA_DIR/gpg_rsa3072.sec.gpg" \
  "rsa4096=$WORK/rsa4096.pub,$WORK/rsa4096.sec,per-object"
