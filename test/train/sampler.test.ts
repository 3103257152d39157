// Goal-sampler statistics (docs/spec.md section 3) over many draws, on a synthetic dataset whose
// observation x is the row index, so that every sampled goal reveals its index.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTrajectoryIndex, type Dataset } from '../../train/data/dataset.ts';
import { Rng } from '../../rng/rng.ts';
import { HIQL_BATCH } from '../../train/agents/hiql.ts';
import { GCIVL_BATCH } from '../../train/agents/gcivl.ts';
import type { BatchKey } from '../../train/batch.ts';
import { GoalSampler, type GoalSampling } from '../../train/sampler.ts';

function indexDataset(numTraj: number, len: number): Dataset {
  const n = numTraj * len;
  const obs = new Float32Array(2 * n);
  const terminals = new Uint8Array(n);
  for (let t = 0; t < n; t++) {
    obs[2 * t] = t;
    obs[2 * t + 1] = Math.floor(t / len);
    if (t % len === len - 1) terminals[t] = 1;
  }
  return {
    size: n,
    obsShape: [2],
    observations: obs,
    actionDim: 2,
    actions: new Float32Array(2 * n).map((_, i) => i),
    actionMask: null,
    terminals,
    extras: {},
  };
}

const cfg = {
  batchSize: 4096,
  discount: 0.99,
  gcNegative: true,
  value: { pCur: 0.2, pTraj: 0.5, geom: true },
  highActor: { pRandom: 0, geom: false, subgoalSteps: 25 },
} satisfies GoalSampling;
const HIQL_KEYS = Object.keys(HIQL_BATCH) as BatchKey[];
const FLAT_KEYS = Object.keys(GCIVL_BATCH) as BatchKey[];

test('value goals follow the 0.2 / 0.5 / 0.3 mix; rewards and masks come from index equality', () => {
  const LEN = 301;
  const ds = indexDataset(400, LEN);
  const rng = new Rng(1);
  const s = new GoalSampler(ds, buildTrajectoryIndex(ds.terminals), cfg, HIQL_KEYS);
  let cur = 0;
  let future = 0;
  let other = 0;
  let total = 0;
  for (let r = 0; r < 10; r++) {
    const b = s.sample(rng);
    for (let i = 0; i < cfg.batchSize; i++) {
      const t = b['observations']![2 * i]!;
      const g = b['valueGoals']![2 * i]!;
      assert.equal(b['nextObservations']![2 * i], t + 1, 'next observation is row t + 1');
      assert.equal(Math.floor(t / LEN), Math.floor((t + 1) / LEN), 't has a successor in its trajectory');
      const success = g === t ? 1 : 0;
      assert.equal(b['rewards']![i], success - 1);
      assert.equal(b['masks']![i], 1 - success);
      if (g === t) cur++;
      else if (Math.floor(g / LEN) === Math.floor(t / LEN) && g > t) future++;
      else other++;
      total++;
    }
  }
  // Random goals land in the same trajectory's future or on t itself with probability ~1/800.
  assert.ok(Math.abs(cur / total - 0.2) < 0.01, `current-state goals ${cur / total}`);
  assert.ok(Math.abs(future / total - 0.5) < 0.01, `future goals ${future / total}`);
  assert.ok(Math.abs(other / total - 0.3) < 0.01, `random goals ${other / total}`);
});

test('geometric offsets have mean 1 / (1 - discount) and are clipped at the trajectory end', () => {
  const ds = indexDataset(2, 5001);
  const rng = new Rng(2);
  const s = new GoalSampler(ds, buildTrajectoryIndex(ds.terminals), { ...cfg, discount: 0.95 }, HIQL_KEYS);
  let sum = 0;
  const N = 200_000;
  for (let k = 0; k < N; k++) sum += s.geometricFuture(rng, 100, 4999) - 100;
  assert.ok(Math.abs(sum / N - 20) < 0.3, `mean offset ${sum / N}, expected 20`);
  let min = Infinity;
  for (let k = 0; k < 10_000; k++) min = Math.min(min, s.geometricFuture(rng, 100, 4999) - 100);
  assert.equal(min, 1, 'offsets start at 1');
  for (let k = 0; k < 1000; k++) assert.ok(s.geometricFuture(rng, 4990, 4999) <= 4999);
});

