// Action-free data: value, phi and the high actor use every transition; the low actor (and the flat
// actors) only the labelled ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StepRunner } from '../../onnx/index.ts';
import { generateDataset } from '../../envs/datasets.ts';
import { batchFeeds } from '../../train/batch.ts';
import { buildAgentStep, initAgentState } from '../../train/step.ts';
import { AGENTS, type AgentName } from '../../train/agents/index.ts';
import { buildTrajectoryIndex, datasetFromGenerated, dropActions, labelledTrajectories } from '../../train/data/dataset.ts';
import { Rng } from '../../rng/rng.ts';
import { samplerFor } from '../../train/trainer.ts';
import { resolveConfig } from '../../train/config.ts';
import { train } from '../../train/trainer.ts';

const small = { batchSize: 64, actorHiddenDims: [16, 16], valueHiddenDims: [16, 16], repDim: 4 };
const dims = { obsDim: 2, actionDim: 2 };
const base = datasetFromGenerated(generateDataset('pointmaze-medium-navigate', { seed: 3, episodes: 8 }));

for (const agent of ['hiql', 'gcivl', 'gcbc', 'qrl'] as AgentName[]) {
  test(`${agent}: with actions removed from part of the data, the actor loss sees only labelled transitions`, async () => {
    const ds = dropActions(base, 0.5, 1);
    assert.ok(ds.actionMask!.some((m) => m === 0) && ds.actionMask!.some((m) => m === 1));
    const c = { ...AGENTS[agent].defaults, ...small } as never;
    const step = buildAgentStep(agent, c, dims, { actionMask: true });
    const sampler = samplerFor(agent, c, ds, buildTrajectoryIndex(ds.terminals));
    const batch = sampler.sample(new Rng(9));
    const mask = batch['actionMask']!;
    assert.ok(mask.includes(0) && mask.includes(1), 'the batch mixes labelled and unlabelled rows');
    const run = async (poison: number) => {
      const actions = Float32Array.from(batch['actions']!);
      for (let i = 0; i < 64; i++) if (!mask[i]) actions.fill(poison, 2 * i, 2 * i + 2);
      const runner = await StepRunner.create(step.spec, initAgentState(step, 4), { threads: 1 });
      const m = await runner.step(batchFeeds(step.batchKeys, { ...batch, actions }, dims, 64));
      return { ...m, params: await runner.read('params') } as Record<string, number> & { params: Float32Array };
    };
    const clean = await run(0);
    const poisoned = await run(NaN);
    const key = agent === 'hiql' ? 'low_actor/actor_loss' : 'actor/actor_loss';
    assert.ok(Number.isFinite(poisoned[key]!), `poison reached the loss: ${poisoned[key]}`);
    assert.equal(poisoned[key], clean[key], 'the actor loss must not depend on unlabelled actions');
    assert.equal(poisoned['loss'], clean['loss']);
    assert.deepEqual(poisoned.params, clean.params, 'the update must not depend on unlabelled actions');
    assert.ok(poisoned.params.every(Number.isFinite));
  });
}

test('crl refuses action-free data: its critic Q(s, a, g) needs the action of every row', () => {
  const c = { ...AGENTS['crl'].defaults, ...small, latentDim: 8 } as never;
  assert.doesNotThrow(() => buildAgentStep('crl', c, dims));
  assert.throws(
    () => buildAgentStep('crl', c, dims, { actionMask: true }),
    /crl .* needs actions on every transition; .*--labelledOnly true/,
  );
});

test("gciql needs every transition's action (its critic is Q(s, a, g)): a masked batch is refused with the way out", () => {
  const c = { ...AGENTS['gciql'].defaults, ...small } as never;
  assert.throws(() => buildAgentStep('gciql', c, dims, { actionMask: true }), /need the action of every transition.*--labelledOnly true/);
});

test('labelledTrajectories keeps exactly the fully labelled trajectories', () => {
  const ds = dropActions(base, 0.25, 2);
  const only = labelledTrajectories(ds);
  assert.equal(only.actionMask, null);
  assert.equal(only.size, 2 * 1001, 'a quarter of 8 trajectories');
  assert.equal(buildTrajectoryIndex(only.terminals).starts.length, 2);
});

test('CI-sized run of HIQL with 25% of the actions', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'action-free-'));
  const cfg = resolveConfig({
    agent: 'hiql',
    preset: 'quick',
    env: 'pointmaze-medium-navigate',
    dataset: 'generated',
    overrides: {
      ...small,
      actorHiddenDims: '16,16',
      valueHiddenDims: '16,16',
      steps: 100,
      logEvery: 50,
      evalEvery: 0,
      evalEpisodes: 1,
      threads: 1,
      actionFraction: 0.25,
    },
  });
  const r = await train(cfg, dir, { dataset: base });
  assert.equal(r.steps, 100);
  assert.ok(r.finalEval);
});
