#!/bin/bash
# OpenPGP throughput: pvesafe's writer and reader against gpg on the same 256 MiB of mixed data.
#
#   cmake --build build --target pgp_tool pgp_bench -j2
#   bench/crypto/bench_openpgp.sh [BUILD_DIR] [RUNS]        (defaults: build, 3)
#
# Reports medians of RUNS runs, in MB/s (10^6 bytes per second) of plaintext, by wall clock, by
# CPU time (user+sys of all threads; steadier on a shared machine), by user CPU time, and for the
# in-memory runs by the calling thread's CPU time ("caller": the critical path, i.e. the wall
# time when the writer's MDC thread has an idle core), and the ratio pvesafe / gpg:
#   in memory  pgp_bench: encrypt_message / decrypt_message on one 256 MiB buffer (encryption
#              also with the MDC forced onto the calling thread), the same data as 4 MiB
#              messages (repository-sized objects), and OpenSSL's raw AES-256-CFB and SHA-1 on
#              the same buffer for reference; CPU time there is the whole process (both threads);
#   file       pgp_tool encrypt|decrypt IN /dev/null against
#              gpg --symmetric --compress-algo none / gpg --decrypt, output to /dev/null (gpg 2.2 defaults:
#              AES-256, its calibrated S2K count; pvesafe uses kFast, 1024 bytes). pgp_tool
#              holds whole messages in memory (the API is one buffer per message) while gpg
#              streams, so its system time includes faulting in 256 MiB buffers.
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

# timed FILE CMD...: appends "wall cpu user" of one run to FILE.
timed() {
  local out="$1"
  shift
  /usr/bin/time -f '%e %U %S' -o "$WORK/t" "$@"
  awk '{printf "%s %.3f %s\n", $1, $2 + $3, $2}' "$WORK/t" >> "$out"
}

echo "data: $BYTES bytes; $RUNS runs each; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# In memory.
"$PGP_BENCH" "$DATA" "$RUNS" > "$WORK/mem"
mem() {  # NAME COLUMN(2 wall, 3 cpu, 4 user, 5 calling thread) -> median seconds
  awk -v n="$1" -v c="$2" '$1 == n {print $c}' "$WORK/mem" | median
}

# File to file: input from the page cache, output to /dev/null, so disk writeback of 256 MiB
# files does not land in either tool's times. The messages are checked first, untimed: each
# tool's message decrypts bit-identically with the other tool.
"$PGP_TOOL" encrypt "$DATA" "$WORK/msg.pgp"
"${GPG[@]}" --symmetric --compress-algo none --output "$WORK/msg.gpg" "$DATA"
"${GPG[@]}" --decrypt --output "$WORK/check" "$WORK/msg.pgp"
cmp -s "$DATA" "$WORK/check" || { echo "gpg does not read the pvesafe message back" >&2; exit 1; }
"$PGP_TOOL" decrypt "$WORK/msg.gpg" "$WORK/check"
cmp -s "$DATA" "$WORK/check" || { echo "pvesafe does not read the gpg message back" >&2; exit 1; }
rm -f "$WORK/check"
sync
: > "$WORK/pe"; : > "$WORK/pd"; : > "$WORK/ge"; : > "$WORK/gd"
for ((r = 0; r < RUNS; r++)); do
  timed "$WORK/pe" "$PGP_TOOL" encrypt "$DATA" /dev/null
  timed "$WORK/ge" "${GPG[@]}" --symmetric --compress-algo none --output /dev/null "$DATA"
  timed "$WORK/pd" "$PGP_TOOL" decrypt "$WORK/msg.pgp" /dev/null
  timed "$WORK/gd" "${GPG[@]}" --decrypt --output /dev/null "$WORK/msg.gpg"
done
col() { awk -v c="$2" '{print $c}' "$1" | median; }

