#!/usr/bin/env bash
# Installs the code generation and lint tools at pinned versions into .tools/ (ignored by git).
# Needs only Go and npm; no buf registry. Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

BUF_VERSION=1.75.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2
GRPC_GATEWAY_VERSION=v2.33.0
# The OpenAPI toolchain: Swagger 2 -> OpenAPI 3, the Go client generated from it,
# and the linter that `make lint` runs over both documents.
OAPI_CODEGEN_VERSION=v2.8.2
SWAGGER2OPENAPI_VERSION=7.0.8
REDOCLY_VERSION=2.77.0
# The Go linter `make lint` runs over every module (.golangci.yml).
GOLANGCI_LINT_VERSION=v2.15.0

root="$PWD/.tools"
bin="$root/bin"
mkdir -p "$bin"
stamp="$root/versions"
want="buf=$BUF_VERSION go=$PROTOC_GEN_GO_VERSION grpc=$PROTOC_GEN_GO_GRPC_VERSION gw=$GRPC_GATEWAY_VERSION oapi=$OAPI_CODEGEN_VERSION s2o=$SWAGGER2OPENAPI_VERSION redocly=$REDOCLY_VERSION golangci=$GOLANGCI_LINT_VERSION"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$bin/buf" ]]; then
  exit 0
fi

GOBIN="$bin" GOWORK=off go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
GOBIN="$bin" GOWORK=off go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
GOBIN="$bin" GOWORK=off go install \
  "github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$GRPC_GATEWAY_VERSION" \
  "github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$GRPC_GATEWAY_VERSION"
GOBIN="$bin" GOWORK=off go install "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@$OAPI_CODEGEN_VERSION"
# Built from source with the local Go (the module's go line must not exceed it).
GOBIN="$bin" GOWORK=off go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"

# buf: the npm package ships the same binary as the release, in seconds.
npm install --silent --no-audit --no-fund --prefix "$root/npm" "@bufbuild/buf@$BUF_VERSION" \
  "swagger2openapi@$SWAGGER2OPENAPI_VERSION" "@redocly/cli@$REDOCLY_VERSION" >/dev/null
ln -sf "$root/npm/node_modules/@bufbuild/buf/bin/buf" "$bin/buf"
ln -sf "$root/npm/node_modules/.bin/swagger2openapi" "$bin/swagger2openapi"
ln -sf "$root/npm/node_modules/.bin/redocly" "$bin/redocly"
"$bin/buf" --version >/dev/null
echo "$want" >"$stamp"
