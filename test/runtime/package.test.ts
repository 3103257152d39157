// @hiql/runtime as a user gets it (issue 16): `npm pack -w runtime`, the tarball installed with
// onnxruntime-node and onnxruntime-web into an empty project (from the tarball and npm's cache, so
// it works offline once the cache holds onnxruntime), then
//   - loadPolicy + act on a shipped model in a child node process, the same action as in-repo;
//   - the README's "runtime in ten lines" snippet, as written;
//   - a TypeScript consumer type-checks against the shipped .d.ts files;
//   - '@hiql/runtime/web' bundled by Vite into a page that headless Chromium opens: it loads the
//     shipped model (checked against its card with crypto.subtle) and acts like onnxruntime-node.
// And the workspace package itself is importable at the repo root: `npm ci` builds runtime/dist
// through the package's own prepare script.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { loadPolicy } from '../../runtime/src/index.ts';
import { CHROMIUM, launchChromium } from '../browser.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const NAME = 'pointmaze-medium-navigate-hiql';
const MODEL_FILES = [`${NAME}.onnx`, `${NAME}.low.onnx`, `${NAME}.phi.onnx`, `${NAME}.json`];
const OBS = [3.5, 7.25];
const GOAL = [20.5, 12];
const ORT_VERSION = (JSON.parse(readFileSync(join(ROOT, 'node_modules/onnxruntime-node/package.json'), 'utf8')) as { version: string })
  .version;

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}
const lastJson = <T>(stdout: string): T => JSON.parse(stdout.trim().split('\n').pop()!) as T;

/** The action of the shipped policy through the in-repo runtime (onnxruntime-node cpu), the reference. */
async function referenceAction(): Promise<number[]> {
  const p = await loadPolicy(join(ROOT, 'models', `${NAME}.onnx`));
  const a = Array.from(await p.act(OBS, GOAL));
  await p.release();
  return a;
}

const work = mkdtempSync(join(tmpdir(), 'hiql-package-'));
const app = join(work, 'app');
let tarball = '';
let packed: { files: { path: string }[] } = { files: [] };
before(() => {
  mkdirSync(app);
  // npm pack runs the package's prepare script, which rebuilds runtime/dist.
  const out = run('npm', ['pack', '-w', 'runtime', '--pack-destination', work, '--json'], ROOT).stdout;
  const [info] = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  packed = info!;
  tarball = join(work, info!.filename);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }, null, 2));
  // --ignore-scripts: onnxruntime-node's postinstall only fetches CUDA provider binaries (the root
  // package.json denies it through allowScripts); the tarball has no install scripts of its own.
  const install = run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--ignore-scripts',
      '--save-exact',
      tarball,
      `onnxruntime-node@${ORT_VERSION}`,
      `onnxruntime-web@${ORT_VERSION}`,
    ],
    app,
  );
  assert.doesNotMatch(install.stderr, /npm warn/i, 'npm install prints no warnings');
  mkdirSync(join(app, 'models'));
  for (const f of MODEL_FILES) copyFileSync(join(ROOT, 'models', f), join(app, 'models', f));
});
after(() => rmSync(work, { recursive: true, force: true }));

test('npm pack -w runtime: dist, src and README only; onnxruntime is its only dependency, as optional peers', () => {
  const paths = packed.files.map((f) => f.path).sort();
  const unexpected = paths.filter(
    (p) => !/^(dist\/[\w.-]+\.(js|d\.ts|js\.map|d\.ts\.map)|src\/[\w-]+\.ts|README\.md|package\.json)$/.test(p),
  );
  assert.deepEqual(unexpected, [], 'nothing but dist/, src/, README.md and package.json');
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/web.js', 'dist/web.d.ts', 'dist/node.js', 'src/policy.ts', 'README.md'])
    assert.ok(paths.includes(f), `the tarball has ${f}`);
  assert.ok(!paths.some((p) => /test|\.test\./.test(p)), 'no tests');
  const pkg = JSON.parse(run('tar', ['-xzOf', tarball, 'package/package.json'], work).stdout) as Record<string, unknown>;
  assert.equal(pkg['dependencies'], undefined, 'no dependencies');
  assert.deepEqual(Object.keys(pkg['peerDependencies'] as object).sort(), ['onnxruntime-node', 'onnxruntime-web']);
  assert.deepEqual(pkg['peerDependenciesMeta'], { 'onnxruntime-node': { optional: true }, 'onnxruntime-web': { optional: true } });
  assert.equal(pkg['bundleDependencies'] ?? pkg['bundledDependencies'], undefined);
  const installed = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  assert.deepEqual(Object.keys(installed.dependencies).sort(), ['@hiql/runtime', 'onnxruntime-node', 'onnxruntime-web']);
});

