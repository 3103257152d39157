// Vite config of the browser demo (`npm run demo`, `npm run demo:build`).
//
// Besides the page itself the build carries, so that it works offline from any static host:
//   ort/          onnxruntime-web's wasm runtime (copied from node_modules/onnxruntime-web/dist; the
//                 page sets ort.env.wasm.wasmPaths to it)
//   models/       the shipped policies (models/*.onnx with their companions and model cards)
//   models/user/  the user's policies, from the folder HIQL_DEMO_USER_MODELS names (set by
//                 `npm run demo -- --models DIR`, demo/serve.ts)
//   models.json   the manifest of both (the page never assumes a model exists)
// The dev server serves the same paths straight from their sources.
//
// Shipped models come from <repo>/models unless HIQL_DEMO_MODELS names another folder. COOP/COEP
// headers make the page cross-origin isolated, so onnxruntime-web can use threads (SharedArrayBuffer).
import { copyFileSync, createReadStream, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig, type Connect, type Plugin } from 'vite';
import { readPolicyInfo } from '../runtime/src/metadata.ts';
import { buildManifest, manifestFiles, mergeManifests, sourcePath, type Manifest } from './manifest.ts';

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

/** The user's folder of exported policies (HIQL_DEMO_USER_MODELS), or null. */
function userModelsDir(): string | null {
  const d = process.env.HIQL_DEMO_USER_MODELS;
  return d ? resolve(d) : null;
}

/** The shipped policies and the user's, as the page sees them. */
function manifest(): { m: Manifest; dirs: { shipped: string; user: string | null } } {
  const dirs = { shipped: modelsDir(), user: userModelsDir() };
  const user = dirs.user ? buildManifest(dirs.user, readPolicyInfo, 'user') : null;
  return { m: mergeManifests(buildManifest(dirs.shipped, readPolicyInfo), user), dirs };
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
        if (url === '/models.json') {
          const { m } = manifest();
          res.setHeader('Content-Type', 'application/json');
          for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
          res.end(JSON.stringify(m, null, 2));
          return;
        }
        const ort = /^\/ort\/([\w.-]+)$/.exec(url);
        if (ort && ORT_FILES.includes(ort[1]!)) return sendFile(res, join(ORT_DIST, ort[1]!));
        const model = /^\/models\/((?:user\/)?[\w.-]+)$/.exec(url);
        if (model) {
          const { m, dirs } = manifest();
          if (manifestFiles(m).includes(model[1]!)) return sendFile(res, sourcePath(model[1]!, dirs));
        }
        next();
      };
      server.middlewares.use(mw);
    },
    writeBundle() {
      const { m, dirs } = manifest();
      mkdirSync(join(outDir, 'ort'), { recursive: true });
      for (const f of ORT_FILES) copyFileSync(join(ORT_DIST, f), join(outDir, 'ort', f));
      const files = manifestFiles(m);
      for (const f of files) {
        mkdirSync(dirname(join(outDir, 'models', f)), { recursive: true });
        copyFileSync(sourcePath(f, dirs), join(outDir, 'models', f));
      }
      writeFileSync(join(outDir, 'models.json'), JSON.stringify(m, null, 2) + '\n');
      for (const source of ['shipped', 'user'] as const) {
        const dir = source === 'user' ? dirs.user : dirs.shipped;
        if (!dir) continue;
        const ms = m.models.filter((x) => x.source === source);
        const list = ms.length ? ': ' + ms.map((x) => x.name).join(', ') : '';
        this.info?.(`hiql-demo: ${ms.length} ${source} model${ms.length === 1 ? '' : 's'} from ${dir}${list}`);
        for (const k of m.skipped.filter((x) => (x.source ?? 'shipped') === source))
          this.warn?.(`hiql-demo: skipped ${k.file} (${source}): ${k.reason}`);
      }
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
