#!/bin/bash
# pvesim API behaviour: auth failures, task lifecycle, vzdump files, restore sha256, faults.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
pvesim_start --config "$here/../../tools/pvesim/pvesim.example.toml" --task-seconds 0.1
cd "$here" && /usr/bin/python3 "$here/api_test.py" "$@"
