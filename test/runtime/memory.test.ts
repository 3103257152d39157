// Large batches (issue 11): onnxruntime's CPU arena keeps its largest allocation until the session is
// released, so one actBatch of a million rows used to keep 3.2 GB of RSS. Batches now run in chunks
// of bounded size (LoadOptions.maxBatchRows): the results are those of one run (to float32 rounding),
// the memory bounded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadPolicy } from '../../runtime/src/index.ts';
import { makePolicy, randomFloats, tempDir } from './helpers.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const tmp = tempDir();
after(tmp.cleanup);
const hiql = await makePolicy(tmp.dir, 'p', 'hiql');

test('batches larger than maxBatchRows run in chunks and equal the one-run results (every batch method)', async () => {
  const whole = await loadPolicy(hiql.path);
  const chunked = await loadPolicy(hiql.path, { maxBatchRows: 3 });
  const n = 10;
  const obs = randomFloats(2 * n, 5, 12);
  const goals = randomFloats(2 * n, 6, 12);
  const subs = await whole.subgoalBatch(obs, goals, n);
  // Equal to float32 rounding: onnxruntime's kernels round by position in the batch (vector bodies
  // and scalar tails), so even one run differs from batch-1 calls by about 1e-7.
  const close = (a: Float32Array, b: Float32Array, what: string) => {
    assert.equal(a.length, b.length, what);
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-5, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  };
  close(await chunked.actBatch(obs, goals, n), await whole.actBatch(obs, goals, n), 'actBatch');
  close(await chunked.subgoalBatch(obs, goals, n), subs, 'subgoalBatch');
  close(await chunked.actTowardsBatch(obs, subs, n), await whole.actTowardsBatch(obs, subs, n), 'actTowardsBatch');
  close(await chunked.goalRepBatch(obs, goals, n), await whole.goalRepBatch(obs, goals, n), 'goalRepBatch');
  // Row-by-row agreement with batch-1 calls, and inputs read when the call is made.
  const o = Float32Array.from(obs);
  const pending = chunked.actBatch(o, goals, n);
  o.fill(0);
  const a = await pending;
  for (let i = 0; i < n; i++) {
    const one = await whole.act(obs.subarray(2 * i, 2 * i + 2), goals.subarray(2 * i, 2 * i + 2));
    for (let j = 0; j < 2; j++) assert.ok(Math.abs(one[j]! - a[2 * i + j]!) <= 1e-6, `row ${i}`);
  }
  // Validation names the row of the whole batch, not of a chunk.
  const g = Float32Array.from(goals);
  g[15] = NaN;
  await assert.rejects(chunked.actBatch(obs, g, n), /^RangeError: policy\.actBatch: goals\[15\] \(row 7, column 1\) is NaN/);
  await assert.rejects(
    loadPolicy(hiql.path, { maxBatchRows: 0 }),
    /^RangeError: loadPolicy: maxBatchRows must be a positive integer, got 0$/,
  );
  await Promise.all([whole.release(), chunked.release()]);
});

const CHILD = `
import v8 from 'node:v8';
import vm from 'node:vm';
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const [index, model, nArg] = process.argv.slice(2);
const { loadPolicy } = await import(index);
const n = Number(nArg);
const rss = () => { gc(); gc(); return process.memoryUsage().rss / 2 ** 20; };
const p = await loadPolicy(model);
const obs = new Float32Array(2 * n).map((_, i) => (i % 23) - 11);
const goals = new Float32Array(2 * n).map((_, i) => (i % 19) - 9);
await p.actBatch(obs.subarray(0, 512), goals.subarray(0, 512), 256);
const before = rss();
let a = await p.actBatch(obs, goals, n);
const finite = a.every(Number.isFinite);
a = null;
const after = rss();
console.log(JSON.stringify({ before, after, finite }));
await p.release();
`;

test('RSS after a large batch stays bounded (a child process, the shipped 3 x 256 policy, 200k rows)', (t) => {
  const script = join(tmp.dir, 'rss-child.mjs');
  writeFileSync(script, CHILD);
  const model = join(ROOT, 'models', 'pointmaze-medium-navigate-hiql.onnx');
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, join(ROOT, 'runtime', 'src', 'index.ts'), model, '200000'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const m = JSON.parse(r.stdout.trim().split('\n').pop()!) as { before: number; after: number; finite: boolean };
  const growth = m.after - m.before;
  t.diagnostic(`RSS ${m.before.toFixed(0)} MiB before, ${m.after.toFixed(0)} MiB after actBatch(200000): +${growth.toFixed(0)} MiB`);
  assert.ok(m.finite);
  // Measured: +650 MiB before chunking (the arena kept the whole batch's activations), +17 MiB after.
  assert.ok(growth < 100, `RSS grew by ${growth.toFixed(0)} MiB after one actBatch(200000); expected under 100 MiB`);
});
