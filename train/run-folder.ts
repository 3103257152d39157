// A run folder: config.json (the resolved config, its hash, the data's dims and fingerprint, the
// version that made it), checkpoint.bin (parameters by name and Adam's slots), metrics.jsonl and
// eval.jsonl (one JSON object per line), curves.svg, and while a trainer runs in it .lock. Export and
// eval read runs through these functions only.
import { existsSync, readFileSync, statSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  PROJECT_VERSION,
  fsError,
  loadCheckpoint,
  processAlive,
  removeStaleTempFiles,
  writeFileAtomic,
  type Checkpoint,
} from '../onnx/index.ts';
import type { RunConfig } from './config.ts';
import type { DatasetFingerprint } from './data/fit.ts';
import type { Dims } from './dims.ts';
import { paramsOfSeed } from './step.ts';

export const CHECKPOINT_FILE = 'checkpoint.bin';
export const CONFIG_FILE = 'config.json';
export const METRICS_FILE = 'metrics.jsonl';
export const EVAL_FILE = 'eval.jsonl';
export const CURVES_FILE = 'curves.svg';
export const LOCK_FILE = '.lock';
/** Every file a run writes (atomically, through temporary files, or appended to). */
export const RUN_FILES: readonly string[] = [CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE, EVAL_FILE, CURVES_FILE];

/** The project's version (package.json), written into run folders and exported models. */
export const VERSION: string = PROJECT_VERSION;

export interface RunInfo {
  config: RunConfig;
  configHash: string;
  dims: Dims;
  version: string;
  /** The data the run trains on (absent in runs made before it was recorded). */
  data?: DatasetFingerprint;
}

export function readRunInfo(runDir: string): RunInfo {
  const p = join(runDir, CONFIG_FILE);
  if (!existsSync(p)) throw new Error(`'${runDir}' is not a run folder: it has no ${CONFIG_FILE}`);
  let text: string;
  try {
    text = readFileSync(p, 'utf8');
  } catch (e) {
    throw fsError('read', p, e);
  }
  let info: RunInfo;
  try {
    info = JSON.parse(text) as RunInfo;
  } catch (e) {
    throw new Error(`${p}: not a valid run config: ${(e as Error).message}`, { cause: e });
  }
  if (!info || typeof info !== 'object' || !info.config || typeof info.configHash !== 'string')
    throw new Error(`${p}: not a valid run config: expected the keys config and configHash`);
  return info;
}

/** A run's checkpoint; every failure names the file. */
export function readRunCheckpoint(runDir: string): Checkpoint {
  const p = join(runDir, CHECKPOINT_FILE);
  let ck: Checkpoint;
  try {
    ck = loadCheckpoint(p);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg.includes(p)) throw e;
    throw new Error(`${p}: not a valid checkpoint: ${msg}`, { cause: e });
  }
  if (!Number.isSafeInteger(ck.step) || ck.step < 0 || !(ck.tensors instanceof Map))
    throw new Error(`${p}: not a valid checkpoint: its step is ${JSON.stringify(ck.step)}, expected an integer >= 0`);
  return ck;
}

/** The seeds a run trains: its --seed, and with --seeds N the N - 1 after it. */
export function runSeeds(info: RunInfo): number[] {
  const n = info.config.trainer.seeds ?? 1;
  return Array.from({ length: n }, (_, k) => info.config.trainer.seed + k);
}

/**
 * The run as one seed's: a run of several seeds exports seed K (its config then says seed K, one
 * seed, so the card and metadata name the policy's own seed and it is evaluated on that seed's episodes).
 */
export function runOfSeed(info: RunInfo, seed: number | undefined): { info: RunInfo; seedIndex: number } {
  const seeds = runSeeds(info);
  const k = seed ?? seeds[0]!;
  const seedIndex = seeds.indexOf(k);
  if (seedIndex < 0)
    throw new RangeError(
      `--seed ${k}: the run trains ${seeds.length === 1 ? `seed ${seeds[0]}` : `seeds ${seeds[0]} to ${seeds[seeds.length - 1]}`}`,
    );
  if (seeds.length === 1) return { info, seedIndex };
  return { info: { ...info, config: { ...info.config, trainer: { ...info.config.trainer, seed: k, seeds: 1 } } }, seedIndex };
}

/**
 * Loads a run's latest parameters (online and target; no optimiser state) from its checkpoint, one
 * map per seed under the plain names: a run of several seeds holds seed K's under `seeds/K/` (K from 0).
 */
export function readRunSeedParams(runDir: string): { seeds: Map<string, Float32Array>[]; step: number } {
  const ck = readRunCheckpoint(runDir);
  const named = new Map<string, Float32Array>();
  for (const [k, t] of ck.tensors) if (!k.startsWith('opt/')) named.set(k, t.data);
  if (![...named.keys()].some((k) => k.startsWith('seeds/'))) return { seeds: [named], step: ck.step };
  const seeds: Map<string, Float32Array>[] = [];
  for (let k = 0; ; k++) {
    const p = paramsOfSeed(named, k);
    if (p.size === 0) break;
    seeds.push(p);
  }
  return { seeds, step: ck.step };
}

