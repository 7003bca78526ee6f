// edgesync-web: offline-first Automerge documents in IndexedDB, synced with an edgesync API.
// This entry point loads the wasm module (browsers fetch it next to this file; Node reads it
// from disk) and re-exports the classes wasm-bindgen generated.
import initWasm, * as wasm from './wasm/edgesync_web.js';
import { EdgesyncError } from './errors.js';

export { EdgesyncError };
export { ChangeSet, Client, Document } from './wasm/edgesync_web.js';

let ready = null;

const isNode = () => typeof process !== 'undefined' && process.versions?.node !== undefined
  && typeof window === 'undefined';

/**
 * Loads the wasm module once. `Client.open` calls it; call it first only to choose where the
 * module comes from (a URL, a Response, bytes or a compiled WebAssembly.Module).
 */
export function init(source) {
  ready ??= (async () => {
    let input = source;
    if (input === undefined && isNode()) {
      const { readFile } = await import('node:fs/promises');
      input = await readFile(new URL('./wasm/edgesync_web_bg.wasm', import.meta.url));
    }
    await initWasm(input === undefined ? undefined : { module_or_path: input });
    wasm.__setErrorClass(EdgesyncError);
  })().catch((e) => {
    ready = null;
    throw e;
  });
  return ready;
}

// `Client.open` loads the module first, so apps never call `init` themselves.
const open = wasm.Client.open;
Object.defineProperty(wasm.Client, 'open', {
  value: async function openClient(options) {
    await init();
    return open.call(wasm.Client, options);
  },
  writable: false,
});
