# Shared helpers of the repository end-to-end tests. Source it; it sets `set -euo pipefail`,
# a per-test scratch directory ($T, removed on exit), a catalog, a passphrase file and:
#   new_repo            prints a fresh repository location: a directory under $T, or, when
#                       PVESAFE_TEST_S3_BASE=s3://bucket/prefix is set, a fresh prefix under it
#                       (store options from PVESAFE_TEST_STORE_OPTS, e.g. "-o s3.endpoint=...")
#   psafe                runs pvesafe with the store options and the passphrase file
#   expect_exit N CMD   runs CMD, fails unless it exits N; its stderr is in $T/err
#   gen_image ARGS      the deterministic image generator (bench/backup/gen_image.cpp)
#   is_local_repo LOC   true for a directory repository
set -euo pipefail

: "${PVESAFE_BIN:?PVESAFE_BIN must point to the pvesafe binary}"
: "${PVESAFE_BUILD_DIR:=$(dirname "$(dirname "$PVESAFE_BIN")")}"
GEN_IMAGE="${PVESAFE_GEN_IMAGE:-$PVESAFE_BUILD_DIR/bin/pvesafe-gen-image}"

T=$(mktemp -d "${TMPDIR:-/tmp}/pvesafe-e2e.XXXXXX")
cleanup_hooks=()
_cleanup() {
  local rc=$?
  for h in "${cleanup_hooks[@]}"; do eval "$h" || true; done
  rm -rf "$T"
  exit $rc
}
trap _cleanup EXIT
on_exit() { cleanup_hooks+=("$1"); }

export PVESAFE_CATALOG="$T/catalog.db"
unset PVESAFE_PASSPHRASE PVESAFE_REPOSITORY CREDENTIALS_DIRECTORY
PASSFILE="$T/passphrase"
( umask 077; printf 'correct horse battery staple\n' > "$PASSFILE" )

read -r -a STORE_OPTS <<< "${PVESAFE_TEST_STORE_OPTS:-}"

_repo_counter=0
new_repo() {
  _repo_counter=$((_repo_counter + 1))
  if [[ -n "${PVESAFE_TEST_S3_BASE:-}" ]]; then
    printf '%s/pvesafe-e2e-%s-%s-%s\n' "${PVESAFE_TEST_S3_BASE%/}" "$(date +%s%N)" "$$" "$_repo_counter"
  else
    mktemp -d -u "$T/repoXXXXXX"
  fi
}

is_local_repo() { [[ "$1" != s3://* ]]; }

# pvesafe with the test's store options; the caller passes -r REPO and the command.
psafe() { "$PVESAFE_BIN" "${STORE_OPTS[@]}" "$@"; }

expect_exit() {
  local want=$1; shift
  local rc=0
  "$@" 2> "$T/err" > "$T/out" || rc=$?
  if [[ "$rc" != "$want" ]]; then
    echo "FAIL: expected exit $want, got $rc: $*" >&2
    cat "$T/err" >&2
    exit 1
  fi
}

gen_image() {
  if [[ ! -x "$GEN_IMAGE" ]]; then
    echo "SKIP: $GEN_IMAGE not built (cmake --build ... --target pvesafe-gen-image)" >&2
    exit 77
  fi
  "$GEN_IMAGE" "$@"
}

# Size of a file in bytes.
fsize() { stat -c %s "$1"; }

# Prints a note for the test log.
note() { echo "== $*"; }
