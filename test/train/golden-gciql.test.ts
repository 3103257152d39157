// Golden parity of GCIQL with the authors' implementation (OGBench impls/agents/gciql.py, JAX): the
// fixture holds parameters, one batch, and what the reference computed from them (loss, per-part
// figures, gradients, one Adam step + target EMA, deterministic actions). test/fixtures/README.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StepRunner, createSession, ort } from '../../onnx/index.ts';
import { BATCH_KEY, EP, close, closeNorm, configFor, load, runnerOptions, type Arr } from './golden.ts';
import { batchFeeds, concatSeedBatches } from '../../train/batch.ts';
import { buildAgentStep, initAgentParams, paramsOfSeed, seedParamName } from '../../train/step.ts';
import { buildPolicyGraph, buildValueGraph } from '../../train/graphs.ts';

/**
 * GCIQL's flax paths -> our parameter names: `modules_value/value_net/Dense_i` -> `value/mlp/i`
 * (one network), `modules_{critic,target_critic}/value_net/...` stacked [2, ...] -> `{critic,
 * target_critic}/{0,1}/mlp/...`, `modules_actor/actor_net/Dense_i` -> `actor/mlp/i`,
 * `modules_actor/mean_net` -> `actor/mean`; LayerNorm_i -> `.../i/ln/{scale,bias}`.
 */
function mapGciql(flax: Record<string, Arr>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [path, arr] of Object.entries(flax)) {
    const layer = /(?:value_net|actor_net|(mean_net))\/(?:(Dense|LayerNorm)_(\d+)\/)?(kernel|bias|scale)$/.source;
    const m = new RegExp(`^modules_(value|critic|target_critic|actor)\\/${layer}`).exec(path);
    assert.ok(m, `unexpected fixture parameter ${path}`);
    const [, module, meanNet, kind, idx, leaf] = m;
    const local = meanNet ? `mean/${leaf}` : kind === 'LayerNorm' ? `mlp/${idx}/ln/${leaf}` : `mlp/${idx}/${leaf}`;
    if (module === 'critic' || module === 'target_critic') {
      assert.equal(arr.shape[0], 2, `${path}: a two-member ensemble`);
      const per = arr.data.length / 2;
      for (let e = 0; e < 2; e++) out.set(`${module}/${e}/${local}`, Float32Array.from(arr.data.slice(e * per, (e + 1) * per)));
    } else {
      out.set(`${module}/${local}`, Float32Array.from(arr.data));
    }
  }
  return out;
}

const gold = load('gciql');
const c = configFor('gciql', gold);
const dims = { obsDim: 2, actionDim: 2 };
const B = gold.batch['observations']!.shape[0]!;
const goldBatch = (keys: readonly string[]) => {
  const b: Record<string, Float32Array> = {};
  for (const k of keys) b[k] = Float32Array.from(gold.batch[BATCH_KEY[k]!]!.data);
  return b;
};
const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(Math.abs(b[i]!), 1e-12));
  return worst;
};

test('gciql: the fixture is the configuration we build (DDPG+BC, constant std, PointMaze alpha)', () => {
  const gc = gold.config;
  assert.equal(gc['actor_loss'], 'ddpgbc');
  assert.equal(gc['const_std'], true);
  assert.equal(gc['layer_norm'], true);
  assert.equal(gc['discrete'], false);
  assert.equal(gc['encoder'], null);
  const ours = c as unknown as Record<string, unknown>;
  assert.equal(ours['actorLoss'], 'ddpgbc');
  assert.equal(ours['learnActorStd'], false);
  assert.equal(ours['alpha'], 0.003);
  assert.equal(ours['expectile'], gc['expectile']);
});

