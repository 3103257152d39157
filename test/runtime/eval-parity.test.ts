// Exported policies reproduce the evaluation success of the run they came from: train a tiny HIQL on
// a small generated dataset, export it, evaluate it through the runtime's actBatch with the same
// protocol (train/evaluate.ts), seed and episodes, and compare with the in-training evaluation.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { generateDataset } from '../../envs/datasets.ts';
import { exportPolicy } from '../../export/export.ts';
import { datasetFromGenerated } from '../../train/data/dataset.ts';
import { resolveConfig } from '../../train/config.ts';
import { evaluate } from '../../train/evaluate.ts';
import { evaluateParams, sessionPolicy } from '../../train/eval-session.ts';
import { readRunInfo, readRunParams } from '../../train/run-folder.ts';
import { train } from '../../train/trainer.ts';
import { getMaze } from '../../envs/maze.ts';
import { VecPointMaze } from '../../envs/pointmaze.ts';
import { deriveSeed } from '../../rng/rng.ts';
import { loadPolicy } from '../../runtime/src/index.ts';
import { ENV, tempDir } from './helpers.ts';

const tmp = tempDir();
after(tmp.cleanup);

test('an exported HIQL policy evaluated through the runtime matches its in-training evaluation (within one episode a task)', async (t) => {
  const episodes = 5;
  // Small but not trivial: at 1500 steps this run reaches the goal on some tasks (about 5 s on 2 cores),
  // so the comparison is not 0 = 0 everywhere. Threads 1 on both sides, as the runtime defaults to.
  const cfg = resolveConfig({
    agent: 'hiql',
    preset: 'ogbench',
    env: ENV,
    dataset: '',
    overrides: {
      batchSize: 128,
      lr: 1e-3,
      actorHiddenDims: [64, 64],
      valueHiddenDims: [64, 64],
      steps: 1500,
      evalEvery: 0,
      evalEpisodes: episodes,
      logEvery: 1000,
      saveEvery: 0,
      threads: 1,
      seed: 0,
    },
  });
  const ds = datasetFromGenerated(generateDataset(ENV, { seed: 0, episodes: 100 }));
  const runDir = join(tmp.dir, 'run');
  const r = await train(cfg, runDir, { dataset: ds });
  const trained = r.finalEval!;
  assert.ok(trained, 'the run evaluated at its end');

  const info = readRunInfo(runDir);
  const { params, step } = readRunParams(runDir);
  // The in-training evaluation again from the checkpoint (what eval.jsonl recorded).
  const again = await evaluateParams(info.config, info.dims, params, episodes, cfg.trainer.seed, 1);
  assert.deepEqual(again.tasks, trained.tasks);

  const out = join(tmp.dir, 'model', 'tiny.onnx');
  await exportPolicy(info, params, step, out);
  const policy = await loadPolicy(out, { threads: 1 });
  assert.equal(policy.info.trainSteps, 1500);
  const viaRuntime = await evaluate(info.config.env, (o, g, n) => policy.actBatch(o, g, n), {
    episodesPerTask: episodes,
    seed: cfg.trainer.seed,
  });

  t.diagnostic(`in training: ${JSON.stringify(trained.tasks)}`);
  t.diagnostic(`via runtime: ${JSON.stringify(viaRuntime.tasks)}`);
  assert.deepEqual(
    viaRuntime.tasks.map((x) => x.task),
    trained.tasks.map((x) => x.task),
  );
  for (let i = 0; i < trained.tasks.length; i++) {
    const a = trained.tasks[i]!;
    const b = viaRuntime.tasks[i]!;
    assert.ok(
      Math.abs(a.success - b.success) <= 1 / episodes + 1e-12,
      `task ${a.task}: success ${b.success} via the runtime vs ${a.success} in training`,
    );
  }
  assert.ok(
    trained.tasks.some((x) => x.success > 0),
    'the tiny run reaches no goal, so the comparison is trivial; raise its steps',
  );

  // And the policies agree action for action on the evaluation start states.
  const spec = getMaze('medium');
  const n = spec.tasks.length * episodes;
  const vec = new VecPointMaze(spec, n);
  const ids = new Int32Array(n);
  spec.tasks.forEach((task, i) => ids.fill(task.id, i * episodes, (i + 1) * episodes));
  vec.reset(ids, deriveSeed(cfg.trainer.seed, 'eval', ENV));
  const ref = await sessionPolicy(info.config, info.dims, params, 1);
  const aTrain = await ref.policy(vec.obs, vec.goals, n);
  const aRuntime = await policy.actBatch(vec.obs, vec.goals, n);
  await ref.release();
  let worst = 0;
  for (let i = 0; i < aTrain.length; i++) worst = Math.max(worst, Math.abs(aTrain[i]! - aRuntime[i]!));
  t.diagnostic(`max |action difference| on the ${n} start states: ${worst}`);
  assert.ok(worst <= 1e-5, `actions differ by ${worst}`);
  await policy.release();
});
