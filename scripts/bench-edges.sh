#!/usr/bin/env bash
# Compares the runtimes in one run (release builds), all with the same sqld primary behind them:
# the native server (libSQL over HTTP to sqld), the Spin component under wasmtime serve, the
# Worker under wrangler dev, and the same Worker bundle in bare workerd. Prints sizes, time to
# first 200, and sync throughput.
#   scripts/with-sqld.sh scripts/bench-edges.sh [clients] [rounds-per-client]
# With 8 clients the Spin component's writers wedge sqld 0.24.32 (docs/architecture.md, "A
# self-hosted sqld can stop committing"), and the runtimes after it then time out too.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-8}
rounds=${2:-50}
export EDGESYNC_WASM_PROFILE=release
source scripts/targets.sh
bench_setup edge-load
build_spin

pids=()
trap 'for p in "${pids[@]}"; do stop_pid "$p"; done' EXIT
rows=()
build_worker
for target in native spin worker workerd; do
  work=$(mktemp -d)
  port=$(free_port)
  t0=$(date +%s%N)
  start_target "$target" "$port" "$work"
  pids+=("$pid")
  wait_healthy "$port" "$work"
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  for mode in own shared; do
    row=$(EDGESYNC_BASE_URL="http://127.0.0.1:$port" EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" \
      EDGESYNC_TEST_ISSUER="$JWT_ISSUER" EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE" \
      "$out/release/edge-load" "$target" "$clients" "$rounds" "$mode")
    rows+=("$row $ms |")
  done
  stop_pid "$pid"
done

echo
echo "| runtime | documents | clients | sync rounds/s | p50 ms | p99 ms | full merges | 503s retried | start to first 200 (ms) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
# Rows come in pairs (own, shared) per runtime, native first.
native=$(echo "${rows[0]}" | awk -F'|' '{print $5}')
for ((i = 0; i < ${#rows[@]}; i += 2)); do
  own=${rows[i]} shared=${rows[i + 1]}
  paste -d'|' <(echo "$own") <(echo "$shared") | awk -F'|' -v n="$native" \
    '{printf "%s: own docs / native %.2f; one shared doc / own docs: rounds/s %.2f, p99 %.2f\n", $2, $5 / n, $16 / $5, $18 / $7}'
done
spin=$spin_wasm
worker=edge/worker/build/index_bg.wasm
echo
echo "| artifact | raw bytes | gzip -9 bytes |"
echo "|---|---:|---:|"
for f in "$spin" "$worker"; do echo "| $f | $(wc -c <"$f") | $(gzip -9 -c "$f" | wc -c) |"; done
