#!/usr/bin/env bash
# Regenerates ../v1a_vectors.json: Standard Webhooks v1 signatures from the official
# npm library (pinned in package.json), v1a (Ed25519) signatures from node:crypto
# because no official Standard Webhooks library signs v1a yet, and every v1a vector
# cross-checked with Python's `cryptography` when it is installed.
# Ed25519 is deterministic and the key seed is fixed, so reruns give the same file.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --silent >/dev/null
node sign.mjs >../v1a_vectors.json
if python3 -c 'import cryptography' 2>/dev/null; then
  python3 crosscheck.py ../v1a_vectors.json
else
  echo "python3 cryptography missing: v1a vectors not cross-checked" >&2
fi
