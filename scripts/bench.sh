#!/usr/bin/env bash
# Starts `bin/squall up` on a fresh data dir (private Postgres, embedded
# Temporal on SQLite), then measures executions through the API with
# squall-bench. Results are printed and appended to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/squall-bench ./cmd/squall-bench
dir=$(mktemp -d /tmp/squall-bench.XXXXXX)
export SQUALL_DATA_DIR=$dir SQUALL_ADMIN_PASSWORD=bench-password SQUALL_LOG_LEVEL=warn
export SQUALL_API_ADDR=127.0.0.1:9181 SQUALL_TEMPORAL_PORT=7283 SQUALL_UI_PORT=0 SQUALL_POSTGRES_PORT=55481
unset SQUALL_DATABASE_URL SQUALL_TEMPORAL_ADDRESS
bin/squall up >"$dir/up.log" 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 240); do
  curl -fsS http://127.0.0.1:9181/healthz >/dev/null 2>&1 && break
  sleep 0.5
done
mkdir -p bench/results
out=bench/results/$(date -u +%Y%m%dT%H%M%SZ)-$(git rev-parse --short HEAD 2>/dev/null || echo nogit).jsonl
for action in core.noop core.local; do
  params='{}'; [ "$action" = core.local ] && params='{"cmd":"true"}'
  bin/squall-bench -api http://127.0.0.1:9181 -password bench-password -pid $pid \
    -action "$action" -params "$params" -n "${BENCH_N:-300}" -c "${BENCH_C:-1,4,16}" -json "$out"
done
echo "results: $out"
