import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vitest/config';

// The Tauri shell loads ui/dist from disk (or the dev server in `tauri dev`),
// so assets must use relative paths and nothing may come from the network.
export default defineConfig({
  base: './',
  plugins: [svelte()],
  clearScreen: false,
  server: {
    host: '127.0.0.1',
    port: 1420,
    strictPort: true,
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // WebKitGTK (Linux), WebView2 (Windows), WKWebView (macOS).
    target: ['es2022', 'chrome105', 'safari15'],
    sourcemap: false,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
