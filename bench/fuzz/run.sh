#!/usr/bin/env bash
# Fuzzes pvesafe's parsers: builds the targets of bench/fuzz with clang (libFuzzer, ASan, UBSan)
# in their own build directory and runs each for SECONDS, starting from its committed corpus
# (bench/fuzz/corpus/<target>; new inputs go to <build>/fuzz-work/<target>, never into git).
# Prints per target: executions, edges covered (libFuzzer's cov:), features, corpus size, and
# the crashes, leaks, timeouts and out-of-memory inputs found (saved under
# <build>/fuzz-artifacts/<target>/). Exits 1 when anything was found.
#   bench/fuzz/run.sh [SECONDS] [TARGET...]     (default 60 s, every target)
# Environment: PVESAFE_FUZZ_BUILD_DIR (default build-fuzz), CC/CXX (default clang-14/clang++-14),
# PVESAFE_JOBS (build jobs, default 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
shift || true
build=${PVESAFE_FUZZ_BUILD_DIR:-build-fuzz}
targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in bench/fuzz/fuzz_*.cpp; do
    t=$(basename "$f" .cpp)
    [[ $t == fuzz_replay ]] || targets+=("${t#fuzz_}")
  done
fi
for tool in "${CC:-clang-14}" "${CXX:-clang++-14}"; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 2; }
done

export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
cmake -S . -B "$build" -G Ninja -DCMAKE_C_COMPILER="${CC:-clang-14}" \
  -DCMAKE_CXX_COMPILER="${CXX:-clang++-14}" -DPVESAFE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "${PVESAFE_JOBS:-2}" --target "${targets[@]/#/fuzz_}" >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
found=0
rows=()
for t in "${targets[@]}"; do
  work=$build/fuzz-work/$t
  art=$build/fuzz-artifacts/$t
  mkdir -p "$work" "$art"
  log=$build/fuzz-artifacts/$t.log
  echo "== $t: fuzzing for $secs s (log: $log)" >&2
  "$build/bin/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$art/" "$work" "bench/fuzz/corpus/$t" >"$log" 2>&1 || true
  execs=$(awk '/^stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
  rate=$(awk '/^stat::average_exec_per_sec/ {print $2}' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
  count() { find "$art" -maxdepth 1 -name "$1-*" | wc -l; }
  crashes=$(count crash) leaks=$(count leak) timeouts=$(count timeout) ooms=$(count oom)
  ((crashes + leaks + timeouts + ooms == 0)) || found=1
  rows+=("$(printf '%-16s %12s %8s %7s %7s %12s %8s %6s %9s %5s' "$t" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes" "$leaks" "$timeouts" "$ooms")")
done
echo "fuzzing: $secs s per target, clang $("${CXX:-clang++-14}" -dumpversion), ASan+UBSan"
printf '%-16s %12s %8s %7s %7s %12s %8s %6s %9s %5s\n' target executions exec/s cov ft corpus \
  crashes leaks timeouts ooms
printf '%s\n' "${rows[@]}"
if ((found)); then
  echo "findings saved under $build/fuzz-artifacts/<target>/; reproduce with $build/bin/fuzz/fuzz_<target> FILE"
fi
exit $found
