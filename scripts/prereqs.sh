#!/usr/bin/env bash
# Installs what Squall needs from Debian's packages when it is missing:
# the PostgreSQL server binaries (initdb, pg_ctl) and python3 for
# python-script actions. Only as root, and only when something is missing.
set -euo pipefail
need=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
command -v python3 >/dev/null 2>&1 || need+=(python3)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${need[*]} — install them (apt-get install ${need[*]}) and retry" >&2
  exit 1
fi
echo "installing ${need[*]} from Debian's packages" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian's postgresql package starts a system cluster; Squall runs its own.
