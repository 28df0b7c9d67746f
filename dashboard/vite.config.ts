// Builds the dashboard page (Preact, JSX through Vite's own transform) into dist/dashboard,
// which the api service's dashboard listener serves.
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../dist/dashboard',
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 800,
  },
  logLevel: 'warn',
});
