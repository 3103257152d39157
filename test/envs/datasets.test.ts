import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { DATASET_NAMES, cellsAtDistance, datasetSpec, generateDataset, parseEnvName } from '../../envs/datasets.ts';
import { getMaze } from '../../envs/maze.ts';
import { BALL_RADIUS, distanceToWalls, moveBall } from '../../envs/pointmaze.ts';

const sha = (...arrays: ArrayBufferView[]) => {
  const h = createHash('sha256');
  for (const a of arrays) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex');
};

/** Episode count and length per docs/spec.md section 6. */
const EXPECTED: Record<string, [episodes: number, length: number]> = {
  'pointmaze-medium-navigate': [1000, 1001],
  'pointmaze-large-navigate': [1000, 1001],
  'pointmaze-giant-navigate': [500, 2001],
  'pointmaze-teleport-navigate': [1000, 1001],
  'pointmaze-medium-stitch': [5000, 201],
  'pointmaze-large-stitch': [5000, 201],
  'pointmaze-giant-stitch': [5000, 201],
  'pointmaze-teleport-stitch': [5000, 201],
};

test('dataset names and parseEnvName', () => {
  assert.deepEqual([...DATASET_NAMES].sort(), Object.keys(EXPECTED).sort());
  assert.deepEqual(parseEnvName('pointmaze-large-stitch-v0'), {
    name: 'pointmaze-large-stitch',
    maze: 'large',
    datasetType: 'stitch',
    visual: false,
  });
  assert.deepEqual(parseEnvName('pointmaze-giant-v0'), { name: 'pointmaze-giant', maze: 'giant', datasetType: null, visual: false });
  assert.throws(
    () => parseEnvName('antmaze-large-navigate'),
    /unknown environment 'antmaze-large-navigate'; expected \[visual-\]pointmaze-MAZE/,
  );
  // Visual datasets: a tenth of the episodes by default (frames are 12 KB each at 64 x 64).
  assert.equal(datasetSpec('visual-pointmaze-medium-navigate').episodes, 100);
  assert.equal(datasetSpec('visual-pointmaze-large-navigate', 'val').episodes, 10);
  assert.throws(() => parseEnvName('pointmaze-medium-explore'), /TYPE one of navigate, stitch/);
  assert.throws(() => datasetSpec('pointmaze-medium'), /names an environment, not a dataset/);
});

test('dataset sizes match docs/spec.md for every name (train and validation split)', () => {
  for (const name of DATASET_NAMES) {
    const [episodes, length] = EXPECTED[name]!;
    const train = datasetSpec(name);
    assert.deepEqual([train.episodes, train.episodeLength, train.size], [episodes, length, episodes * length], name);
    const val = datasetSpec(name, 'val');
    assert.deepEqual([val.episodes, val.episodeLength], [episodes / 10, length], `${name} val`);
    // About 1M transitions each.
    assert.ok(train.size >= 1_000_000 && train.size <= 1_005_000);
  }
});

test('every dataset generates with the SPEC layout (reduced episode counts)', () => {
  for (const name of DATASET_NAMES) {
    const [, length] = EXPECTED[name]!;
    const d = generateDataset(name, { seed: 1, episodes: 3 });
    const n = 3 * length;
    assert.equal(d.episodeLength, length);
    assert.equal(d.observations.length, 2 * n);
    assert.equal(d.actions.length, 2 * n);
    assert.equal(d.qpos.length, 2 * n);
    assert.equal(d.qvel.length, 2 * n);
    assert.equal(d.terminals.length, n);
    for (let t = 0; t < n; t++) assert.equal(d.terminals[t], (t + 1) % length === 0 ? 1 : 0);
    const maze = getMaze(parseEnvName(name).maze);
    for (let t = 0; t < n; t++) {
      const ax = d.actions[2 * t]!;
      const ay = d.actions[2 * t + 1]!;
      assert.ok(Math.abs(ax) <= 1 && Math.abs(ay) <= 1);
      assert.ok(distanceToWalls(maze, d.observations[2 * t]!, d.observations[2 * t + 1]!) >= BALL_RADIUS - 1e-5);
      assert.equal(d.qpos[2 * t], d.observations[2 * t]);
    }
  }
});

