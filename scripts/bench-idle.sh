#!/usr/bin/env bash
# Requests per minute of an idle SDK client with DOCS open documents (client-sdk/benches/idle.rs,
# the SDK's default background settings), against the native server (local libSQL file), the
# Worker bundle in bare workerd (sqld), and the same Worker without its channel binding (a
# socket per document), all at once. Prints a Markdown table.
#   scripts/with-sqld.sh scripts/bench-idle.sh [docs] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
docs=${1:-100}
seconds=${2:-360}
: "${EDGESYNC_SQLD_URL:?run inside scripts/with-sqld.sh}"
source scripts/targets.sh
jwt_env edgesync-bench
bench=$(cargo bench -q --no-run -p edgesync-client --bench idle --message-format=json \
  | python3 -c 'import json, sys; print([m["executable"] for m in map(json.loads, sys.stdin) if m.get("executable") and m["target"]["name"] == "idle"][-1])')
[ -n "${EDGESYNC_PREBUILT:-}" ] || build_worker

servers=()
works=()
cleanup() {
  for p in "${servers[@]}"; do stop_pid "$p"; done
  rm -rf "${works[@]}"
}
trap cleanup EXIT
runs=()
for case in native workerd workerd-per-document; do
  work=$(mktemp -d)
  works+=("$work")
  port=$(free_port)
  if [ "$case" = workerd-per-document ]; then
    EDGESYNC_WORKERD_NO_CHANNEL=1 start_target workerd "$port" "$work"
  else
    start_target "$case" "$port" "$work"
  fi
  servers+=("$pid")
  wait_healthy "$port" "$work"
  EDGESYNC_BASE_URL="http://127.0.0.1:$port" EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" \
    EDGESYNC_TEST_ISSUER="$JWT_ISSUER" EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE" \
    "$bench" "$case" "$docs" "$seconds" >"$work/row" &
  runs+=($!)
done
for r in "${runs[@]}"; do wait "$r"; done

echo
echo "| server | open documents | live mode | idle seconds | syncs | socket reconnects | requests per minute |"
echo "|---|---:|---|---:|---:|---:|---:|"
for work in "${works[@]}"; do cat "$work/row"; done
