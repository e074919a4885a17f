# Squall — make targets. `make run` and `make test` are the two README commands.
GO      ?= go
BIN     := bin/squall
TESTDIR := .squall-test

.PHONY: all build run test unit bench chaos vet fmt clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/squall

# The whole stack on embedded defaults: private Postgres, embedded Temporal
# and Web UI, API and worker in one process, bundled packs registered.
run: build
	scripts/prereqs.sh
	./$(BIN) up

# Unit and integration tests against a real Postgres and a real Temporal
# server that scripts/test.sh starts (bin/squall test-services).
test: build
	scripts/prereqs.sh
	scripts/test.sh

# Pure-logic tests only (no services needed).
unit:
	$(GO) test -short ./...

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w .

bench: build
	scripts/bench.sh

clean:
	rm -rf bin $(TESTDIR)
