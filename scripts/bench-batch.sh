#!/usr/bin/env bash
# What one `/v1/sync` of many documents costs (tests/src/bin/batch-load.rs): the native server
# on a sqld primary over HTTP, and the Worker bundle in bare workerd on the same sqld (release
# builds). One user with DOCS one-change documents; ROUNDS requests from an up-to-date client
# and from a fresh one.
#   scripts/with-sqld.sh scripts/bench-batch.sh [docs] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
docs=${1:-1000}
rounds=${2:-20}
export EDGESYNC_WASM_PROFILE=release
source scripts/targets.sh
bench_setup batch-load
build_worker

pids=()
trap 'for p in "${pids[@]}"; do stop_pid "$p"; done' EXIT
rows=()
for target in native workerd; do
  work=$(mktemp -d)
  port=$(free_port)
  start_target "$target" "$port" "$work"
  pids+=("$pid")
  wait_healthy "$port" "$work"
  rows+=("$(EDGESYNC_BASE_URL="http://127.0.0.1:$port" EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" \
    EDGESYNC_TEST_ISSUER="$JWT_ISSUER" EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE" \
    "$out/release/batch-load" "$target" "$docs" "$rounds")")
  stop_pid "$pid"
done

echo
echo "| runtime | docs per request | up to date p50 ms | p99 ms | fresh pull p50 ms | p99 ms | fresh pull bytes |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
