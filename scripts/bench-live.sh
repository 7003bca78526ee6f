#!/usr/bin/env bash
# What the live channel costs (tests/src/bin/live-load.rs): one writer, SUBSCRIBERS WebSockets
# on one document, ROUNDS edits each, against the release native server (local libSQL file;
# `/v1/live` and `/v1/docs/{id}/live`) and the release Worker bundle in bare workerd (sqld;
# `/v1/docs/{id}/live`, held by the document's Durable Object). Prints a Markdown table:
# delivery p50/p99/max, the writer's sync, delivery after its answer and after its request was
# handled (Server-Timing total), and resident memory per idle subscriber.
#   scripts/with-sqld.sh scripts/bench-live.sh [rounds-for-one] [subscribers] [rounds-for-many]
set -euo pipefail
cd "$(dirname "$0")/.."
one_rounds=${1:-200}
many=${2:-1000}
many_rounds=${3:-20}
: "${EDGESYNC_SQLD_URL:?run inside scripts/with-sqld.sh}"
source scripts/targets.sh
bench_setup live-load
unset EDGESYNC_NATIVE_ON_SQLD
unset EDGESYNC_WORKER_BUILD_FLAGS   # the bundle as deployed (wasm-opt)
build_worker

pid=''
trap 'stop_pid "$pid"' EXIT
rows=()
for case in "native 1 $one_rounds channel" "native $many $many_rounds channel" "native 1 $one_rounds document" \
  "workerd 1 $one_rounds document" "workerd $many $many_rounds document"; do
  read -r target subscribers rounds shape <<<"$case"
  work=$(mktemp -d)
  port=$(free_port)
  start_target "$target" "$port" "$work"
  wait_healthy "$port" "$work"
  rows+=("$(EDGESYNC_BASE_URL="http://127.0.0.1:$port" EDGESYNC_SERVER_PID="$pid" EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" \
    EDGESYNC_TEST_ISSUER="$JWT_ISSUER" EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE" \
    "$out/release/live-load" "$target ($shape)" "$subscribers" "$rounds" "$shape")")
  stop_pid "$pid"
  rm -rf "$work"
done

echo
echo "| server (socket) | subscribers | rounds | delivery p50 ms | p99 ms | max ms | writer's sync p50 ms | after its answer p50 / p99 ms | after its request was handled p50 / p99 ms | RSS per idle subscriber (KiB) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
