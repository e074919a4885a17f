#!/usr/bin/env bash
# make run-prod: the production topology on one host — Squall's database
# and Temporal's (databases temporal and temporal_visibility) in one
# private Postgres cluster, the embedded Temporal server on it rather than
# on SQLite (SQUALL_TEMPORAL_POSTGRES=true), API and worker in the same
# process. What an operator runs before moving to a real Postgres and a
# real Temporal cluster (then: SQUALL_DATABASE_URL, SQUALL_TEMPORAL_ADDRESS,
# and separate `squall server` / `squall worker` processes).
#
# State lives under SQUALL_DATA_DIR (default .squall-prod, apart from make
# run's .squall); every other SQUALL_* setting is honoured as usual.
set -euo pipefail
cd "$(dirname "$0")/.."
export SQUALL_DATA_DIR=${SQUALL_DATA_DIR:-.squall-prod}
export SQUALL_TEMPORAL_POSTGRES=true
if [ -n "${SQUALL_TEMPORAL_ADDRESS:-}" ]; then
  echo "run-prod runs the embedded Temporal on Postgres; unset SQUALL_TEMPORAL_ADDRESS" >&2
  exit 2
fi
exec bin/squall up "$@"
