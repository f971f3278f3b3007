#!/usr/bin/env bash
# Cache the prebuilt OHIF Viewer (npm package @ohif/app, its dist/ folder) OUTSIDE the repository,
# for the viewer tests (tests/viewer). Used by .ci/run and `make ohif`; does nothing when cached.
# Prints the dist folder; the tests find it there or through $MEDCAM_OHIF_DIST.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck disable=SC1091
source "$here/tests/viewer/ohif-version.txt"   # OHIF_VERSION, OHIF_TGZ_SHA256
cache="${XDG_CACHE_HOME:-$HOME/.cache}/medcam/ohif/$OHIF_VERSION"
dist="$cache/package/dist"
if [ -f "$dist/index.html" ]; then echo "$dist"; exit 0; fi
command -v npm >/dev/null || { echo "npm is missing: apt-get install nodejs npm" >&2; exit 1; }
mkdir -p "$cache"
work="$(mktemp -d "$cache/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
(cd "$work" && npm pack --silent "@ohif/app@$OHIF_VERSION" >/dev/null)
tgz="$work/ohif-app-$OHIF_VERSION.tgz"
got="$(sha256sum "$tgz" | cut -d' ' -f1)"
if [ "$got" != "$OHIF_TGZ_SHA256" ]; then
  echo "@ohif/app@$OHIF_VERSION: sha256 $got, expected $OHIF_TGZ_SHA256" >&2; exit 1
fi
tar -xzf "$tgz" -C "$work"
test -f "$work/package/dist/index.html"
rm -rf "$cache/package"
mv "$work/package" "$cache/package"   # atomic within the cache folder
echo "fetched @ohif/app@$OHIF_VERSION in $(( $(date +%s) - start )) s ($(du -sh "$dist" | cut -f1))" >&2
echo "$dist"
