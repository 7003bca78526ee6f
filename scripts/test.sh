#!/usr/bin/env bash
# Runs every test of the project. Installs what the tests need first (idempotently).
#   scripts/test.sh          all suites
# Prints each step's seconds at the end (also when a step fails), and fails if any process it
# started (a runtime, sqld, a browser) is still running when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# A full run rebuilds the workspace's crates once: incremental compilation only adds to that
# (the native workspace crates: 111 s without it against 142 s with it, from clean).
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

# Every process this run starts inherits this marker; the end check finds leftovers by it.
EDGESYNC_TEST_RUN="$$-$(date +%s%N)"
export EDGESYNC_TEST_RUN

steps=()
step_name=""
step_start=0
run_start=$(date +%s)
end_step() {
  [ -n "$step_name" ] && steps+=("$(printf '%6ds  %s' $(($(date +%s) - step_start)) "$step_name")")
  step_name=""
}
step() {
  end_step
  step_name=$1
  step_start=$(date +%s)
  printf '\n==> %s\n' "$*"
}
finish() {
  local status=$?
  end_step
  printf '\n==> step times (seconds)\n'
  printf '%s\n' "${steps[@]}"
  printf '%6ds  total\n' $(($(date +%s) - run_start))
  if [ -n "${wasm_builds:-}" ]; then
    # A step that failed leaves the background builds running: stop them first.
    kill -- "-$wasm_builds_pid" 2>/dev/null || true
    for build in spin worker web; do
      [ -e "$wasm_builds/$build.done" ] && printf '%6ds  (in the background) %s build\n' "$(cat "$wasm_builds/$build.done")" "$build"
    done
    rm -rf "$wasm_builds"
  fi
  scripts/leftovers.sh "$EDGESYNC_TEST_RUN" || status=1
  exit "$status"
}
trap finish EXIT

step "tools (installed once, then skipped)"
scripts/install-tools.sh
source scripts/env.sh

step "sync-core stays free of IO crates"
if cargo tree -p edgesync-sync-core -e normal --prefix none | grep -E '^(tokio|libsql|worker|spin-sdk|reqwest|hyper) ' ; then
  echo "sync-core must not depend on IO crates" >&2
  exit 1
fi

step "build every native target once (cargo build --all-targets over the workspace's native members)"
build_tests

# The wasm builds (Spin component, Worker bundle, web SDK crate) run in the background from
# here on, at the lowest CPU priority, while the suites below run: those mostly wait (on sqld,
# sockets, timers; the native tests used 1.1 of the 2 cores), and each wasm suite waits for
# its build (scripts/build-wasm.sh). Built one after the other, the three took ~500 s alone.
wasm_builds=$out/wasm-builds-$EDGESYNC_TEST_RUN
source scripts/build-wasm.sh
# setsid: a process group of its own ($! leads it), stopped as one if a step fails.
setsid nice -n 19 scripts/build-wasm.sh "$wasm_builds" spin worker web &
wasm_builds_pid=$!

step "native workspace tests (storage suites against a real sqld too)"
# The fuzz targets (sync-core/tests/fuzz.rs, edge/app auth) replay their corpus, then generate
# inputs for this long each (docs/testing.md).
export BOLERO_RANDOM_TEST_TIME_MS=${BOLERO_RANDOM_TEST_TIME_MS:-5000}
EDGESYNC_REQUIRE_SQLD=1 scripts/with-sqld.sh cargo test

step "black-box HTTP suite against the native server"
scripts/blackbox.sh native

step "automerge-repo: unchanged npm clients against the native server's /v1/automerge-repo; the Rust SDK sees the same documents"
scripts/test-automerge-repo.sh

step "Schemathesis: requests generated from the native server's OpenAPI document; no 5xx, every answer as documented"
scripts/schemathesis.sh

step "Spin component: build for wasm32-wasip2, then the black-box suite under wasmtime serve with sqld"
await_wasm "$wasm_builds" spin "$wasm_builds_pid"
python3 scripts/check-spin-manifest.py
EDGESYNC_PREBUILT=1 scripts/with-sqld.sh scripts/blackbox.sh spin

# The Worker bundle is built once (in the background, exactly as wrangler.toml's [build] command
# builds it); wrangler then runs that [build] command as a developer's `wrangler dev` does,
# which compiles nothing more, and the later steps run the same bundle.
step "The wrangler dev workflow: wrangler builds (worker-build) and serves the Worker; a smoke test through its proxy"
await_wasm "$wasm_builds" worker "$wasm_builds_pid"
scripts/with-sqld.sh scripts/wrangler-smoke.sh
export EDGESYNC_PREBUILT=1

step "Cloudflare Worker: the black-box suite in bare workerd with sqld (the bundle wrangler built); automerge-repo's npm clients; configuration errors"
scripts/with-sqld.sh scripts/blackbox.sh workerd
scripts/with-sqld.sh scripts/test-automerge-repo.sh workerd
scripts/worker-config-errors.sh

step "Replicated topology: sqld primary + 2 replicas, workerd/Spin/native edges on different copies; primary down; replica wiped"
scripts/test-replicas.sh

step "Mobile bindings (UniFFI): generate Kotlin and Swift, run the Python bindings against the native server"
scripts/test-mobile.sh

step "Web SDK: build the npm package, then its tests in Node and headless Chromium against the native server"
await_wasm "$wasm_builds" web "$wasm_builds_pid"
scripts/test-web.sh
