#!/usr/bin/env bash
# The repository end-to-end suite (tests/repo) run against a Ceph RGW instead of a directory:
# the same scripts, with PVESAFE_TEST_S3_BASE and PVESAFE_TEST_STORE_OPTS pointing at S3.
source "$PVESAFE_SOURCE_DIR/tests/repo/lib.sh"
source "$PVESAFE_SOURCE_DIR/tests/s3/lib.sh"
s3_start_rgw
export PVESAFE_TEST_S3_BASE="s3://e2e-$$/runs"
export PVESAFE_TEST_STORE_OPTS="-o s3.endpoint=$PVESAFE_TEST_S3_ENDPOINT -o s3.create-bucket=true"
failed=()
for t in roundtrip errors locks recovery_doc; do
  script="$PVESAFE_SOURCE_DIR/tests/repo/$t.sh"
  [[ -f "$script" ]] || continue
  rc=0
  bash "$script" > "$T/$t.log" 2>&1 || rc=$?
  if [[ $rc == 0 ]]; then
    note "$t against RGW: ok"
  elif [[ $rc == 77 ]]; then
    note "$t against RGW: skipped ($(tail -1 "$T/$t.log"))"
  else
    note "$t against RGW: FAILED (exit $rc)"
    tail -30 "$T/$t.log"
    failed+=("$t")
  fi
done
(( ${#failed[@]} == 0 )) || { echo "failed: ${failed[*]}"; exit 1; }
