#!/usr/bin/env bash
# Builds FerretDB's own command (cmd/ferretdb) from its module source, for
# the tests that need what the embedded API does not expose: SCRAM
# authentication (--test-enable-new-auth, --setup-username/--setup-password).
#
# Usage: build-upstream.sh OUT
#
# The version is the one scripts/ferretdb/go.mod requires (v1.24.2).
# The module is copied out of the read-only module cache into .cache/ (git
# ignores it) and build/version/version.txt is written (a plain `go install`
# panics at start without it). The go build cache is shared with every other
# build, so a rebuild after a clean only links. Idempotent: an existing
# build directory of the same version is reused.
set -euo pipefail
out=${1:?usage: build-upstream.sh OUT}
module=github.com/FerretDB/FerretDB
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
cd "$(dirname "$0")/../.."
root=$(pwd)
version=$(awk -v m="$module" '$1 == m { print $2; exit }' scripts/ferretdb/go.mod)
if [[ -z $version ]]; then
  echo "build-upstream.sh: no $module in scripts/ferretdb/go.mod" >&2
  exit 1
fi
build=$root/.cache/ferretdb-src-$version

if [[ ! -f $build/build/version/version.txt ]]; then
  # Outside any module: go mod download only fills the module cache.
  dir=$(cd /tmp && GOWORK=off GOFLAGS= go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  if [[ -z $dir || ! -d $dir ]]; then
    echo "build-upstream.sh: cannot download $module@$version" >&2
    exit 1
  fi
  rm -rf "$build.tmp"
  mkdir -p "$(dirname "$build")"
  cp -R "$dir" "$build.tmp"
  chmod -R u+w "$build.tmp"
  echo "$version" > "$build.tmp/build/version/version.txt"
  rm -rf "$build"
  mv "$build.tmp" "$build"
fi

tmp=$out.tmp-$$
(cd "$build" && GOWORK=off GOFLAGS=-buildvcs=false go build -trimpath -o "$tmp" ./cmd/ferretdb)
mv "$tmp" "$out"
