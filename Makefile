# Squall — make targets. `make run` and `make test` are the two README commands.
GO      ?= go
BIN     := bin/squall
TESTDIR := .squall-test
BACKEND ?= sqlite

.PHONY: all build run run-prod test unit bench chaos vet fmt clean

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

# Squall against its bare-Temporal floor, one table + bench/results/*.json.
# BACKEND=postgres runs Temporal on Postgres; see bench/README.md.
bench: build
	BACKEND=$(BACKEND) scripts/bench.sh

# Fault scenarios (kill -9 worker / API, restart Postgres and Temporal);
# not part of make test.
chaos: build
	scripts/chaos.sh

# The production topology on one host: embedded Temporal on the private
# Postgres instead of SQLite.
run-prod: build
	scripts/prereqs.sh
	scripts/run-prod.sh

clean:
	rm -rf bin $(TESTDIR)
