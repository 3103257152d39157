// A run folder: config.json (the resolved config, its hash, the data's dims, the version that made
// it), checkpoint.bin (parameters by name and Adam's slots), metrics.jsonl and eval.jsonl (one JSON
// object per line), curves.svg. Export and eval read runs through these functions only.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_VERSION, loadCheckpoint } from '../onnx/index.ts';
import type { RunConfig } from './config.ts';
import type { Dims } from './dims.ts';

export const CHECKPOINT_FILE = 'checkpoint.bin';
export const CONFIG_FILE = 'config.json';
export const METRICS_FILE = 'metrics.jsonl';
export const EVAL_FILE = 'eval.jsonl';

/** The project's version (package.json), written into run folders and exported models. */
export const VERSION: string = PROJECT_VERSION;

export interface RunInfo {
  config: RunConfig;
  configHash: string;
  dims: Dims;
  version: string;
}

export function readRunInfo(runDir: string): RunInfo {
  const p = join(runDir, CONFIG_FILE);
  if (!existsSync(p)) throw new Error(`'${runDir}' is not a run folder: it has no ${CONFIG_FILE}`);
  return JSON.parse(readFileSync(p, 'utf8')) as RunInfo;
}

/** Loads a run's latest parameters (online and target; no optimiser state) from its checkpoint. */
export function readRunParams(runDir: string): { params: Map<string, Float32Array>; step: number } {
  const ck = loadCheckpoint(join(runDir, CHECKPOINT_FILE));
  const params = new Map<string, Float32Array>();
  for (const [k, t] of ck.tensors) if (!k.startsWith('opt/')) params.set(k, t.data);
  return { params, step: ck.step };
}