printf '\n%-40s %10s %10s %10s %10s\n' "median throughput (MB/s)" "wall" "CPU" "user CPU" "caller"
row() {
  local caller="-"
  [[ -n "${5:-}" ]] && caller="$(mbps "$5")"
  printf '%-40s %10s %10s %10s %10s\n' "$1" "$(mbps "$2")" "$(mbps "$3")" "$(mbps "$4")" "$caller"
}
row "OpenSSL AES-256-CFB (reference)" "$(mem openssl-aes256cfb 2)" "$(mem openssl-aes256cfb 3)" "$(mem openssl-aes256cfb 4)" "$(mem openssl-aes256cfb 5)"
row "OpenSSL SHA-1 (reference)" "$(mem openssl-sha1 2)" "$(mem openssl-sha1 3)" "$(mem openssl-sha1 4)" "$(mem openssl-sha1 5)"
row "pvesafe encrypt, MDC on the same thread" "$(mem pvesafe-encrypt-1thread 2)" "$(mem pvesafe-encrypt-1thread 3)" "$(mem pvesafe-encrypt-1thread 4)" "$(mem pvesafe-encrypt-1thread 5)"
row "pvesafe encrypt, in memory" "$(mem pvesafe-encrypt 2)" "$(mem pvesafe-encrypt 3)" "$(mem pvesafe-encrypt 4)" "$(mem pvesafe-encrypt 5)"
row "pvesafe decrypt, in memory" "$(mem pvesafe-decrypt 2)" "$(mem pvesafe-decrypt 3)" "$(mem pvesafe-decrypt 4)" "$(mem pvesafe-decrypt 5)"
row "pvesafe encrypt, 4 MiB objects" "$(mem pvesafe-encrypt-4MiB-objects 2)" "$(mem pvesafe-encrypt-4MiB-objects 3)" "$(mem pvesafe-encrypt-4MiB-objects 4)" "$(mem pvesafe-encrypt-4MiB-objects 5)"
row "pvesafe decrypt, 4 MiB objects" "$(mem pvesafe-decrypt-4MiB-objects 2)" "$(mem pvesafe-decrypt-4MiB-objects 3)" "$(mem pvesafe-decrypt-4MiB-objects 4)" "$(mem pvesafe-decrypt-4MiB-objects 5)"
row "pvesafe encrypt, file" "$(col "$WORK/pe" 1)" "$(col "$WORK/pe" 2)" "$(col "$WORK/pe" 3)"
row "gpg --symmetric, file" "$(col "$WORK/ge" 1)" "$(col "$WORK/ge" 2)" "$(col "$WORK/ge" 3)"
row "pvesafe decrypt, file" "$(col "$WORK/pd" 1)" "$(col "$WORK/pd" 2)" "$(col "$WORK/pd" 3)"
row "gpg --decrypt, file" "$(col "$WORK/gd" 1)" "$(col "$WORK/gd" 2)" "$(col "$WORK/gd" 3)"

printf '\n%-40s %10s %10s %10s %10s\n' "ratio (speed)" "wall" "CPU" "user CPU" "caller"
rat() {  # LABEL FILE-A FILE-B: speed of A relative to B
  printf '%-40s %10s %10s %10s %10s\n' "$1" "$(ratio "$(col "$2" 1)" "$(col "$3" 1)")" \
    "$(ratio "$(col "$2" 2)" "$(col "$3" 2)")" "$(ratio "$(col "$2" 3)" "$(col "$3" 3)")" "-"
}
rat "pvesafe encrypt / gpg --symmetric" "$WORK/pe" "$WORK/ge"
rat "pvesafe decrypt / gpg --decrypt" "$WORK/pd" "$WORK/gd"
for c in 2 3 4 5; do mem pvesafe-encrypt "$c"; done > "$WORK/enc"
for c in 2 3 4 5; do mem openssl-aes256cfb "$c"; done > "$WORK/cfb"
printf '%-40s %10s %10s %10s %10s\n' "pvesafe encrypt (memory) / raw AES-CFB" \
  "$(ratio "$(sed -n 1p "$WORK/enc")" "$(sed -n 1p "$WORK/cfb")")" \
  "$(ratio "$(sed -n 2p "$WORK/enc")" "$(sed -n 2p "$WORK/cfb")")" \
  "$(ratio "$(sed -n 3p "$WORK/enc")" "$(sed -n 3p "$WORK/cfb")")" \
  "$(ratio "$(sed -n 4p "$WORK/enc")" "$(sed -n 4p "$WORK/cfb")")"
