#!/bin/bash
# OpenPGP throughput: pvesafe's writer and reader against gpg on the same 256 MiB of mixed data.
#
#   cmake --build build --target pgp_tool pgp_bench -j2
#   bench/crypto/bench_openpgp.sh [BUILD_DIR] [RUNS]        (defaults: build, 3)
#
# Reports medians of RUNS runs, in MB/s (10^6 bytes per second) of plaintext, by wall clock and by
# CPU time (user+sys; steadier on a shared machine), and the ratio pvesafe / gpg:
#   in memory  pgp_bench: encrypt_message / decrypt_message on a buffer, and OpenSSL's raw
#              AES-256-CFB and SHA-1 on the same buffer for reference;
#   file->file pgp_tool encrypt|decrypt IN OUT against
#              gpg --symmetric --compress-algo none / gpg --decrypt (gpg 2.2 defaults otherwise:
#              AES-256, its calibrated S2K count; pvesafe uses kFast, 1024 bytes).
# Not part of the test suite.
set -euo pipefail

BUILD="${1:-build}"
RUNS="${2:-3}"
PGP_TOOL="$BUILD/bin/pgp_tool"
PGP_BENCH="$BUILD/bin/pgp_bench"
for b in "$PGP_TOOL" "$PGP_BENCH"; do
  [[ -x "$b" ]] || { echo "missing $b: cmake --build $BUILD --target pgp_tool pgp_bench" >&2; exit 2; }
done
command -v gpg >/dev/null || { echo "gpg is not installed" >&2; exit 2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/pvesafe-pgp-bench.XXXXXX")"
export GNUPGHOME="$WORK/gnupg"
cleanup() {
  gpgconf --homedir "$GNUPGHOME" --kill all >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -m 700 "$GNUPGHOME"
umask 077
printf 'benchmark passphrase\n' > "$WORK/pass"
export PVESAFE_PGP_PASSFILE="$WORK/pass"
GPG=(gpg --batch --yes --quiet --no-tty --pinentry-mode loopback --passphrase-file "$WORK/pass")

# 256 MiB: random, text and zero MiBs in turn (no compression is involved either way).
DATA="$WORK/data"
: > "$DATA"
yes 'pvesafe benchmark line of compressible text, 0123456789' | head -c 1048576 > "$WORK/text" || true
for ((i = 0; i < 256; i++)); do
  case $((i % 3)) in
    0) head -c 1048576 /dev/urandom >> "$DATA" ;;
    1) cat "$WORK/text" >> "$DATA" ;;
    2) head -c 1048576 /dev/zero >> "$DATA" ;;
  esac
done
BYTES=$(stat -c %s "$DATA")

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
mbps() { awk -v b="$BYTES" -v t="$1" 'BEGIN {printf "%.0f", b / t / 1e6}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b / a}'; }  # time ratio -> speed ratio

# timed FILE CMD...: appends "wall cpu" of one run to FILE.
timed() {
  local out="$1"
  shift
  /usr/bin/time -f '%e %U %S' -o "$WORK/t" "$@"
  awk '{printf "%s %.3f\n", $1, $2 + $3}' "$WORK/t" >> "$out"
}

echo "data: $BYTES bytes; $RUNS runs each; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# In memory.
"$PGP_BENCH" "$DATA" "$RUNS" > "$WORK/mem"
mem() {  # NAME COLUMN(2 wall, 3 cpu) -> median seconds
  awk -v n="$1" -v c="$2" '$1 == n {print $c}' "$WORK/mem" | median
}

# File to file.
: > "$WORK/pe"; : > "$WORK/pd"; : > "$WORK/ge"; : > "$WORK/gd"
for ((r = 0; r < RUNS; r++)); do
  timed "$WORK/pe" "$PGP_TOOL" encrypt "$DATA" "$WORK/msg.pgp"
  timed "$WORK/ge" "${GPG[@]}" --symmetric --compress-algo none --output "$WORK/msg.gpg" "$DATA"
  timed "$WORK/pd" "$PGP_TOOL" decrypt "$WORK/msg.pgp" "$WORK/out.pgp"
  timed "$WORK/gd" "${GPG[@]}" --decrypt --output "$WORK/out.gpg" "$WORK/msg.gpg"
  cmp -s "$DATA" "$WORK/out.pgp" || { echo "pvesafe round trip differs" >&2; exit 1; }
  cmp -s "$DATA" "$WORK/out.gpg" || { echo "gpg round trip differs" >&2; exit 1; }
  # gpg must also read what pvesafe wrote (the comparison is between equal formats).
  "${GPG[@]}" --decrypt --output "$WORK/cross" "$WORK/msg.pgp"
  cmp -s "$DATA" "$WORK/cross" || { echo "gpg cannot read the pvesafe message" >&2; exit 1; }
  rm -f "$WORK/cross" "$WORK/out.pgp" "$WORK/out.gpg"
done
col() { awk -v c="$2" '{print $c}' "$1" | median; }

printf '\n%-40s %12s %12s\n' "median throughput (MB/s)" "wall" "CPU"
row() { printf '%-40s %12s %12s\n' "$1" "$(mbps "$2")" "$(mbps "$3")"; }
row "OpenSSL AES-256-CFB (reference)" "$(mem openssl-aes256cfb 2)" "$(mem openssl-aes256cfb 3)"
row "OpenSSL SHA-1 (reference)" "$(mem openssl-sha1 2)" "$(mem openssl-sha1 3)"
row "pvesafe encrypt, in memory" "$(mem pvesafe-encrypt 2)" "$(mem pvesafe-encrypt 3)"
row "pvesafe decrypt, in memory" "$(mem pvesafe-decrypt 2)" "$(mem pvesafe-decrypt 3)"
row "pvesafe encrypt, file to file" "$(col "$WORK/pe" 1)" "$(col "$WORK/pe" 2)"
row "gpg --symmetric, file to file" "$(col "$WORK/ge" 1)" "$(col "$WORK/ge" 2)"
row "pvesafe decrypt, file to file" "$(col "$WORK/pd" 1)" "$(col "$WORK/pd" 2)"
row "gpg --decrypt, file to file" "$(col "$WORK/gd" 1)" "$(col "$WORK/gd" 2)"

printf '\n%-40s %12s %12s\n' "ratio (speed)" "wall" "CPU"
printf '%-40s %12s %12s\n' "pvesafe encrypt / gpg --symmetric" \
  "$(ratio "$(col "$WORK/pe" 1)" "$(col "$WORK/ge" 1)")" "$(ratio "$(col "$WORK/pe" 2)" "$(col "$WORK/ge" 2)")"
printf '%-40s %12s %12s\n' "pvesafe decrypt / gpg --decrypt" \
  "$(ratio "$(col "$WORK/pd" 1)" "$(col "$WORK/gd" 1)")" "$(ratio "$(col "$WORK/pd" 2)" "$(col "$WORK/gd" 2)")"
printf '%-40s %12s %12s\n' "pvesafe encrypt (memory) / raw AES-CFB" \
  "$(ratio "$(mem pvesafe-encrypt 2)" "$(mem openssl-aes256cfb 2)")" \
  "$(ratio "$(mem pvesafe-encrypt 3)" "$(mem openssl-aes256cfb 3)")"
