// Golden parity of QRL with the authors' implementation (OGBench impls/agents/qrl.py, JAX): the
// fixture holds parameters, one batch and what the reference computed from them (test/fixtures/README.md).
// Also the IQE distance on its own: against a direct computation of interval-union lengths, and its
// gradient against finite differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, createSession, ort } from '../../onnx/index.ts';
import { AGENTS } from '../../train/agents/index.ts';
import { QRL_DEFAULTS, iqeDistance } from '../../train/agents/qrl.ts';
import { resolveConfig } from '../../train/config.ts';
import { ConstParams, InputParams } from '../../train/networks.ts';
import {
  EP,
  camel,
  checkFourSeeds,
  checkOneStep,
  close,
  configFor,
  load,
  valueStats,
  type Arr,
  type Golden,
  type GoldenCase,
} from './golden.ts';
import { gradCheck } from '../onnx/gradcheck.ts';

/** Flax paths of the QRL fixture -> our parameter names (train/agents/qrl.ts). */
function mapQrlParams(flax: Record<string, Arr>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [path, arr] of Object.entries(flax)) {
    let name: string | undefined;
    if (path === 'modules_value/alpha/value') name = 'value/alpha';
    else if (path === 'modules_lam/log_value') name = 'lam/log_value';
    else if (path === 'modules_actor/mean_net/kernel' || path === 'modules_actor/mean_net/bias')
      name = `actor/mean/${path.split('/').pop()}`;
    else {
      const m = /^modules_(value\/phi|dynamics|actor\/actor_net)\/(Dense|LayerNorm)_(\d+)\/(kernel|bias|scale)$/.exec(path);
      assert.ok(m, `unexpected fixture parameter ${path}`);
      const [, module, kind, idx, leaf] = m;
      const prefix = module === 'actor/actor_net' ? 'actor' : module;
      name = kind === 'LayerNorm' ? `${prefix}/mlp/${idx}/ln/${leaf}` : `${prefix}/mlp/${idx}/${leaf}`;
    }
    out.set(name, Float32Array.from(arr.data));
  }
  return out;
}

/** Our config for the fixture: its sizes (configFor) and QRL's own keys. */
function qrlConfigFor(gold: Golden) {
  const c = configFor('qrl', gold) as Record<string, unknown>;
  c['latentDim'] = gold.config['latent_dim'];
  c['eps'] = gold.config['eps'];
  return c as never;
}

const qrl = (): GoldenCase => {
  const gold = load('qrl');
  return { agent: 'qrl', gold, config: qrlConfigFor(gold), map: mapQrlParams };
};

test('qrl: the defaults are the reference config; the PointMaze preset sets its alpha', () => {
  const gold = load('qrl');
  // Sizes are the fixture's own (hidden 32, latent 64, batch 16); alpha is PointMaze's.
  const sized = new Set(['batch_size', 'actor_hidden_dims', 'value_hidden_dims', 'latent_dim', 'alpha']);
  const d = QRL_DEFAULTS as Record<string, unknown>;
  for (const [k, v] of Object.entries(gold.config)) {
    if (sized.has(k) || !(camel(k) in d)) continue;
    assert.deepEqual(d[camel(k)], v, `default ${camel(k)}`);
  }
  // What we do not implement is what the reference's config does not choose.
  assert.equal(gold.config['quasimetric_type'], 'iqe');
  assert.equal(gold.config['actor_loss'], 'ddpgbc');
  assert.equal(gold.config['const_std'], true);
  assert.equal(gold.config['discrete'], false);
  assert.equal(gold.config['encoder'], null);
  assert.deepEqual([d['latentDim'], d['alpha'], d['batchSize']], [512, 0.003, 1024]);
  const pm = resolveConfig({ agent: 'qrl', preset: 'ogbench', env: 'pointmaze-medium-navigate', dataset: 'x' }).agentConfig;
  assert.equal((pm as { alpha: number }).alpha, gold.config['alpha']);
  const giant = resolveConfig({ agent: 'qrl', preset: 'quick', env: 'pointmaze-giant-stitch', dataset: 'x' }).agentConfig as Record<
    string,
    unknown
  >;
  assert.deepEqual([giant['discount'], giant['actorPRandomgoal'], giant['actorPTrajgoal']], [0.995, 0.5, 0.5]);
  assert.deepEqual(giant['valueHiddenDims'], [256, 256, 256]);
  assert.throws(
    () => resolveConfig({ agent: 'qrl', env: 'e', dataset: 'x', overrides: { latentDim: 60 } }),
    /latentDim must be a positive multiple of 8/,
  );
  assert.equal(AGENTS.qrl.targetUpdate(pm as never), null, 'QRL has no target network');
});

