# The single entry point for building, checking and testing hookmesh.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := ci

MODULES := . gen/go platform gateway gateway/internal/console/browser services/email services/analytics services/orders
BUF := .tools/bin/buf
GOLANGCI_LINT := $(CURDIR)/.tools/bin/golangci-lint
# Every package of every workspace module.
PKGS := github.com/hookmesh/hookmesh/...
# What the race detector runs over (CI: .ci/run).
RACE_PKGS := github.com/hookmesh/hookmesh/gateway/... github.com/hookmesh/hookmesh/platform/... github.com/hookmesh/hookmesh/services/...

.PHONY: ci tools generate check-generated lint test test-short test-race test-e2e fuzz bench up down run

ci: check-generated lint fuzz test

tools:
	scripts/tools.sh

generate: tools
	scripts/generate.sh

# Regenerating must give no diff (and no new files) under gen/.
check-generated: generate
	git diff --exit-code -- gen/
	test -z "$$(git status --porcelain -- gen/)"

lint: tools
	$(BUF) lint
	scripts/buf-breaking.sh
	# The OpenAPI documents, with redocly's recommended rules: zero errors allowed.
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true .tools/bin/redocly lint \
	  gen/openapi/hookmesh.swagger.json gen/openapi/hookmesh.openapi.json
	for m in $(MODULES); do (cd $$m && GOWORK=off go build ./... && GOWORK=off go vet ./...); done
	# golangci-lint (.golangci.yml) in every module but the generated one.
	for m in $(filter-out gen/go,$(MODULES)); do (cd $$m && GOWORK=off $(GOLANGCI_LINT) run ./...); done
	go vet $(PKGS)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

test:
	go test $(PKGS)

# The quick loop: -short skips the browser, crash (SIGKILL), NATS cluster and
# whole-mesh tests. `test` and CI run everything.
test-short:
	go test -short $(PKGS)

# The gateway, platform and services packages under the race detector.
test-race:
	go test -race $(RACE_PKGS)

# Whole-mesh tests only (they also run in `test`).
test-e2e:
	go test -run 'Mesh|E2E' $(PKGS)

# Each fuzz target for a few seconds (their seed corpora also run in `test`).
FUZZTIME ?= 5s
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

bench:
	go test -run '^$$' -bench . -benchmem $(PKGS)

run:
	go run ./cmd/hookmesh

up:
	docker compose up -d --build

down:
	docker compose down