test(`gciql (${EP}): loss, per-part figures, gradients, one update and actions equal the reference`, async () => {
  const step = buildAgentStep('gciql', c, dims, { outputGradients: true });
  const params = mapGciql(gold.params);
  assert.deepEqual([...params.keys()].sort(), step.params.map((p) => p.name).sort(), 'parameter sets differ');
  const runner = await StepRunner.create(step.spec, step.toState(params), runnerOptions);
  const metrics = await runner.step(batchFeeds(step.batchKeys, goldBatch(step.batchKeys), dims, B));
  const worst = { loss: 0, info: 0, grads: 0, params: 0, actions: 0 };

  close([metrics['loss']!], [gold.loss], 'loss');
  worst.loss = relErr([metrics['loss']!], [gold.loss]);
  assert.deepEqual(
    Object.keys(gold.info).sort(),
    Object.keys(metrics)
      .filter((k) => k !== 'loss')
      .sort(),
    'we report exactly the reference figures',
  );
  for (const [k, v] of Object.entries(gold.info)) {
    close([metrics[k]!], [v], k);
    worst.info = Math.max(worst.info, relErr([metrics[k]!], [v]));
  }
  const goldGrads = mapGciql(gold.grads);
  const ourGrads = step.layouts.params.unflatten(runner.lastGradients.get('params_grad')!);
  for (const [name, gv] of goldGrads) {
    const ours = ourGrads.get(name);
    if (name.startsWith('target_')) {
      assert.equal(ours, undefined, `target parameter ${name} must not be trained`);
      assert.ok(
        gv.every((x) => x === 0),
        `reference gives ${name} a gradient`,
      );
      continue;
    }
    assert.ok(ours, `no gradient output for ${name}`);
    // As golden.test.ts: per tensor to 1e-5 in norm; per element to 1e-4 of the element plus 1e-5 of
    // the tensor's largest entry (float32 batch sums reorder rounding).
    worst.grads = Math.max(worst.grads, closeNorm(ours, gv, `grad ${name}`, 1e-5));
    close(ours, gv, `grad ${name}`, 1e-4, 1e-5 * Math.max(...gv.map(Math.abs)));
  }
  const after = mapGciql(gold.params_after_one_update);
  const oursAfter = step.fromState(await runner.snapshot());
  for (const [name, v] of after) {
    close(oursAfter.get(name)!, v, `updated ${name}`, 1e-5, 1e-7);
    worst.params = Math.max(worst.params, closeNorm(oursAfter.get(name)!, v, `updated ${name}`, 1e-5));
  }
  await runner.release();

  // Deterministic actions for the batch's observations and actor goals.
  const session = await createSession(buildPolicyGraph('gciql', c, dims, params).toBytes(), { executionProviders: [EP] });
  const res = await session.run({
    observation: new ort.Tensor('float32', Float32Array.from(gold.batch['observations']!.data), [B, 2]),
    goal: new ort.Tensor('float32', Float32Array.from(gold.batch['actor_goals']!.data), [B, 2]),
  });
  await session.release();
  const actions = res['action']!.data as Float32Array;
  close(actions, gold.actions_temperature0.data, 'actions', 1e-5, 1e-7);
  // Per tensor (an element-wise relative error is dominated by the smallest action, about 1e-3).
  worst.actions = closeNorm(actions, gold.actions_temperature0.data, 'actions', 1e-5);
  console.log(`gciql golden, worst relative errors (grads, params: per-tensor norm): ${JSON.stringify(worst)}`);
});

test('gciql: the value graph gives the reference value statistics on (observations, value goals)', async () => {
  const session = await createSession(buildValueGraph('gciql', c, dims, mapGciql(gold.params)).toBytes(), { threads: 1 });
  const out = await session.run({
    observation: new ort.Tensor('float32', Float32Array.from(gold.batch['observations']!.data), [B, 2]),
    goal: new ort.Tensor('float32', Float32Array.from(gold.batch['value_goals']!.data), [B, 2]),
  });
  await session.release();
  const v = Array.from(out['value']!.data as Float32Array);
  close(
    [v.reduce((a, b) => a + b, 0) / B, Math.max(...v), Math.min(...v)],
    [gold.info['value/v_mean']!, gold.info['value/v_max']!, gold.info['value/v_min']!],
    'value mean, max, min',
  );
});

