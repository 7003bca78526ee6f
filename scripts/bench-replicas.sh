#!/usr/bin/env bash
# Replication figures (docs/benchmarks.md): starts the topology of scripts/topology.sh and runs
# tests/src/bin/replica-bench.rs in it (release build).
#   scripts/bench-replicas.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export EDGESYNC_WASM_PROFILE=release
source scripts/targets.sh
jwt_env edgesync-bench
cargo build -q --release -p edgesync-server --bin edgesync -p edgesync-blackbox --bin replica-bench
export EDGESYNC_NATIVE_BIN=$out/release/edgesync
build_spin
build_worker
dir=$(mktemp -d)
trap 'scripts/topology.sh down "$dir" || true; rm -rf "$dir"' EXIT
scripts/topology.sh up "$dir"
EDGESYNC_TOPOLOGY="$dir" EDGESYNC_TEST_HS256_SECRET="$JWT_HS256_SECRET" EDGESYNC_TEST_ISSUER="$JWT_ISSUER" \
EDGESYNC_TEST_AUDIENCE="$JWT_AUDIENCE" "$out/release/replica-bench"
