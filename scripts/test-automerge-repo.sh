#!/usr/bin/env bash
# Unchanged automerge-repo 2.5.6 clients (tests/automerge-repo: the npm packages its lockfile
# pins, installed by scripts/install-tools.sh) against /v1/automerge-repo, with the Rust SDK
# (edgesync-client-get) reading and editing the same documents over HTTP.
#   scripts/test-automerge-repo.sh           the native server (the test starts it)
#   scripts/test-automerge-repo.sh workerd   the Worker bundle in bare workerd, on sqld (run
#                                            inside scripts/with-sqld.sh; EDGESYNC_PREBUILT=1:
#                                            the bundle an earlier step built)
#   EDGESYNC_BIN=path   use this server binary instead of the one build_tests built
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/targets.sh
[ -f "$test_bins_list" ] || build_tests
export EDGESYNC_BIN=${EDGESYNC_BIN:-$out/debug/edgesync}
export EDGESYNC_CLIENT_GET=$out/debug/edgesync-client-get
if [ "${1:-native}" = workerd ]; then
  [ -n "${EDGESYNC_PREBUILT:-}" ] || build_worker
  jwt_env edgesync-automerge-repo
  work=$(mktemp -d)
  port=$(free_port)
  start_target workerd "$port" "$work"
  trap 'stop_pid "$pid"; rm -rf "$work"' EXIT
  wait_healthy "$port" "$work"
  export EDGESYNC_BASE_URL="http://127.0.0.1:$port" EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" \
    EDGESYNC_TEST_ISSUER="$JWT_ISSUER" EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE"
fi
cd tests/automerge-repo
node --test --test-timeout=120000 --test-force-exit repo.test.mjs
