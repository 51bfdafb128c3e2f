#!/usr/bin/env bash
# Debian root filesystem for the Ansible tests.
#
#   rootfs_tarball            prints the path of the cached tarball, building it on first use;
#                             needs the network, so call it before entering a network namespace
#   rootfs_extract DIR        unpacks a fresh copy of the cached tarball into DIR (a test's own
#                             mktemp -d); never downloads, fails if rootfs_tarball did not run
#
# The tarball is built with `debootstrap --variant=minbase bookworm` from the same Debian mirror
# apt on this machine uses, plus the few packages the roles manage (so converging needs no
# network), and cached in ${PVESAFE_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/pvesafe}. Concurrent
# tests share one build through flock. The mirror (ROOTFS_MIRROR overrides apt's) is probed first
# and debootstrap retried with back-off (ROOTFS_ATTEMPTS, default 4, ROOTFS_RETRY_DELAY seconds
# doubling); an unreachable mirror fails with one line naming it.
set -euo pipefail

ROOTFS_SUITE=${ROOTFS_SUITE:-bookworm}
ROOTFS_INCLUDE=${ROOTFS_INCLUDE:-python3,python3-apt,openssh-server,chrony,unattended-upgrades,sudo,ca-certificates,gnupg,apt-utils,corosync,prometheus,prometheus-alertmanager}
ROOTFS_CACHE_DIR=${PVESAFE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pvesafe}
ROOTFS_ATTEMPTS=${ROOTFS_ATTEMPTS:-4}
ROOTFS_RETRY_DELAY=${ROOTFS_RETRY_DELAY:-5}   # seconds before the second attempt, doubled after
# Bump when ROOTFS_INCLUDE or the build steps change, so stale caches are not reused.
ROOTFS_CACHE_VERSION=3

rootfs_mirror() {
  # First deb URI of the configured sources (deb822 URIs: or one-line deb), for the Debian archive.
  local uri
  [[ -n ${ROOTFS_MIRROR:-} ]] && { echo "$ROOTFS_MIRROR"; return; }
  uri=$(grep -h -E '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
          /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -o -E 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ')
  echo "${uri:-http://deb.debian.org/debian}"
}

rootfs_path() {
  echo "$ROOTFS_CACHE_DIR/debian-$ROOTFS_SUITE-minbase-v$ROOTFS_CACHE_VERSION.tar.zst"
}

# rootfs_build TARBALL: debootstrap into a scratch dir and pack it; retried with back-off. Runs
# in a subshell under the cache lock; the scratch dir goes with that subshell (never across a
# mount debootstrap may have left behind in it).
rootfs_build() {
  local tarball=$1 mirror attempt delay=$ROOTFS_RETRY_DELAY why="" unreachable work
  mirror=$(rootfs_mirror)
  ROOTFS_WORK="" ROOTFS_TMP="$tarball.tmp"
  trap 'rm -rf --one-file-system "$ROOTFS_WORK" "$ROOTFS_TMP"' EXIT
  for ((attempt = 1; attempt <= ROOTFS_ATTEMPTS; attempt++)); do
    if ((attempt > 1)); then
      echo "rootfs: attempt $((attempt - 1)) failed ($why); retrying in ${delay} s" >&2
      sleep "$delay"
      delay=$((delay * 2))
    fi
    if ! why=$(curl -fsS --max-time 30 -o /dev/null "${mirror%/}/dists/$ROOTFS_SUITE/Release" 2>&1); then
      why=${why//$'\n'/ } unreachable=1
      continue
    fi
    unreachable=0
    echo "rootfs: debootstrap $ROOTFS_SUITE from $mirror (first run, cached afterwards)" >&2
    ROOTFS_WORK=$(mktemp -d "$ROOTFS_CACHE_DIR/build.XXXXXX")
    work=$ROOTFS_WORK
    if debootstrap --variant=minbase --include="$ROOTFS_INCLUDE" "$ROOTFS_SUITE" "$work/root" \
         "$mirror" >"$work/debootstrap.log" 2>&1; then
      # Keep the image small and free of host-specific state.
      rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*_Packages
      if tar --numeric-owner --xattrs -C "$work/root" -I 'zstd -T2 -3' -cf "$tarball.tmp" . &&
         mv "$tarball.tmp" "$tarball"; then
        rm -rf --one-file-system "$work"
        return 0
      fi
      why="packing the rootfs into $tarball failed"
    else
      tail -n 15 "$work/debootstrap.log" >&2
      why="debootstrap: $(grep -m1 '^E:' "$work/debootstrap.log" || tail -n1 "$work/debootstrap.log")"
    fi
    rm -rf --one-file-system "$work" "$tarball.tmp"
  done
  if ((unreachable)); then
    echo "rootfs: Debian mirror $mirror is unreachable after $ROOTFS_ATTEMPTS attempts ($why); the Ansible tests need it once to build $tarball" >&2
  else
    echo "rootfs: debootstrap of $ROOTFS_SUITE from $mirror failed $ROOTFS_ATTEMPTS times ($why)" >&2
  fi
  return 1
}

rootfs_tarball() {
  local tarball
  tarball=$(rootfs_path)
  mkdir -p "$ROOTFS_CACHE_DIR"
  (
    flock 9
    if [[ ! -s $tarball ]]; then rootfs_build "$tarball"; fi
  ) 9>"$ROOTFS_CACHE_DIR/.rootfs.lock" || return 1
  echo "$tarball"
}

rootfs_extract() {
  local dir=$1 tarball
  tarball=$(rootfs_path)
  [[ -s $tarball ]] || {
    echo "rootfs: no cached rootfs at $tarball; call rootfs_tarball before entering a network namespace" >&2
    return 1
  }
  mkdir -p "$dir"
  tar --numeric-owner --xattrs -C "$dir" -I zstd -xf "$tarball"
}
