// One build script for every bundle: extension, workers and CLI (node, cjs) and the dashboard and Playground webviews (browser).
// Usage: node scripts/build.mjs [--watch] [--production]
import * as esbuild from 'esbuild';
import { mkdirSync, copyFileSync } from 'node:fs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const nodeCommon = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: !production,
  minify: production,
  external: ['vscode', 'onnxruntime-node'],
  // jsonc-parser's UMD "main" requires './impl/*' at run time, which a bundle cannot resolve: take its ESM build.
  mainFields: ['module', 'main'],
  logLevel: 'warning',
};

const builds = [
  { ...nodeCommon, entryPoints: { extension: 'src/extension/extension.ts' }, outdir: 'dist' },
  { ...nodeCommon, entryPoints: { worker: 'src/worker/worker.ts' }, outdir: 'dist' },
  { ...nodeCommon, entryPoints: { genWorker: 'src/worker/genWorker.ts' }, outdir: 'dist' },
  { ...nodeCommon, entryPoints: { validateWorker: 'src/worker/validateWorker.ts' }, outdir: 'dist' },
  { ...nodeCommon, entryPoints: { cli: 'src/cli/main.ts' }, outdir: 'dist' },
  {
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    sourcemap: !production,
    minify: production,
    entryPoints: { dashboard: 'webview/src/main.ts', inspector: 'webview/src/inspector.ts', playground: 'webview/src/playground/main.ts' },
    outdir: 'dist/webview',
    logLevel: 'warning',
  },
];

mkdirSync('dist/webview', { recursive: true });
copyFileSync('media/dashboard.css', 'dist/webview/dashboard.css');
copyFileSync('media/inspector.css', 'dist/webview/inspector.css');
copyFileSync('media/playground.css', 'dist/webview/playground.css');
if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
  console.log('esbuild: watching');
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
  console.log(`esbuild: built ${builds.length} bundles into dist/`);
}
