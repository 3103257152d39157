// Golden parity of CRL with the authors' implementation (OGBench impls/agents/crl.py, JAX): the
// fixture holds parameters, one batch, and what the reference computed from them (the contrastive
// critic's loss and figures, the DDPG+BC actor's, every gradient, one Adam step, the actions).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StepRunner, createSession, ort } from '../../onnx/index.ts';
import { CRL_DEFAULTS, type CrlConfig } from '../../train/agents/crl.ts';
import { batchFeeds, concatSeedBatches } from '../../train/batch.ts';
import { buildAgentStep, initAgentParams, paramsOfSeed, seedParamName } from '../../train/step.ts';
import { buildPolicyGraph } from '../../train/graphs.ts';
import { BATCH_KEY, EP, camel, close, closeNorm, configFor, load, runnerOptions, type Arr, type Golden } from './golden.ts';

const dims = { obsDim: 2, actionDim: 2 };

/**
 * flax paths -> our parameter names. The critic's ensemble (phi and psi, each vmapped over 2
 * members, stacked on axis 0) becomes `critic/{phi,psi}/{member}/mlp/{layer}/...`; OGBench's MLP
 * has LayerNorm_k right after Dense_k, which is our `mlp/k/ln`. The actor is `actor/mlp/k` and
 * `actor/mean`.
 */
function mapCrlParams(flax: Record<string, Arr>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [path, arr] of Object.entries(flax)) {
    const critic = /^modules_critic\/(phi|psi)\/(Dense|LayerNorm)_(\d+)\/(kernel|bias|scale)$/.exec(path);
    const actor = /^modules_actor\/(?:actor_net\/Dense_(\d+)|mean_net)\/(kernel|bias)$/.exec(path);
    if (critic) {
      const [, net, kind, idx, leaf] = critic;
      const per = arr.data.length / 2;
      assert.equal(arr.shape[0], 2, `${path}: ensemble of 2 on axis 0`);
      const local = kind === 'LayerNorm' ? `mlp/${idx}/ln/${leaf}` : `mlp/${idx}/${leaf}`;
      for (let e = 0; e < 2; e++) out.set(`critic/${net}/${e}/${local}`, Float32Array.from(arr.data.slice(e * per, (e + 1) * per)));
    } else if (actor) {
      const [, idx, leaf] = actor;
      out.set(idx === undefined ? `actor/mean/${leaf}` : `actor/mlp/${idx}/${leaf}`, Float32Array.from(arr.data));
    } else assert.fail(`unexpected fixture parameter ${path}`);
  }
  return out;
}

/** Our config for the fixture's: its sizes, alpha 0.03 (PointMaze) and latent_dim 64. */
function crlConfig(gold: Golden): CrlConfig {
  return { ...(configFor('crl', gold) as CrlConfig), latentDim: gold.config['latent_dim'] as number };
}

const batchOf = (gold: Golden, keys: readonly string[]) => {
  const arrays: Record<string, Float32Array> = {};
  for (const k of keys) arrays[k] = Float32Array.from(gold.batch[BATCH_KEY[k]!]!.data);
  return arrays;
};

test("crl: the fixture's resolved config is our defaults with its sizes, alpha and latent_dim", () => {
  const gold = load('crl');
  const gc = gold.config;
  // What this implementation covers: DDPG+BC with constant std, continuous actions, states.
  assert.equal(gc['actor_loss'], 'ddpgbc');
  assert.equal(gc['const_std'], true);
  assert.equal(gc['discrete'], false);
  assert.equal(gc['encoder'], null);
  const c = crlConfig(gold) as unknown as Record<string, unknown>;
  let compared = 0;
  for (const [k, v] of Object.entries(gc)) {
    if (!(camel(k) in CRL_DEFAULTS)) continue;
    assert.deepEqual(c[camel(k)], v, k);
    compared++;
  }
  assert.ok(compared >= 16, `compared ${compared} keys`);
});

