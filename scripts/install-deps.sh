#!/usr/bin/env bash
# Installs what pvesafe needs from Debian 12's packages.
#   scripts/install-deps.sh          build + runtime dependencies (enough for the demo)
#   scripts/install-deps.sh --test   also the real servers and clients the test suite runs against
set -euo pipefail
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

build_pkgs=(
  build-essential cmake ninja-build pkg-config git ccache
  libcurl4-openssl-dev libssl-dev libzstd-dev libsqlite3-dev
  nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev libtomlplusplus-dev
  libcpp-httplib-dev libssh-dev libgtest-dev libgmock-dev libbenchmark-dev
  libcorosync-common-dev libvotequorum-dev libquorum-dev libcmap-dev libcfg-dev
  zlib1g-dev libbz2-dev zstd sqlite3 openssl ca-certificates libexpat1-dev
  gnupg  # recovery by hand (docs/recovery.md) and the demo's look at a stored object
  lzop   # pvesim compresses archives with the tools vzdump runs (zstd, gzip, lzop)
  # pvesafe files (ext2/3/4 inside a snapshot's disk, read by libext2fs) and pvesafe mount (FUSE)
  libext2fs-dev comerr-dev libfuse3-dev fuse3
)
test_pkgs=(
  rnp sq restic time procps curl iproute2 nftables python3
  rclone  # bench/s3: rclone crypt, one of the contenders the S3 benchmark runs side by side
  e2fsprogs  # mke2fs/debugfs/e2fsck: the ext4 benchmark images (bench/data) and their test
  ceph-mon ceph-osd radosgw ceph-common awscli
  prometheus prometheus-alertmanager corosync corosync-qdevice
  ansible ansible-lint debootstrap python3-proxmoxer python3-requests
  python3-yaml  # tests/lab and bench/cluster render the shipped Prometheus and Alertmanager configs
  openssh-server openssh-client chromium
  # NBD export and instant restore: libnbd's and QEMU's clients judge the server; the test
  # guest is Debian's kernel + busybox-static on a GPT/ext4 disk built without root.
  qemu-system-x86 qemu-utils libnbd-bin python3-libnbd
  linux-image-amd64 busybox-static fdisk e2fsprogs cpio
  # The Debian package (scripts/build-deb.sh) and its test: lintian, then install / upgrade /
  # purge from a signed local apt repository (apt-ftparchive) in a debootstrap root.
  dpkg-dev debhelper fakeroot lintian apt-utils
  xfsprogs  # files_layouts: an XFS partition is recognised and refused
  clang-14 libclang-rt-14-dev  # libFuzzer, ASan, UBSan for bench/fuzz (run.sh, ctest -L fuzz)
)
pkgs=("${build_pkgs[@]}")
(( want_test )) && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  sudo_cmd=""; [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  echo "pvesafe: installing ${#missing[@]} Debian packages: ${missing[*]}" >&2
  $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Package post-install scripts may start daemons that the tests start themselves.
  for svc in prometheus prometheus-alertmanager prometheus-node-exporter corosync ssh ceph radosgw; do
    $sudo_cmd systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi
