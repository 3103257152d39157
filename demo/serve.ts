// `npm run demo -- --models DIR`: builds the demo with the policies a user just trained next to the
// shipped ones and serves it (Vite's build and preview, the same config as `npm run demo`).
//
//   node --import tsx demo/serve.ts [--models DIR] [--port 5173] [--host HOST] [--build-only]
//
// DIR is a folder of exported policies (NAME.onnx with its .low.onnx / .phi.onnx companions, as
// `hiql export` writes them; `hiql quickstart` exports into its run folder, so a quickstart run
// folder is one), or a run folder that has not been exported yet: its latest checkpoint is then
// exported (and validated) into a temporary folder first. The user's policies are served under
// models/user/, so a name that is also shipped (quickstart's `pointmaze-medium-navigate-hiql`) does not
// clash; the page opens on the user's first policy. Everything is local: the build works offline.
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readPolicyInfo } from '../runtime/src/metadata.ts';
import { buildManifest, type Manifest } from './manifest.ts';

const DEMO = dirname(fileURLToPath(import.meta.url));

const HELP = `npm run demo -- [--models DIR] [--port 5173] [--host HOST] [--build-only]

Builds the browser demo into demo/dist and serves it. --models DIR adds the policies in DIR (a folder
of exported policies such as a quickstart run folder, or a run folder, exported on the fly) next to
the shipped ones; the page opens on them.`;

export interface UserModels {
  /** The folder the policies are served from (DIR, or a temporary export of a run folder). */
  dir: string;
  /** The run folder that was exported into `dir`, if DIR was one. */
  exportedFrom: string | null;
  manifest: Manifest;
}

/** Finds the user's policies in `path` (see the header); throws with what to do when there are none. */
export async function prepareUserModels(path: string): Promise<UserModels> {
  let dir = resolve(path);
  if (!existsSync(dir)) throw new Error(`--models: '${path}' does not exist`);
  if (statSync(dir).isFile()) {
    if (!dir.endsWith('.onnx')) throw new Error(`--models: give a folder of exported policies (or a .onnx policy file), got '${path}'`);
    dir = dirname(dir);
  }
  const manifest = buildManifest(dir, readPolicyInfo, 'user');
  if (manifest.models.length > 0) return { dir, exportedFrom: null, manifest };
  if (existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'checkpoint.bin'))) {
    const { readRunInfo, readRunParams, runOfSeed } = await import('../train/run-folder.ts');
    const { exportPolicy } = await import('../export/export.ts');
    // A run of several seeds shows its first seed.
    const { info, seedIndex } = runOfSeed(readRunInfo(dir), undefined);
    const { params, step } = readRunParams(dir, seedIndex);
    const out = join(mkdtempSync(join(tmpdir(), 'hiql-demo-user-')), `${info.config.env}-${info.config.agent}.onnx`);
    console.error(`--models: '${path}' is a run folder with no exported policy; exporting its step-${step} checkpoint to ${out}`);
    await exportPolicy(info, params, step, out);
    const exported = buildManifest(dirname(out), readPolicyInfo, 'user');
    if (exported.models.length === 0)
      throw new Error(`--models: the export of '${path}' cannot be shown: ${exported.skipped.map((s) => s.reason).join('; ')}`);
    return { dir: dirname(out), exportedFrom: dir, manifest: exported };
  }
  const why = manifest.skipped.map((s) => `${s.file}: ${s.reason}`).join('; ');
  throw new Error(
    `--models: '${path}' has no policy the demo can show${why ? ` (${why})` : ''}. Give a folder with exported ` +
      `policies (hiql export RUN --out DIR/NAME.onnx writes NAME.onnx, NAME.low.onnx, NAME.phi.onnx) or a run folder.`,
  );
}

export async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help')) {
    console.log(HELP);
    return;
  }
  let models: string | undefined;
  let port = 5173;
  let host: string | undefined;
  let buildOnly = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new RangeError(`demo: ${a} needs a value`);
      return v;
    };
    // npm runs scripts in the package root; a relative DIR is the caller's (npm's INIT_CWD).
    if (a === '--models') models = resolve(process.env.INIT_CWD ?? '.', value());
    else if (a.startsWith('--models=')) models = resolve(process.env.INIT_CWD ?? '.', a.slice('--models='.length));
    else if (a === '--port') port = Number(value());
    else if (a === '--host') host = value();
    else if (a === '--build-only') buildOnly = true;
    else throw new RangeError(`demo: unknown option '${a}'\n${HELP}`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`demo: --port must be a port number`);
  let first: string | null = null;
  if (models !== undefined) {
    const u = await prepareUserModels(models);
    process.env.HIQL_DEMO_USER_MODELS = u.dir;
    const names = u.manifest.models.map((m) => `${m.name} (${m.maze})`).join(', ');
    console.error(`your policies from ${u.exportedFrom ?? u.dir}: ${names}`);
    first = u.manifest.models[0]!.name;
  }
  const { build, preview } = await import('vite');
  const configFile = join(DEMO, 'vite.config.ts');
  await build({ configFile });
  if (buildOnly) return;
  const server = await preview({ configFile, preview: { port, strictPort: true, host } });
  server.printUrls();
  if (first) console.error(`  the page opens on your policy ${first}; the policy menu has the shipped ones`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href)
  await main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
