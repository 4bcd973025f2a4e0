#!/usr/bin/env bash
# Guards the v1 contracts: against the committed baseline image (always), and against
# the previous commit when it has protos, so a direct push to main can fail too.
set -euo pipefail
cd "$(dirname "$0")/.."
buf=.tools/bin/buf
"$buf" breaking --against buf.baseline.binpb
if git rev-parse -q --verify HEAD~1 >/dev/null && git cat-file -e HEAD~1:buf.yaml 2>/dev/null; then
  "$buf" breaking --against '.git#ref=HEAD~1'
fi
