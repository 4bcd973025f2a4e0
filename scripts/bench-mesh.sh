#!/usr/bin/env bash
# The whole mesh against a bare net/http handler and the gateway alone, in one run.
#
# Closed loop: wrk, 64 connections, N seconds, unique Hasura INSERT bodies (orders flow:
# -> orders + analytics; signup flow: users -> welcome mail + analytics), each against a
# fresh `hookmesh serve` on its embedded default; then the time until every
# subscription's backlog is 0. e2e rate = accepted / (first request -> empty backlog).
# Open loop: `hookmesh bench --rate` (wrk2 is not packaged) sends the flow's fixture at
# a fixed rate (a unique event id per request; the same order and user rows), then
# accept -> effect latency per subscription from the recorded attempts.
#
# Usage: scripts/bench-mesh.sh [seconds]   env: BENCH_RATES ("500 1000 2000"),
#   BENCH_OPEN_SECS (10), BENCH_FLOWS ("orders users"), BENCH_SKIP_OPEN=1,
#   BENCH_SKIP_CLOSED=1, HOOKMESH_BIN (a prebuilt hookmesh, e.g. of an older commit)
# Needs wrk (Debian: apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
rates=${BENCH_RATES:-"500 1000 2000"}
open_secs=${BENCH_OPEN_SECS:-10}
flows=${BENCH_FLOWS:-"orders users"}
conns=64
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
export BENCH_HASURA_SECRET=bench-secret BENCH_CONNS=$conns
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
if [[ -n ${HOOKMESH_BIN:-} ]]; then cp "$HOOKMESH_BIN" "$tmp/hookmesh"; else go build -o "$tmp/hookmesh" ./cmd/hookmesh; fi
go build -o "$tmp/bench-ingest" ./scripts/bench-ingest
go build -o "$tmp/bench-mesh" ./scripts/bench-mesh
lua=scripts/bench-mesh/hasura.lua

# wrk_run ADDR TABLE SECONDS: prints "accepted rps non2xx"
wrk_run() {
  local res
  res=$(BENCH_TABLE=$2 BENCH_RUN=$(date +%s) wrk -t2 -c$conns -d"$3s" -s $lua "http://$1")
  awk '/requests in/ {req=$1} /Requests\/sec/ {rps=$2} /Non-2xx/ {bad=$4}
       /Socket errors/ {sock=$0} END {printf "%d %.0f %d%s\n", req-bad, rps, bad, (sock=="" ? "" : " (" sock ")")}' <<<"$res"
}

# baseline MODE: req/s of bench-ingest's bare handler or gateway-only ingest
baseline() {
  local out=$tmp/$1.out pid addr
  "$tmp/bench-ingest" -mode "$1" >"$out" 2>/dev/null &
  pid=$!
  for _ in $(seq 1 100); do [[ -s $out ]] && break; sleep 0.1; done
  addr=$(head -n1 "$out")
  wrk -t2 -c$conns -d2s -s $lua "http://$addr" >/dev/null # warm-up
  read -r _ rps _ < <(wrk_run "$addr" users "$secs")
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  echo "$rps"
}

# serve: starts a fresh mesh; sets pid, http, admin
serve() {
  local dir=$tmp/data-$RANDOM
  HOOKMESH_DATA_DIR=$dir HOOKMESH_HTTP_ADDR=127.0.0.1:0 HOOKMESH_GRPC_ADDR=127.0.0.1:0 \
    HASURA_WEBHOOK_SECRET=$BENCH_HASURA_SECRET "$tmp/hookmesh" serve >"$dir.out" 2>"$dir.log" &
  pid=$!
  for _ in $(seq 1 300); do grep -q 'webhooks' "$dir.out" 2>/dev/null && break; sleep 0.1; done
  http=$(awk '/webhooks/ {sub("http://", "", $2); sub("/hooks.*", "", $2); print $2}' "$dir.out")
  admin=$(awk '/REST API/ {sub("/v1/events", "", $3); print $3}' "$dir.out")
  [[ -n $http ]] || { echo "hookmesh serve did not start:" >&2; cat "$dir.log" >&2; exit 1; }
}

stop() {
  rss=$(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status")
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
}

if [[ -z ${BENCH_SKIP_CLOSED:-} ]]; then
bare=$(baseline bare)
gw=$(baseline ingest)
echo "## closed loop: wrk $conns connections, ${secs}s"
echo
echo "| target | accepted/s | every delivery done (e2e) | × bare | drain after the load | non-2xx | dead letters | pending work at backlog 0 | peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|"
echo "| bare net/http handler | $bare | | 1 | | | | | |"
echo "| gateway only (embedded log) | $gw | | $(awk -v a="$gw" -v b="$bare" 'BEGIN {printf "%.3f", a/b}') | | | | | |"
for flow in $flows; do
  serve
  t0=$(date +%s%3N)
  read -r accepted rps bad < <(wrk_run "$http" "$flow" "$secs")
  t1=$(date +%s%3N)
  read -r _ took _ dead _ pending < <("$tmp/bench-mesh" drain -admin "$admin" -start "$t0")
  stop
  e2e=$(awk -v n="$accepted" -v s="$took" 'BEGIN {printf "%.0f", n/s}')
  echo "| mesh, $flow INSERT | $rps | $e2e | $(awk -v a="$e2e" -v b="$bare" 'BEGIN {printf "%.3f", a/b}') | $(awk -v s="$took" -v w="$(( t1 - t0 ))" 'BEGIN {printf "%.1f s", s - w/1000}') | $bad | $dead | $pending | $rss |"
done

fi

[[ -n ${BENCH_SKIP_OPEN:-} ]] && exit 0
echo
echo "## open loop: ${open_secs}s at a fixed rate, accept → effect (received → end of the delivered attempt)"
echo
echo "| flow | target/s | accepted/s | non-2xx | HTTP p99 | subscription | delivered | p50 | p99 | max | peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for flow in $flows; do
  for rate in $rates; do
    serve
    since=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
    t0=$(date +%s%3N)
    res=$(HASURA_WEBHOOK_SECRET=$BENCH_HASURA_SECRET "$tmp/hookmesh" bench --addr "http://$http" --source hasura \
      --fixture "$flow-insert" --rate "$rate" --duration "${open_secs}s" --json 2>/dev/null)
    "$tmp/bench-mesh" drain -admin "$admin" -start "$t0" >/dev/null
    lat=$("$tmp/bench-mesh" latency -admin "$admin" -since "$since")
    stop
    field() { grep -o "\"$1\":[0-9.]*" <<<"$res" | head -n1 | cut -d: -f2; }
    achieved=$(awk -v v="$(field throughput_per_second)" 'BEGIN {printf "%.0f", v}')
    awk -v f="$flow" -v r="$rate" -v a="$achieved" -v b="$(field errors)" -v h="$(field p99)ms" -v m="$rss" '
      /^subscription/ {printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", f, r, a, b, h, $2, $4, $6, $8, $10, m}
      /^not delivered/ {printf "| %s | %s | %s | %s | %s | %s | not delivered: %s | | | | |\n", f, r, a, b, h, $3, $4 " " $5}' <<<"$lat"
  done
done
