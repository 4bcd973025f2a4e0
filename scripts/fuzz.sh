#!/usr/bin/env bash
# Runs every Fuzz target of every module briefly. Usage: scripts/fuzz.sh [duration]
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-5s}
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' gateway platform services cmd 2>/dev/null | sort | while read -r file; do
  dir=$(dirname "$file")
  grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //' | while read -r target; do
    echo "fuzz $dir $target ($fuzztime)"
    if ! out=$(cd "$dir" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" . 2>&1); then
      echo "$out"
      exit 1
    fi
    echo "$out" | tail -n 1
  done
done
