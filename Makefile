# Colony: make help lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN := bin
# A count, not a duration: Go 1.26's fuzz coordinator can fail a target with a
# spurious "context deadline exceeded" at the end of a -fuzztime duration
# (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 10000x
E2E_TIMEOUT ?= 20m

.PHONY: help build run test test-deps vet unit e2e fuzz ferretdb bench clean tidy-check web plugins proto bench-full bench-churn bench-edge bench-deps

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/colony
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/colony ./cmd/colony

plugins: ## build the transcoder plugins into bin/ (beside colony, where it looks for them)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/colony-transcoder-ffmpeg ./cmd/colony-transcoder-nvenc ./cmd/colony-transcoder-qsv

proto: ## regenerate the transcoder plugin contract's gRPC code (needs protoc, protoc-gen-go, protoc-gen-go-grpc)
	$(GO) generate ./plugins/transcoder/v1

run: build plugins ## build (server and transcoder plugins) and run a standalone server (RTMP :1935, HTTP :5080, data in ./data)
	./$(BIN)/colony run --data-dir ./data

ferretdb: $(BIN)/ferretdb $(BIN)/ferretdb-upstream ## build the MongoDB-wire test servers (FerretDB, SQLite backend; upstream's command for SCRAM auth)
$(BIN)/ferretdb: scripts/ferretdb/main.go scripts/ferretdb/proxy.go scripts/ferretdb/go.mod
	cd scripts/ferretdb && $(GO) build -trimpath -o ../../$(BIN)/ferretdb .
# FerretDB's own command, built from its module source (the version
# scripts/ferretdb/go.mod requires): the embedded API has no authentication.
$(BIN)/ferretdb-upstream: scripts/ferretdb/build-upstream.sh scripts/ferretdb/go.mod
	bash scripts/ferretdb/build-upstream.sh $(BIN)/ferretdb-upstream

test-deps: ## install what the tests need (apt packages), idempotently
	bash scripts/install-test-deps.sh

vet: tidy-check ## gofmt check, go vet, go mod tidy check
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./cmd/...

tidy-check:
	@cp go.mod /tmp/colony.go.mod.bak; cp go.sum /tmp/colony.go.sum.bak; $(GO) mod tidy; \
	if ! diff -q go.mod /tmp/colony.go.mod.bak >/dev/null || ! diff -q go.sum /tmp/colony.go.sum.bak >/dev/null; then \
	  echo "go mod tidy changes go.mod/go.sum"; git diff --stat go.mod go.sum; exit 1; fi

unit: ## unit and adapter tests with the race detector (and the patched go-amf0's and gohlslib's own)
	$(GO) test -race -count=1 ./...
	cd third_party/go-amf0 && $(GO) test -count=1 ./...
	cd third_party/gohlslib && $(GO) test -count=1 ./...

e2e: build plugins ferretdb ## end-to-end tests: real colony processes, ffmpeg, ffprobe, FerretDB
	COLONY_BIN=$(CURDIR)/$(BIN)/colony FERRETDB_BIN=$(CURDIR)/$(BIN)/ferretdb \
	  $(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -v ./cmd/colony/ 2>&1 | tee /tmp/colony-e2e.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|_test.go' ; exit $${PIPESTATUS[0]}

fuzz: ## run every fuzz target briefly (FUZZTIME each)
	bash scripts/fuzz.sh $(FUZZTIME)

test: test-deps vet unit fuzz e2e ## install test dependencies, then vet, unit, fuzz and end-to-end tests

web: ## refresh the dashboard's vendored hls.js from npm (web/package-lock.json)
	bash scripts/build-web.sh

bench-deps: ## install nginx with its RTMP module, the load matrix's comparison, idempotently
	command -v nginx >/dev/null && [ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ] || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx libnginx-mod-rtmp >/dev/null)

bench: build plugins bench-deps ## Go benchmarks of the hot paths, then the short load matrix against colony and nginx-rtmp (under 5 min)
	$(GO) test -run '^$$' -bench . -benchmem ./core/...
	$(GO) test -run '^$$' -bench 'BenchmarkServe|BenchmarkViewerFrame|BenchmarkWHEPAnswer|BenchmarkSeal|BenchmarkRequest' -benchmem ./adapters/hls ./adapters/webrtc ./adapters/http1
	COLONY_BIN=$(CURDIR)/$(BIN)/colony bash scripts/bench/matrix.sh short

bench-full: build plugins bench-deps ## the full load matrix (about 15 min): HLS 1-500, LL-HLS 1-200, WHEP 1-400, nginx-rtmp beside
	COLONY_BIN=$(CURDIR)/$(BIN)/colony bash scripts/bench/matrix.sh full

bench-churn: build plugins bench-deps ## viewers joining and leaving all the time (about 8 min): first frames, loss and what the server keeps once they are gone
	COLONY_BIN=$(CURDIR)/$(BIN)/colony bash scripts/bench/matrix.sh churn

bench-edge: build plugins ferretdb ## the load matrix through the edge of a two-node cluster (about 6 min)
	COLONY_BIN=$(CURDIR)/$(BIN)/colony FERRETDB_BIN=$(CURDIR)/$(BIN)/ferretdb bash scripts/bench/matrix.sh edge

clean: ## remove build outputs
	rm -rf $(BIN)
