// edgesync-web for Node (the `node` export condition): the wasm module is read from disk, next
// to this file, instead of fetched.
import { readFile } from 'node:fs/promises';
import { setDefaultSource } from './core.js';

setDefaultSource(() => readFile(new URL('./wasm/edgesync_web_bg.wasm', import.meta.url)));

export { ChangeSet, Client, Document, EdgesyncError, init } from './core.js';
