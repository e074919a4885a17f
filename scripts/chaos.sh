#!/usr/bin/env bash
# make chaos: fault scenarios against a real deployment that squall-bench
# starts itself — a private Postgres, `squall temporal`, and separate
# `squall server` and `squall worker` processes — see bench/README.md.
# Each scenario prints its counts and PASS only on zero loss; the exit
# status is non-zero when any fails (logs are then kept; the path is shown).
#
# Knobs: CHAOS_SCENARIOS (worker-kill,api-kill,restart-deps,sensor-crash,
# sensor-host-kill), CHAOS_WEBHOOKS (burst size, default 5000), CHAOS_ARGS
# (more squall-bench chaos flags).
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/squall-bench ./cmd/squall-bench
args=(-bin bin/squall)
[ -n "${CHAOS_SCENARIOS:-}" ] && args+=(-scenarios "$CHAOS_SCENARIOS")
[ -n "${CHAOS_WEBHOOKS:-}" ] && args+=(-webhooks "$CHAOS_WEBHOOKS")
# shellcheck disable=SC2086 # CHAOS_ARGS is a list of flags
exec bin/squall-bench chaos "${args[@]}" ${CHAOS_ARGS:-}
