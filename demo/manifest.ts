// The demo's model manifest (models.json): which policies are shipped, built at build time by
// looking at the models folder. The page only offers what the manifest lists. Node-side code (the
// Vite config and the test use it); the page imports the types only.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const MANIFEST_VERSION = 1;

export interface ManifestModel {
  /** File stem, e.g. 'pointmaze-medium-navigate-hiql'. */
  name: string;
  /** Maze name (medium, large, giant, teleport), from the policy's `hiql.env`. */
  maze: string;
  env: string;
  agent: string;
  /** The policy file, relative to models/. */
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
  skipped: { file: string; reason: string }[];
}

interface InfoLike {
  role: string;
  agent: string;
  env: string;
  hierarchical: boolean;
  repDim: number | null;
  trainSteps: number;
  companions: { low_policy?: string; goal_rep?: string };
}

const MAZES = ['medium', 'large', 'giant', 'teleport'];
const MAZE_ORDER = (m: string) => MAZES.indexOf(m);

/**
 * Lists the policies in `dir` (policy files NAME.onnx; NAME.low.onnx / NAME.phi.onnx are companions).
 * `readInfo` is the runtime's readPolicyInfo (passed in so this file stays free of imports).
 */
export function buildManifest(dir: string, readInfo: (bytes: Uint8Array, name: string) => InfoLike): Manifest {
  const manifest: Manifest = { version: MANIFEST_VERSION, models: [], skipped: [] };
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return manifest;
  const names = readdirSync(dir).sort();
  for (const file of names) {
    if (!file.endsWith('.onnx') || file.endsWith('.low.onnx') || file.endsWith('.phi.onnx')) continue;
    if (!/^[\w.-]+$/.test(file)) {
      manifest.skipped.push({ file, reason: 'file name has characters other than letters, digits, _ . -' });
      continue;
    }
    const path = join(dir, file);
    let info: InfoLike;
    try {
      info = readInfo(new Uint8Array(readFileSync(path)), file);
    } catch (e) {
      manifest.skipped.push({ file, reason: e instanceof Error ? e.message : String(e) });
      continue;
    }
    if (info.role !== 'policy') {
      manifest.skipped.push({ file, reason: `it is a ${info.role} companion, not a policy` });
      continue;
    }
    const m = /^pointmaze-([a-z]+)-/.exec(info.env);
    if (!m || !MAZES.includes(m[1]!)) {
      manifest.skipped.push({ file, reason: `environment '${info.env}' is not a PointMaze the demo knows` });
      continue;
    }
    const stem = file.slice(0, -'.onnx'.length);
    const present = (f: string | undefined) => (f && /^[\w.-]+$/.test(f) && existsSync(join(dir, f)) ? f : null);
    const low = info.hierarchical ? present(info.companions.low_policy) : null;
    const phi = info.hierarchical ? present(info.companions.goal_rep) : null;
    const card = [`${stem}.md`, `${stem}.json`, `${stem}.card.md`, `${stem}.card.json`].find((f) => existsSync(join(dir, f))) ?? null;
    const bytes = [file, low, phi].reduce((s, f) => s + (f ? statSync(join(dir, f)).size : 0), 0);
    manifest.models.push({
      name: stem,
      maze: m[1]!,
      env: info.env,
      agent: info.agent,
      file,
      low,
      phi,
      card,
      trainSteps: info.trainSteps,
      repDim: info.repDim,
      bytes,
    });
  }
  manifest.models.sort((a, b) => MAZE_ORDER(a.maze) - MAZE_ORDER(b.maze) || a.name.localeCompare(b.name));
  return manifest;
}

/** Every file the manifest refers to (to copy or serve). */
export function manifestFiles(m: Manifest): string[] {
  return m.models.flatMap((x) => [x.file, x.low, x.phi, x.card].filter((f): f is string => f !== null));
}
