#!/usr/bin/env bash
# A signed apt repository of pvesafe packages for nodes without network (the
# package test's chroot), as an operator runs one for an air-gapped cluster.
#
#   apt_repo_deps DEB...          prints the .debs (fetched once, cached) of the packages the
#                                 rootfs lacks to install DEB...; needs the network: call it
#                                 before entering a network namespace
#   apt_repo_make DIR DEB...      a flat repository in DIR (Packages, Release, InRelease signed
#                                 with a fresh key); writes DIR/key.asc (the armored public key)
#
# The dependencies come from apt on this machine (the same Debian release and mirror as the
# rootfs): `apt-get -s` against the rootfs's dpkg status file says what an installation would
# add, and `apt-get download` fetches exactly those versions into
# ${PVESAFE_CACHE_DIR:-~/.cache/pvesafe}/debs.
set -euo pipefail

APT_REPO_CACHE=${PVESAFE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pvesafe}

# rootfs_status_file: the dpkg status of the cached rootfs (tests/ansible/lib/rootfs.sh).
apt_repo_rootfs_status() {
  local tarball status
  tarball=$(rootfs_path)
  status="$APT_REPO_CACHE/$(basename "$tarball" .tar.zst).status"
  if [[ ! -s $status || $status -ot $tarball ]]; then
    tar -I zstd -xOf "$tarball" ./var/lib/dpkg/status >"$status.tmp"
    mv "$status.tmp" "$status"
  fi
  echo "$status"
}

apt_repo_deps() {
  local status plan want=() line name version dir="$APT_REPO_CACHE/debs" missing=() d
  status=$(apt_repo_rootfs_status)
  mkdir -p "$dir"
  plan=$(apt-get -s -o Dir::State::status="$status" -o Debug::NoLocking=1 install "$@" 2>&1) || {
    echo "$plan" | tail -n 20 >&2
    echo "apt_repo: apt cannot resolve the dependencies of $* against the rootfs" >&2
    return 1
  }
  while read -r line; do
    name=$(awk '{print $2}' <<<"$line")
    version=$(sed -n 's/^Inst [^ ]* \(\[[^]]*\] \)\?(\([^ ]*\) .*/\2/p' <<<"$line")
    [[ $name == pvesafe ]] && continue
    want+=("$name=$version")
  done < <(grep '^Inst ' <<<"$plan")
  for d in "${want[@]}"; do
    ls "$dir/${d%%=*}_$(sed 's/:/%3a/' <<<"${d#*=}")_"*.deb >/dev/null 2>&1 || missing+=("$d")
  done
  if ((${#missing[@]})); then
    echo "apt_repo: fetching ${#missing[@]} package(s) the rootfs lacks: ${missing[*]}" >&2
    (cd "$dir" && apt-get download -qq "${missing[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
    for d in "${missing[@]}"; do
      ls "$dir/${d%%=*}_$(sed 's/:/%3a/' <<<"${d#*=}")_"*.deb >/dev/null 2>&1 ||
        { echo "apt_repo: could not fetch $d (apt-get update on this machine?)" >&2; return 1; }
    done
  fi
  for d in "${want[@]}"; do ls "$dir/${d%%=*}_$(sed 's/:/%3a/' <<<"${d#*=}")_"*.deb; done
}

apt_repo_make() {
  local dir=$1 gpghome; shift
  mkdir -p "$dir"
  cp "$@" "$dir/"
  gpghome=$(mktemp -d)
  (
    cd "$dir"
    apt-ftparchive packages . >Packages
    apt-ftparchive -o APT::FTPArchive::Release::Origin=pvesafe-lab release . >Release
    export GNUPGHOME=$gpghome
    gpg --batch -q --passphrase '' --quick-gen-key 'pvesafe lab repository <lab@pvesafe.invalid>' ed25519 sign never 2>/dev/null
    gpg --batch -q --armor --export >key.asc
    gpg --batch -q --clearsign -o InRelease Release
    gpgconf --kill gpg-agent 2>/dev/null || true
  )
  rm -rf "$gpghome"
}
