// What the golden-parity tests share: the fixtures' layout (the authors' code on fixed parameters and
// one fixed batch, test/fixtures/README.md), loading them, mapping flax parameter paths to ours,
// tolerant comparisons, and the checks themselves (one training step, the same step with 4 seeds in
// one graph, the value graph's statistics). Each agent's test file (golden.test.ts, golden-*.test.ts)
// calls these with what differs: its agent, config and parameter mapping.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StepRunner, createSession, ort } from '../../onnx/index.ts';
import { AGENTS, type AgentConfig, type AgentName } from '../../train/agents/index.ts';
import { batchFeeds, drawSeedBatches } from '../../train/batch.ts';
import type { Dims } from '../../train/dims.ts';
import { buildPolicyGraph, buildValueGraph } from '../../train/graphs.ts';
import { buildAgentStep, initAgentParams, paramsOfSeed, seedParamName } from '../../train/step.ts';

export interface Arr {
  shape: number[];
  data: number[];
}
export interface Golden {
  config: Record<string, unknown>;
  params: Record<string, Arr>;
  batch: Record<string, Arr>;
  loss: number;
  info: Record<string, number>;
  grads: Record<string, Arr>;
  params_after_one_update: Record<string, Arr>;
  actions_temperature0: Arr;
}

// HIQL_TEST_EP=webgpu (or cuda) runs the same checks on a GPU execution provider, state kept on the
// device between steps as training does; CI runs them on the CPU.
export const EP = process.env['HIQL_TEST_EP'] ?? 'cpu';
export const runnerOptions = EP === 'cpu' ? { threads: 1 } : { executionProviders: [EP], deviceResident: true };

export const load = (agent: string): Golden =>
  JSON.parse(readFileSync(fileURLToPath(new URL(`../fixtures/${agent}-ogbench-golden.json`, import.meta.url)), 'utf8'));

/** Maps a flax path to our parameter names, splitting ensembles stacked on axis 0 into members. */
export function mapParams(flax: Record<string, Arr>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [path, arr] of Object.entries(flax)) {
    const m = /^modules_(\w+?)\/(?:layers_0|value_net|actor_net|(mean_net))\/?(?:(Dense|LayerNorm)_(\d+)\/)?(kernel|bias|scale)$/.exec(
      path,
    );
    assert.ok(m, `unexpected fixture parameter ${path}`);
    const [, module, meanNet, kind, idx, leaf] = m;
    const prefix = module === 'goal_rep' ? 'phi' : module!;
    const local = meanNet ? `mean/${leaf}` : kind === 'LayerNorm' ? `mlp/${idx}/ln/${leaf}` : `mlp/${idx}/${leaf}`;
    if (module === 'value' || module === 'target_value') {
      const per = arr.data.length / 2;
      for (let e = 0; e < 2; e++) out.set(`${prefix}/${e}/${local}`, Float32Array.from(arr.data.slice(e * per, (e + 1) * per)));
    } else {
      out.set(`${prefix}/${local}`, Float32Array.from(arr.data));
    }
  }
  return out;
}

export const camel = (s: string) => s.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());

export function configFor(agent: AgentName, gold: Golden) {
  const c: Record<string, unknown> = { ...AGENTS[agent].defaults };
  const gc = gold.config;
  c['batchSize'] = gc['batch_size'];
  c['actorHiddenDims'] = gc['actor_hidden_dims'];
  if ('value_hidden_dims' in gc) c['valueHiddenDims'] = gc['value_hidden_dims'];
  for (const k of ['discount', 'tau', 'expectile', 'low_alpha', 'high_alpha', 'alpha', 'rep_dim', 'subgoal_steps', 'lr'])
    if (k in gc) c[camel(k)] = gc[k];
  return c as never;
}

export function close(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rel = 1e-5, abs = 1e-6) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i]! - expected[i]!) / (abs + rel * Math.abs(expected[i]!));
    if (err > worst) {
      worst = err;
      at = i;
    }
  }
  assert.ok(worst <= 1, `${what}: element ${at} is ${actual[at]}, reference ${expected[at]} (beyond ${rel} relative + ${abs} absolute)`);
}

