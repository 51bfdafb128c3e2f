#!/usr/bin/env bash
# The whole test suite of pvesafe, as CI runs it (.ci/run calls this script).
#   1. installs the build dependencies and the real servers/clients the tests use (Debian 12)
#   2. builds with warnings as errors and runs every test (unit, interop, S3 on a real Ceph RGW,
#      PVE simulator, observability lab, Ansible) with CTest
#   3. builds with ASan+UBSan and runs the unit tests again
# Tests that need a server start it through the project's scripts and stop it afterwards.
# Options: PVESAFE_TEST_LABELS=regex runs only matching labels (e.g. "unit|interop").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/build.sh
labels=()
[[ -n "${PVESAFE_TEST_LABELS:-}" ]] && labels=(-L "$PVESAFE_TEST_LABELS")
status=0
ctest --test-dir build --output-on-failure -j 2 --timeout 900 "${labels[@]}" || status=1
echo "== sanitizer build (ASan+UBSan): unit tests"
scripts/build.sh --sanitize --target unit-tests
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j 2 --timeout 900 -L unit || status=1
exit $status