test('installed from the tarball: loadPolicy + act in a child node process equals the in-repo runtime', async () => {
  const script = join(app, 'use.mjs');
  writeFileSync(
    script,
    `import { readFileSync } from 'node:fs';
import { loadPolicy } from '@hiql/runtime';
const card = JSON.parse(readFileSync('models/${NAME}.json', 'utf8'));
const p = await loadPolicy('models/${NAME}.onnx', { sha256: card.files });
const action = Array.from(await p.act(${JSON.stringify(OBS)}, ${JSON.stringify(GOAL)}));
const batch = Array.from(await p.actBatch([...${JSON.stringify(OBS)}, 1, 1], [...${JSON.stringify(GOAL)}, 2, 2], 2));
const resolved = import.meta.resolve('@hiql/runtime');
console.log(JSON.stringify({ resolved, action, batch, backend: p.backend, companions: p.hasCompanion }));
await p.release();
`,
  );
  const out = lastJson<{ resolved: string; action: number[]; batch: number[]; backend: string; companions: object }>(
    run(process.execPath, [script], app).stdout,
  );
  assert.equal(out.resolved, `file://${join(app, 'node_modules/@hiql/runtime/dist/index.js')}`, 'the installed package, not the repo');
  assert.equal(out.backend, 'cpu');
  assert.deepEqual(out.companions, { low_policy: true, goal_rep: true });
  assert.deepEqual(out.action, await referenceAction());
  assert.deepEqual(out.batch.slice(0, 2), out.action);
});

/** The code block of the README section "## The runtime in ten lines". */
function readmeSnippet(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /^## The runtime in ten lines\n[\s\S]*?```ts\n([\s\S]*?)```/m.exec(readme);
  assert.ok(m, 'README.md has a "## The runtime in ten lines" section with a ts code block');
  return m[1]!;
}

test("the README's runtime snippet runs as written (in the installed project), and type-checks against the shipped types", () => {
  const code = readmeSnippet();
  writeFileSync(join(app, 'readme.mjs'), code);
  const r = run(process.execPath, ['readme.mjs'], app);
  assert.match(r.stdout, /pointmaze-medium-navigate/, 'the snippet prints what it computed');
  // The same text as TypeScript, checked with the shipped .d.ts (exports map, types conditions).
  writeFileSync(join(app, 'readme.ts'), code);
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules/@types')],
      },
      files: ['readme.ts'],
    }),
  );
  run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);
});

const PAGE_JS = `import { loadPolicy, ort } from '@hiql/runtime/web';
ort.env.wasm.numThreads = 1; // no cross-origin isolation on this server, so no threads
try {
  const card = await (await fetch('./models/${NAME}.json')).json();
  const p = await loadPolicy('./models/${NAME}.onnx', { sha256: card.files });
  const a = await p.act(${JSON.stringify(OBS)}, ${JSON.stringify(GOAL)});
  window.__result = { action: Array.from(a), backend: p.backend, engine: p.engine, companions: p.hasCompanion };
} catch (e) {
  window.__result = { error: String((e && e.stack) || e) };
}
`;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
};

