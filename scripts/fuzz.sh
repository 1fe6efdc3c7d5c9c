#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a short time each.
# Usage: scripts/fuzz.sh [FUZZTIME]   (default 10000x: executions, see the Makefile)
set -euo pipefail
fuzztime=${1:-10000x}
cd "$(dirname "$0")/.."
# third_party/ holds patched upstream modules with their own (upstream) fuzz targets.
mapfile -t files < <(git ls-files '*_test.go' ':!third_party' | xargs grep -l '^func Fuzz' || true)
for f in "${files[@]}"; do
  pkg=./$(dirname "$f")
  for name in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    echo "fuzz $pkg $name ($fuzztime)"
    go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
  done
done
