#!/usr/bin/env bash
# What the live channel costs (tests/src/bin/live-load.rs): the release native server on a
# local libSQL file; one writer, SUBSCRIBERS WebSockets on one document, ROUNDS edits each.
# Prints a Markdown table: delivery p50/p99/max and resident memory per idle subscriber.
#   scripts/bench-live.sh [rounds-for-one] [subscribers] [rounds-for-many]
set -euo pipefail
cd "$(dirname "$0")/.."
one_rounds=${1:-200}
many=${2:-1000}
many_rounds=${3:-20}
source scripts/targets.sh
bench_setup live-load
unset EDGESYNC_NATIVE_ON_SQLD

pid=''
trap 'stop_pid "$pid"' EXIT
rows=()
for case in "1 $one_rounds" "$many $many_rounds"; do
  read -r subscribers rounds <<<"$case"
  work=$(mktemp -d)
  port=$(free_port)
  start_target native "$port" "$work"
  wait_healthy "$port" "$work"
  rows+=("$(EDGESYNC_BASE_URL="http://127.0.0.1:$port" EDGESYNC_SERVER_PID="$pid" EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" \
    EDGESYNC_TEST_ISSUER="$JWT_ISSUER" EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE" \
    "$out/release/live-load" native "$subscribers" "$rounds")")
  stop_pid "$pid"
  rm -rf "$work"
done

echo
echo "| server | subscribers | rounds | delivery p50 ms | p99 ms | max ms | RSS per idle subscriber (KiB) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
