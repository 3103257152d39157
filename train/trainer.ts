// The training loop: a run folder holding the resolved config, metrics (JSON lines), checkpoints,
// evaluation results and learning curves; periodic evaluation; exact resume. The library reports
// through callbacks and never prints; the CLI prints.
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, deriveSeed } from '../rng/rng.ts';
import {
  Graph,
  StepRunner,
  assertPlacedOn,
  loadCheckpoint,
  nodePlacement,
  saveCheckpoint,
  writeFileAtomic,
  type Checkpoint,
} from '../onnx/index.ts';
import { AGENTS, type AgentConfig, type AgentName } from './agents/index.ts';
import { batchFeeds, type BatchKey } from './batch.ts';
import { configHash, type RunConfig } from './config.ts';
import {
  buildTrajectoryIndex,
  dropActions,
  labelledTrajectories,
  loadDataset,
  type Dataset,
  type TrajectoryIndex,
} from './data/dataset.ts';
import { datasetDims, isPixels } from './dims.ts';
import { evaluateParams } from './eval-session.ts';
import type { EvalResult } from './evaluate.ts';
import { writeCurves } from './plot.ts';
import { CHECKPOINT_FILE, CONFIG_FILE, EVAL_FILE, METRICS_FILE, VERSION, readRunInfo, type RunInfo } from './run-folder.ts';
import { GoalSampler } from './sampler.ts';
import { buildAgentStep, initAgentState } from './step.ts';

export interface TrainCallbacks {
  /** Every logEvery steps: step, steps/s, ETA in seconds, metrics. */
  onLog?: (e: { step: number; steps: number; stepsPerSec: number; etaSec: number; metrics: Record<string, number> }) => void;
  onEval?: (step: number, r: EvalResult) => void;
  onInfo?: (msg: string) => void;
}

/** The goal sampler of an agent: its settings and exactly the keys of its batch spec. */
export function samplerFor(agent: AgentName, c: AgentConfig, ds: Dataset, traj: TrajectoryIndex): GoalSampler {
  const def = AGENTS[agent];
  return new GoalSampler(ds, traj, def.sampling(c), Object.keys(def.batch) as BatchKey[]);
}

export interface TrainResult {
  steps: number;
  finalEval: EvalResult | null;
  stepsPerSec: number;
}

/**
 * Trains `cfg` in `runDir`. With `resume`, continues from the run's checkpoint exactly as an
 * uninterrupted run would (batches are drawn from a generator re-seeded per step).
 */
