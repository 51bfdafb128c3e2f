#!/bin/sh
# vzdump hook installed by the pvesafe role. vzdump calls it as
#   HOOK PHASE MODE VMID    (backup-start, backup-end, backup-abort, pre-stop, ...)
#   HOOK PHASE              (job-start, job-end, job-abort)
# with TARGET, LOGFILE, DUMPDIR, STOREID and HOSTNAME in the environment. It logs every phase
# to the journal (tag pvesafe-vzdump) and records the last finished archive per guest under
# /var/lib/pvesafe/vzdump/, which the commander's `pvesafe backup` reads to find new archives.
set -eu
phase=${1:-}
vmid=${3:-}
logger -t pvesafe-vzdump "phase=$phase mode=${2:-} vmid=$vmid target=${TARGET:-}"
case "$phase" in
  backup-end)
    mkdir -p /var/lib/pvesafe/vzdump
    printf '%s\n' "${TARGET:-}" > "/var/lib/pvesafe/vzdump/$vmid.last.tmp"
    mv "/var/lib/pvesafe/vzdump/$vmid.last.tmp" "/var/lib/pvesafe/vzdump/$vmid.last"
    ;;
  backup-abort|job-abort)
    logger -p user.err -t pvesafe-vzdump "vzdump $phase for ${vmid:-job}"
    ;;
esac
exit 0
