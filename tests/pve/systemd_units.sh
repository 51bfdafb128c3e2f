#!/usr/bin/env bash
# systemd-analyze verify of deploy/systemd/: every unit must load without a warning (unknown
# keys, bad calendar specs and missing binaries are all reported), with the pvesafe binary of
# this build standing in for /usr/bin/pvesafe.
set -euo pipefail
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
: "${PVESAFE_SOURCE_DIR:?}" "${PVESAFE_BIN:?}"
dir=$(mktemp -d /tmp/pvesafe-units.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cp "$PVESAFE_SOURCE_DIR"/deploy/systemd/*.service "$PVESAFE_SOURCE_DIR"/deploy/systemd/*.timer "$dir/"
bin=$PVESAFE_BIN
[ -x "$bin" ] || bin=/bin/true
sed -i "s#/usr/bin/pvesafe#$bin#" "$dir"/*.service
for t in "$dir"/*.timer; do
  [ -f "${t%.timer}.service" ] || { echo "FAIL: $(basename "$t") has no service"; exit 1; }
done
for s in "$dir"/*.service; do
  grep -q '^NoNewPrivileges=yes' "$s" || { echo "FAIL: $(basename "$s") lacks NoNewPrivileges"; exit 1; }
  grep -q '^ProtectSystem=strict' "$s" || { echo "FAIL: $(basename "$s") lacks ProtectSystem"; exit 1; }
  grep -q '^LoadCredential=pvesafe-pve-token:' "$s" || { echo "FAIL: $(basename "$s") lacks the token credential"; exit 1; }
  if grep -E '^(Environment|ExecStart).*(SECRET|PASSWORD|PASSPHRASE)=' "$s"; then
    echo "FAIL: a secret in $(basename "$s")"; exit 1
  fi
done
out=$(cd "$dir" && systemd-analyze verify --man=no ./*.service ./*.timer 2>&1) || { echo "$out"; echo FAIL; exit 1; }
if [ -n "$out" ]; then echo "$out"; echo "FAIL: warnings"; exit 1; fi
echo "PASS: $(ls "$dir" | wc -l) units verified"
