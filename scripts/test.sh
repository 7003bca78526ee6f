#!/usr/bin/env bash
# Runs every test of the project. Installs what the tests need first (idempotently).
#   scripts/test.sh          all suites
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { printf '\n==> %s\n' "$*"; }

step "toolchain targets"
scripts/install-tools.sh

step "sync-core stays free of IO crates"
if cargo tree -p edgesync-sync-core -e normal --prefix none | grep -E '^(tokio|libsql|worker|spin-sdk|reqwest|hyper) ' ; then
  echo "sync-core must not depend on IO crates" >&2
  exit 1
fi

step "sync-core builds for wasm32-unknown-unknown and wasm32-wasip2; the client engine for the web"
# (The edge app and the Hrana client are built for both targets by the Worker and Spin steps.)
cargo build -p edgesync-sync-core --target wasm32-unknown-unknown --features wasm
cargo build -p edgesync-sync-core --target wasm32-wasip2
cargo build -p edgesync-client --target wasm32-unknown-unknown --no-default-features --features wasm

step "native workspace tests (storage suites against a real sqld too)"
EDGESYNC_REQUIRE_SQLD=1 scripts/with-sqld.sh cargo test --workspace

step "black-box HTTP suite against the native server"
scripts/blackbox.sh native

step "Spin component: build for wasm32-wasip2, then the black-box suite under wasmtime serve with sqld"
scripts/with-sqld.sh scripts/blackbox.sh spin

step "Cloudflare Worker: worker-build, then the black-box suite under wrangler dev (workerd) with sqld"
scripts/with-sqld.sh scripts/blackbox.sh worker

step "The same Worker bundle in bare workerd: the black-box suite, then configuration errors"
scripts/with-sqld.sh scripts/blackbox.sh workerd
scripts/worker-config-errors.sh

step "Replicated topology: sqld primary + 2 replicas, workerd/Spin/native edges on different copies; primary down; replica wiped"
scripts/test-replicas.sh

step "Mobile bindings (UniFFI): generate Kotlin and Swift, run the Python bindings against the native server"
scripts/test-mobile.sh

step "Web SDK: build the npm package, then its tests in Node and headless Chromium against the native server"
scripts/test-web.sh
