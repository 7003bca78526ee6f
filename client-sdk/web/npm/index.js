// edgesync-web for browsers and bundlers (the `browser` and `default` export conditions):
// no Node built-ins. The wasm module is fetched next to this package's glue the first time a
// client opens; Vite and webpack 5 emit it as an asset (docs/sdk-web.md, "Bundlers").
export { ChangeSet, Client, Document, EdgesyncError, init } from './core.js';
