#!/usr/bin/env bash
# Configures and builds pvesafe into ./build (or $PVESAFE_BUILD_DIR).
#   scripts/build.sh              release build with debug info
#   scripts/build.sh --sanitize   ASan+UBSan build into ./build-asan
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${PVESAFE_BUILD_DIR:-build}
extra=()
if [[ "${1:-}" == "--sanitize" ]]; then
  build_dir=${PVESAFE_ASAN_BUILD_DIR:-build-asan}
  extra+=(-DPVESAFE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
  shift
fi
jobs=${PVESAFE_JOBS:-$(nproc)}
cmake -S . -B "$build_dir" -G Ninja -DPVESAFE_WERROR=ON "${extra[@]}" >/dev/null
cmake --build "$build_dir" -j "$jobs" "$@"
