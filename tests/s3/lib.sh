# Helpers of the S3 script tests. Source after tests/repo/lib.sh (which sets up $T, psafe,
# gen_image, expect_exit and the EXIT trap with on_exit hooks).
#   s3_start_rgw          starts a Ceph RGW under $T/rgw (stopped on exit) and exports its env
#   s3_start_proxy [ARGS] starts tests/s3/fault_proxy.py in front of it; sets PROXY_URL
#   proxy_config QUERY    changes the proxy's settings (rate=, kinds=, fail_after=)
#   proxy_stats           prints the proxy's counters (JSON)
#   json_field FILE NAME  prints a top-level number or string field of a JSON file
S3_TESTS_DIR="$PVESAFE_SOURCE_DIR/tests/s3"
RGW_SH="$PVESAFE_SOURCE_DIR/tests/servers/rgw.sh"

s3_start_rgw() {
  command -v radosgw >/dev/null || { echo "SKIP: radosgw not installed"; exit 77; }
  on_exit "bash '$RGW_SH' stop '$T/rgw'"
  bash "$RGW_SH" start "$T/rgw" > /dev/null
  eval "$(bash "$RGW_SH" env "$T/rgw")"
  export AWS_EC2_METADATA_DISABLED=true
}

s3_start_proxy() {
  rm -f "$T/proxy.port"
  python3 "$S3_TESTS_DIR/fault_proxy.py" --upstream "$PVESAFE_TEST_S3_ENDPOINT" \
    --port-file "$T/proxy.port" "$@" > "$T/proxy.log" 2>&1 &
  local pid=$!
  on_exit "kill $pid"
  for _ in $(seq 100); do [[ -s "$T/proxy.port" ]] && break; sleep 0.1; done
  [[ -s "$T/proxy.port" ]] || { echo "fault proxy did not start"; cat "$T/proxy.log"; exit 1; }
  PROXY_URL="http://127.0.0.1:$(cat "$T/proxy.port")"
}

proxy_config() { curl -sf -X POST "$PROXY_URL/__fault__/config?$1" > /dev/null; }
proxy_stats() { curl -sf "$PROXY_URL/__fault__/stats"; }

json_field() {
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}
