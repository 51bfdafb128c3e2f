#!/usr/bin/env bash
# promtool unit tests for every alert: fires on the fault, silent on healthy data and on blips
# shorter than the hold. The test files are generated from the rules' own annotation templates.
set -euo pipefail
command -v promtool >/dev/null || { echo "promtool not installed" >&2; exit 77; }
src=${PVESAFE_SOURCE_DIR:?}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
promtool check rules "$src/deploy/prometheus/rules/pvesafe.rules.yml"
/usr/bin/python3 "$src/deploy/prometheus/tests/gen_rule_tests.py" \
  "$src/deploy/prometheus/rules/pvesafe.rules.yml" "$tmp"
# The committed copies must match what the generator writes (they are what reviewers read).
for f in pvesafe_fast.test.yml pvesafe_slow.test.yml; do
  diff <(grep -v '^rule_files\|^- ' "$tmp/$f") <(grep -v '^rule_files\|^- ' "$src/deploy/prometheus/tests/$f") >/dev/null ||
    { echo "deploy/prometheus/tests/$f is out of date: rerun gen_rule_tests.py" >&2; exit 1; }
done
promtool test rules "$tmp/pvesafe_fast.test.yml" "$tmp/pvesafe_slow.test.yml"
# The shipped Prometheus config is valid once the rules sit where it expects them.
sed "s#/etc/prometheus/rules/pvesafe.rules.yml#$src/deploy/prometheus/rules/pvesafe.rules.yml#" \
  "$src/deploy/prometheus/prometheus.yml" >"$tmp/prometheus.yml"
promtool check config "$tmp/prometheus.yml"
