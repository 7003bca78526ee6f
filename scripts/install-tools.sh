#!/usr/bin/env bash
# Installs what the tests need, skipping whatever is already present at the right version.
set -euo pipefail
cd "$(dirname "$0")/.."

have_target() { rustup target list --installed | grep -qx "$1"; }
for t in wasm32-unknown-unknown wasm32-wasip2; do
  have_target "$t" || rustup target add "$t"
done
