#!/bin/bash
# pvesim's archives against an independent VMA reader and GNU tar (see archive_test.py).
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
: "${PVESIM_BIN:?PVESIM_BIN must point to the pvesim binary}"
[ -x "$PVESIM_BIN" ] || { echo "pvesim binary not built: $PVESIM_BIN" >&2; exit 77; }
for tool in tar zstd gzip lzop; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (scripts/install-deps.sh)"; exit 77; }
done
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/archive_test.py" "$@"
