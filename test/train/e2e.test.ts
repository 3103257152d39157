// End to end, CI-sized: each agent trains a few hundred steps on a small generated dataset, is
// evaluated with the SPEC protocol, resumes exactly, and is exported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDataset } from '../../envs/datasets.ts';
import { datasetFromGenerated } from '../../train/data/dataset.ts';
import { resolveConfig } from '../../train/config.ts';
import { readRunInfo, readRunParams } from '../../train/run-folder.ts';
import { train } from '../../train/trainer.ts';
import { exportPolicy } from '../../export/export.ts';
import { evaluateExported } from '../../export/evaluate.ts';
import { Graph, createSession, ort } from '../../onnx/index.ts';
import { loadPolicy } from '../../runtime/src/index.ts';
import { buildPolicyGraph } from '../../train/graphs.ts';
import type { AgentName } from '../../train/agents/index.ts';
import type { EvalResult } from '../../train/evaluate.ts';
import type { RunConfig } from '../../train/config.ts';

const ds = datasetFromGenerated(generateDataset('pointmaze-medium-navigate', { seed: 1, episodes: 20 }));
const small = {
  batchSize: 64,
  actorHiddenDims: '32,32',
  steps: 200,
  logEvery: 50,
  evalEvery: 0,
  evalEpisodes: 2,
  saveEvery: 100,
  threads: 1,
};

for (const agent of ['hiql', 'gcivl', 'gcbc', 'gciql', 'crl', 'qrl'] as AgentName[]) {
  test(`${agent}: trains, evaluates, writes its run folder and exports`, async () => {
    const dir = mkdtempSync(join(tmpdir(), `e2e-${agent}-`));
    const overrides: Record<string, unknown> = {
      ...small,
      ...(agent === 'gcbc' ? {} : { valueHiddenDims: '32,32' }),
      ...(agent === 'crl' ? { latentDim: 16 } : {}),
    };
    const cfg = resolveConfig({ agent, preset: 'quick', env: 'pointmaze-medium-navigate', dataset: 'generated', overrides });
    const logs: number[] = [];
    const r = await train(cfg, dir, { dataset: ds, cb: { onLog: (e) => logs.push(e.metrics['loss']!) } });
    assert.equal(r.steps, 200);
    assert.equal(logs.length, 4);
    assert.ok(logs.every(Number.isFinite));
    assert.ok(r.finalEval, 'evaluated at the end');
    assert.equal(r.finalEval!.tasks.length, 5);
    for (const t of r.finalEval!.tasks) assert.ok(t.success >= 0 && t.success <= 1);
    for (const f of ['config.json', 'metrics.jsonl', 'eval.jsonl', 'checkpoint.bin', 'curves.svg'])
      assert.ok(existsSync(join(dir, f)), `run folder has ${f}`);
    assert.match(readFileSync(join(dir, 'curves.svg'), 'utf8'), /<svg[\s\S]*polyline/);
    const info = readRunInfo(dir);
    const { params, step } = readRunParams(dir);
    assert.equal(step, 200);
    const out = await exportPolicy(info, params, step, join(dir, 'model.onnx'));
    assert.equal(out.files.length, agent === 'hiql' ? 3 : 1);
    for (const v of out.validation) assert.ok(v.maxAbsDiff < 1e-5);
    if (agent !== 'hiql') await exportedFlatPolicyRuns(join(dir, 'model.onnx'), cfg, params, r.finalEval!);
  });
}

/**
 * A flat agent's exported file: observation, goal -> action and nothing of the critic or value
 * (those stay in the run folder), its metadata names the agent, and through @hiql/runtime its
 * actions are the agent's policy graph's on the trained parameters and, evaluated on the episodes
 * of the run's final evaluation, it has the same outcomes.
 */
async function exportedFlatPolicyRuns(path: string, cfg: RunConfig, params: Map<string, Float32Array>, finalEval: EvalResult) {
  const agent = cfg.agent;
  const { graph, metadata } = Graph.fromBytes(new Uint8Array(readFileSync(path)));
  assert.deepEqual(
    graph.inputs.map((t) => [t.name, t.shape]),
    [
      ['observation', ['batch', 2]],
      ['goal', ['batch', 2]],
    ],
  );
  assert.deepEqual(
    graph.outputs.map((t) => [t.name, t.shape]),
    [['action', ['batch', 2]]],
  );
  assert.equal(metadata['hiql.agent'], agent);
  assert.ok(
    graph.nodes.every((n) => n.opType !== 'TopK'),
    'the policy is the actor alone',
  );
  const policy = await loadPolicy(path);
  assert.equal(policy.info.agent, agent);
  assert.equal(policy.info.role, 'policy');
  assert.equal(policy.info.hierarchical, false);
  const n = 64;
  const obs = ds.observations.subarray(0, 2 * n);
  const goals = ds.observations.subarray(2000, 2000 + 2 * n);
  const viaRuntime = await policy.actBatch(obs, goals, n);
  await policy.release();
  assert.ok(viaRuntime.every((x) => x >= -1 && x <= 1));
  const direct = await createSession(buildPolicyGraph(agent, cfg.agentConfig, { obsDim: 2, actionDim: 2 }, params).toBytes(), {
    threads: 1,
  });
  const res = await direct.run({ observation: new ort.Tensor('float32', obs, [n, 2]), goal: new ort.Tensor('float32', goals, [n, 2]) });
  await direct.release();
  const want = res['action']!.data as Float32Array;
  viaRuntime.forEach((x, i) => assert.ok(Math.abs(x - want[i]!) < 1e-6, `action ${i}: runtime ${x}, policy graph ${want[i]}`));
  const ev = await evaluateExported(path, 'pointmaze-medium-navigate', finalEval.episodesPerTask, cfg.trainer.seed);
  assert.deepEqual(ev.tasks, finalEval.tasks);
}

test('--resume continues exactly as an uninterrupted run', async () => {
  const base = { ...small, valueHiddenDims: '16,16', actorHiddenDims: '16,16', batchSize: 32, logEvery: 10, saveEvery: 30, evalEvery: 0 };
  const hiqlFor = (steps: number) =>
    resolveConfig({
      agent: 'hiql',
      preset: 'quick',
      env: 'pointmaze-medium-navigate',
      dataset: 'generated',
      overrides: { ...base, steps },
    });
  const straight = mkdtempSync(join(tmpdir(), 'resume-a-'));
  const cfg60 = hiqlFor(60);
  await train(cfg60, straight, { dataset: ds, evalAtEnd: false });
  const split = mkdtempSync(join(tmpdir(), 'resume-b-'));
  const cfg30 = hiqlFor(30);
  await train(cfg30, split, { dataset: ds, evalAtEnd: false });
  // steps is a trainer setting: it does not change the config hash, so the run can be extended.
  await train(cfg60, split, { dataset: ds, resume: true, evalAtEnd: false });
  const a = readRunParams(straight).params;
  const b = readRunParams(split).params;
  for (const [k, v] of a) assert.deepEqual(b.get(k), v, `${k} differs after resume`);
  const rows = (d: string) =>
    readFileSync(join(d, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
  const la = rows(straight)
    .filter((r) => r['step']! > 30)
    .map((r) => r['loss']);
  const lb = rows(split)
    .filter((r) => r['step']! > 30)
    .map((r) => r['loss']);
  assert.deepEqual(lb, la);
});
