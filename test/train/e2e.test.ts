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
import { createSession, ort } from '../../onnx/index.ts';
import { loadPolicy, readPolicyInfo } from '../../runtime/src/index.ts';
import { buildPolicyGraph } from '../../train/graphs.ts';
import type { AgentName } from '../../train/agents/index.ts';

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

for (const agent of ['hiql', 'gcivl', 'gcbc', 'gciql'] as AgentName[]) {
  test(`${agent}: trains, evaluates, writes its run folder and exports`, async () => {
    const dir = mkdtempSync(join(tmpdir(), `e2e-${agent}-`));
    const overrides: Record<string, unknown> = { ...small, ...(agent === 'gcbc' ? {} : { valueHiddenDims: '32,32' }) };
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
    if (agent === 'gciql') {
      // The agent added after the runtime was written: its file has the flat policy's signature and
      // metadata, and through the runtime it succeeds exactly where the trainer's evaluation did.
      const file = join(dir, 'model.onnx');
      const p = readPolicyInfo(readFileSync(file));
      assert.equal(p.agent, 'gciql');
      assert.equal(p.role, 'policy');
      assert.equal(p.hierarchical, false);
      assert.deepEqual([p.obsDim, p.goalDim, p.actionDim], [2, 2, 2]);
      const session = await createSession(readFileSync(file), { threads: 1 });
      assert.deepEqual([...session.inputNames].sort(), ['goal', 'observation']);
      assert.deepEqual([...session.outputNames], ['action']);
      await session.release();
      // Actions through the runtime equal the agent's policy graph on the trained parameters.
      const n = 64;
      const obs = ds.observations.subarray(0, 2 * n);
      const goals = ds.observations.subarray(2000, 2000 + 2 * n);
      const policy = await loadPolicy(file);
      const viaPolicy = await policy.actBatch(obs, goals, n);
      await policy.release();
      const direct = await createSession(buildPolicyGraph('gciql', cfg.agentConfig, { obsDim: 2, actionDim: 2 }, params).toBytes(), {
        threads: 1,
      });
      const res = await direct.run({ observation: new ort.Tensor('float32', obs, [n, 2]), goal: new ort.Tensor('float32', goals, [n, 2]) });
      await direct.release();
      const want = res['action']!.data as Float32Array;
      assert.ok(want.some((x) => Math.abs(x) > 1e-3) && want.every((x) => Math.abs(x) <= 1));
      viaPolicy.forEach((x, i) => assert.ok(Math.abs(x - want[i]!) <= 1e-6, `action ${i}: runtime ${x}, policy graph ${want[i]}`));
      const viaRuntime = await evaluateExported(file, 'pointmaze-medium-navigate', 2, cfg.trainer.seed);
      assert.deepEqual(
        viaRuntime.tasks.map((t) => t.success),
        r.finalEval!.tasks.map((t) => t.success),
      );
    }
  });
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
