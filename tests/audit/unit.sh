#!/usr/bin/env bash
# The audit and corosync lint unit tests under the "audit" label (they are also in "unit").
set -euo pipefail
bin="${PVESAFE_BUILD_DIR:?}/src/pvesafe_cluster_test"
[[ -x $bin ]] || { echo "SKIP: pvesafe_cluster_test not built"; exit 77; }
"$bin" --gtest_filter='CorosyncConf.*:CorosyncLint.*:Audit.*:DebianVersions.*' --gtest_brief=1
