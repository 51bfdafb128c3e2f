#!/bin/bash
# Debian's python3-proxmoxer against pvesim: password and token auth, create/start/stop/delete.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
/usr/bin/python3 -c "import proxmoxer" 2>/dev/null || { echo "python3-proxmoxer not installed" >&2; exit 77; }
pvesim_start --config "$here/../../tools/pvesim/pvesim.example.toml" --task-seconds 0.1
cd "$here" && /usr/bin/python3 "$here/proxmoxer_test.py"
