// Golden parity of GCIQL with the authors' implementation (OGBench impls/agents/gciql.py, JAX): the
// fixture holds parameters, one batch, and what the reference computed from them (loss, per-part
// figures, gradients, one Adam step + target EMA, deterministic actions). test/fixtures/README.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StepRunner } from '../../onnx/index.ts';
import {
  EP,
  batchOf,
  checkFourSeeds,
  checkOneStep,
  close,
  closeNorm,
  configFor,
  dimsOf,
  load,
  runnerOptions,
  valueStats,
} from './golden.ts';
import type { Arr, GoldenCase } from './golden.ts';
import { batchFeeds } from '../../train/batch.ts';
import { buildAgentStep } from '../../train/step.ts';

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
const dims = dimsOf(gold);
const B = gold.batch['observations']!.shape[0]!;
const gciql: GoldenCase = { agent: 'gciql', gold, config: c, map: mapGciql };

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

test(`gciql (${EP}): loss, per-part figures, gradients, one update and actions equal the reference`, (t) => checkOneStep(t, gciql));

test('gciql: the value graph gives the reference value statistics on (observations, value goals)', async () => {
  const info = gold.info;
  close(await valueStats(gciql), [info['value/v_mean']!, info['value/v_max']!, info['value/v_min']!], 'value mean, max, min');
});

test(`gciql (${EP}), 4 seeds in one graph: seeds given the reference's inputs reproduce it, others their one-seed step`, (t) =>
  checkFourSeeds(t, gciql));

test('gciql, AWR actor: value and critic get the reference gradients (the actor loss reads them without gradient)', async () => {
  // The value and critic losses do not depend on the actor loss, so their gradients are DDPG+BC's.
  const awr = { ...(c as object), actorLoss: 'awr' } as never;
  const step = buildAgentStep('gciql', awr, dims, { outputGradients: true });
  const runner = await StepRunner.create(step.spec, step.toState(mapGciql(gold.params)), runnerOptions);
  const m = await runner.step(batchFeeds(step.batchKeys, batchOf(gold, step.batchKeys), dims, B));
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
