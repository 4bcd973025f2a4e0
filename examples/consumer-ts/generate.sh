#!/usr/bin/env bash
# Regenerates src/gen (TypeScript for hookmesh.consumer.v1 and hookmesh.event.v1)
# from the repository's proto/ with the root's pinned buf and the npm-pinned
# protoc-gen-es. `generate.sh --check` regenerates into a temporary directory and
# fails if the committed src/gen differs (for CI).
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd ../.. && pwd)"

"$root/scripts/tools.sh"
buf="$root/.tools/bin/buf"
if [[ ! -x node_modules/.bin/protoc-gen-es ]]; then
  npm ci --no-audit --no-fund
fi

if [[ "${1:-}" == "--check" ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  "$buf" generate -o "$tmp"
  if ! diff -r "$tmp/src/gen" src/gen; then
    echo "examples/consumer-ts/src/gen is stale: run examples/consumer-ts/generate.sh and commit the result" >&2
    exit 1
  fi
  exit 0
fi
"$buf" generate
