#!/usr/bin/env bash
# The mobile bindings (client-sdk/uniffi): builds the library, generates the Kotlin and Swift
# sources (checked, not compiled: no mobile toolchain here) and the Python bindings, then runs
# the Python suite through them against the real `edgesync` server binary.
#   scripts/test-mobile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
gen="$out/uniffi"

# The server the Python test starts and the library: built by `build_tests` (scripts/env.sh)
# with everything else; the bindings generator comes from scripts/install-tools.sh.
[ -f "$test_bins_list" ] || build_tests
lib="$out/debug/libedgesync_uniffi.so"
bindgen="$uniffi_bindgen"
test -f "$lib" || { echo "missing $lib" >&2; exit 1; }

rm -rf "$gen"
for language in kotlin swift python; do
  "$bindgen" generate --no-format --library "$lib" --language "$language" --out-dir "$gen/$language"
done

# The generated sources must be there and expose the API the docs promise.
expect() { # file, then strings it must contain
  local file=$1; shift
  test -s "$file" || { echo "not generated: $file" >&2; exit 1; }
  for s in "$@"; do grep -qF -- "$s" "$file" || { echo "$file lacks: $s" >&2; exit 1; }; done
}
expect "$gen/kotlin/uniffi/edgesync/edgesync.kt" \
  'suspend fun `open`(`config`: ClientConfig) : Client' 'suspend fun `syncNow`()' \
  'public interface TokenProvider' 'public interface EventListener' 'sealed class EdgesyncException' 'suspend fun `shutdown`()' \
  'suspend fun `spliceText`(' 'fun `toJson`(): kotlin.String' 'suspend fun `sharedDocuments`(): List<SharedDocument>' \
  'fun `setPresence`(`docId`: kotlin.String, `dataJson`: kotlin.String): kotlin.Boolean' 'public interface PresenceListener'
# Kotlin objects are AutoCloseable (`close()` frees the handle): an exported suspend `close`
# would not compile next to it.
if grep -qF 'suspend fun `close`' "$gen/kotlin/uniffi/edgesync/edgesync.kt"; then
  echo "an exported close() clashes with AutoCloseable.close() in Kotlin" >&2; exit 1
fi
expect "$gen/swift/EdgeSync.swift" \
  'public static func `open`(config: ClientConfig)async throws  -> Client' 'func syncNow() async throws' \
  'public protocol TokenProvider' 'public protocol EventListener' 'public enum EdgesyncError' \
  'func spliceText(path: String, index: UInt64, delete: UInt64, text: String) async throws' 'func toJson() throws  -> String'
expect "$gen/swift/EdgeSyncFFI.h" 'uniffi_edgesync_uniffi_fn_constructor_client_open'
expect "$gen/swift/EdgeSyncFFI.modulemap" 'module EdgeSyncFFI'
expect "$gen/python/edgesync.py" 'async def open(cls, config: "ClientConfig")'
echo "generated: $(cd "$gen" && find . -type f | sort | tr '\n' ' ')"

# The Python bindings load the library from their own directory.
cp "$lib" "$gen/python/"
EDGESYNC_PY_BINDINGS="$gen/python" EDGESYNC_BIN="$out/debug/edgesync" \
  python3 client-sdk/uniffi/tests/test_offline_sync.py -v
