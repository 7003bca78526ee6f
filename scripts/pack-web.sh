#!/usr/bin/env bash
# The web SDK as an npm tarball anyone installs without Rust: `npm install ./edgesync-web-*.tgz`.
# Builds the package (scripts/build-web.sh), shrinks the wasm with wasm-opt -Oz (binaryen from
# scripts/install-tools.sh), then `npm pack`s it into $out/web/ and prints the wasm's raw and
# gzipped sizes (docs/benchmarks.md, "Web SDK size").
#   scripts/pack-web.sh                  release build + wasm-opt: the tarball to publish
#   scripts/pack-web.sh --profile NAME   another cargo profile (the test command: wasm-test)
#   scripts/pack-web.sh --debug          a quick unoptimised build (for trying things)
#   scripts/pack-web.sh --no-opt         skip wasm-opt (about 40 s; the tests do)
# Prints the tarball's path on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
opt=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=${2:?--profile needs a name}; shift ;;
    --debug) profile=dev ;;
    --no-opt) opt=no ;;
    *) echo "usage: scripts/pack-web.sh [--profile NAME | --debug] [--no-opt]" >&2; exit 2 ;;
  esac
  shift
done

source scripts/env.sh
scripts/build-web.sh --profile "$profile" >&2
pkg=client-sdk/web/pkg
wasm=$pkg/wasm/edgesync_web_bg.wasm
if [ "$opt" = yes ]; then
  # -Oz: size first (the module is downloaded by every visitor). The features match what
  # rustc emits for wasm32-unknown-unknown.
  "$WASM_OPT_BIN" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue "$wasm" -o "$wasm.opt"
  mv "$wasm.opt" "$wasm"
fi
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "wasm: $raw bytes, $gz gzipped (-9) ($profile, wasm-opt: $opt)" >&2
# The size budget (docs/benchmarks.md, "Web SDK size"): what every visitor downloads.
budget=900000
if [ "$profile" = release ] && [ "$opt" = yes ] && [ "$gz" -gt "$budget" ]; then
  echo "the gzipped wasm ($gz bytes) is over its budget of $budget bytes" >&2
  exit 1
fi

dest=$out/web
mkdir -p "$dest"
rm -f "$dest"/edgesync-web-*.tgz
name=$(cd "$pkg" && npm pack --silent --pack-destination "$dest")
echo "$dest/$name"
