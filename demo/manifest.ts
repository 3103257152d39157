// The demo's model manifest (models.json): which policies are shipped, built at build time by
// looking at the models folder, and which a user brought (`npm run demo -- --models DIR`: served under
// models/user/, listed with source 'user'). The page only offers what the manifest lists. Node-side
// code (the Vite config, demo/serve.ts and the test use it); the page imports the types only.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const MANIFEST_VERSION = 1;

/** Where a policy came from: the repository's models/ or the folder given with --models. */
export type ModelSource = 'shipped' | 'user';

/** The folder (under models/) that the user's policies are served from. */
export const USER_PREFIX = 'user/';

export interface ManifestModel {
  /** Unique key: the file stem, prefixed with 'user/' for the user's policies. */
  id: string;
  /** File stem, e.g. 'pointmaze-medium-navigate-hiql'. */
  name: string;
  source: ModelSource;
  /** Weight storage: 'float32', or 'int8' for quantized files (`hiql.weights`). */
  weights: string;
  /** Maze name (medium, large, giant, teleport), from the policy's `hiql.env`. */
  maze: string;
  env: string;
  agent: string;
  /** The policy file, relative to models/ (user/NAME.onnx for the user's). */
  file: string;
  /** HIQL companions present beside it (null where missing or not hierarchical). */
  low: string | null;
  phi: string | null;
  /** Model card (.md or .json) beside it, or null. */
  card: string | null;
  trainSteps: number;
  repDim: number | null;
  /** Total bytes of the policy and its companions. */
  bytes: number;
}

export interface Manifest {
  version: number;
  models: ManifestModel[];
  /** Files that looked like policies but cannot be offered, and why. */
  skipped: { file: string; reason: string; source?: ModelSource }[];
}

interface InfoLike {
  role: string;
  agent: string;
  env: string;
  hierarchical: boolean;
  repDim: number | null;
  trainSteps: number;
  companions: { low_policy?: string; goal_rep?: string };
  metadata?: Readonly<Record<string, string>>;
}

const MAZES = ['medium', 'large', 'giant', 'teleport'];
const MAZE_ORDER = (m: string) => MAZES.indexOf(m);

/**
 * Lists the policies in `dir` (policy files NAME.onnx; NAME.low.onnx / NAME.phi.onnx are companions).
 * `readInfo` is the runtime's readPolicyInfo (passed in so this file stays free of imports). With
 * source 'user', file paths get the models/user/ prefix.
 */
export function buildManifest(
  dir: string,
  readInfo: (bytes: Uint8Array, name: string) => InfoLike,
  source: ModelSource = 'shipped',
): Manifest {
  const manifest: Manifest = { version: MANIFEST_VERSION, models: [], skipped: [] };
  const pre = source === 'user' ? USER_PREFIX : '';
  const skip = (file: string, reason: string) => manifest.skipped.push(source === 'user' ? { file, reason, source } : { file, reason });
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return manifest;
  const names = readdirSync(dir).sort();
  for (const file of names) {
    if (!file.endsWith('.onnx') || file.endsWith('.low.onnx') || file.endsWith('.phi.onnx')) continue;
    if (!/^[\w.-]+$/.test(file)) {
      skip(file, 'file name has characters other than letters, digits, _ . -');
      continue;
    }
    const path = join(dir, file);
    let info: InfoLike;
    try {
      info = readInfo(new Uint8Array(readFileSync(path)), file);
    } catch (e) {
      skip(file, e instanceof Error ? e.message : String(e));
      continue;
    }
    if (info.role !== 'policy') {
      skip(file, `it is a ${info.role} companion, not a policy`);
      continue;
    }
    const m = /^pointmaze-([a-z]+)-/.exec(info.env);
    if (!m || !MAZES.includes(m[1]!)) {
      skip(file, `environment '${info.env}' is not a PointMaze the demo knows`);
      continue;
    }
    const stem = file.slice(0, -'.onnx'.length);
    const present = (f: string | undefined) => (f && /^[\w.-]+$/.test(f) && existsSync(join(dir, f)) ? f : null);
    const low = info.hierarchical ? present(info.companions.low_policy) : null;
    const phi = info.hierarchical ? present(info.companions.goal_rep) : null;
    const card = [`${stem}.md`, `${stem}.json`, `${stem}.card.md`, `${stem}.card.json`].find((f) => existsSync(join(dir, f))) ?? null;
    const bytes = [file, low, phi].reduce((s, f) => s + (f ? statSync(join(dir, f)).size : 0), 0);
    const at = (f: string | null) => (f === null ? null : pre + f);
    manifest.models.push({
      id: pre + stem,
      name: stem,
      source,
      weights: info.metadata?.['hiql.weights'] ?? 'float32',
      maze: m[1]!,
      env: info.env,
      agent: info.agent,
      file: pre + file,
      low: at(low),
      phi: at(phi),
      card: at(card),
      trainSteps: info.trainSteps,
      repDim: info.repDim,
      bytes,
    });
  }
  sortModels(manifest.models);
  return manifest;
}

/** By maze; within a maze the user's policies first, then by name. */
function sortModels(models: ManifestModel[]): void {
  const rank = (m: ManifestModel) => (m.source === 'user' ? 0 : 1);
  models.sort((a, b) => MAZE_ORDER(a.maze) - MAZE_ORDER(b.maze) || rank(a) - rank(b) || a.name.localeCompare(b.name));
}

/** The shipped manifest plus the user's (from --models), in the page's order. */
export function mergeManifests(shipped: Manifest, user: Manifest | null): Manifest {
  if (!user) return shipped;
  const models = [...shipped.models, ...user.models];
  sortModels(models);
  return { version: MANIFEST_VERSION, models, skipped: [...shipped.skipped, ...user.skipped] };
}

/** Every file the manifest refers to (to copy or serve), relative to models/ (user/... for the user's). */
export function manifestFiles(m: Manifest): string[] {
  return m.models.flatMap((x) => [x.file, x.low, x.phi, x.card].filter((f): f is string => f !== null));
}

/** Where a manifest file lies on disk: the user's folder for user/..., else the shipped models folder. */
export function sourcePath(file: string, dirs: { shipped: string; user: string | null }): string {
  if (file.startsWith(USER_PREFIX)) {
    if (!dirs.user) throw new Error(`'${file}' is a user policy but no user folder is set`);
    return join(dirs.user, file.slice(USER_PREFIX.length));
  }
  return join(dirs.shipped, file);
}
