#!/usr/bin/env bash
# Regenerates gen/go and gen/openapi from proto/ with the pinned local plugins:
# the Swagger 2 document (protoc-gen-openapiv2), its OpenAPI 3 conversion, and the
# Go client generated from that by oapi-codegen (tested against a real gateway in
# internal/restcontract).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
export PATH="$PWD/.tools/bin:$PATH"
# One generation at a time: the output directories are replaced whole.
exec 9>.tools/generate.lock
flock 9
rm -rf gen/go/hookmesh gen/openapi
buf generate
swagger2openapi --patch --outfile gen/openapi/hookmesh.openapi.json gen/openapi/hookmesh.swagger.json
mkdir -p gen/openapi/hookmeshclient
oapi-codegen -config scripts/oapi-codegen.yaml gen/openapi/hookmesh.openapi.json
(cd gen/go && GOWORK=off go mod tidy >/dev/null)
