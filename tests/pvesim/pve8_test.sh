#!/bin/bash
# A generated PVE 8 cluster: HA groups instead of rules, version strings, generated guests.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
pvesim_start --nodes 4 --guests 20 --pve-version 8.4.1 --task-seconds 0.1
cd "$here" && /usr/bin/python3 "$here/pve8_test.py"