/** One seed's parameters (`seedIndex`, default the first) of a run's latest checkpoint; see readRunSeedParams. */
export function readRunParams(runDir: string, seedIndex = 0): { params: Map<string, Float32Array>; step: number } {
  const { seeds, step } = readRunSeedParams(runDir);
  const params = seeds[seedIndex];
  if (!params)
    throw new RangeError(
      `${join(runDir, CHECKPOINT_FILE)}: the checkpoint holds no seed ${seedIndex} (seeds are counted from 0 in a run's checkpoint)`,
    );
  return { params, step };
}

/** Removes the temporary files a killed run left behind (see removeStaleTempFiles). */
export function removeRunTempFiles(runDir: string): string[] {
  return removeStaleTempFiles(runDir, (target) => RUN_FILES.includes(target));
}

/**
 * Keeps the rows of a JSON-lines log up to `step` (inclusive), in order, dropping any line that
 * does not parse (a row cut short by a kill). What a resumed run does to its logs, so that they read
 * as those of an uninterrupted run. Returns the number of rows dropped.
 */
export function truncateLog(path: string, step: number): number {
  let st: Stats | undefined;
  try {
    st = statSync(path);
  } catch {
    st = undefined;
  }
  if (st && !st.isFile()) {
    // Not a plain file (a pipe, a device): it cannot be read back; at step 0 it is only opened.
    if (step > 0) throw new Error(`cannot resume into '${path}': it is not a plain file, so its rows cannot be cut back`);
    try {
      writeFileSync(path, '');
    } catch (e) {
      throw fsError('write', path, e);
    }
    return 0;
  }
  if (!st || st.size === 0 || step === 0) {
    if (!st || st.size > 0) writeFileAtomic(path, new Uint8Array(0));
    return 0;
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw fsError('read', path, e);
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  let last = -Infinity;
  const kept = lines.filter((l) => {
    let row: { step?: unknown };
    try {
      row = JSON.parse(l) as { step?: unknown };
    } catch {
      return false;
    }
    const s = row?.step;
    if (typeof s !== 'number' || s > step || s <= last) return false;
    last = s;
    return true;
  });
  if (kept.length !== lines.length || (text.length > 0 && !text.endsWith('\n')))
    writeFileAtomic(path, new TextEncoder().encode(kept.map((l) => l + '\n').join('')));
  return lines.length - kept.length;
}

interface LockHolder {
  pid: number;
  host: string;
  started: string;
}

/**
 * Takes the run folder for one trainer: `.lock` is created exclusively with this process's id,
 * host and start time, and released by the returned function. A second trainer on the same folder
 * (which would interleave the logs and overwrite the checkpoint) is refused, naming the holder; a
 * lock whose process no longer runs (killed) is taken over, and `onStale` is told. A lock from
 * another host cannot be checked and is refused with the path to remove.
 */
export function lockRunDir(runDir: string, onStale?: (msg: string) => void): () => void {
  const path = join(runDir, LOCK_FILE);
  const mine: LockHolder = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  const text = JSON.stringify(mine) + '\n';
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, text, { flag: 'wx' });
      return () => {
        try {
          if (readFileSync(path, 'utf8') === text) unlinkSync(path);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw fsError('create the lock file', path, e);
    }
    let age: number;
    try {
      age = Date.now() - statSync(path).mtimeMs;
    } catch {
      continue; // released meanwhile: try again
    }
    let holder: LockHolder | null;
    try {
      holder = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
    } catch {
      holder = null;
    }
    if (holder && typeof holder.pid === 'number') {
      if (holder.host !== mine.host)
        throw new Error(
          `'${runDir}' is in use by a trainer on host ${holder.host} (pid ${holder.pid}, since ${holder.started}); ` +
            `a run folder takes one trainer at a time. If none runs there, remove ${path}`,
        );
      if (processAlive(holder.pid))
        throw new Error(
          `'${runDir}' is in use by another trainer (pid ${holder.pid}, since ${holder.started}); ` +
            `a run folder takes one trainer at a time: wait for it to finish or stop it`,
        );
      onStale?.(`took over ${path}: its trainer (pid ${holder.pid}, since ${holder.started}) no longer runs`);
    } else if (age < 10_000) {
      // Just created and not yet written by another trainer starting now.
      throw new Error(`'${runDir}' is being taken by another trainer right now (${path} is new); try again`);
    } else onStale?.(`took over ${path}: it names no trainer (left unwritten by a killed one)`);
    try {
      unlinkSync(path);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') throw fsError('remove the stale lock file', path, e);
    }
  }
  throw new Error(`'${runDir}': could not take ${path}; another trainer keeps creating it`);
}
