#!/usr/bin/env bash
# Unchanged automerge-repo 2.5.6 clients (tests/automerge-repo: the npm packages its lockfile
# pins, installed by scripts/install-tools.sh) against the native server's /v1/automerge-repo,
# with the Rust SDK (edgesync-client-get) reading and editing the same documents over HTTP.
#   EDGESYNC_BIN=path   use this server binary instead of the one build_tests built
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/env.sh
[ -f "$test_bins_list" ] || build_tests
export EDGESYNC_BIN=${EDGESYNC_BIN:-$out/debug/edgesync}
export EDGESYNC_CLIENT_GET=$out/debug/edgesync-client-get
cd tests/automerge-repo
node --test --test-timeout=120000 --test-force-exit repo.test.mjs
