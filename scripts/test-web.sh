#!/usr/bin/env bash
# The web SDK (client-sdk/web): builds the npm package (scripts/build-web.sh), then runs its
# tests against the real native server (target/debug/edgesync on a free port, temp data dir):
#   tests/node/     Node 22 (global fetch, fake-indexeddb): sync, durability, background loop,
#                   errors; one document edited through the web and the mobile SDK (the Python
#                   bindings of client-sdk/uniffi) has one data model
#   tests/browser/  headless Debian Chromium via playwright-core: two contexts, one offline,
#                   converge; reload while offline keeps the edits; one tab per database
#   tests/types/    the package's TypeScript types compile against a usage sample (tsc)
#   tests/package/  the packed tarball (scripts/pack-web.sh): a fresh npm install, webpack and
#                   Vite (examples/web-demo) builds without Node built-ins, both in Chromium
# Needs scripts/install-tools.sh (Node 22, wasm-bindgen CLI, chromium, the npm test deps).
#   EDGESYNC_BIN=path   use this server binary instead of building it
#   WEB_BUILD=--debug   a faster, unoptimised wasm build (default: --profile $wasm_profile,
#                       scripts/env.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/env.sh
if [ -z "${EDGESYNC_BIN:-}" ]; then
  # Built by `build_tests` (scripts/env.sh) with everything else: nothing compiles twice.
  [ -f "$test_bins_list" ] || build_tests
  EDGESYNC_BIN="$out/debug/edgesync"
fi
export EDGESYNC_BIN

# The package (client-sdk/web/pkg/) and its tarball, as published but without wasm-opt (it only
# shrinks the module, and takes about 40 s).
# shellcheck disable=SC2086 # WEB_BUILD is a list of arguments
EDGESYNC_WEB_TARBALL=$(scripts/pack-web.sh --no-opt ${WEB_BUILD:---profile $wasm_profile} | tail -1)
export EDGESYNC_WEB_TARBALL
# The mobile SDK's Python bindings, for the cross-SDK test (tests/node/cross-sdk.test.mjs).
EDGESYNC_PY_BINDINGS="$out/uniffi/web-cross-sdk"
python_bindings "$EDGESYNC_PY_BINDINGS"
export EDGESYNC_PY_BINDINGS
cd client-sdk/web
node_modules/.bin/tsc -p tests/types
# A test that hangs fails after 3 minutes, and a test file whose tests are done exits even if
# something it opened is still running (the failure is then reported, not waited out).
node --test --test-timeout=180000 --test-force-exit tests/node/*.test.mjs tests/browser/*.test.mjs tests/package/*.test.mjs
