#!/usr/bin/env bash
# Runs the S3 store integration tests against a Ceph RGW started for this run, plus a TLS
# listener with a self-signed certificate for the certificate-mismatch case.
set -euo pipefail
src=${PVESAFE_SOURCE_DIR:?}
bin=${PVESAFE_BUILD_DIR:?}/bin/pvesafe_s3_integration_test
command -v radosgw >/dev/null || { echo "radosgw not installed"; exit 77; }
[[ -x "$bin" ]] || { echo "missing $bin (build target pvesafe_s3_integration_test)"; exit 77; }

work=$(mktemp -d /tmp/pvesafe-s3-it.XXXXXX)
tls_pid=""
https_pid=""
proxy_pid=""
cleanup() {
  [[ -n "$proxy_pid" ]] && kill "$proxy_pid" 2>/dev/null
  [[ -n "$tls_pid" ]] && kill "$tls_pid" 2>/dev/null
  [[ -n "$https_pid" ]] && kill "$https_pid" 2>/dev/null
  bash "$src/tests/servers/rgw.sh" stop "$work/rgw" || true
  rm -rf "$work"
}
trap cleanup EXIT

bash "$src/tests/servers/rgw.sh" start "$work/rgw" >/dev/null
eval "$(bash "$src/tests/servers/rgw.sh" env "$work/rgw")"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
export PVESAFE_TEST_CLOSED_PORT=$(free_port)

# A TLS listener whose certificate is self-signed and issued for another name.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/tls.key" -out "$work/tls.crt" -days 1 \
  -subj "/CN=other.example" -addext "subjectAltName=DNS:other.example" >/dev/null 2>&1
tls_port=$(free_port)
openssl s_server -quiet -accept "127.0.0.1:$tls_port" -cert "$work/tls.crt" -key "$work/tls.key" -www \
  </dev/null >/dev/null 2>&1 &
tls_pid=$!
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$tls_port") 2>/dev/null && break
  sleep 0.1
done
export PVESAFE_TEST_TLS_ENDPOINT="https://127.0.0.1:$tls_port"
export PVESAFE_TEST_TLS_CERT="$work/tls.crt"

# HTTPS in front of the gateway (certificate for 127.0.0.1, trusted through s3.ca-bundle).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/good.key" -out "$work/good.crt" -days 1 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
python3 "$src/tests/s3/fault_proxy.py" --upstream "$PVESAFE_TEST_S3_ENDPOINT" --rate 0 \
  --port-file "$work/https.port" --cert "$work/good.crt" --key "$work/good.key" >/dev/null 2>&1 &
https_pid=$!
for _ in $(seq 100); do [[ -s "$work/https.port" ]] && break; sleep 0.1; done
export PVESAFE_TEST_HTTPS_ENDPOINT="https://127.0.0.1:$(cat "$work/https.port")"
export PVESAFE_TEST_HTTPS_CA="$work/good.crt"

# A plain-HTTP fault proxy (no faults until a test asks for them).
python3 "$src/tests/s3/fault_proxy.py" --upstream "$PVESAFE_TEST_S3_ENDPOINT" --rate 0 \
  --port-file "$work/proxy.port" >/dev/null 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do [[ -s "$work/proxy.port" ]] && break; sleep 0.1; done
export PVESAFE_TEST_PROXY_ENDPOINT="http://127.0.0.1:$(cat "$work/proxy.port")"

"$bin" --gtest_brief=1
