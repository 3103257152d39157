// Vite config of the browser demo (`npm run demo`, `npm run demo:build`).
//
// Besides the page itself the build carries, so that it works offline from any static host:
//   ort/          onnxruntime-web's wasm runtime (copied from node_modules/onnxruntime-web/dist; the
//                 page sets ort.env.wasm.wasmPaths to it)
//   models/       the shipped policies (models/*.onnx with their companions and model cards)
//   models.json   the manifest of what was shipped (the page never assumes a model exists)
// The dev server serves the same three paths straight from their sources.
//
// Models come from <repo>/models unless HIQL_DEMO_MODELS names another folder. COOP/COEP headers
// make the page cross-origin isolated, so onnxruntime-web can use threads (SharedArrayBuffer).
import { copyFileSync, createReadStream, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig, type Connect, type Plugin } from 'vite';
import { readPolicyInfo } from '../runtime/src/metadata.ts';
import { buildManifest, manifestFiles } from './manifest.ts';

const DEMO = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(DEMO, '..');
const ORT_DIST = join(ROOT, 'node_modules/onnxruntime-web/dist');
/** The runtime files the page loads: the JSEP build (wasm + WebGPU) of onnxruntime-web. */
const ORT_FILES = ['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm'];

export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

function modelsDir(): string {
  const d = process.env.HIQL_DEMO_MODELS;
  return d ? resolve(d) : join(ROOT, 'models');
}

const MIME: Record<string, string> = {
  '.mjs': 'text/javascript',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.json': 'application/json',
  '.md': 'text/markdown; charset=utf-8',
};

function sendFile(res: import('node:http').ServerResponse, path: string): void {
  const ext = path.slice(path.lastIndexOf('.'));
  res.setHeader('Content-Type', MIME[ext] ?? 'application/octet-stream');
  res.setHeader('Content-Length', statSync(path).size);
  for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
  createReadStream(path).pipe(res);
}

/** Serves (dev) and emits (build) ort/, models/ and models.json. */
function hiqlDemoAssets(): Plugin {
  let outDir = '';
  return {
    name: 'hiql-demo-assets',
    configResolved(c) {
      outDir = resolve(c.root, c.build.outDir);
    },
    configureServer(server) {
      const mw: Connect.NextHandleFunction = (req, res, next) => {
        const url = decodeURIComponent((req.url ?? '').split('?')[0]!);
        const dir = modelsDir();
        if (url === '/models.json') {
          const m = buildManifest(dir, readPolicyInfo);
          res.setHeader('Content-Type', 'application/json');
          for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
          res.end(JSON.stringify(m, null, 2));
          return;
        }
        const ort = /^\/ort\/([\w.-]+)$/.exec(url);
        if (ort && ORT_FILES.includes(ort[1]!)) return sendFile(res, join(ORT_DIST, ort[1]!));
        const model = /^\/models\/([\w.-]+)$/.exec(url);
        if (model && manifestFiles(buildManifest(dir, readPolicyInfo)).includes(model[1]!)) return sendFile(res, join(dir, model[1]!));
        next();
      };
      server.middlewares.use(mw);
    },
    writeBundle() {
      const dir = modelsDir();
      const manifest = buildManifest(dir, readPolicyInfo);
      mkdirSync(join(outDir, 'ort'), { recursive: true });
      for (const f of ORT_FILES) copyFileSync(join(ORT_DIST, f), join(outDir, 'ort', f));
      const files = manifestFiles(manifest);
      if (files.length > 0) mkdirSync(join(outDir, 'models'), { recursive: true });
      for (const f of files) copyFileSync(join(dir, f), join(outDir, 'models', f));
      writeFileSync(join(outDir, 'models.json'), JSON.stringify(manifest, null, 2) + '\n');
      const n = manifest.models.length;
      this.info?.(`hiql-demo: ${n} model${n === 1 ? '' : 's'} from ${dir}${n ? ': ' + manifest.models.map((m) => m.name).join(', ') : ''}`);
    },
  };
}

export default defineConfig({
  root: DEMO,
  // Relative asset URLs: the output can be hosted under any path (or opened from a static host).
  base: './',
  publicDir: false,
  resolve: {
    // onnxruntime-web's build without the wasm glue embedded: the glue (.mjs) and the .wasm are
    // both loaded from ort.env.wasm.wasmPaths, i.e. from ort/ beside the page.
    conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions],
  },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1024,
  },
  server: { headers: ISOLATION_HEADERS, fs: { allow: [ROOT] } },
  preview: { headers: ISOLATION_HEADERS },
  plugins: [hiqlDemoAssets()],
});
