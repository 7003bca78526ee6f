import { defineConfig } from 'vite';

export default defineConfig({
  // edgesync-web's glue finds its .wasm with `new URL(…, import.meta.url)`. Vite's dependency
  // pre-bundling (dev server only) would move the glue away from the file, so leave it out;
  // production builds emit the .wasm as an asset either way.
  optimizeDeps: { exclude: ['edgesync-web'] },
});
