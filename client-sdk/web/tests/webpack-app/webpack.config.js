// The setup docs/sdk-web.md gives webpack users: nothing beyond the defaults. webpack 5 emits
// the SDK's .wasm (found with `new URL(…, import.meta.url)`) as an asset.
import { fileURLToPath } from 'node:url';

export default {
  mode: 'production',
  target: 'web',
  entry: './src/index.js',
  output: { path: fileURLToPath(new URL('./dist', import.meta.url)), clean: true },
};