/** Relative error of a whole tensor, ||a - b|| / ||b||: robust to float32 summation order in reductions. */
export function closeNorm(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rel: number) {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i]! - expected[i]!) ** 2;
    den += expected[i]! ** 2;
  }
  const err = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
  assert.ok(err <= rel, `${what}: relative error ${err.toExponential(2)} exceeds ${rel}`);
  return err;
}

export const BATCH_KEY: Record<string, string> = {
  observations: 'observations',
  nextObservations: 'next_observations',
  actions: 'actions',
  rewards: 'rewards',
  masks: 'masks',
  valueGoals: 'value_goals',
  lowActorGoals: 'low_actor_goals',
  highActorGoals: 'high_actor_goals',
  highActorTargets: 'high_actor_targets',
  actorGoals: 'actor_goals',
};

/** The fixture's batch under our batch keys. */
export function batchOf(gold: Golden, keys: readonly string[]): Record<string, Float32Array> {
  const arrays: Record<string, Float32Array> = {};
  for (const k of keys) arrays[k] = Float32Array.from(gold.batch[BATCH_KEY[k]!]!.data);
  return arrays;
}

/** The fixture's observation and action sizes (2 and 2 in every fixture). */
export const dimsOf = (gold: Golden): Dims => ({
  obsDim: gold.batch['observations']!.shape[1]!,
  actionDim: gold.batch['actions']!.shape[1]!,
});

/** What differs between the agents' golden checks; the checks themselves (checkOneStep, checkFourSeeds) are the same for all. */
export interface GoldenCase {
  agent: AgentName;
  gold: Golden;
  /** Our config for the fixture: configFor and the agent's own keys. */
  config: AgentConfig;
  /** The fixture's flax paths -> our parameter names (mapParams for HIQL, GCIVL and GCBC). */
  map: (flax: Record<string, Arr>) => Map<string, Float32Array>;
  /** The batch key of the goals the fixture's actions were computed for: `actor_goals`, HIQL's `high_actor_goals`. */
  policyGoal?: string;
}

// The tolerances, the same for every agent. Gradients: per tensor to 1e-5 in norm; per element to
// 1e-4 of the element plus 1e-5 of the tensor's largest entry (batch sums in float32 reorder
// rounding, which shows on entries that cancel). Updated parameters and actions: per element to
// 1e-5 relative + 1e-7 absolute, and per tensor to 1e-5 in norm (the reports give per-tensor errors:
// an element-wise relative error of the actions is dominated by the smallest action, about 1e-3
// in size). Loss and figures: close's default.
const GRAD_NORM = 1e-5;
const GRAD_REL = 1e-4;
const GRAD_OF_MAX = 1e-5;
const VALUE_REL = 1e-5;
const VALUE_ABS = 1e-7;
const VALUE_NORM = 1e-5;

/** The largest relative error |a - b| / |b| over elements, for the report. */
const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(Math.abs(b[i]!), 1e-30));
  return worst;
};
/** The largest |a - b| relative to the tensor's largest entry (entries that cancel to ~0 make |a - b| / |b| meaningless). */
const scaledErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let [worst, top] = [0, 0];
  for (let i = 0; i < b.length; i++) [worst, top] = [Math.max(worst, Math.abs(a[i]! - b[i]!)), Math.max(top, Math.abs(b[i]!))];
  return worst / Math.max(top, 1e-30);
};
const isTarget = (name: string) => name.startsWith('target_');

/** Checks a gradient against the reference's: `what` names it in a failure. Returns its per-tensor error. */
function checkGrad(ours: Float32Array | undefined, gv: Float32Array, what: string, perElement: boolean): number {
  assert.ok(ours, `no gradient output for ${what}`);
  const err = closeNorm(ours, gv, what, GRAD_NORM);
  if (perElement) close(ours, gv, what, GRAD_REL, GRAD_OF_MAX * Math.max(...gv.map(Math.abs)));
  return err;
}
/** Checks a parameter (or action) tensor per element and in norm. Returns its per-tensor error. */
function checkValues(ours: Float32Array | undefined, v: ArrayLike<number>, what: string): number {
  assert.ok(ours, `no ${what}`);
  close(ours, v, what, VALUE_REL, VALUE_ABS);
  return closeNorm(ours, v, what, VALUE_NORM);
}

