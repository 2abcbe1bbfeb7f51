#!/usr/bin/env bash
# Builds the plugin package into dist/ (what Grafana loads from its plugins
# directory): plugin.json, module.js, img/, and the backend executable for
# each platform, gpx_vigil_<os>_<arch>[.exe].
#
#   bash build.sh            backend executables and the frontend (needs the npm registry the first time)
#   bash build.sh backend    backend executables only
#
# The frontend is built in $VIGIL_FRONTEND_DIR (default: var/grafana-frontend
# at the top of the repository), so node_modules stays out of the tree.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dist="$here/dist"
what="${1:-all}"
version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$here/package.json")"

mkdir -p "$dist"
for target in linux/amd64 linux/arm64 darwin/arm64 windows/amd64; do
  os="${target%/*}" arch="${target#*/}" ext=""
  [ "$os" = windows ] && ext=.exe
  echo "build: gpx_vigil_${os}_${arch}${ext}"
  (cd "$here" && CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" go build -trimpath -ldflags "-s -w" \
    -o "$dist/gpx_vigil_${os}_${arch}${ext}" ./cmd/gpx_vigil)
done

# plugin.json and the logo, with the version and the build date filled in.
mkdir -p "$dist/img"
cp "$here/src/img/logo.svg" "$dist/img/"
sed -e "s/%VERSION%/$version/" -e "s/%TODAY%/$(date -u +%Y-%m-%d)/" "$here/src/plugin.json" > "$dist/plugin.json"
cp "$here/README.md" "$dist/README.md"
[ "$what" = backend ] && exit 0

build="${VIGIL_FRONTEND_DIR:-$root/var/grafana-frontend}"
mkdir -p "$build"
rm -rf "$build/src"
cp -r "$here/src" "$here/package.json" "$here/tsconfig.json" "$here/webpack.config.js" "$build/"
cd "$build"
if [ -f "$here/package-lock.json" ]; then
  cp "$here/package-lock.json" .
  [ -d node_modules ] && cmp -s package-lock.json node_modules/.package-lock.json.vigil || {
    npm ci --no-audit --no-fund
    cp package-lock.json node_modules/.package-lock.json.vigil
  }
else
  npm install --no-audit --no-fund
  cp package-lock.json "$here/package-lock.json"
fi
npx tsc --noEmit -p tsconfig.json
VIGIL_PLUGIN_DIST="$dist" npx webpack -c webpack.config.js
echo "build: $dist"