test('subgoals and high-level targets are truncated at the trajectory end; high goals are in the future', () => {
  const LEN = 60;
  const ds = indexDataset(50, LEN);
  const traj = buildTrajectoryIndex(ds.terminals);
  const rng = new Rng(3);
  const s = new GoalSampler(ds, traj, cfg, HIQL_KEYS);
  let truncated = 0;
  for (let r = 0; r < 5; r++) {
    const b = s.sample(rng);
    for (let i = 0; i < cfg.batchSize; i++) {
      const t = b['observations']![2 * i]!;
      const final = Math.floor(t / LEN) * LEN + LEN - 2;
      assert.equal(traj.finalIndex[t], final);
      const w = b['lowActorGoals']![2 * i]!;
      assert.equal(w, Math.min(t + 25, final));
      if (t + 25 > final) truncated++;
      const gh = b['highActorGoals']![2 * i]!;
      const st = b['highActorTargets']![2 * i]!;
      assert.ok(gh >= Math.min(t + 1, final) && gh <= final, `high goal ${gh} for t ${t}`);
      assert.equal(st, Math.min(t + 25, gh));
    }
  }
  assert.ok(truncated > 0, 'some subgoals hit the trajectory end');
});

test('actorPRandomgoal draws random high-level goals with target min(t + k, final)', () => {
  const LEN = 200;
  const ds = indexDataset(200, LEN);
  const rng = new Rng(4);
  const s = new GoalSampler(ds, buildTrajectoryIndex(ds.terminals), { ...cfg, highActor: { ...cfg.highActor, pRandom: 0.5 } }, HIQL_KEYS);
  const b = s.sample(rng);
  let random = 0;
  for (let i = 0; i < cfg.batchSize; i++) {
    const t = b['observations']![2 * i]!;
    const gh = b['highActorGoals']![2 * i]!;
    const final = Math.floor(t / LEN) * LEN + LEN - 2;
    const sameFuture = Math.floor(gh / LEN) === Math.floor(t / LEN) && gh > t;
    if (!sameFuture) {
      random++;
      assert.equal(b['highActorTargets']![2 * i], Math.min(t + 25, final));
    }
  }
  assert.ok(Math.abs(random / cfg.batchSize - 0.5) < 0.03, `random high goals ${random / cfg.batchSize}`);
});

test('flat agents get actor goals uniformly from the future of the trajectory', () => {
  const LEN = 101;
  const ds = indexDataset(100, LEN);
  const rng = new Rng(5);
  const s = new GoalSampler(
    ds,
    buildTrajectoryIndex(ds.terminals),
    { ...cfg, highActor: undefined, actor: { pCur: 0, pTraj: 1, geom: false } },
    FLAT_KEYS,
  );
  const b = s.sample(rng);
  let gapSum = 0;
  for (let i = 0; i < cfg.batchSize; i++) {
    const t = b['observations']![2 * i]!;
    const g = b['actorGoals']![2 * i]!;
    const final = Math.floor(t / LEN) * LEN + LEN - 2;
    assert.ok(g >= Math.min(t + 1, final) && g <= final);
    gapSum += (g - t) / Math.max(1, final - t);
  }
  assert.ok(Math.abs(gapSum / cfg.batchSize - 0.5) < 0.05, 'uniform over the remaining trajectory');
});

test('the action mask of action-free rows reaches the batch', () => {
  const ds = indexDataset(10, 50);
  const mask = new Uint8Array(ds.size);
  mask.fill(1, 0, 250);
  const rng = new Rng(6);
  const s = new GoalSampler({ ...ds, actionMask: mask }, buildTrajectoryIndex(ds.terminals), { ...cfg, batchSize: 512 }, HIQL_KEYS);
  const b = s.sample(rng);
  for (let i = 0; i < 512; i++) assert.equal(b['actionMask']![i], b['observations']![2 * i]! < 250 ? 1 : 0);
});
