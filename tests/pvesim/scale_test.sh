#!/bin/bash
# pvesim at 100 nodes and 10,000 guests: complete, consistent lists.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
pvesim_start --nodes 100 --guests 10000 --backup-size 64K
cd "$here" && /usr/bin/python3 "$here/scale_test.py"