test(
  "'@hiql/runtime/web' bundled by Vite: in headless Chromium the page acts like onnxruntime-node (1e-4)",
  { skip: !existsSync(CHROMIUM) && `${CHROMIUM} is not installed (apt-get install chromium)`, timeout: 180_000 },
  async (t) => {
    // A page project beside the installed package; Vite resolves '@hiql/runtime/web' (and
    // onnxruntime-web, whose wasm it emits as an asset) from app/node_modules, models from public/.
    const page = join(app, 'page');
    mkdirSync(join(page, 'public', 'models'), { recursive: true });
    for (const f of MODEL_FILES) copyFileSync(join(ROOT, 'models', f), join(page, 'public', 'models', f));
    writeFileSync(
      join(page, 'index.html'),
      '<!doctype html><meta charset="utf-8"><title>runtime</title><script type="module" src="./main.js"></script>\n',
    );
    writeFileSync(join(page, 'main.js'), PAGE_JS);
    const dist = join(page, 'dist');
    const { build } = await import('vite');
    await build({ configFile: false, root: page, logLevel: 'warn', build: { outDir: dist, emptyOutDir: true, target: 'es2022' } });
    const assets = readFileSync(join(dist, 'index.html'), 'utf8');
    assert.match(assets, /assets\/index-[\w-]+\.js/);

    const server = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      const file = normalize(join(dist, path.endsWith('/') ? `${path}index.html` : path));
      if (!file.startsWith(dist + sep) || !existsSync(file) || !statSync(file).isFile()) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream', 'Content-Length': statSync(file).size });
      createReadStream(file).pipe(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    after(() => server.close());
    const context = await launchChromium('hiql-package-chromium-');
    after(() => context.close());
    const tab = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    tab.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    tab.on('response', (r) => {
      if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    const requested: string[] = [];
    tab.on('request', (r) => requested.push(new URL(r.url()).pathname));
    await tab.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await tab.waitForFunction(() => (window as { __result?: unknown }).__result !== undefined, undefined, { timeout: 120_000 });
    const r = (await tab.evaluate(() => (window as { __result?: unknown }).__result)) as {
      error?: string;
      action?: number[];
      backend?: string;
      engine?: string;
      companions?: object;
    };
    assert.equal(r.error, undefined, r.error);
    assert.deepEqual([r.backend, r.engine], ['wasm', 'onnxruntime-web']);
    assert.deepEqual(r.companions, { low_policy: true, goal_rep: true });
    assert.ok(
      requested.some((p) => /\/assets\/ort-wasm[\w.-]*\.wasm$/.test(p)),
      `onnxruntime-web's wasm served from the build: ${requested.join(', ')}`,
    );
    const ref = await referenceAction();
    t.diagnostic(`Chromium (onnxruntime-web wasm): [${r.action}]; onnxruntime-node: [${ref}]`);
    assert.equal(r.action!.length, 2);
    for (let i = 0; i < 2; i++) {
      assert.ok(Number.isFinite(r.action![i]), `action[${i}] is finite`);
      assert.ok(Math.abs(r.action![i]! - ref[i]!) <= 1e-4, `action[${i}]: ${r.action![i]} vs ${ref[i]}`);
    }
    assert.deepEqual(problems, []);
  },
);

test('the workspace package is importable at the repo root (npm ci builds runtime/dist through its prepare script)', async () => {
  assert.ok(existsSync(join(ROOT, 'runtime/dist/index.js')), 'runtime/dist/index.js exists: run npm ci (or npm run build -w runtime)');
  const script = `import { loadPolicy } from '@hiql/runtime';
import * as web from '@hiql/runtime/web';
import * as node from '@hiql/runtime/node';
const p = await loadPolicy('models/${NAME}.onnx');
console.log(JSON.stringify({ resolved: import.meta.resolve('@hiql/runtime'), web: typeof web.loadPolicy, node: typeof node.loadPolicy,
  action: Array.from(await p.act(${JSON.stringify(OBS)}, ${JSON.stringify(GOAL)})) }));
await p.release();
`;
  const out = lastJson<{ resolved: string; web: string; node: string; action: number[] }>(
    run(process.execPath, ['--input-type=module', '-e', script], ROOT).stdout,
  );
  // node_modules/@hiql/runtime is npm's link to runtime/; Node resolves it to its real path.
  assert.equal(out.resolved, `file://${join(ROOT, 'runtime/dist/index.js')}`);
  assert.deepEqual([out.web, out.node], ['function', 'function']);
  assert.deepEqual(out.action, await referenceAction());
});
