#!/usr/bin/env bash
# The replicated topology under test: scripts/topology.sh up, then tests/tests/replicas.rs
# (convergence across edges on different copies, primary down, a replica wiped), then down.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/targets.sh
jwt_env edgesync-replicas
# A short database deadline, so a push while the primary is down answers 503 quickly.
export LIBSQL_TIMEOUT_MS=3000

cargo build -q -p edgesync-server
export EDGESYNC_NATIVE_BIN=${CARGO_TARGET_DIR:-target}/debug/edgesync
cargo build -q -p edgesync-spin --target wasm32-wasip2 --release
[ -f edge/worker/build/index_bg.wasm ] || build_worker

dir=$(mktemp -d)
trap 'scripts/topology.sh down "$dir" || true; rm -rf "$dir"' EXIT
scripts/topology.sh up "$dir"
EDGESYNC_TOPOLOGY="$dir" EDGESYNC_REQUIRE_TARGET=1 EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" \
EDGESYNC_TEST_ISSUER="$JWT_ISSUER" EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE" \
  cargo test -p edgesync-blackbox --test replicas -- --test-threads=1 || {
    for log in primary replica1 replica2 workerd/server spin/server native/server; do
      echo "--- $log.log (tail) ---" >&2; tail -15 "$dir/$log.log" >&2 || true
    done
    exit 1
  }
