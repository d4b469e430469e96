# Switchboard's build. `make test` is what CI runs (.ci/run): it installs what
# the tests need when it is missing, checks formatting, vets, and runs every
# test with the race detector.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

GO       ?= go
BIN      ?= bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
FUZZTIME ?= 10s

# apt-get must never stop to ask: CI has no terminal.
export DEBIAN_FRONTEND := noninteractive

.PHONY: proto test test-go test-sdk deps deps-apt deps-npm fmt vet build run bench fuzz clean

## test: install missing test dependencies, check gofmt, vet, run every Go
## test with -race, then the TypeScript SDK's type check, unit and
## integration tests.
test: deps fmt vet test-go test-sdk

## test-go: every Go test with the race detector.
test-go:
	$(GO) test -race -count=1 -timeout 20m ./...

## test-sdk: the TypeScript SDK's type check and tests (against a built node).
test-sdk:
	cd sdk/ts && npm test

## deps: install what tests need, only where missing.
deps: deps-apt deps-npm

# Integration tests start a real redis-server and drive Debian's Chromium;
# one starts Debian's nats-server (2.9.10, older than the broker needs) to
# check that the NATS broker refuses it.
# Each is installed only when its command is missing; without root (and
# without password-less sudo) the step says what to install and goes on, and
# the tests that need it skip locally and fail under CI=true.
deps-apt:
	@missing=""; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v redis-cli >/dev/null 2>&1 || missing="$$missing redis-tools"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v nats-server >/dev/null 2>&1 || missing="$$missing nats-server"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "deps: missing:$$missing (no apt-get here; install them by hand)"; exit 0; \
	fi; \
	sudo=""; \
	if [ "$$(id -u)" != 0 ]; then \
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
		else echo "deps: missing:$$missing (run as root, or: sudo apt-get install$$missing)"; exit 0; fi; \
	fi; \
	echo "deps: installing$$missing"; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing

# npm packages, for the TypeScript SDK and browser tests: `npm ci` where a
# lockfile exists and node_modules is missing or older than it.
deps-npm:
	@for dir in . sdk/ts; do \
		[ -f "$$dir/package-lock.json" ] || continue; \
		if [ -f "$$dir/node_modules/.package-lock.json" ] && \
		   [ ! "$$dir/package-lock.json" -nt "$$dir/node_modules/.package-lock.json" ]; then continue; fi; \
		if ! command -v npm >/dev/null 2>&1; then echo "deps: npm is missing; cannot install $$dir"; exit 1; fi; \
		echo "deps: npm ci in $$dir"; \
		(cd "$$dir" && npm ci --no-audit --no-fund --loglevel=error); \
	done

## fmt: fail if any Go file is not gofmt-formatted.
fmt:
	@files=$$(find . -name '*.go' -not -path './.git/*' -not -path '*/node_modules/*' -print0 | xargs -0 gofmt -l); \
	if [ -n "$$files" ]; then echo "gofmt -w needed for:"; echo "$$files"; exit 1; fi

## vet: go vet and staticcheck every package (staticcheck is a tool
## dependency in go.mod: `go tool` builds it from the module cache).
vet:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## build: the binary, into ./bin.
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/switchboard ./cmd/switchboard

## run: a node on the embedded defaults.
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/switchboard serve

## bench: every Go benchmark once, with allocations (compare runs with benchstat).
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

## fuzz: each fuzz target for FUZZTIME (default 10s).
fuzz:
	@$(GO) test -list '^Fuzz' ./... | \
	awk '/^Fuzz/ { f[n++] = $$1 } /^ok / { for (i = 0; i < n; i++) print $$2, f[i]; n = 0 }' | \
	while read -r pkg name; do \
		echo "fuzz: $$pkg $$name"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) "$$pkg" </dev/null; \
	done

clean:
	rm -rf $(BIN)

## proto: regenerate the Go code of the gRPC schema (proto/) with the
## plugins go.mod pins as tools.
proto:
	$(GO) tool buf lint
	$(GO) tool buf generate
