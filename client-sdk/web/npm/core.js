// The package's shared internals: loads the wasm module once and re-exports the classes
// wasm-bindgen generated. Not an entry point: apps import `index.js` (browsers, bundlers) or
// `node.js` (Node), which the package's `exports` conditions choose.
import initWasm, * as wasm from './wasm/edgesync_web.js';
import { EdgesyncError } from './errors.js';

export { EdgesyncError };
export { ChangeSet, Client, Document } from './wasm/edgesync_web.js';

// Where the module comes from when `init` is given nothing: `undefined` lets wasm-bindgen fetch
// it next to its glue (`new URL(…, import.meta.url)`, which bundlers turn into an asset); the
// Node entry point reads it from disk instead.
let defaultSource = async () => undefined;

/** For the Node entry point only. */
export function setDefaultSource(load) {
  defaultSource = load;
}

let ready = null;

/**
 * Loads the wasm module once. `Client.open` calls it; call it first only to choose where the
 * module comes from (a URL, a Response, bytes or a compiled WebAssembly.Module).
 */
export function init(source) {
  ready ??= (async () => {
    const input = source === undefined ? await defaultSource() : source;
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
