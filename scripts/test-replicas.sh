#!/usr/bin/env bash
# The replicated topology under test: scripts/topology.sh up, then tests/tests/replicas.rs
# (convergence across edges on different copies, primary down, a replica wiped), then down.
# Uses the binaries the earlier steps built (the native test build, the Spin component, the
# Worker bundle); builds whichever is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/targets.sh
jwt_env edgesync-replicas
# A short database deadline, so a push while the primary is down answers 503 quickly.
export LIBSQL_TIMEOUT_MS=3000

[ -f "$test_bins_list" ] || build_tests
export EDGESYNC_NATIVE_BIN=$native_bin
[ -f "$spin_wasm" ] || build_spin
[ -f edge/worker/build/index_bg.wasm ] || build_worker

dir=$(mktemp -d)
trap 'scripts/topology.sh down "$dir" || true; rm -rf "$dir"' EXIT
scripts/topology.sh up "$dir"
EDGESYNC_TOPOLOGY="$dir" EDGESYNC_REQUIRE_TARGET=1 EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" \
EDGESYNC_TEST_ISSUER="$JWT_ISSUER" EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE" \
  run_tests edgesync-blackbox replicas -- --test-threads=1 || {
    for log in primary replica1 replica2 workerd/server spin/server native/server; do
      echo "--- $log.log (tail) ---" >&2; tail -15 "$dir/$log.log" >&2 || true
    done
    exit 1
  }
