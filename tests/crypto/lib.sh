# Shared setup of the OpenPGP interoperability tests (sourced).
# Provides: $WORK (private temp dir, removed on exit), $PASSFILE (mode 0600), $PGP_TOOL,
# $GNUPGHOME, make_mixed FILE MIB, check_same A B WHAT, fail MSG, and counters.
set -euo pipefail

PGP_TOOL="${PVESAFE_BUILD_DIR:?PVESAFE_BUILD_DIR is not set}/bin/pgp_tool"
[[ -x "$PGP_TOOL" ]] || { echo "pgp_tool not built: $PGP_TOOL" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/pvesafe-pgp.XXXXXX")"
cleanup() {
  if [[ -n "${GNUPGHOME:-}" && -d "$GNUPGHOME" ]]; then
    gpgconf --homedir "$GNUPGHOME" --kill all >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export GNUPGHOME="$WORK/gnupg"
mkdir -m 700 "$GNUPGHOME"
umask 077
PASSFILE="$WORK/passphrase"
# Spaces, punctuation and UTF-8, so every tool must hash exactly the same bytes.
printf 'interop päss wörd / correct horse battery staple\n' > "$PASSFILE"
export PVESAFE_PGP_PASSFILE="$PASSFILE"

FAILURES=0
CHECKS=0
fail() {
  echo "FAIL: $*" >&2
  FAILURES=$((FAILURES + 1))
}

# check_same EXPECTED ACTUAL WHAT: bit-identical or a failure.
check_same() {
  CHECKS=$((CHECKS + 1))
  if [[ -f "$2" ]] && cmp -s "$1" "$2"; then
    echo "ok: $3"
  else
    fail "$3: output differs from the plaintext"
  fi
}

# make_mixed FILE MIB: mixed data (random, text, zeros), so compressors have real work.
make_mixed() {
  local out="$1" mib="$2" i
  : > "$out"
  for ((i = 0; i < mib; i++)); do
    case $((i % 3)) in
      0) head -c 1048576 /dev/urandom >> "$out" ;;
      1) { yes "pvesafe mixed test data line $i, compressible text" || true; } | head -c 1048576 >> "$out" ;;
      2) head -c 1048576 /dev/zero >> "$out" ;;
    esac
  done
  head -c 12345 /dev/urandom >> "$out"  # not a multiple of any block or chunk size
}

finish() {
  echo "$CHECKS checks, $FAILURES failures"
  [[ $FAILURES -eq 0 && $CHECKS -gt 0 ]]
}
