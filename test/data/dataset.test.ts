import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildTrajectoryIndex,
  d4rlToOgbench,
  datasetFromArrays,
  datasetFromGenerated,
  dropActions,
  labelledRows,
  loadDataset,
  saveDatasetNpz,
} from '../../train/data/dataset.ts';
import { type NpyArray } from '../../train/data/npy.ts';
import { readNpz, writeNpz } from '../../train/data/npz.ts';
import { readHdf5, writeHdf5 } from '../../train/data/hdf5.ts';
import { generateDataset } from '../../envs/datasets.ts';

const dir = mkdtempSync(join(tmpdir(), 'hiql-ds-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const f32 = (shape: number[], values?: number[]): NpyArray => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: '<f4', shape, data: Float32Array.from(values ?? Array.from({ length: n }, (_, k) => k)) };
};

test('buildTrajectoryIndex: valid indices, final index, starts and ends (incl. a one-row trajectory and an unmarked end)', () => {
  // Trajectories: rows 0-3, 4-4 (one row), 5-7 (last row not marked).
  const idx = buildTrajectoryIndex(Uint8Array.of(0, 0, 0, 1, 1, 0, 0, 0));
  assert.deepEqual([...idx.starts], [0, 4, 5]);
  assert.deepEqual([...idx.ends], [3, 4, 7]);
  assert.deepEqual([...idx.validIndices], [0, 1, 2, 5, 6]);
  assert.deepEqual([...idx.finalIndex], [2, 2, 2, 2, 4, 6, 6, 6]);
});

test('OGBench layout: generated dataset -> .npz -> Dataset round trip with the trajectory index SPEC section 3 wants', async () => {
  const g = generateDataset('pointmaze-medium-stitch', { seed: 0, episodes: 4 });
  const path = join(dir, 'stitch.npz');
  saveDatasetNpz(path, datasetFromGenerated(g));
  const raw = readNpz(path);
  assert.deepEqual(
    Object.entries(raw).map(([k, a]) => [k, a.dtype, a.shape]),
    [
      ['observations', '<f4', [804, 2]],
      ['actions', '<f4', [804, 2]],
      ['terminals', '<f4', [804]],
      ['qpos', '<f4', [804, 2]],
      ['qvel', '<f4', [804, 2]],
    ],
  );
  const ds = await loadDataset(path);
  assert.equal(ds.name, 'stitch');
  assert.equal(ds.size, 804);
  assert.deepEqual(ds.obsShape, [2]);
  assert.equal(ds.actionDim, 2);
  assert.equal(ds.actionMask, null);
  assert.deepEqual(ds.observations, g.observations);
  assert.deepEqual(ds.actions, g.actions);
  assert.deepEqual(Object.keys(ds.extras), ['qpos', 'qvel']);
  const idx = buildTrajectoryIndex(ds.terminals);
  assert.equal(idx.starts.length, 4);
  assert.equal(idx.validIndices.length, 4 * 200); // the last row of each episode has no successor
  assert.equal(idx.finalIndex[0], 199);
  assert.equal(idx.finalIndex[201], 400);
});

test('action mask: dropActions keeps a random fraction of trajectories, saves and loads as action_mask', async () => {
  const g = generateDataset('pointmaze-large-stitch', { seed: 2, episodes: 40 });
  const ds = datasetFromGenerated(g);
  const part = dropActions(ds, 0.25, 7);
  assert.equal(labelledRows(part), 10 * 201);
  const idx = buildTrajectoryIndex(part.terminals);
  for (let k = 0; k < idx.starts.length; k++) {
    const s = idx.starts[k]!;
    const e = idx.ends[k]!;
    const m = part.actionMask![s]!;
    for (let t = s; t <= e; t++) {
      assert.equal(part.actionMask![t], m, 'whole trajectories are (un)labelled');
      assert.equal(part.actions[2 * t], m ? ds.actions[2 * t] : 0);
    }
  }
  assert.deepEqual(dropActions(ds, 0.25, 7).actionMask, part.actionMask, 'deterministic per seed');
  assert.notDeepEqual(dropActions(ds, 0.25, 8).actionMask, part.actionMask);
  assert.equal(part.observations, ds.observations, 'observations are shared, not copied');
  const path = join(dir, 'masked.npz');
  saveDatasetNpz(path, part);
  assert.equal(readNpz(path)['action_mask']!.dtype, '|u1');
  const back = await loadDataset(path);
  assert.deepEqual(back.actionMask, part.actionMask);
  assert.equal(labelledRows(dropActions(back, 1, 0)), 10 * 201, 'already unlabelled rows stay unlabelled');
  assert.throws(() => dropActions(ds, 1.5, 0), /fraction must be in \[0, 1\], got 1\.5/);
});

test('D4RL HDF5 layout loads with the right trajectories (terminals, timeouts, infos/*)', async () => {
  // 10 rows: a terminal at row 3, a timeout at row 6, the data ends at row 9.
  const n = 10;
  const path = join(dir, 'd4rl.hdf5');
  await writeHdf5(
    path,
    {
      observations: f32([n, 3]),
      actions: f32(
        [n, 2],
        Array.from({ length: 2 * n }, (_, k) => k / 100),
      ),
      rewards: f32([n], [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
      terminals: { dtype: '|b1', shape: [n], data: Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 0, 0, 0) },
      timeouts: { dtype: '|b1', shape: [n], data: Uint8Array.of(0, 0, 0, 0, 0, 0, 1, 0, 0, 0) },
      'infos/goal': { dtype: '<f8', shape: [n, 2], data: new Float64Array(2 * n).fill(1.5) },
      'infos/qpos': f32([n, 3]),
    },
    { compression: 4 },
  );
  const ds = await loadDataset(path);
  assert.equal(ds.name, 'd4rl');
  assert.equal(ds.size, n);
  assert.deepEqual(ds.obsShape, [3]);
  assert.equal(ds.actionDim, 2);
  assert.deepEqual([...ds.terminals], [0, 0, 0, 1, 0, 0, 1, 0, 0, 1]);
  const idx = buildTrajectoryIndex(ds.terminals);
  assert.deepEqual([...idx.starts], [0, 4, 7]);
  assert.deepEqual([...idx.ends], [3, 6, 9]);
  assert.deepEqual([...idx.validIndices], [0, 1, 2, 4, 5, 7, 8]);
  assert.deepEqual(Object.keys(ds.extras).sort(), ['d4rl_terminals', 'infos/goal', 'infos/qpos', 'rewards', 'timeouts']);
  assert.deepEqual(ds.extras['infos/goal']!.shape, [n, 2]);
  assert.ok(Math.abs(ds.actions[7]! - 0.07) < 1e-7);
  // 'ignore' drops terminals as trajectory ends (AntMaze), keeping timeouts.
  const ignored = datasetFromArrays(d4rlToOgbench(await readHdf5(path), path, { d4rlTerminals: 'ignore' }), path);
  assert.deepEqual([...ignored.terminals], [0, 0, 0, 0, 0, 0, 1, 0, 0, 1]);
});

test('D4RL: next_observations that do not continue into the next row split trajectories (missing timeouts)', () => {
  const obs = f32([6, 1], [0, 1, 2, 10, 11, 12]);
  const next = f32([6, 1], [1, 2, 3, 11, 12, 13]); // row 2 jumps: 3 != 10
  const out = d4rlToOgbench({ observations: obs, next_observations: next, actions: f32([6, 1]), rewards: f32([6]) }, 'x.hdf5');
  assert.deepEqual([...out['terminals']!.data], [0, 0, 1, 0, 0, 1]);
  assert.throws(
    () => d4rlToOgbench({ observations: obs, actions: f32([6, 1]) }, 'y.hdf5'),
    /y\.hdf5: a D4RL file needs 'terminals', 'timeouts' or 'next_observations'/,
  );
});

// ---- malformed datasets: each error names the file, the key and what was expected ----

test('malformed: mismatched lengths', async () => {
  const path = join(dir, 'mismatch.npz');
  writeNpz(path, { observations: f32([5, 2]), actions: f32([4, 2]), terminals: f32([5], [0, 0, 0, 0, 1]) });
  await assert.rejects(
    loadDataset(path),
    new RegExp(`^RangeError: ${esc(path)}\\[actions\\]: length mismatch: actions has 4 rows but observations has 5$`),
  );
  assert.throws(
    () => datasetFromArrays({ observations: f32([5, 2]), actions: f32([5, 2]), terminals: f32([6]) }, 'm.npz'),
    /m\.npz\[terminals\]: length mismatch: terminals has 6 rows but observations has 5/,
  );
  assert.throws(
    () =>
      datasetFromArrays(
        {
          observations: f32([5, 2]),
          actions: f32([5, 2]),
          terminals: f32([5], [0, 0, 0, 0, 1]),
          action_mask: { dtype: '|u1', shape: [3], data: new Uint8Array(3) },
        },
        'm.npz',
      ),
    /m\.npz\[action_mask\]: length mismatch: 3 rows but observations has 5/,
  );
  assert.throws(
    () => datasetFromArrays({ observations: f32([5, 2]), terminals: f32([5], [0, 0, 0, 0, 1]) }, 'k.npz'),
    /k\.npz: missing required array 'actions'; keys present: observations, terminals/,
  );
});

test('malformed: NaN and Inf are rejected with their position', async () => {
  const obs = f32([4, 2]);
  obs.data[5] = NaN;
  const path = join(dir, 'nan.npz');
  writeNpz(path, { observations: obs, actions: f32([4, 2]), terminals: f32([4], [0, 0, 0, 1]) });
  await assert.rejects(
    loadDataset(path),
    new RegExp(`${esc(path)}\\[observations\\]: non-finite value NaN at row 2, column 1; datasets must be finite`),
  );
  const act = f32([4, 2]);
  act.data[6] = -Infinity;
  assert.throws(
    () => datasetFromArrays({ observations: f32([4, 2]), actions: act, terminals: f32([4], [0, 0, 0, 1]) }, 'inf.npz'),
    /inf\.npz\[actions\]: non-finite value -Infinity at row 3, column 0/,
  );
  // float64 values beyond float32 range would silently become Inf: rejected too.
  const big: NpyArray = { dtype: '<f8', shape: [4, 2], data: Float64Array.of(0, 0, 1e300, 0, 0, 0, 0, 0) };
  assert.throws(
    () => datasetFromArrays({ observations: big, actions: f32([4, 2]), terminals: f32([4], [0, 0, 0, 1]) }, 'big.npz'),
    /big\.npz\[observations\]: non-finite value 1e\+300 at row 1, column 0/,
  );
});

test('malformed: wrong dtypes and non-flag terminals', () => {
  const base = { observations: f32([3, 2]), actions: f32([3, 2]), terminals: f32([3], [0, 0, 1]) };
  assert.throws(
    () => datasetFromArrays({ ...base, terminals: f32([3], [0, 0.5, 1]) }, 't.npz'),
    /t\.npz\[terminals\]: expected 0\/1 flags, got 0\.5 at row 1/,
  );
  assert.throws(
    () => datasetFromArrays({ ...base, observations: { dtype: '<i4', shape: [3, 2], data: new Int32Array(6) } }, 'o.npz'),
    /o\.npz\[observations\]: expected float32\/float64 states or uint8 pixels, got dtype <i4/,
  );
  assert.throws(
    () => datasetFromArrays({ ...base, actions: { dtype: '|u1', shape: [3, 2], data: new Uint8Array(6) } }, 'a.npz'),
    /a\.npz\[actions\]: expected float32 or float64 actions, got dtype \|u1/,
  );
  // uint8 pixel observations are kept as uint8 with their per-observation shape.
  const px = datasetFromArrays({ ...base, observations: { dtype: '|u1', shape: [3, 4, 4, 3], data: new Uint8Array(144) } }, 'p.npz');
  assert.deepEqual(px.obsShape, [4, 4, 3]);
  assert.ok(px.observations instanceof Uint8Array);
  // An unmarked final row is marked.
  assert.deepEqual([...datasetFromArrays({ ...base, terminals: f32([3], [0, 0, 0]) }, 'e.npz').terminals], [0, 0, 1]);
});

test('malformed: unknown file types and non-HDF5 files', async () => {
  await assert.rejects(
    loadDataset(join(dir, 'x.csv')),
    /x\.csv: unknown dataset format; expected a \.npz \(OGBench\) or \.hdf5\/\.h5 \(D4RL\) file/,
  );
  const fake = join(dir, 'fake.hdf5');
  writeFileSync(fake, 'definitely not hdf5');
  await assert.rejects(loadDataset(fake), new RegExp(`${esc(fake)}: bad magic: not an HDF5 file`));
  await assert.rejects(loadDataset(join(dir, 'missing.h5')), /missing\.h5: cannot open \(ENOENT/);
});
