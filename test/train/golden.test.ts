// Golden parity with the authors' implementation (OGBench, JAX): the fixtures hold parameters, one
// batch, and what the reference computed from them. Our agents must reproduce every figure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StepRunner, createSession, ort } from '../../onnx/index.ts';
import type { AgentName } from '../../train/agents/index.ts';
import { BATCH_KEY, EP, close, closeNorm, configFor, load, mapParams, runnerOptions } from './golden.ts';
import { batchFeeds, concatSeedBatches } from '../../train/batch.ts';
import { buildAgentStep, initAgentParams, paramsOfSeed, seedParamName } from '../../train/step.ts';
import { buildPolicyGraph, buildValueGraph } from '../../train/graphs.ts';

for (const agent of ['hiql', 'gcivl', 'gcbc'] as AgentName[]) {
  test(`${agent} (${EP}): loss, per-part figures, gradients, one update and actions equal the reference`, async () => {
    const gold = load(agent);
    const c = configFor(agent, gold);
    const dims = { obsDim: 2, actionDim: 2 };
    const step = buildAgentStep(agent, c, dims, { outputGradients: true });
    const params = mapParams(gold.params);
    const ours = new Set(step.params.map((p) => p.name));
    assert.deepEqual([...params.keys()].sort(), [...ours].sort(), 'parameter sets differ');
    const runner = await StepRunner.create(step.spec, step.toState(params), runnerOptions);
    const arrays: Record<string, Float32Array> = {};
    for (const k of step.batchKeys) arrays[k] = Float32Array.from(gold.batch[BATCH_KEY[k]!]!.data);
    const metrics = await runner.step(batchFeeds(step.batchKeys, arrays, dims, c['batchSize' as never]));

    close([metrics['loss']!], [gold.loss], 'loss');
    for (const [k, v] of Object.entries(gold.info)) {
      assert.ok(k in metrics, `we report no '${k}'`);
      close([metrics[k]!], [v], k);
    }
    const goldGrads = mapParams(gold.grads);
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
      // Per tensor to 1e-5 in norm; per element to 1e-4 of the element plus 1e-5 of the tensor's
      // largest entry (batch sums in float32 reorder rounding, which shows on entries that cancel).
      closeNorm(ours, gv, `grad ${name}`, 1e-5);
      close(ours, gv, `grad ${name}`, 1e-4, 1e-5 * Math.max(...gv.map(Math.abs)));
    }
    const after = mapParams(gold.params_after_one_update);
    const oursAfter = step.fromState(await runner.snapshot());
    for (const [name, v] of after) close(oursAfter.get(name)!, v, `updated ${name}`, 1e-5, 1e-7);

    // Deterministic actions for the batch's observations and (high-)actor goals.
    const pg = buildPolicyGraph(agent, c, dims, params);
    const session = await createSession(pg.toBytes(), { executionProviders: [EP] });
    const goalKey = agent === 'hiql' ? 'high_actor_goals' : 'actor_goals';
    const n = gold.batch['observations']!.shape[0]!;
    const res = await session.run({
      observation: new ort.Tensor('float32', Float32Array.from(gold.batch['observations']!.data), [n, 2]),
      goal: new ort.Tensor('float32', Float32Array.from(gold.batch[goalKey]!.data), [n, 2]),
    });
    close(res['action']!.data as Float32Array, gold.actions_temperature0.data, 'actions', 1e-5, 1e-7);
  });
}

for (const agent of ['hiql', 'gcivl'] as const) {
  test(`${agent}: the value graph (bench/value-quality.ts) gives the reference's value statistics`, async () => {
    // OGBench reports v = (v1 + v2) / 2 of the online value on (observations, value_goals).
    const gold = load(agent);
    const c = configFor(agent, gold);
    const session = await createSession(buildValueGraph(agent, c, { obsDim: 2, actionDim: 2 }, mapParams(gold.params)).toBytes(), {
      threads: 1,
    });
    const n = gold.batch['observations']!.shape[0]!;
    const out = await session.run({
      observation: new ort.Tensor('float32', Float32Array.from(gold.batch['observations']!.data), [n, 2]),
      goal: new ort.Tensor('float32', Float32Array.from(gold.batch['value_goals']!.data), [n, 2]),
    });
    await session.release();
    const v = Array.from(out['value']!.data as Float32Array);
    close(
      [v.reduce((a, b) => a + b, 0) / n, Math.max(...v), Math.min(...v)],
      [gold.info['value/v_mean']!, gold.info['value/v_max']!, gold.info['value/v_min']!],
      'value mean, max, min',
    );
  });
}

for (const agent of ['hiql', 'gcivl', 'gcbc'] as AgentName[]) {
  test(`${agent} (${EP}), 4 seeds in one graph: seeds given the reference's inputs reproduce it, others their one-seed step`, async () => {
    const gold = load(agent);
    const c = configFor(agent, gold);
    const dims = { obsDim: 2, actionDim: 2 };
    const B = c['batchSize' as never] as number;
    const one = buildAgentStep(agent, c, dims, { outputGradients: true });
    const four = buildAgentStep(agent, c, dims, { outputGradients: true, seeds: 4 });
    const goldParams = mapParams(gold.params);
    const goldBatch: Record<string, Float32Array> = {};
    for (const k of one.batchKeys) goldBatch[k] = Float32Array.from(gold.batch[BATCH_KEY[k]!]!.data);
    // Seeds 1 and 3: other parameters (fresh initialisations) and the batch's rows in another order.
    const other = (seed: number) => {
      const p = initAgentParams(one, seed);
      const order = [...Array(B).keys()].map((i) => (i * 7 + seed) % B);
      const b: Record<string, Float32Array> = {};
      for (const [k, v] of Object.entries(goldBatch)) {
        const w = v.length / B;
        b[k] = Float32Array.from(order.flatMap((i) => Array.from(v.subarray(i * w, (i + 1) * w))));
      }
      return { params: p, batch: b };
    };
    const seeds = [{ params: goldParams, batch: goldBatch }, other(11), { params: goldParams, batch: goldBatch }, other(13)];
    const named = new Map(seeds.flatMap((s, k) => [...s.params].map(([n, v]) => [seedParamName(k, n), v] as const)));
    const runner = await StepRunner.create(four.spec, four.toState(named), runnerOptions);
    await runner.step(batchFeeds(four.batchKeys, concatSeedBatches(seeds.map((s) => s.batch)), dims, B, 4));
    const grads = runner.lastGradients.get('params_grad')!;
    const P = four.layouts.params.size;
    const after = four.fromState(await runner.snapshot());
    for (const [k, s] of seeds.entries()) {
      const seedGrads = four.layouts.params.unflatten(grads.slice(k * P, (k + 1) * P));
      const seedAfter = paramsOfSeed(after, k);
      if (k % 2 === 0) {
        close([runner.lastMetrics['loss']![k]!], [gold.loss], `seed ${k} loss`);
        for (const [m, v] of Object.entries(gold.info)) close([runner.lastMetrics[m]![k]!], [v], `seed ${k} ${m}`);
        for (const [name, gv] of mapParams(gold.grads)) {
          if (name.startsWith('target_')) continue;
          closeNorm(seedGrads.get(name)!, gv, `seed ${k} grad ${name}`, 1e-5);
        }
        for (const [name, v] of mapParams(gold.params_after_one_update))
          close(seedAfter.get(name)!, v, `seed ${k} updated ${name}`, 1e-5, 1e-7);
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
  });
}
