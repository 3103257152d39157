// Tiny exported policies for the runtime tests, made from seeded initial parameters (no training).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportPolicy } from '../../export/export.ts';
import { buildAgentStep, initAgentState, type AgentName, type Dims } from '../../train/agents/index.ts';
import { configHash, resolveConfig, type RunConfig } from '../../train/config.ts';
import type { RunInfo } from '../../train/trainer.ts';

export const ENV = 'pointmaze-medium-navigate';
export const DIMS: Dims = { obsDim: 2, actionDim: 2 };

export function tinyConfig(agent: AgentName, hidden = 32, extra: Record<string, unknown> = {}): RunConfig {
  const sizes: Record<string, unknown> = { batchSize: 64, actorHiddenDims: [hidden, hidden] };
  if (agent !== 'gcbc') sizes['valueHiddenDims'] = [hidden, hidden];
  return resolveConfig({ agent, preset: 'ogbench', env: ENV, dataset: '', overrides: { ...sizes, ...extra } });
}

export interface TinyPolicy {
  path: string;
  info: RunInfo;
  params: Map<string, Float32Array>;
}

/** Exports an untrained policy of `agent` with seeded parameters to DIR/NAME.onnx (+ companions). */
export async function makePolicy(
  dir: string,
  name: string,
  agent: AgentName,
  o: { hidden?: number; seed?: number; step?: number; validate?: boolean; env?: string } = {},
): Promise<TinyPolicy> {
  const cfg = o.env ? { ...tinyConfig(agent, o.hidden ?? 32), env: o.env } : tinyConfig(agent, o.hidden ?? 32);
  const step = buildAgentStep(agent, cfg.agentConfig, DIMS);
  const params = initAgentState(agent, step, o.seed ?? 1);
  const info: RunInfo = { config: cfg, configHash: configHash(cfg), dims: DIMS, version: '0.1.0' };
  const path = join(dir, `${name}.onnx`);
  await exportPolicy(info, params, o.step ?? 0, path, { validate: o.validate ?? false });
  return { path, info, params };
}

export function tempDir(prefix = 'hiql-runtime-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** One RegExp from several literals, for patterns too long for one line. */
export const re = (...parts: RegExp[]): RegExp => new RegExp(parts.map((r) => r.source).join(''));

/** Deterministic pseudo-random float32 values in [-lim, lim]. */
export function randomFloats(n: number, seed: number, lim = 10): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 * lim - lim;
  }
  return out;
}
