// Builds the viewer into ../static/viewer/, served by Django as
// /static/viewer/. Everything the page runs comes from there: the decode
// web worker and the wasm codecs are emitted as bundle assets (the bundler
// resolves the loader's new URL("<codec>/...wasm", import.meta.url)), never
// fetched from elsewhere, so the viewer works offline and under a strict
// Content-Security-Policy.
import { resolve } from "node:path";
import { defineConfig } from "vite";

const here = import.meta.dirname;

export default defineConfig({
  base: "/static/viewer/",
  resolve: {
    // vtk.js pulls in xmlbuilder2, whose classes extend Node's EventEmitter
    // at load time; the browser build of `events` stands in for it (the
    // trailing slash makes this the npm package, not the Node built-in).
    alias: { events: "events/" },
  },
  build: {
    outDir: resolve(here, "../static/viewer"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    // Cornerstone and vtk.js are one large entry; splitting buys nothing
    // for a page that needs all of it to show the first image.
    chunkSizeWarningLimit: 8000,
    rollupOptions: {
      input: resolve(here, "src/main.ts"),
      // The emscripten codecs carry a Node branch (fs, path) that the
      // browser never takes; the bundler's note about it on every build
      // would hide warnings that matter.
      onLog(level, log, handler) {
        if (log.message.includes("has been externalized for browser compatibility")) return;
        handler(level, log);
      },
      output: {
        // Fixed names for what the Django template loads; the rest is hashed.
        entryFileNames: "viewer.js",
        chunkFileNames: "chunks/[name]-[hash].js",
        assetFileNames: (asset) =>
          asset.names?.some((n) => n.endsWith(".css")) ? "viewer.css" : "assets/[name]-[hash][extname]",
      },
    },
  },
  worker: { format: "es" },
});