/** The value graph's [mean, max, min] of f(value) on the batch's (observations, value_goals). */
export async function valueStats(g: GoldenCase, f = (v: number) => v): Promise<number[]> {
  const dims = dimsOf(g.gold);
  const session = await createSession(buildValueGraph(g.agent, g.config, dims, g.map(g.gold.params)).toBytes(), { threads: 1 });
  const n = g.gold.batch['observations']!.shape[0]!;
  const out = await session.run({
    observation: new ort.Tensor('float32', Float32Array.from(g.gold.batch['observations']!.data), [n, dims.obsDim]),
    goal: new ort.Tensor('float32', Float32Array.from(g.gold.batch['value_goals']!.data), [n, dims.obsDim]),
  });
  await session.release();
  const v = Array.from(out['value']!.data as Float32Array, f);
  return [v.reduce((a, b) => a + b, 0) / n, Math.max(...v), Math.min(...v)];
}

/**
 * One training step on the fixture's parameters and batch: the loss, every `info` figure (and no
 * figure the reference lacks), every gradient (target parameters get none, where the reference's is
 * zero), the parameters after one update, and the deterministic actions through the policy graph.
 * Reports the worst errors with t.diagnostic.
 */
export async function checkOneStep(t: TestContext, g: GoldenCase): Promise<void> {
  const { agent, gold, config: c, map } = g;
  const dims = dimsOf(gold);
  const step = buildAgentStep(agent, c, dims, { outputGradients: true });
  const params = map(gold.params);
  assert.deepEqual([...params.keys()].sort(), step.params.map((p) => p.name).sort(), 'parameter sets differ');
  const fixtureTargets = [...params.keys()].some(isTarget);
  assert.equal(
    step.layouts.target_params.size > 0,
    fixtureTargets,
    fixtureTargets ? 'target network expected' : `${agent} has no target network`,
  );
  const runner = await StepRunner.create(step.spec, step.toState(params), runnerOptions);
  const metrics = await runner.step(batchFeeds(step.batchKeys, batchOf(gold, step.batchKeys), dims, c.batchSize));
  // grads: per element against the tensor's largest entry; gradsNorm, params, actions: ||a - b|| / ||b|| per tensor.
  const report = { loss: relErr([metrics['loss']!], [gold.loss]), info: 0, grads: 0, gradsNorm: 0, params: 0, actions: 0 };

  close([metrics['loss']!], [gold.loss], 'loss');
  for (const [k, v] of Object.entries(gold.info)) {
    assert.ok(k in metrics, `we report no '${k}'`);
    close([metrics[k]!], [v], k);
    report.info = Math.max(report.info, relErr([metrics[k]!], [v]));
  }
  assert.deepEqual(
    Object.keys(gold.info).sort(),
    Object.keys(metrics)
      .filter((k) => k !== 'loss')
      .sort(),
    'we report exactly the reference figures',
  );
  const ourGrads = step.layouts.params.unflatten(runner.lastGradients.get('params_grad')!);
  for (const [name, gv] of map(gold.grads)) {
    const ours = ourGrads.get(name);
    if (isTarget(name)) {
      assert.equal(ours, undefined, `target parameter ${name} must not be trained`);
      assert.ok(
        gv.every((x) => x === 0),
        `reference gives ${name} a gradient`,
      );
      continue;
    }
    report.gradsNorm = Math.max(report.gradsNorm, checkGrad(ours, gv, `grad ${name}`, true));
    report.grads = Math.max(report.grads, scaledErr(ours!, gv));
  }
  const oursAfter = step.fromState(await runner.snapshot());
  for (const [name, v] of map(gold.params_after_one_update))
    report.params = Math.max(report.params, checkValues(oursAfter.get(name), v, `updated ${name}`));
  await runner.release();

  // Deterministic actions for the batch's observations and (high-)actor goals.
  const session = await createSession(buildPolicyGraph(agent, c, dims, params).toBytes(), { executionProviders: [EP] });
  const n = gold.batch['observations']!.shape[0]!;
  const res = await session.run({
    observation: new ort.Tensor('float32', Float32Array.from(gold.batch['observations']!.data), [n, dims.obsDim]),
    goal: new ort.Tensor('float32', Float32Array.from(gold.batch[g.policyGoal ?? 'actor_goals']!.data), [n, dims.obsDim]),
  });
  await session.release();
  report.actions = checkValues(res['action']!.data as Float32Array, gold.actions_temperature0.data, 'actions');
  t.diagnostic(`${agent} golden, worst relative errors: ${JSON.stringify(report)}`);
}

