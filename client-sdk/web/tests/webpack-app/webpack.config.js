// The setup docs/sdk-web.md gives webpack users: nothing beyond the defaults. webpack 5 emits
// the SDK's .wasm (found with `new URL(…, import.meta.url)`) as an asset.
import { fileURLToPath } from 'node:url';

export default {
  mode: 'production',
  target: 'web',
  // The SDK alone, and a React app on its `useDocument` hook.
  entry: { main: './src/index.js', react: './src/react-app.js' },
  output: { path: fileURLToPath(new URL('./dist', import.meta.url)), clean: true },
};
