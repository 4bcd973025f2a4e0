#!/usr/bin/env bash
# Durable ingest vs a bare net/http handler, side by side, with the same load
# generator (wrk, Debian package) at several concurrencies. Prints a Markdown table.
# Usage: scripts/bench-ingest.sh [seconds per run]   (BENCH_MODES, BENCH_CONNS override)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
modes=${BENCH_MODES:-"bare ingest ingest-sync"}
conns=${BENCH_CONNS:-"32 64 128"}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
export BENCH_HASURA_SECRET=bench-secret
bin=$(mktemp -d)/bench-ingest
go build -o "$bin" ./scripts/bench-ingest

echo "| target | senders | requests/s | p50 | p99 | errors | max RSS |"
echo "|---|---|---|---|---|---|---|"
for mode in $modes; do
  for c in $conns; do
    out=$(mktemp)
    "$bin" -mode "$mode" >"$out" 2>/dev/null &
    pid=$!
    for _ in $(seq 1 100); do [[ -s $out ]] && break; sleep 0.1; done
    addr=$(head -n1 "$out")
    # A short warm-up, then the measured run.
    wrk -t2 -c"$c" -d2s -s scripts/bench-ingest/hasura.lua "http://$addr" >/dev/null
    res=$(wrk -t2 -c"$c" -d"${secs}s" --latency -s scripts/bench-ingest/hasura.lua "http://$addr")
    rss=$(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status")
    kill -INT "$pid"; wait "$pid" 2>/dev/null || true
    rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$res")
    p50=$(awk '$1=="50%" {print $2}' <<<"$res")
    p99=$(awk '$1=="99%" {print $2}' <<<"$res")
    errs=$(awk '/Non-2xx|Socket errors/ {s = s $0 " "} END {print (s == "" ? "0" : s)}' <<<"$res")
    echo "| $mode | $c | $rps | $p50 | $p99 | $errs | $rss |"
  done
done