/**
 * The same step with 4 seeds in one graph: seeds 0 and 2 get the reference's parameters and batch
 * and must reproduce it; seeds 1 and 3 get fresh initialisations and the batch's rows in another
 * order (for CRL that permutes the contrastive pairs too: each row keeps its own positive) and must
 * equal their own one-seed step, every figure, gradient and updated parameter. Reports the worst
 * errors of the reference seeds with t.diagnostic.
 */
export async function checkFourSeeds(t: TestContext, g: GoldenCase): Promise<void> {
  const { agent, gold, config: c, map } = g;
  const dims = dimsOf(gold);
  const B = c.batchSize;
  const one = buildAgentStep(agent, c, dims, { outputGradients: true });
  const four = buildAgentStep(agent, c, dims, { outputGradients: true, seeds: 4 });
  const goldParams = map(gold.params);
  const goldBatch = batchOf(gold, one.batchKeys);
  const other = (seed: number) => {
    const order = [...Array(B).keys()].map((i) => (i * 7 + seed) % B);
    const b: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(goldBatch)) {
      const w = v.length / B;
      b[k] = Float32Array.from(order.flatMap((i) => Array.from(v.subarray(i * w, (i + 1) * w))));
    }
    return { params: initAgentParams(one, seed), batch: b };
  };
  const seeds = [{ params: goldParams, batch: goldBatch }, other(11), { params: goldParams, batch: goldBatch }, other(13)];
  const named = new Map(seeds.flatMap((s, k) => [...s.params].map(([n, v]) => [seedParamName(k, n), v] as const)));
  const runner = await StepRunner.create(four.spec, four.toState(named), runnerOptions);
  await runner.step(
    batchFeeds(
      four.batchKeys,
      drawSeedBatches(4, (k) => seeds[k]!.batch),
      dims,
      B,
      4,
    ),
  );
  const grads = runner.lastGradients.get('params_grad')!;
  const P = four.layouts.params.size;
  const after = four.fromState(await runner.snapshot());
  const report = { loss: 0, info: 0, gradsNorm: 0, params: 0 };
  for (const [k, s] of seeds.entries()) {
    const seedGrads = four.layouts.params.unflatten(grads.slice(k * P, (k + 1) * P));
    const seedAfter = paramsOfSeed(after, k);
    const metric = (m: string) => runner.lastMetrics[m]![k]!;
    if (k % 2 === 0) {
      close([metric('loss')], [gold.loss], `seed ${k} loss`);
      report.loss = Math.max(report.loss, relErr([metric('loss')], [gold.loss]));
      for (const [m, v] of Object.entries(gold.info)) {
        close([metric(m)], [v], `seed ${k} ${m}`);
        report.info = Math.max(report.info, relErr([metric(m)], [v]));
      }
      for (const [name, gv] of map(gold.grads))
        if (!isTarget(name))
          report.gradsNorm = Math.max(report.gradsNorm, checkGrad(seedGrads.get(name), gv, `seed ${k} grad ${name}`, false));
      for (const [name, v] of map(gold.params_after_one_update))
        report.params = Math.max(report.params, checkValues(seedAfter.get(name), v, `seed ${k} updated ${name}`));
    } else {
      const single = await StepRunner.create(one.spec, one.toState(s.params), runnerOptions);
      const m = await single.step(batchFeeds(one.batchKeys, s.batch, dims, B));
      close([metric('loss')], [m['loss']!], `seed ${k} loss against its one-seed step`);
      for (const [name, v] of Object.entries(m)) close([metric(name)], [v], `seed ${k} ${name} against its one-seed step`);
      const singleGrads = one.layouts.params.unflatten(single.lastGradients.get('params_grad')!);
      for (const [name, gv] of singleGrads) checkGrad(seedGrads.get(name), gv, `seed ${k} grad ${name}`, false);
      for (const [name, v] of one.fromState(await single.snapshot()))
        close(seedAfter.get(name)!, v, `seed ${k} updated ${name}`, VALUE_REL, VALUE_ABS);
      await single.release();
    }
  }
  await runner.release();
  t.diagnostic(`${agent} golden, 4 seeds, worst relative errors of the reference seeds: ${JSON.stringify(report)}`);
}