test(`crl (${EP}): loss, per-part figures, gradients, one update and actions equal the reference`, async () => {
  const gold = load('crl');
  const c = crlConfig(gold);
  const step = buildAgentStep('crl', c, dims, { outputGradients: true });
  const params = mapCrlParams(gold.params);
  assert.deepEqual([...params.keys()].sort(), step.params.map((p) => p.name).sort(), 'parameter sets differ');
  assert.equal(step.layouts.target_params.size, 0, 'CRL has no target network');
  const runner = await StepRunner.create(step.spec, step.toState(params), runnerOptions);
  const metrics = await runner.step(batchFeeds(step.batchKeys, batchOf(gold, step.batchKeys), dims, c.batchSize));

  close([metrics['loss']!], [gold.loss], 'loss');
  for (const [k, v] of Object.entries(gold.info)) {
    assert.ok(k in metrics, `we report no '${k}'`);
    close([metrics[k]!], [v], k);
  }
  const ourGrads = step.layouts.params.unflatten(runner.lastGradients.get('params_grad')!);
  for (const [name, gv] of mapCrlParams(gold.grads)) {
    const ours = ourGrads.get(name);
    assert.ok(ours, `no gradient output for ${name}`);
    // As golden.test.ts: per tensor to 1e-5 in norm, per element to 1e-4 plus 1e-5 of the largest entry.
    closeNorm(ours, gv, `grad ${name}`, 1e-5);
    close(ours, gv, `grad ${name}`, 1e-4, 1e-5 * Math.max(...gv.map(Math.abs)));
  }
  const oursAfter = step.fromState(await runner.snapshot());
  for (const [name, v] of mapCrlParams(gold.params_after_one_update)) close(oursAfter.get(name)!, v, `updated ${name}`, 1e-5, 1e-7);
  await runner.release();

  // Deterministic actions for the batch's observations and actor goals.
  const session = await createSession(buildPolicyGraph('crl', c, dims, params).toBytes(), { executionProviders: [EP] });
  const n = gold.batch['observations']!.shape[0]!;
  const res = await session.run({
    observation: new ort.Tensor('float32', Float32Array.from(gold.batch['observations']!.data), [n, 2]),
    goal: new ort.Tensor('float32', Float32Array.from(gold.batch['actor_goals']!.data), [n, 2]),
  });
  await session.release();
  close(res['action']!.data as Float32Array, gold.actions_temperature0.data, 'actions', 1e-5, 1e-7);
});

test(`crl (${EP}), 4 seeds in one graph: seeds given the reference's inputs reproduce it, others their one-seed step`, async () => {
  const gold = load('crl');
  const c = crlConfig(gold);
  const B = c.batchSize;
  const one = buildAgentStep('crl', c, dims, { outputGradients: true });
  const four = buildAgentStep('crl', c, dims, { outputGradients: true, seeds: 4 });
  const goldParams = mapCrlParams(gold.params);
  const goldBatch = batchOf(gold, one.batchKeys);
  // Seeds 1 and 3: fresh initialisations and the batch's rows in another order (which permutes the
  // contrastive pairs too: each row keeps its own positive).
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
      for (const [name, gv] of mapCrlParams(gold.grads)) closeNorm(seedGrads.get(name)!, gv, `seed ${k} grad ${name}`, 1e-5);
      for (const [name, v] of mapCrlParams(gold.params_after_one_update))
        close(seedAfter.get(name)!, v, `seed ${k} updated ${name}`, 1e-5, 1e-7);
    } else {
      const single = await StepRunner.create(one.spec, one.toState(s.params), runnerOptions);
      const m = await single.step(batchFeeds(one.batchKeys, s.batch, dims, B));
      close([runner.lastMetrics['loss']![k]!], [m['loss']!], `seed ${k} loss against its one-seed step`);
      for (const [name, v] of Object.entries(m)) close([runner.lastMetrics[name]![k]!], [v], `seed ${k} ${name} against its one-seed step`);
      const singleGrads = one.layouts.params.unflatten(single.lastGradients.get('params_grad')!);
      for (const [name, gv] of singleGrads) closeNorm(seedGrads.get(name)!, gv, `seed ${k} grad ${name}`, 1e-5);
      for (const [name, v] of one.fromState(await single.snapshot()))
        close(seedAfter.get(name)!, v, `seed ${k} updated ${name}`, 1e-5, 1e-7);
      await single.release();
    }
  }
  await runner.release();
});
