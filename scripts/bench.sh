#!/usr/bin/env bash
# make bench: measures Squall against its bare-Temporal floor (see
# bench/README.md). Starts `bin/squall up` on a fresh data dir — embedded
# Temporal on SQLite, or with BACKEND=postgres on the private Postgres
# (SQUALL_TEMPORAL_POSTGRES=true) — unless BENCH_API names a running stack
# (then BENCH_TEMPORAL is its Temporal frontend and BENCH_PID, optionally,
# the Squall process whose RSS is reported).
#
# Knobs (environment): BACKEND=sqlite|postgres, BENCH_N (ops per run),
# BENCH_C (concurrencies, "1,4,16"), BENCH_N_WEBHOOK, BENCH_N_ACCEPT,
# BENCH_ACCEPT_C, BENCH_ONLY (scenarios), BENCH_ARGS (more squall-bench flags).
# Prints one table; the JSON goes to bench/results/<time>-<sha>-<backend>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${BACKEND:-sqlite}
case "$backend" in sqlite|postgres) ;; *) echo "BACKEND must be sqlite or postgres, not $backend" >&2; exit 2;; esac
go build -o bin/squall-bench ./cmd/squall-bench
sha=$(git rev-parse --short HEAD 2>/dev/null || echo nogit)
if ! git diff --quiet HEAD 2>/dev/null; then sha="$sha-dirty"; fi

work=$(mktemp -d /tmp/squall-bench.XXXXXX)
pid=0
cleanup() {
  if [ "$pid" -gt 0 ]; then
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${BENCH_API:-}" ]; then
  api=$BENCH_API
  temporal=${BENCH_TEMPORAL:?BENCH_TEMPORAL (host:port of the Temporal frontend of that stack) is needed with BENCH_API}
  rsspid=${BENCH_PID:-0}
  echo "bench: using the running stack at $api (Temporal $temporal)"
else
  api_port=${BENCH_API_PORT:-9181} t_port=${BENCH_TEMPORAL_PORT:-7283} pg_port=${BENCH_POSTGRES_PORT:-55481}
  export SQUALL_DATA_DIR=$work/data SQUALL_ADMIN_PASSWORD=${SQUALL_ADMIN_PASSWORD:-bench-password} SQUALL_LOG_LEVEL=warn
  export SQUALL_API_ADDR=127.0.0.1:$api_port SQUALL_TEMPORAL_PORT=$t_port SQUALL_UI_PORT=0 SQUALL_POSTGRES_PORT=$pg_port
  unset SQUALL_DATABASE_URL SQUALL_TEMPORAL_ADDRESS SQUALL_CONFIG_FILE
  if [ "$backend" = postgres ]; then export SQUALL_TEMPORAL_POSTGRES=true; else unset SQUALL_TEMPORAL_POSTGRES; fi
  api=http://127.0.0.1:$api_port temporal=127.0.0.1:$t_port
  echo "bench: starting bin/squall up (Temporal on $backend) under $work"
  bin/squall up >"$work/up.log" 2>&1 &
  pid=$! rsspid=$!
  for _ in $(seq 1 360); do
    curl -fsS "$api/healthz" >/dev/null 2>&1 && break
    if ! kill -0 "$pid" 2>/dev/null; then echo "squall up exited:" >&2; tail -40 "$work/up.log" >&2; exit 1; fi
    sleep 0.5
  done
  curl -fsS "$api/healthz" >/dev/null || { echo "squall up not healthy after 3 minutes:" >&2; tail -40 "$work/up.log" >&2; exit 1; }
  sleep 3 # let start-up work settle before the idle RSS is read
fi

args=(-api "$api" -temporal "$temporal" -pid "$rsspid" -backend "$backend" -git-sha "$sha" -pack-dir "$work")
[ -n "${BENCH_N:-}" ] && args+=(-n "$BENCH_N")
[ -n "${BENCH_C:-}" ] && args+=(-c "$BENCH_C")
[ -n "${BENCH_N_WEBHOOK:-}" ] && args+=(-n-webhook "$BENCH_N_WEBHOOK")
[ -n "${BENCH_N_ACCEPT:-}" ] && args+=(-n-accept "$BENCH_N_ACCEPT")
[ -n "${BENCH_ACCEPT_C:-}" ] && args+=(-accept-c "$BENCH_ACCEPT_C")
[ -n "${BENCH_ONLY:-}" ] && args+=(-only "$BENCH_ONLY")
# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
bin/squall-bench suite "${args[@]}" ${BENCH_ARGS:-} || { rc=$?; [ "$pid" -gt 0 ] && { echo "--- squall up log (tail) ---" >&2; tail -30 "$work/up.log" >&2; }; exit $rc; }
