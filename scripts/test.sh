#!/usr/bin/env bash
# Runs the whole test suite against real services: a private Postgres
# cluster and an in-memory embedded Temporal server, both started here by
# bin/squall test-services and stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each run gets its own directory, so that two runs on one machine (two
# developers, or a developer and CI) never share or delete each other's
# Postgres cluster.
mkdir -p .squall-test
dir=$(mktemp -d "$PWD/.squall-test/run.XXXXXX")
chmod 755 "$dir"
bin/squall test-services --dir "$dir" --env-file "$dir/env" >"$dir/services.log" 2>&1 &
svc=$!
cleanup() {
  kill "$svc" 2>/dev/null || true
  wait "$svc" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 1 240); do
  [ -f "$dir/env" ] && break
  if ! kill -0 "$svc" 2>/dev/null; then
    echo "test services failed to start:" >&2
    cat "$dir/services.log" >&2
    exit 1
  fi
  sleep 0.5
done
[ -f "$dir/env" ] || { echo "test services did not start in 120 s" >&2; cat "$dir/services.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$dir/env"
export SQUALL_BIN="$PWD/bin/squall"
# StackStorm's contrib packs, the compatibility corpus, sit beside the repo.
if [ -z "${SQUALL_ST2_PACKS:-}" ]; then
  if [ -d ../shared/st2-packs ]; then
    SQUALL_ST2_PACKS=$(cd ../shared/st2-packs && pwd)
    export SQUALL_ST2_PACKS
  else
    echo "the st2 pack corpus (../shared/st2-packs) is missing; set SQUALL_ST2_PACKS" >&2
    exit 1
  fi
fi
go test -count=1 -timeout 25m "${@:-./...}"
