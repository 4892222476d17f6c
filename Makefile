# flightrec_exporter — see README.md.

GO        ?= go
BINARY    := flightrec_exporter
PKG       := github.com/flightrec/flightrec_exporter
VERSION   := $(shell cat VERSION)
REVISION  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BRANCH    := $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS   := -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
             -X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildUser=$(USER)@$(shell hostname) \
             -X $(VERSION_PKG).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)
ARGS      ?=

.PHONY: all build generate dashboards test unit fuzz lint bench kernels run demo clean

all: lint build test

## build: compile the exporter (no clang needed: the BPF objects are committed)
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BINARY) ./cmd/flightrec_exporter

## generate: recompile the BPF objects and regenerate committed tables (needs clang)
generate:
	$(GO) generate ./...

## dashboards: regenerate the committed Grafana dashboards from dashboards/internal/build
dashboards:
	$(GO) run ./dashboards/gen -out dashboards

## lint: gofmt and go vet
lint:
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "not gofmt-formatted:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...

## test: every test but the kernel matrix; the privileged ones load BPF and
## need root (they skip otherwise, and fail under FLIGHTREC_REQUIRE_TOOLS=1).
## One package at a time: the privileged suites compete for the CPUs. Ends
## with a line naming every skipped test and why.
test: lint
	$(GO) run ./internal/testsummary -count=1 -timeout 30m -p 1 $$($(GO) list ./... | grep -v /test/kernels)

## kernels: boot Debian's 6.1, 6.12 (amd64), 5.10 and arm64 6.1 kernels under qemu and run the suites there (root; see README "Kernels")
kernels:
	$(GO) test -count=1 -timeout 40m -parallel 2 -v -run TestKernels ./test/kernels/

## unit: the tests that need no root
unit:
	$(GO) test -count=1 -short ./internal/... ./bpf/ ./collector/ ./alerts/ ./dashboards/... ./charts/...

## fuzz: run each fuzz target for FUZZTIME (CI: 30s each)
FUZZTIME ?= 30s
FUZZ_TARGETS := FuzzParseRecord:./bpf/ FuzzFormat:./internal/syscalls/ \
                FuzzParse:./internal/cgroupid/ FuzzParseQuery:./internal/dump/
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzzing $${t%%:*} in $${t#*:} for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t%%:*}$$" -fuzztime $(FUZZTIME) "$${t#*:}"; \
	done

## bench: the overhead benchmark (root; see test/bench/README.md)
bench:
	$(GO) run ./test/bench -rounds 7 -out bench-results.md

## run: build and run the exporter with default settings (root)
run: build
	./$(BINARY) $(ARGS)

## demo: record a crash-looping container in its own cgroup and print its dump (root)
demo: build
	bash test/demo/demo.sh ./$(BINARY)

clean:
	rm -f $(BINARY) bench-results.md
