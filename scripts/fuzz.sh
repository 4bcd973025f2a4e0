#!/usr/bin/env bash
# Runs every Fuzz target of every module briefly. Usage: scripts/fuzz.sh [duration]
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-5s}
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' gateway platform services cmd 2>/dev/null | sort | while read -r file; do
  dir=$(dirname "$file")
  grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //' | while read -r target; do
    echo "fuzz $dir $target ($fuzztime)"
    run() { (cd "$dir" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" . 2>&1); }
    if ! out=$(run); then
      # Go's fuzzer can end with "context deadline exceeded" when the time runs out
      # while it minimizes a new input; that is not a finding (a finding writes a
      # failing input). Run such a target once more.
      if grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
        echo "$out" | tail -n 3
        echo "fuzz $dir $target: the fuzzer timed out without a finding; running it again"
        out=$(run) || { echo "$out"; exit 1; }
      else
        echo "$out"
        exit 1
      fi
    fi
    echo "$out" | tail -n 1
  done
done
