#!/usr/bin/env bash
# Builds the pvesafe Debian package from an existing build tree (scripts/build.sh), with
# debhelper (debian/rules, PVESAFE_PREBUILT): binaries stripped, shared-library dependencies
# computed, units, conffile, docs and man pages in place.
#
#   scripts/build-deb.sh [BUILD_DIR [OUT_DIR]] [--version VERSION]
#
# BUILD_DIR defaults to ./build, OUT_DIR to BUILD_DIR/deb. --version packages the same binaries
# under another version (a changelog entry on top of debian/changelog), e.g. to make the older
# release of an upgrade test. Prints the path of the .deb on stdout.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build="" out="" version=""
while (($#)); do
  case $1 in
    --version) version=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) if [[ -z $build ]]; then build=$1; elif [[ -z $out ]]; then out=$1; else
         echo "build-deb: unexpected argument $1" >&2; exit 2; fi; shift ;;
  esac
done
build=$(cd "${build:-$src/build}" && pwd)
out=${out:-$build/deb}
for t in dpkg-buildpackage dh; do
  command -v "$t" >/dev/null || { echo "build-deb: $t missing (apt-get install dpkg-dev debhelper)" >&2; exit 3; }
done
[[ -x $build/bin/pvesafe && -x $build/bin/pvesim ]] ||
  { echo "build-deb: $build/bin/pvesafe and pvesim are not built (cmake --build $build --target pvesafe pvesim)" >&2; exit 3; }
mkdir -p "$out"
out=$(cd "$out" && pwd)

# dpkg-buildpackage writes its results beside the source directory: work in a scratch copy of
# debian/ so nothing lands next to the checkout.
work=$(mktemp -d "${TMPDIR:-/tmp}/pvesafe-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/pvesafe"
cp -a "$src/debian" "$work/pvesafe/"
if [[ -n $version ]]; then
  {
    printf 'pvesafe (%s) bookworm; urgency=medium\n\n  * Packaged from the build tree %s.\n\n' "$version" "$build"
    printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$src/debian/changelog" -S Maintainer)" "$(date -R)"
    cat "$src/debian/changelog"
  } >"$work/pvesafe/debian/changelog"
fi
(
  cd "$work/pvesafe"
  # -d: the sources are not built here, so their build dependencies need not be installed.
  PVESAFE_PREBUILT=$build DEB_BUILD_OPTIONS="noautodbgsym ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -b -us -uc -d >"$work/build.log" 2>&1
) || { tail -n 40 "$work/build.log" >&2; echo "build-deb: dpkg-buildpackage failed" >&2; exit 1; }
deb=$(ls "$work"/pvesafe_*.deb)
mv "$deb" "$out/"
echo "$out/$(basename "$deb")"