test(`qrl (${EP}): loss, per-part figures, gradients, one update and actions equal the reference`, (t) => checkOneStep(t, qrl()));

test('qrl: the value graph is -d(s, g), the reference d_neg statistics on (observations, value_goals)', async () => {
  const g = qrl();
  const info = g.gold.info;
  close(
    await valueStats(g, (v) => -v),
    [info['value/d_neg_mean']!, info['value/d_neg_max']!, info['value/d_neg_min']!],
    'distance mean, max, min',
  );
});

test(`qrl (${EP}), 4 seeds in one graph: seeds given the reference's inputs reproduce it, others their one-seed step`, (t) =>
  checkFourSeeds(t, qrl()));

/** The IQE distance written out: per component, the length of the union of the intervals [x_i, y_i) with x_i < y_i. */
function iqeByHand(x: number[], y: number[], alpha: number): number {
  const comps: number[] = [];
  for (let c = 0; c < x.length / 8; c++) {
    const iv = [...Array(8).keys()]
      .map((i) => [x[8 * c + i]!, y[8 * c + i]!] as const)
      .filter(([a, b]) => a < b)
      .sort((p, q) => p[0] - q[0]);
    let total = 0;
    let [lo, hi] = [-Infinity, -Infinity];
    for (const [a, b] of iv) {
      if (a > hi) {
        if (hi > lo) total += hi - lo;
        [lo, hi] = [a, b];
      } else hi = Math.max(hi, b);
    }
    if (hi > lo) total += hi - lo;
    comps.push(total);
  }
  const sig = 1 / (1 + Math.exp(-alpha));
  return sig * (comps.reduce((a, b) => a + b, 0) / comps.length) + (1 - sig) * Math.max(...comps);
}

test('IQE distance: the mean and max of interval-union lengths per component, as written out by hand', async () => {
  const g = new Graph('iqe');
  const x = g.input('x', 'float64', [5, 24]);
  const y = g.input('y', 'float64', [5, 24]);
  const alpha = 0.3;
  const P = new ConstParams(g, new Map([['value/alpha', Float32Array.from([alpha])]]));
  // The parameter is float32; the distance here is float64.
  const Pf64 = { get: (n: string, shape: number[]) => g.cast(P.get(n, shape), 'float64') };
  g.output(iqeDistance(g, Pf64, x, y), 'd');
  const s = await createSession(g.toBytes(), { threads: 1 });
  // Overlapping, nested, empty (x >= y) and touching intervals.
  let seed = 7;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 4 - 2;
  const xs = Array.from({ length: 120 }, rand);
  const ys = xs.map((v, i) => (i % 11 === 0 ? v : i % 5 === 0 ? v - 0.5 : v + Math.abs(rand())));
  const r = await s.run({
    x: new ort.Tensor('float64', Float64Array.from(xs), [5, 24]),
    y: new ort.Tensor('float64', Float64Array.from(ys), [5, 24]),
  });
  await s.release();
  const want = [...Array(5).keys()].map((b) => iqeByHand(xs.slice(24 * b, 24 * b + 24), ys.slice(24 * b, 24 * b + 24), Math.fround(alpha)));
  close(Array.from(r['d']!.data as Float64Array), want, 'IQE distances', 1e-12, 1e-12);
  // Asymmetric: d(x, y) is not d(y, x) in general, and d(x, x) = 0.
  assert.ok(want.some((v, b) => Math.abs(v - iqeByHand(ys.slice(24 * b, 24 * b + 24), xs.slice(24 * b, 24 * b + 24), alpha)) > 1e-3));
  assert.equal(iqeByHand(xs.slice(0, 24), xs.slice(0, 24), alpha), 0);
});

test('IQE distance: gradient with respect to both latents and alpha against finite differences (float64)', async () => {
  await gradCheck('iqe', {
    inputs: [
      { name: 'x', shape: [3, 16], lo: -2, hi: 2 },
      { name: 'y', shape: [3, 16], lo: -2, hi: 2 },
      { name: 'alpha', shape: [] },
    ],
    build: (g, t) => iqeDistance(g, { get: () => t['alpha']! }, t['x']!, t['y']!),
  });
  // And the parameter views as the training graph asks for them (rank-0 alpha).
  const g = new Graph('probe');
  const P = new InputParams(g);
  iqeDistance(g, P, g.input('x', 'float32', [2, 8]), g.input('y', 'float32', [2, 8]));
  assert.deepEqual(
    [...P.specs.values()].map((s) => [s.name, s.shape]),
    [['value/alpha', []]],
  );
});
