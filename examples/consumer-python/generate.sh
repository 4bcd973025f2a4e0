#!/usr/bin/env bash
# Regenerates gen/ (Python for hookmesh.consumer.v1 and hookmesh.event.v1) from the
# repository's proto/ with grpc_tools.protoc from Debian's python3-grpc-tools (or
# any python3 with grpcio-tools; PYTHON picks the interpreter). `generate.sh
# --check` regenerates into a temporary directory and fails if the committed gen/
# differs (for CI).
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd ../.. && pwd)"
py="${PYTHON:-}"
if [[ -z "$py" ]]; then
  for c in python3 /usr/bin/python3; do
    if command -v "$c" >/dev/null && "$c" -c 'import grpc_tools.protoc' 2>/dev/null; then py="$c"; break; fi
  done
fi
if [[ -z "$py" ]]; then
  echo "no python3 with grpc_tools: apt-get install python3-grpcio python3-grpc-tools" >&2
  exit 1
fi
# The well-known types (struct.proto, timestamp.proto) ship with grpc_tools.
wkt="$("$py" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')"

generate() {
  mkdir -p "$1"
  "$py" -m grpc_tools.protoc -I "$root/proto" -I "$wkt" --python_out="$1" --grpc_python_out="$1" \
    hookmesh/consumer/v1/consumer.proto hookmesh/event/v1/event.proto
}

if [[ "${1:-}" == "--check" ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  generate "$tmp/gen"
  if ! diff -r -x __pycache__ "$tmp/gen" gen; then
    echo "examples/consumer-python/gen is stale: run examples/consumer-python/generate.sh and commit the result" >&2
    exit 1
  fi
  exit 0
fi
rm -rf gen
generate gen