export async function train(
  cfg: RunConfig,
  runDir: string,
  o: { resume?: boolean; dataset?: Dataset; cb?: TrainCallbacks; evalAtEnd?: boolean } = {},
): Promise<TrainResult> {
  const cb = o.cb ?? {};
  const t = cfg.trainer;
  mkdirSync(runDir, { recursive: true });
  let ds = o.dataset ?? (await loadDataset(cfg.dataset));
  if (t.actionFraction < 1) ds = dropActions(ds, t.actionFraction, deriveSeed(t.seed, 'action-fraction'));
  if (t.labelledOnly) ds = labelledTrajectories(ds);
  const dims = datasetDims(ds);
  const traj = buildTrajectoryIndex(ds.terminals);

  const info: RunInfo = { config: cfg, configHash: configHash(cfg), dims, version: VERSION };
  const cfgPath = join(runDir, CONFIG_FILE);
  if (o.resume) {
    const prev = readRunInfo(runDir);
    if (prev.configHash !== info.configHash)
      throw new Error(
        `cannot resume '${runDir}': its config differs from this one (hash ${prev.configHash.slice(0, 12)} vs ${info.configHash.slice(0, 12)})`,
      );
  } else {
    if (existsSync(join(runDir, CHECKPOINT_FILE)))
      throw new Error(`'${runDir}' already holds a run; pass --resume to continue it or choose another --run-dir`);
    writeFileAtomic(cfgPath, new TextEncoder().encode(JSON.stringify(info, null, 2) + '\n'));
    for (const f of [METRICS_FILE, EVAL_FILE]) writeFileSync(join(runDir, f), '');
  }

  const useMask = ds.actionMask !== null;
  const step = buildAgentStep(cfg.agent, cfg.agentConfig, dims, { actionMask: useMask });
  const threads = t.threads > 0 ? t.threads : undefined;
  let initial: Map<string, Float32Array>;
  let startStep = 0;
  if (o.resume) {
    const ck = loadCheckpoint(join(runDir, CHECKPOINT_FILE));
    const saved = new Map([...ck.tensors].map(([k, v]) => [k, v.data]));
    initial = step.toState(saved, saved);
    startStep = ck.step;
    cb.onInfo?.(`resuming '${runDir}' at step ${startStep}`);
  } else {
    initial = initAgentState(cfg.agent, step, t.seed);
  }
  if (t.device === 'webgpu' && isPixels(dims)) {
    // Measured on an H200 with onnxruntime-node 1.30 (bench/gpu-check.sh): one pixel HIQL step on WebGPU
    // differed from the CPU by 18% in loss; the cause, a wrong WebGPU Conv over 6 input channels, is now
    // avoided (conv3x3 pads to 8), but a whole pixel step has not been re-measured on a GPU since.
    throw new Error(
      'pixel agents are not validated on webgpu: one step of the pixel HIQL update on onnxruntime-node 1.30 WebGPU differed from the CPU by 18% in loss (a wrong WebGPU Conv over 6 channels, now avoided, but the whole step is not yet re-checked on a GPU); train pixel agents with --device cpu',
    );
  }
  if (t.device !== 'cpu') {
    // A GPU provider without a kernel for some op would run it on the CPU mid-step: find out first.
    const placement = await nodePlacement(step.spec.model, t.device);
    assertPlacedOn(placement, Graph.fromBytes(step.spec.model).graph, t.device, [...step.spec.batchInputs, step.spec.stepInput]);
    cb.onInfo?.(`training step on ${t.device}: ${[...placement.counts].map(([k, v]) => `${v} nodes on ${k}`).join(', ')}`);
  }
  const runner = await StepRunner.create(step.spec, initial, {
    threads,
    executionProviders: [t.device],
    deviceResident: t.device !== 'cpu',
  });
  runner.stepCount = startStep;
  const B = cfg.agentConfig.batchSize;
  const sampler = samplerFor(cfg.agent, cfg.agentConfig, ds, traj);

  const shapes = new Map(step.params.map((p) => [p.name, p.shape]));
  const save = async (stepNo: number) => {
    // Parameters are saved by name (export reads them); Adam's flat slots as they are.
    const snap = await runner.snapshot();
    const tensors: Checkpoint['tensors'] = new Map();
    for (const [name, v] of step.fromState(snap)) tensors.set(name, { dtype: 'float32', dims: shapes.get(name)!, data: v });
    for (const s of step.spec.state)
      if (s.name.startsWith('opt/')) tensors.set(s.name, { dtype: 'float32', dims: s.dims, data: snap.get(s.name)! });
    saveCheckpoint(join(runDir, CHECKPOINT_FILE), { step: stepNo, tensors, meta: { configHash: info.configHash } });
  };
  const doEval = async (stepNo: number): Promise<EvalResult> => {
    const r = await evaluateParams(cfg, dims, step.fromState(await runner.snapshot()), t.evalEpisodes, t.seed, threads);
    appendFileSync(join(runDir, EVAL_FILE), JSON.stringify({ step: stepNo, ...r }) + '\n');
    cb.onEval?.(stepNo, r);
    return r;
  };

  let last = performance.now();
  let lastStep = startStep;
  const startTime = performance.now();
  let finalEval: EvalResult | null = null;
  const sums: Record<string, number> = {};
  let count = 0;
  for (let s = startStep + 1; s <= t.steps; s++) {
    // A generator per step, so that a resumed run draws the batches an uninterrupted one would.
    const batch = sampler.sample(new Rng(deriveSeed(t.seed, 'batch', s)));
    const m = await runner.step(batchFeeds(step.batchKeys, batch, dims, B));
    for (const [k, v] of Object.entries(m)) sums[k] = (sums[k] ?? 0) + v;
    count++;
    if (!Number.isFinite(m['loss']!)) throw new Error(`training diverged at step ${s}: loss is ${m['loss']}`);
    if (s % t.logEvery === 0 || s === t.steps) {
      const now = performance.now();
      const sps = ((s - lastStep) * 1000) / (now - last);
      const avg: Record<string, number> = {};
      for (const [k, v] of Object.entries(sums)) avg[k] = v / count;
      appendFileSync(
        join(runDir, METRICS_FILE),
        JSON.stringify({ step: s, time: (now - startTime) / 1000, stepsPerSec: sps, ...avg }) + '\n',
      );
      cb.onLog?.({ step: s, steps: t.steps, stepsPerSec: sps, etaSec: (t.steps - s) / sps, metrics: avg });
      for (const k of Object.keys(sums)) delete sums[k];
      count = 0;
      last = now;
      lastStep = s;
    }
    const atEnd = s === t.steps;
    const pause = performance.now();
    if (t.saveEvery > 0 && (s % t.saveEvery === 0 || atEnd)) await save(s);
    if ((t.evalEvery > 0 && s % t.evalEvery === 0) || (atEnd && o.evalAtEnd !== false)) {
      finalEval = await doEval(s);
      writeCurves(runDir);
    }
    // Time spent saving and evaluating does not count against steps/s.
    last += performance.now() - pause;
  }
  if (t.saveEvery <= 0) await save(t.steps);
  const stepsPerSec = ((t.steps - startStep) * 1000) / Math.max(1, performance.now() - startTime);
  await runner.release();
  writeCurves(runDir);
  return { steps: t.steps, finalEval, stepsPerSec };
}
