#!/usr/bin/env bash
# Regenerates gen/go and gen/openapi from proto/ with the pinned local plugins.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
export PATH="$PWD/.tools/bin:$PATH"
# One generation at a time: the output directories are replaced whole.
exec 9>.tools/generate.lock
flock 9
rm -rf gen/go/hookmesh gen/openapi
buf generate
(cd gen/go && GOWORK=off go mod tidy >/dev/null)
