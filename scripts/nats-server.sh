#!/usr/bin/env bash
# Builds nats-server from exactly the nats-server/v2 version gateway/go.mod pins (the
# embedded server's version) into .tools/bin/nats-server, for the external-server and
# cluster tests. Never the machine's own nats-server. Safe to run again: it skips the
# build when the binary already reports that version.
set -euo pipefail
cd "$(dirname "$0")/.."

module=github.com/nats-io/nats-server/v2
version="$(cd gateway && GOWORK=off go list -m -f '{{.Version}}' "$module")"
if [[ -z "$version" ]]; then
  echo "nats-server.sh: $module is not required by gateway/go.mod" >&2
  exit 1
fi

bin="$PWD/.tools/bin"
if [[ -x "$bin/nats-server" ]] && [[ "$("$bin/nats-server" --version 2>/dev/null)" == *" $version" ]]; then
  exit 0
fi
mkdir -p "$bin"
GOBIN="$bin" GOWORK=off go install "$module@$version"
"$bin/nats-server" --version
