#!/usr/bin/env bash
# Builds every wasm artifact the suites run, one cargo build at a time, in the order they are
# needed: the Spin component, the Worker bundle (worker-build, as wrangler.toml's [build]
# command runs it), the web SDK's npm package (scripts/build-web.sh).
#   scripts/build-wasm.sh [READY_DIR]
# With READY_DIR, writes READY_DIR/spin, READY_DIR/worker and READY_DIR/web, each holding the
# seconds its build took, as soon as that artifact is ready: scripts/test.sh runs this beside
# the native suites and starts each runtime's suite when its artifact appears.
#
# worker-build's own cargo step is run first, alone: the Worker's wasm-opt (single-threaded,
# about 40 s) then runs while the web SDK compiles, instead of after it. Both cargo builds
# take target/release's lock, so running them at once would only serialise them in an
# arbitrary order.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/targets.sh
ready=${1:-}
mark() { if [ -n "$ready" ]; then echo "$2" >"$ready/$1.tmp" && mv "$ready/$1.tmp" "$ready/$1"; fi; }

start=$(date +%s)
build_spin
mark spin $(($(date +%s) - start))

start=$(date +%s)
(cd edge/worker && CARGO_PROFILE_RELEASE_OPT_LEVEL=z cargo build -q --lib --release --target wasm32-unknown-unknown)
(build_worker && mark worker $(($(date +%s) - start))) &
worker=$!
(scripts/build-web.sh && mark web $(($(date +%s) - start))) &
web=$!
status=0
wait "$worker" || status=1
wait "$web" || status=1
exit "$status"
