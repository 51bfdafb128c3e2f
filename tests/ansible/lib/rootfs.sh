#!/usr/bin/env bash
# Debian root filesystem for the Ansible tests.
#
#   rootfs_tarball            prints the path of the cached tarball, building it on first use
#   rootfs_extract DIR        unpacks a fresh copy into DIR (a test's own mktemp -d)
#
# The tarball is built with `debootstrap --variant=minbase bookworm` from the same Debian mirror
# apt on this machine uses, plus the few packages the roles manage (so converging needs no
# network), and cached in ${PVESAFE_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/pvesafe}. Concurrent
# tests share one build through flock.
set -euo pipefail

ROOTFS_SUITE=${ROOTFS_SUITE:-bookworm}
ROOTFS_INCLUDE=${ROOTFS_INCLUDE:-python3,python3-apt,openssh-server,chrony,unattended-upgrades,sudo,ca-certificates,gnupg,apt-utils,corosync,prometheus,prometheus-alertmanager}
ROOTFS_CACHE_DIR=${PVESAFE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pvesafe}
# Bump when ROOTFS_INCLUDE or the build steps change, so stale caches are not reused.
ROOTFS_CACHE_VERSION=3

rootfs_mirror() {
  # First deb URI of the configured sources (deb822 URIs: or one-line deb), for the Debian archive.
  local uri
  uri=$(grep -h -E '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
          /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -o -E 'https?://[^ ]+/debian/?( |$)' | head -n1 | tr -d ' ')
  echo "${uri:-http://deb.debian.org/debian}"
}

rootfs_tarball() {
  local tarball="$ROOTFS_CACHE_DIR/debian-$ROOTFS_SUITE-minbase-v$ROOTFS_CACHE_VERSION.tar.zst"
  mkdir -p "$ROOTFS_CACHE_DIR"
  (
    flock 9
    if [[ ! -s $tarball ]]; then
      local work
      work=$(mktemp -d "$ROOTFS_CACHE_DIR/build.XXXXXX")
      trap 'rm -rf "$work"' EXIT
      echo "rootfs: debootstrap $ROOTFS_SUITE from $(rootfs_mirror) (first run, cached afterwards)" >&2
      debootstrap --variant=minbase --include="$ROOTFS_INCLUDE" "$ROOTFS_SUITE" "$work/root" \
        "$(rootfs_mirror)" >"$work/debootstrap.log" 2>&1 || {
        tail -n 30 "$work/debootstrap.log" >&2
        exit 1
      }
      # Keep the image small and free of host-specific state.
      rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*_Packages
      tar --numeric-owner --xattrs -C "$work/root" -I 'zstd -T2 -3' -cf "$tarball.tmp" .
      mv "$tarball.tmp" "$tarball"
    fi
  ) 9>"$ROOTFS_CACHE_DIR/.rootfs.lock"
  echo "$tarball"
}

rootfs_extract() {
  local dir=$1 tarball
  tarball=$(rootfs_tarball)
  mkdir -p "$dir"
  tar --numeric-owner --xattrs -C "$dir" -I zstd -xf "$tarball"
}