test(`gciql (${EP}), 4 seeds in one graph: seeds given the reference's inputs reproduce it, others their one-seed step`, async () => {
  const one = buildAgentStep('gciql', c, dims, { outputGradients: true });
  const four = buildAgentStep('gciql', c, dims, { outputGradients: true, seeds: 4 });
  const goldParams = mapGciql(gold.params);
  const batch = goldBatch(one.batchKeys);
  // Seeds 1 and 3: other parameters (fresh initialisations) and the batch's rows in another order.
  const other = (seed: number) => {
    const p = initAgentParams(one, seed);
    const order = [...Array(B).keys()].map((i) => (i * 7 + seed) % B);
    const b: Record<string, Float32Array> = {};
    for (const [k, v] of Object.entries(batch)) {
      const w = v.length / B;
      b[k] = Float32Array.from(order.flatMap((i) => Array.from(v.subarray(i * w, (i + 1) * w))));
    }
    return { params: p, batch: b };
  };
  const seeds = [{ params: goldParams, batch }, other(11), { params: goldParams, batch }, other(13)];
  const named = new Map(seeds.flatMap((s, k) => [...s.params].map(([n, v]) => [seedParamName(k, n), v] as const)));
  const runner = await StepRunner.create(four.spec, four.toState(named), runnerOptions);
  await runner.step(batchFeeds(four.batchKeys, concatSeedBatches(seeds.map((s) => s.batch)), dims, B, 4));
  const grads = runner.lastGradients.get('params_grad')!;
  const P = four.layouts.params.size;
  const after = four.fromState(await runner.snapshot());
  const worst = { loss: 0, info: 0, grads: 0, params: 0 };
  for (const [k, s] of seeds.entries()) {
    const seedGrads = four.layouts.params.unflatten(grads.slice(k * P, (k + 1) * P));
    const seedAfter = paramsOfSeed(after, k);
    if (k % 2 === 0) {
      close([runner.lastMetrics['loss']![k]!], [gold.loss], `seed ${k} loss`);
      worst.loss = Math.max(worst.loss, relErr([runner.lastMetrics['loss']![k]!], [gold.loss]));
      for (const [m, v] of Object.entries(gold.info)) {
        close([runner.lastMetrics[m]![k]!], [v], `seed ${k} ${m}`);
        worst.info = Math.max(worst.info, relErr([runner.lastMetrics[m]![k]!], [v]));
      }
      for (const [name, gv] of mapGciql(gold.grads)) {
        if (name.startsWith('target_')) continue;
        worst.grads = Math.max(worst.grads, closeNorm(seedGrads.get(name)!, gv, `seed ${k} grad ${name}`, 1e-5));
      }
      for (const [name, v] of mapGciql(gold.params_after_one_update)) {
        close(seedAfter.get(name)!, v, `seed ${k} updated ${name}`, 1e-5, 1e-7);
        worst.params = Math.max(worst.params, closeNorm(seedAfter.get(name)!, v, `seed ${k} updated ${name}`, 1e-5));
      }
    } else {
      const single = await StepRunner.create(one.spec, one.toState(s.params), runnerOptions);
      const m = await single.step(batchFeeds(one.batchKeys, s.batch, dims, B));
      close([runner.lastMetrics['loss']![k]!], [m['loss']!], `seed ${k} loss against its one-seed step`);
      const singleGrads = one.layouts.params.unflatten(single.lastGradients.get('params_grad')!);
      for (const [name, gv] of singleGrads) closeNorm(seedGrads.get(name)!, gv, `seed ${k} grad ${name}`, 1e-5);
      for (const [name, v] of one.fromState(await single.snapshot()))
        close(seedAfter.get(name)!, v, `seed ${k} updated ${name}`, 1e-5, 1e-7);
      await single.release();
    }
  }
  await runner.release();
  console.log(`gciql golden, 4 seeds, worst relative errors of the reference seeds: ${JSON.stringify(worst)}`);
});

test('gciql, AWR actor: value and critic get the reference gradients (the actor loss reads them without gradient)', async () => {
  // The value and critic losses do not depend on the actor loss, so their gradients are DDPG+BC's.
  const awr = { ...(c as object), actorLoss: 'awr' } as never;
  const step = buildAgentStep('gciql', awr, dims, { outputGradients: true });
  const runner = await StepRunner.create(step.spec, step.toState(mapGciql(gold.params)), runnerOptions);
  const m = await runner.step(batchFeeds(step.batchKeys, goldBatch(step.batchKeys), dims, B));
  for (const k of Object.keys(gold.info).filter((x) => !x.startsWith('actor/'))) close([m[k]!], [gold.info[k]!], k);
  const ours = step.layouts.params.unflatten(runner.lastGradients.get('params_grad')!);
  let checked = 0;
  for (const [name, gv] of mapGciql(gold.grads)) {
    if (!name.startsWith('value/') && !name.startsWith('critic/')) continue;
    closeNorm(ours.get(name)!, gv, `AWR grad ${name}`, 1e-5);
    checked++;
  }
  assert.equal(checked, 14 + 2 * 14);
  await runner.release();
});
