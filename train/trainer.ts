// The training loop: a run folder holding the resolved config, metrics (JSON lines), checkpoints,
// evaluation results and learning curves; periodic evaluation; exact resume. The library reports
// through callbacks and never prints; the CLI prints.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, deriveSeed } from '../rng/rng.ts';
import {
  Graph,
  StepRunner,
  assertPlacedOn,
  createSession,
  loadCheckpoint,
  nodePlacement,
  ort,
  saveCheckpoint,
  writeFileAtomic,
  type Checkpoint,
} from '../onnx/index.ts';
import {
  batchFeeds,
  buildAgentStep,
  buildPolicyGraph,
  initAgentState,
  isPixels,
  obsInput,
  type AgentConfig,
  type Dims,
} from './agents/index.ts';
import { configHash, type RunConfig } from './config.ts';
import { buildTrajectoryIndex, dropActions, labelledTrajectories, loadDataset, type Dataset } from './data/dataset.ts';
import { evaluate, type BatchPolicy, type EvalResult } from './evaluate.ts';
import { writeCurves } from './plot.ts';
import { GoalSampler, type SamplerConfig } from './sampler.ts';

export const CHECKPOINT_FILE = 'checkpoint.bin';
export const CONFIG_FILE = 'config.json';

export interface RunInfo {
  config: RunConfig;
  configHash: string;
  dims: Dims;
  version: string;
}

export interface TrainCallbacks {
  /** Every logEvery steps: step, steps/s, ETA in seconds, metrics. */
  onLog?: (e: { step: number; steps: number; stepsPerSec: number; etaSec: number; metrics: Record<string, number> }) => void;
  onEval?: (step: number, r: EvalResult) => void;
  onInfo?: (msg: string) => void;
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

/** Network dimensions of a dataset: state vectors [d], or uint8 frames [H, W, C]. */
export function datasetDims(ds: Dataset): Dims {
  const obsDim = ds.obsShape.reduce((a, b) => a * b, 1);
  if (ds.observations instanceof Uint8Array) {
    if (ds.obsShape.length !== 3)
      throw new RangeError(
        `dataset '${ds.name ?? '?'}': uint8 observations must be frames [N, H, W, C], got per-row shape [${ds.obsShape}]`,
      );
    return { obsDim, actionDim: ds.actionDim, obsShape: [...ds.obsShape] };
  }
  if (ds.obsShape.length !== 1)
    throw new RangeError(
      `dataset '${ds.name ?? '?'}' has float observations of shape [${ds.obsShape}]; expected state vectors [N, d] or uint8 frames [N, H, W, C]`,
    );
  return { obsDim, actionDim: ds.actionDim };
}

/** The sampler settings of an agent config. */
function samplerConfig(c: AgentConfig, agent: RunConfig['agent']): SamplerConfig {
  return { ...(c as unknown as SamplerConfig), subgoalSteps: agent === 'hiql' ? (c as { subgoalSteps: number }).subgoalSteps : undefined };
}

/** A BatchPolicy running the agent's policy graph built from `params` on onnxruntime. */
export async function sessionPolicy(
  cfg: RunConfig,
  dims: Dims,
  params: ReadonlyMap<string, Float32Array>,
  threads?: number,
): Promise<{ policy: BatchPolicy; release: () => Promise<void> }> {
  const session = await createSession(buildPolicyGraph(cfg.agent, cfg.agentConfig, dims, params).toBytes(), { threads });
  const { shape } = obsInput(dims);
  const tensor = (x: Float32Array | Uint8Array, n: number) =>
    x instanceof Uint8Array ? new ort.Tensor('uint8', x, [n, ...shape]) : new ort.Tensor('float32', x, [n, ...shape]);
  const policy: BatchPolicy = async (obs, goals, n) => {
    const out = await session.run({ observation: tensor(obs, n), goal: tensor(goals, n) });
    return out['action']!.data as Float32Array;
  };
  return { policy, release: () => session.release() };
}

export async function evaluateParams(
  cfg: RunConfig,
  dims: Dims,
  params: ReadonlyMap<string, Float32Array>,
  episodes: number,
  seed: number,
  threads?: number,
): Promise<EvalResult> {
  const { policy, release } = await sessionPolicy(cfg, dims, params, threads);
  try {
    return await evaluate(cfg.env, policy, { episodesPerTask: episodes, seed, frameSize: isPixels(dims) ? dims.obsShape![0] : undefined });
  } finally {
    await release();
  }
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

  const info: RunInfo = { config: cfg, configHash: configHash(cfg), dims, version: '0.1.0' };
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
    for (const f of ['metrics.jsonl', 'eval.jsonl']) writeFileSync(join(runDir, f), '');
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
  const sampler = new GoalSampler(ds, traj, samplerConfig(cfg.agentConfig, cfg.agent), cfg.agent === 'hiql' ? 'hiql' : 'flat', 0);

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
    appendFileSync(join(runDir, 'eval.jsonl'), JSON.stringify({ step: stepNo, ...r }) + '\n');
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
    sampler.rng = new Rng(deriveSeed(t.seed, 'batch', s));
    const batch = sampler.sample();
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
        join(runDir, 'metrics.jsonl'),
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
