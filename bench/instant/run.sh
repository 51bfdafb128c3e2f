#!/usr/bin/env bash
# Instant restore vs copy-then-boot for the test guest on 1 GiB and 32 GiB disks (mostly
# sparse), through the same NBD export; prints medians and ratios. See bench.py --help.
#   bench/instant/run.sh BUILD_DIR [--runs 3] [--sizes 1G,32G] [--payload-mib 256] [--source image|repo|s3]
#       [--export-cmd 'CMD with {image} and {socket}'] [--label TEXT] [--accel tcg]
# A slower source, e.g. a 1 Gbit/s link with 20 ms per read (a stand-in for S3, not S3):
#   bench/instant/run.sh build --label "simulated 1 Gbit/s, 20 ms per read" \
#     --export-cmd 'build/bin/pvesafe-nbd-fault-server --image {image} --socket {socket} --latency-us 20000 --bandwidth 125000000'
set -euo pipefail
exec python3 "$(dirname "$0")/bench.py" "$@"
