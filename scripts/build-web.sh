#!/usr/bin/env bash
# Builds the web SDK's npm package into client-sdk/web/pkg/ (gitignored):
#   client-sdk/web/npm/*   the committed package files (package.json, README, entry point, types)
#   pkg/wasm/              wasm-bindgen --target web output of the edgesync-web crate
# The `web` target is one ES module for browsers and Node alike (the entry point passes Node
# the wasm bytes itself). Needs the wasm-bindgen CLI matching the pinned crate
# (scripts/install-tools.sh).
#   scripts/build-web.sh                   release build (what the package ships)
#   scripts/build-web.sh --debug           faster build, larger and slower wasm
#   scripts/build-web.sh --profile NAME    any cargo profile (the test command: wasm-test)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
case "${1:-}" in
  --debug) profile=dev ;;
  --profile) profile=${2:?--profile needs a name} ;;
  "") ;;
  *) echo "usage: scripts/build-web.sh [--debug | --profile NAME]" >&2; exit 2 ;;
esac
# cargo writes the dev profile to debug/
dir=$profile
[ "$profile" = dev ] && dir=debug

source scripts/env.sh
build_web_wasm "$profile"

want=$(sed -n 's/^wasm-bindgen = "=\(.*\)"$/\1/p' Cargo.toml)
have=$(wasm-bindgen --version | awk '{print $2}')
if [ "$want" != "$have" ]; then
  echo "wasm-bindgen CLI $have does not match the pinned crate $want (run scripts/install-tools.sh)" >&2
  exit 1
fi

pkg=client-sdk/web/pkg
rm -rf "$pkg"
mkdir -p "$pkg/wasm"
wasm-bindgen --target web --out-dir "$pkg/wasm" "$out/wasm32-unknown-unknown/$dir/edgesync_web.wasm"
cp client-sdk/web/npm/* "$pkg/"
echo "built $pkg ($(du -k "$pkg/wasm/edgesync_web_bg.wasm" | cut -f1) KiB wasm, $profile)"
