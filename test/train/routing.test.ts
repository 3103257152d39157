// Gradient routing in HIQL: phi is trained by the value loss only (and by the low actor when
// lowActorRepGrad is on); the target heads get no gradient; the target update is the EMA of the
// pre-update parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, StepRunner, createSession, gradients, ort } from '../../onnx/index.ts';
import { HIQL_BATCH, HIQL_DEFAULTS, hiqlLoss, type HiqlBatch } from '../../train/agents/hiql.ts';
import { batchFeeds, batchInputs, batchKeys, batchShape } from '../../train/batch.ts';
import { buildAgentStep, initAgentParams } from '../../train/step.ts';
import { InputParams, initParams } from '../../train/networks.ts';

const B = 8;
const dims = { obsDim: 2, actionDim: 2 };
const small = { ...HIQL_DEFAULTS, batchSize: B, actorHiddenDims: [8, 8], valueHiddenDims: [8, 8], repDim: 3 };
const HIQL_BATCH_KEYS = batchKeys(HIQL_BATCH, false);

function batchArrays(seed: number): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  let s = seed;
  for (const k of HIQL_BATCH_KEYS) {
    const n = batchShape(k, dims, B).reduce((a, b) => a * b, 1);
    out[k] = Float32Array.from({ length: n }, () => ((s = (s * 16807) % 2147483647) / 2147483647) * 6 - 3);
  }
  out['rewards'] = out['rewards']!.map(() => -1);
  out['masks'] = out['masks']!.map(() => 1);
  return out;
}

/** Max |d part / d param| over each parameter group, for each loss part. */
async function gradNorms(lowActorRepGrad: boolean) {
  const c = { ...small, lowActorRepGrad };
  const g = new Graph('routing');
  const batch = batchInputs(g, HIQL_BATCH_KEYS, dims, B) as HiqlBatch;
  const P = new InputParams(g);
  const { metrics } = hiqlLoss(g, P, batch, c);
  const params = [...P.tensors.values()];
  const parts = { value: metrics['value/value_loss']!, low: metrics['low_actor/actor_loss']!, high: metrics['high_actor/actor_loss']! };
  const outNames: Record<string, string[]> = {};
  for (const [part, loss] of Object.entries(parts)) {
    outNames[part] = gradients(g, loss, params).map((t, i) => g.output(g.identity(t), `${part}:${params[i]!.name}`).name);
  }
  const values = initParams(P.specs.values(), 3);
  const session = await createSession(g.toBytes(), { threads: 1 });
  const feeds: Record<string, ort.Tensor> = {};
  for (const p of params) feeds[p.name] = new ort.Tensor('float32', values.get(p.name)!, p.shape as number[]);
  const arrays = batchArrays(5);
  for (const k of HIQL_BATCH_KEYS) feeds[k] = new ort.Tensor('float32', arrays[k]!, batchShape(k, dims, B));
  const out = await session.run(feeds);
  const norms: Record<string, Record<string, number>> = {};
  for (const part of Object.keys(parts)) {
    norms[part] = {};
    params.forEach((p, i) => {
      const group = p.name.split('/')[0]!;
      const v = out[outNames[part]![i]!]!.data as Float32Array;
      norms[part]![group] = Math.max(norms[part]![group] ?? 0, ...Array.from(v, Math.abs));
    });
  }
  return norms;
}

test('phi gets gradient from the value loss only; actors only from their own losses; targets from none', async () => {
  const n = await gradNorms(false);
  assert.ok(n['value']!['phi']! > 0, 'value loss trains phi');
  assert.ok(n['value']!['value']! > 0, 'value loss trains the value heads');
  assert.equal(n['low']!['phi'], 0, 'low actor must not train phi when lowActorRepGrad is off');
  assert.equal(n['high']!['phi'], 0, 'high actor never trains phi');
  for (const part of ['value', 'low', 'high']) assert.equal(n[part]!['target_value'], 0, `${part} must not train the target heads`);
  assert.equal(n['low']!['value'], 0, 'actor advantages use the value without gradient');
  assert.equal(n['high']!['value'], 0);
  assert.ok(n['low']!['low_actor']! > 0 && n['low']!['high_actor'] === 0);
  assert.ok(n['high']!['high_actor']! > 0 && n['high']!['low_actor'] === 0);
  assert.equal(n['value']!['low_actor'], 0);
});

test('with lowActorRepGrad the low actor loss also trains phi', async () => {
  const n = await gradNorms(true);
  assert.ok(n['low']!['phi']! > 0);
  assert.equal(n['high']!['phi'], 0);
});

test('targets are not optimised; the target update is the EMA of the pre-update online heads', async () => {
  const step = buildAgentStep('hiql', small, dims);
  assert.ok(!step.spec.state.some((s) => s.name.startsWith('opt/m/target_')), 'no Adam slots for target heads');
  const named = initAgentParams(step, 9);
  for (const [k, v] of named)
    if (k.startsWith('target_')) assert.deepEqual(v, named.get(k.replace('target_value', 'value')), 'targets start as copies');
  for (const [k, v] of named) if (k.startsWith('target_')) v.forEach((x, i) => (v[i] = x + 0.1 * Math.cos(i)));
  const before = new Map([...named].map(([k, v]) => [k, Float32Array.from(v)]));
  const runner = await StepRunner.create(step.spec, step.toState(named), { threads: 1 });
  await runner.step(batchFeeds(step.batchKeys, batchArrays(7), dims, B));
  const afterAll = step.fromState(await runner.snapshot());
  for (const name of [...before.keys()].filter((k) => k.startsWith('target_value/'))) {
    const online = before.get(name.replace('target_value', 'value'))!;
    const target = before.get(name)!;
    const after = afterAll.get(name)!;
    const onlineAfter = afterAll.get(name.replace('target_value', 'value'))!;
    after.forEach((x, i) => assert.ok(Math.abs(x - (0.995 * target[i]! + 0.005 * online[i]!)) < 1e-6, `${name}[${i}]`));
    if (name.endsWith('kernel'))
      assert.ok(
        onlineAfter.some((x, i) => x !== online[i]),
        'online heads moved',
      );
  }
});
