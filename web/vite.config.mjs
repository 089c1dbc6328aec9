// Builds the web UI (web/) into dist/web, which `lockstep serve` serves at `/` (src/server/web-ui.ts).
// `npm run build` runs it after the server's build; `npx vite --config web/vite.config.mjs` serves it
// for development, proxying the API to a `lockstep serve` on 127.0.0.1:8417.
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    // No inline script or style anywhere: the Content-Security-Policy refuses them.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    // No source maps in the package: they would triple its size (the UI's source is in the repository).
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:8417',
      '/auth': 'http://127.0.0.1:8417',
    },
  },
});
