#!/usr/bin/env bash
# Installs the dashboard's browser dependencies pinned in web/package-lock.json
# (npm ci) and copies them into the embedded assets (adapters/dashboard/ui/vendor).
# Idempotent: npm runs only when web/node_modules is missing or older than the
# lockfile, and files are copied only when they differ. The copies are
# committed, so `go build` never needs npm.
set -euo pipefail
cd "$(dirname "$0")/.."
web=web
dest=adapters/dashboard/ui/vendor
if ! command -v npm >/dev/null 2>&1; then
  echo "build-web: npm not found; keeping the committed copies in $dest" >&2
  exit 0
fi
stamp=$web/node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ "$web/package-lock.json" -nt "$stamp" ]; then
  (cd "$web" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
want=$(node -p "require('./$web/package-lock.json').packages['node_modules/hls.js'].version")
got=$(node -p "require('./$web/node_modules/hls.js/package.json').version")
if [ "$want" != "$got" ]; then
  echo "build-web: web/node_modules has hls.js $got, the lockfile pins $want" >&2
  exit 1
fi
mkdir -p "$dest"
copy() {
  if ! cmp -s "$1" "$2"; then
    cp "$1" "$2"
    echo "build-web: updated $2"
  fi
}
copy "$web/node_modules/hls.js/dist/hls.min.js" "$dest/hls.min.js"
copy "$web/node_modules/hls.js/LICENSE" "$dest/hls.js.LICENSE"