test('pointmaze-medium-navigate in full: 1000 episodes x 1001 rows; stored obs is the position before the step', () => {
  const t0 = performance.now();
  const d = generateDataset('pointmaze-medium-navigate', { seed: 0 });
  const ms = performance.now() - t0;
  assert.ok(ms < 10_000, `generation took ${ms} ms`);
  assert.equal(d.episodes, 1000);
  assert.equal(d.episodeLength, 1001);
  assert.equal(d.observations.length, 1_001_000 * 2);
  assert.equal(
    d.terminals.reduce((s, x) => s + x, 0),
    1000,
  );
  const maze = getMaze('medium');
  // Row t+1 is row t moved by action t (within an episode; medium has no teleporters). The
  // physics runs in float64 and stores float32, so allow float32 rounding.
  const p = new Float64Array(2);
  let maxErr = 0;
  let moved = 0;
  for (let t = 0; t + 1 < 1_001_000; t++) {
    if (d.terminals[t]) continue;
    p[0] = d.observations[2 * t]!;
    p[1] = d.observations[2 * t + 1]!;
    moveBall(maze, p, 0, d.actions[2 * t]!, d.actions[2 * t + 1]!);
    maxErr = Math.max(maxErr, Math.abs(p[0]! - d.observations[2 * t + 2]!), Math.abs(p[1]! - d.observations[2 * t + 3]!));
    moved += Math.hypot(d.observations[2 * t + 2]! - d.observations[2 * t]!, d.observations[2 * t + 3]! - d.observations[2 * t + 1]!);
  }
  assert.ok(maxErr < 1e-4, `max reconstruction error ${maxErr}`);
  // The expert keeps moving (never stops at a goal): average speed well above half the maximum.
  assert.ok(moved / 1_000_000 > 0.1, `mean step ${moved / 1_000_000}`);
  // Every free cell is visited.
  const seen = new Set<string>();
  for (let t = 0; t < 1_001_000; t += 7)
    seen.add(`${Math.round((d.observations[2 * t + 1]! + 4) / 4)},${Math.round((d.observations[2 * t]! + 4) / 4)}`);
  assert.equal(seen.size, maze.freeCells.length);

  // Validation split: episodes / 10, a different stream.
  const v = generateDataset('pointmaze-medium-navigate', { seed: 0, split: 'val' });
  assert.equal(v.episodes, 100);
  assert.equal(v.terminals.length, 100 * 1001);
  assert.notDeepEqual(v.observations.subarray(0, 2002), d.observations.subarray(0, 2002));
});

test('pointmaze-medium-stitch in full: 5000 episodes x 201 rows, goals 4 cells from the start', () => {
  const d = generateDataset('pointmaze-medium-stitch', { seed: 0 });
  assert.equal(d.episodes, 5000);
  assert.equal(d.terminals.length, 1_005_000);
  assert.equal(
    d.terminals.reduce((s, x) => s + x, 0),
    5000,
  );
  for (let e = 0; e < 5000; e++) assert.equal(d.terminals[e * 201 + 200], 1);
  const maze = getMaze('medium');
  const at4 = cellsAtDistance(maze, 4);
  assert.ok(
    at4.every((c) => c.length > 0),
    'every medium cell has cells 4 steps away',
  );
  // Episodes are short and local: the end is at most ~4 cells (16 units + noise) from the start.
  let far = 0;
  for (let e = 0; e < 5000; e++) {
    const s = e * 201;
    const dist = Math.hypot(
      d.observations[2 * (s + 200)]! - d.observations[2 * s]!,
      d.observations[2 * (s + 200) + 1]! - d.observations[2 * s + 1]!,
    );
    if (dist > 20) far++;
  }
  assert.equal(far, 0);
});

test('same seed gives the same bytes; another seed does not', () => {
  for (const name of ['pointmaze-teleport-navigate', 'pointmaze-large-stitch']) {
    const a = generateDataset(name, { seed: 5, episodes: 20 });
    const b = generateDataset(name, { seed: 5, episodes: 20 });
    const c = generateDataset(name, { seed: 6, episodes: 20 });
    assert.equal(sha(a.observations, a.actions, a.terminals, a.qpos, a.qvel), sha(b.observations, b.actions, b.terminals, b.qpos, b.qvel));
    assert.notEqual(sha(a.observations), sha(c.observations));
  }
  // Pinned digest: any change to the generator, expert, physics or RNG shows up here.
  const p = generateDataset('pointmaze-medium-navigate', { seed: 0, episodes: 2 });
  assert.equal(sha(p.observations, p.actions).slice(0, 16), PINNED_MEDIUM_2EP);
});

// sha256 of (observations, actions) for pointmaze-medium-navigate, seed 0, 2 episodes.
const PINNED_MEDIUM_2EP = '733101963712d142';
