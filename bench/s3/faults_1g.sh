#!/usr/bin/env bash
# The fault-injection test (tests/s3/faults.sh) on a 1 GiB image: backup through a proxy that
# fails 5% of requests of each kind (500, 503 SlowDown, reset, slow, truncated), verify
# --read-data, bit-identical restore; then a 100%-failure stop and a rerun reusing chunks.
# Prints its log and the wall time. The test suite runs the same script on 128 MiB.
#
#   bench/s3/faults_1g.sh [BUILD_DIR]     (default ./build)
set -euo pipefail
BUILD=$(cd "${1:-${PVESAFE_BUILD_DIR:-build}}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
export PVESAFE_BIN=$BUILD/bin/pvesafe PVESAFE_BUILD_DIR=$BUILD PVESAFE_SOURCE_DIR=$SRC
export FAULT_IMAGE_MIB=${FAULT_IMAGE_MIB:-1024}
echo "fault injection on a $FAULT_IMAGE_MIB MiB image; load $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s%N)
bash "$SRC/tests/s3/faults.sh"
echo "wall time: $(( ($(date +%s%N) - start) / 1000000 )) ms"
