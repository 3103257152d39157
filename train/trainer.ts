// The training loop: a run folder holding the resolved config, metrics (JSON lines), checkpoints,
// evaluation results and learning curves; periodic evaluation; exact resume. The library reports
// through callbacks and never prints; the CLI prints.
import { appendFileSync, existsSync, mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { Rng, deriveSeed } from '../rng/rng.ts';
import {
  Graph,
  StepRunner,
  assertPlacedOn,
  fsError,
  nodePlacement,
  saveCheckpoint,
  writeFileAtomic,
  type Checkpoint,
} from '../onnx/index.ts';
import { AGENTS, type AgentConfig, type AgentName } from './agents/index.ts';
import { batchFeeds, drawSeedBatches, type BatchKey } from './batch.ts';
import { configHash, type RunConfig } from './config.ts';
import {
  buildTrajectoryIndex,
  dropActions,
  labelledTrajectories,
  loadDataset,
  type Dataset,
  type TrajectoryIndex,
} from './data/dataset.ts';
import { parseEnvName } from '../envs/datasets.ts';
import { checkDatasetFitsEnv, datasetFingerprint } from './data/fit.ts';
import { datasetDims, isPixels } from './dims.ts';
import { evaluateParams } from './eval-session.ts';
import type { EvalResult } from './evaluate.ts';
import { seedsEval, type SeedsEvalResult } from './seeds.ts';
import { writeCurves } from './plot.ts';
import {
  CHECKPOINT_FILE,
  CONFIG_FILE,
  EVAL_FILE,
  METRICS_FILE,
  VERSION,
  readRunCheckpoint,
  readRunInfo,
  removeRunTempFiles,
  lockRunDir,
  truncateLog,
  type RunInfo,
} from './run-folder.ts';
import { GoalSampler } from './sampler.ts';
import { baseParamName, buildAgentStep, initAgentState, paramsOfSeed } from './step.ts';

export interface TrainCallbacks {
  /** Every logEvery steps: step, steps/s, ETA in seconds, metrics. */
  onLog?: (e: { step: number; steps: number; stepsPerSec: number; etaSec: number; metrics: Record<string, number> }) => void;
  /** An evaluation: with several seeds, the mean over seeds with each seed's result in `seeds`. */
  onEval?: (step: number, r: SeedsEvalResult) => void;
  onInfo?: (msg: string) => void;
}

/** The goal sampler of an agent: its settings and exactly the keys of its batch spec. */
export function samplerFor(agent: AgentName, c: AgentConfig, ds: Dataset, traj: TrajectoryIndex): GoalSampler {
  const def = AGENTS[agent];
  return new GoalSampler(ds, traj, def.sampling(c), Object.keys(def.batch) as BatchKey[]);
}

export interface TrainResult {
  /** The step the run is at (its checkpoint's step). */
  steps: number;
  /** The step this call started from (0, or the checkpoint's step on resume). */
  startStep: number;
  finalEval: SeedsEvalResult | null;
  /** Over the steps this call trained (0 when there was nothing to train). */
  stepsPerSec: number;
  /** Whether the time budget (trainer.minutes) ended the call before trainer.steps. */
  budgetReached?: boolean;
}

/** What a checkpoint carries besides tensors, so that a resumed run logs what an uninterrupted one would. */
interface CheckpointMeta {
  configHash: string;
  /** Sums and count of the metrics since the last metrics.jsonl row (seedSums: each seed's, with several seeds). */
  log?: { sums: Record<string, number>; count: number; seedSums?: Record<string, number[]> };
  /** Seconds of training before this checkpoint (the `time` column continues from it). */
  elapsed?: number;
}

const sameEnv = (a: string, b: string) => a === b || parseEnvName(a).name === parseEnvName(b).name;
const samePath = (a: string, b: string) => a === b || normalize(a) === normalize(b);

/**
 * Refuses to resume a run on other data or another config, naming what differs. The config hash
 * covers the agent config only (models record it; it must not change); env, dataset and dims are
 * compared here.
 */
function checkSameRun(runDir: string, prev: RunInfo, cfg: RunConfig, hash: string): void {
  const diff: string[] = [];
  if (!sameEnv(prev.config.env, cfg.env)) diff.push(`env '${cfg.env}' (the run trains on '${prev.config.env}')`);
  if (!samePath(prev.config.dataset, cfg.dataset)) diff.push(`dataset '${cfg.dataset}' (the run trains on '${prev.config.dataset}')`);
  if (prev.configHash !== hash) diff.push(`config hash ${hash.slice(0, 12)} (the run's is ${prev.configHash.slice(0, 12)})`);
  const seeds = prev.config.trainer.seeds ?? 1;
  if (seeds !== cfg.trainer.seeds) diff.push(`number of seeds, ${cfg.trainer.seeds} (the run trains ${seeds})`);
  if (diff.length > 0)
    throw new Error(
      `cannot resume '${runDir}': a resumed run trains on what it started on, but this one has another ${diff.join(', another ')}`,
    );
}

/** Creates the run folder, saying why not in words. */
function makeRunDir(runDir: string): void {
  try {
    mkdirSync(runDir, { recursive: true });
  } catch (e) {
    throw fsError('create the run folder', runDir, e);
  }
}

function appendLine(path: string, row: unknown): void {
  try {
    appendFileSync(path, JSON.stringify(row) + '\n');
  } catch (e) {
    throw fsError('write', path, e);
  }
}

/**
 * Trains `cfg` in `runDir`. With `resume`, continues from the run's checkpoint exactly as an
 * uninterrupted run would (batches are drawn from a generator re-seeded per step; the logs are cut
 * back to the checkpoint's step; the metrics being averaged at the checkpoint are restored). A run
 * folder with no run yet is started. Everything that can be checked (environment, data against the
 * environment, batch size, resume target) is checked before the first step.
 */
export async function train(
  cfg: RunConfig,
  runDir: string,
  o: { resume?: boolean; dataset?: Dataset; cb?: TrainCallbacks; evalAtEnd?: boolean } = {},
): Promise<TrainResult> {
  // One trainer per run folder, from before the first read to after the last write: a second one
  // would interleave the logs and overwrite the checkpoint. A folder made here and left empty by a
  // refused start is removed again.
  const made = !existsSync(runDir);
  makeRunDir(runDir);
  const unlock = lockRunDir(runDir, o.cb?.onInfo);
  try {
    return await trainLocked(cfg, runDir, o);
  } finally {
    unlock();
    if (made && readdirSync(runDir).length === 0) rmdirSync(runDir);
  }
}

async function trainLocked(
  cfg: RunConfig,
  runDir: string,
  o: { resume?: boolean; dataset?: Dataset; cb?: TrainCallbacks; evalAtEnd?: boolean },
): Promise<TrainResult> {
  const cb = o.cb ?? {};
  const t = cfg.trainer;
  parseEnvName(cfg.env);
  const cfgPath = join(runDir, CONFIG_FILE);
  const ckPath = join(runDir, CHECKPOINT_FILE);
  const hash = configHash(cfg);
  let prev: RunInfo | undefined;
  if (o.resume && existsSync(cfgPath)) {
    prev = readRunInfo(runDir);
    checkSameRun(runDir, prev, cfg, hash);
  } else if (o.resume) {
    cb.onInfo?.(`'${runDir}' holds no run yet: starting it`);
  } else if (existsSync(ckPath)) {
    throw new Error(`'${runDir}' already holds a run; pass --resume to continue it or choose another --run-dir`);
  }
  const ck = prev && existsSync(ckPath) ? readRunCheckpoint(runDir) : undefined;
  if (prev && !ck) cb.onInfo?.(`'${runDir}' has no checkpoint yet: starting it from step 0`);
  const startStep = ck?.step ?? 0;
  if (ck && ck.step > t.steps)
    throw new RangeError(
      `cannot resume '${runDir}' to step ${t.steps}: its checkpoint is at step ${ck.step}; ` +
        `give --steps above ${ck.step} to train further (the run is never rewound)`,
    );
  const meta = (ck?.meta ?? {}) as Partial<CheckpointMeta>;
  if (ck && meta.configHash !== undefined && meta.configHash !== hash)
    throw new Error(`${ckPath}: the checkpoint belongs to another config (hash ${String(meta.configHash).slice(0, 12)})`);

  let ds = o.dataset ?? (await loadDataset(cfg.dataset));
  const data = datasetFingerprint(ds);
  if (prev?.data && (prev.data.sha256 !== data.sha256 || prev.data.rows !== data.rows))
    throw new Error(
      `cannot resume '${runDir}': the data in '${cfg.dataset}' (${data.rows} rows, sha256 ${data.sha256.slice(0, 12)}) ` +
        `is not what the run ` +
        `started on (${prev.data.rows} rows, sha256 ${prev.data.sha256.slice(0, 12)})`,
    );
  checkDatasetFitsEnv(ds, cfg.env);
  if (t.actionFraction < 1) ds = dropActions(ds, t.actionFraction, deriveSeed(t.seed, 'action-fraction'));
  if (t.labelledOnly) ds = labelledTrajectories(ds);
  const dims = datasetDims(ds);
  const traj = buildTrajectoryIndex(ds.terminals);
  const B = cfg.agentConfig.batchSize;
  if (B > traj.validIndices.length)
    throw new RangeError(
      `batchSize ${B} is larger than the ${traj.validIndices.length} transitions of ${ds.name ?? 'the dataset'}; ` +
        `give --batchSize ${traj.validIndices.length} or less`,
    );
  if (prev && JSON.stringify(prev.dims) !== JSON.stringify(dims))
    throw new Error(
      `cannot resume '${runDir}': the data's dims ${JSON.stringify(dims)} differ from the run's ${JSON.stringify(prev.dims)}`,
    );
  if (t.device === 'webgpu' && isPixels(dims)) {
    // Measured on an H200 with onnxruntime-node 1.30 (bench/gpu-check.sh): one pixel HIQL step on WebGPU
    // differed from the CPU by 18% in loss; the cause, a wrong WebGPU Conv over 6 input channels, is now
    // avoided (conv3x3 pads to 8), but a whole pixel step has not been re-measured on a GPU since.
    throw new Error(
      'pixel agents are not validated on webgpu: one step of the pixel HIQL update on onnxruntime-node 1.30 WebGPU ' +
        'differed from the CPU by 18% in loss (a wrong WebGPU Conv over 6 channels, now avoided, but the whole step ' +
        'is not yet re-checked on a GPU); train pixel agents with --device cpu',
    );
  }

  // The folder: stale temporary files of killed writers go; config.json records this run (on
  // resume with the new trainer settings: steps, evalEvery, ...; the hash is unchanged); the logs
  // are cut back to the checkpoint's step, so that rows after it are written once, in order.
  makeRunDir(runDir);
  for (const f of removeRunTempFiles(runDir)) cb.onInfo?.(`removed ${f}, left by a killed run`);
  const info: RunInfo = prev
    ? { ...prev, config: { ...cfg, env: prev.config.env, dataset: prev.config.dataset }, data: prev.data ?? data }
    : { config: cfg, configHash: hash, dims, version: VERSION, data };
  writeFileAtomic(cfgPath, new TextEncoder().encode(JSON.stringify(info, null, 2) + '\n'));
  for (const f of [METRICS_FILE, EVAL_FILE]) {
    const dropped = truncateLog(join(runDir, f), startStep);
    if (dropped > 0) cb.onInfo?.(`${f}: dropped ${dropped} rows after step ${startStep}, written again as the run continues`);
  }
  if (ck && ck.step === t.steps) {
    cb.onInfo?.(`'${runDir}' is already at step ${t.steps}: nothing to train (give --steps above ${t.steps} to train further)`);
    writeCurves(runDir);
    return { steps: t.steps, startStep, finalEval: null, stepsPerSec: 0 };
  }

  const useMask = ds.actionMask !== null;
  const seeds = t.seeds;
  const step = buildAgentStep(cfg.agent, cfg.agentConfig, dims, { actionMask: useMask, seeds });
  const threads = t.threads > 0 ? t.threads : undefined;
  let initial: Map<string, Float32Array>;
  if (ck) {
    const saved = new Map([...ck.tensors].map(([k, v]) => [k, v.data]));
    initial = step.toState(saved, saved);
    cb.onInfo?.(`resuming '${runDir}' at step ${startStep}`);
  } else {
    initial = initAgentState(step, t.seed);
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
  const sampler = samplerFor(cfg.agent, cfg.agentConfig, ds, traj);

  const sums: Record<string, number> = { ...(meta.log?.sums ?? {}) };
  const seedSums: Record<string, number[]> = structuredClone(meta.log?.seedSums ?? {});
  let count = meta.log?.count ?? 0;
  const elapsedBefore = meta.elapsed ?? 0;
  const startTime = performance.now();
  const elapsed = () => elapsedBefore + (performance.now() - startTime) / 1000;

  const shapes = new Map(step.params.map((p) => [p.name, p.shape]));
  const save = async (stepNo: number) => {
    // A checkpoint holds the weights after exactly `stepNo` steps, never other ones.
    if (runner.stepCount !== stepNo) throw new Error(`internal: saving step ${stepNo} with weights at step ${runner.stepCount}`);
    // Parameters are saved by name (export reads them); Adam's flat slots as they are.
    const snap = await runner.snapshot();
    const tensors: Checkpoint['tensors'] = new Map();
    for (const [name, v] of step.fromState(snap)) tensors.set(name, { dtype: 'float32', dims: shapes.get(baseParamName(name))!, data: v });
    for (const s of step.spec.state)
      if (s.name.startsWith('opt/')) tensors.set(s.name, { dtype: 'float32', dims: s.dims, data: snap.get(s.name)! });
    const log = { sums: { ...sums }, count, ...(seeds > 1 ? { seedSums: structuredClone(seedSums) } : {}) };
    const m: CheckpointMeta = { configHash: hash, log, elapsed: elapsed() };
    saveCheckpoint(ckPath, { step: stepNo, tensors, meta: m as unknown as Record<string, unknown> });
  };
  const doEval = async (stepNo: number): Promise<SeedsEvalResult> => {
    // Seed k is evaluated on the episodes a one-seed run with seed + k would be.
    const named = step.fromState(await runner.snapshot());
    const each: EvalResult[] = [];
    for (let k = 0; k < seeds; k++)
      each.push(await evaluateParams(cfg, dims, seeds > 1 ? paramsOfSeed(named, k) : named, t.evalEpisodes, t.seed + k, threads));
    const r = seedsEval(each);
    appendLine(join(runDir, EVAL_FILE), { step: stepNo, ...r });
    cb.onEval?.(stepNo, r);
    return r;
  };

  try {
    return await loop();
  } finally {
    await runner.release();
  }

  async function loop(): Promise<TrainResult> {
    let last = performance.now();
    let lastStep = startStep;
    let finalEval: SeedsEvalResult | null = null;
    // The time budget counts this call's whole loop: steps, evaluations and checkpoints.
    const budgetUp = () => t.minutes > 0 && performance.now() - startTime >= t.minutes * 60_000;
    let end = t.steps;
    for (let s = startStep + 1; s <= t.steps; s++) {
      const atEnd = s === t.steps || budgetUp();
      // A generator per step (and seed), so that a resumed run draws the batches an uninterrupted
      // one would, and seed k the batches of a one-seed run with seed + k.
      const batch = drawSeedBatches(seeds, (k) => sampler.sample(new Rng(deriveSeed(t.seed + k, 'batch', s))));
      const m = await runner.step(batchFeeds(step.batchKeys, batch, dims, B, seeds));
      for (const [k, v] of Object.entries(m)) sums[k] = (sums[k] ?? 0) + v;
      if (seeds > 1)
        for (const [k, v] of Object.entries(runner.lastMetrics)) {
          const acc = (seedSums[k] ??= new Array<number>(seeds).fill(0));
          v.forEach((x, i) => (acc[i]! += x));
        }
      count++;
      const losses = runner.lastMetrics['loss'] ?? [m['loss']!];
      const bad = losses.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) throw new Error(`training diverged at step ${s}${seeds > 1 ? ` (seed ${t.seed + bad})` : ''}: loss is ${losses[bad]}`);
      if (s % t.logEvery === 0 || atEnd) {
        const now = performance.now();
        const sps = ((s - lastStep) * 1000) / (now - last);
        const avg: Record<string, number> = {};
        for (const [k, v] of Object.entries(sums)) avg[k] = v / count;
        // With several seeds, the row's figures are the seeds' means and `seeds` holds each seed's.
        const perSeed =
          seeds > 1 ? { seeds: Object.fromEntries(Object.entries(seedSums).map(([k, v]) => [k, v.map((x) => x / count)])) } : {};
        appendLine(join(runDir, METRICS_FILE), { step: s, time: elapsed(), stepsPerSec: sps, ...avg, ...perSeed });
        // With a time budget, the ETA is the sooner of the last step and the budget's end.
        const budgetLeft = t.minutes > 0 ? Math.max(0, t.minutes * 60 - (now - startTime) / 1000) : Infinity;
        cb.onLog?.({ step: s, steps: t.steps, stepsPerSec: sps, etaSec: Math.min((t.steps - s) / sps, budgetLeft), metrics: avg });
        for (const k of Object.keys(sums)) delete sums[k];
        for (const k of Object.keys(seedSums)) delete seedSums[k];
        count = 0;
        last = now;
        lastStep = s;
      }
      const pause = performance.now();
      // Evaluate, then save: a run killed in between resumes from the previous checkpoint, drops the
      // rows written since, and writes them again, so the logs never hold a row the checkpoint lacks.
      if ((t.evalEvery > 0 && s % t.evalEvery === 0) || (atEnd && o.evalAtEnd !== false)) {
        finalEval = await doEval(s);
        writeCurves(runDir);
      }
      if (t.saveEvery > 0 && (s % t.saveEvery === 0 || atEnd)) await save(s);
      // Time spent saving and evaluating does not count against steps/s.
      last += performance.now() - pause;
      if (atEnd) {
        end = s;
        break;
      }
    }
    if (end < t.steps) cb.onInfo?.(`time budget of ${t.minutes} min reached at step ${end} (of ${t.steps})`);
    if (t.saveEvery <= 0) await save(end);
    const stepsPerSec = ((end - startStep) * 1000) / Math.max(1, performance.now() - startTime);
    writeCurves(runDir);
    return { steps: end, startStep, finalEval, stepsPerSec, budgetReached: end < t.steps };
  }
}
