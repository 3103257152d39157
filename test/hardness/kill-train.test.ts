// Fault injection (issue 15): `hiql train` killed with SIGKILL at random moments, ten times, each
// time resumed with the same command. Every atomic write waits 40 ms between its temporary file and
// the rename (HIQL_TEST_RENAME_DELAY_MS), so that many kills land mid-checkpoint-write. After every
// kill the checkpoint loads; at the end the run equals an uninterrupted one (every tensor, Adam's
// included, and every metrics and evaluation row but the timings) and no temporary file is left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { loadCheckpoint } from '../../onnx/checkpoint.ts';
import { ENV, TINY, startHiql, tempDir, writeDataset } from './helpers.ts';

const KILLS = 10;
// Long enough that ten kills land before the run ends, at the speed of the rewritten training step.
const STEPS = 800;
const dir = tempDir('kill-train');
const data = writeDataset(join(dir, 'd.npz'));
const args = (runDir: string) => [
  'train',
  '--env',
  ENV,
  '--dataset',
  data,
  ...TINY,
  '--steps',
  String(STEPS),
  '--saveEvery',
  '5',
  '--logEvery',
  '3',
  '--evalEvery',
  '100',
  '--run-dir',
  runDir,
  '--resume',
];

/** Resolves with the exit code (null if killed) and stderr; `onStart` runs at the first line on stderr. */
function watch(child: ChildProcess, onStart?: () => void): Promise<{ code: number | null; err: string }> {
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (err === '') onStart?.();
    err += d.toString();
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, err })));
}

const rows = (runDir: string, file: string) =>
  readFileSync(join(runDir, file), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const { time: _t, stepsPerSec: _s, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return rest;
    });

test('training killed ten times at random moments and resumed equals an uninterrupted run', { timeout: 120_000 }, async () => {
  const reference = join(dir, 'reference');
  const straight = watch(startHiql(args(reference), dir));
  const run = join(dir, 'killed');
  const delays: number[] = [];
  let kills = 0;
  for (let attempt = 0; kills < KILLS && attempt < 3 * KILLS; attempt++) {
    const delay = Math.round(Math.random() * 1200);
    const child = startHiql(args(run), dir, { HIQL_TEST_RENAME_DELAY_MS: '40' });
    let timer: NodeJS.Timeout | undefined;
    const done = await watch(child, () => (timer = setTimeout(() => child.kill('SIGKILL'), delay)));
    clearTimeout(timer);
    if (done.code === null) {
      kills++;
      delays.push(delay);
    } else {
      assert.equal(done.code, 0, done.err);
    }
    if (existsSync(join(run, 'checkpoint.bin'))) {
      const step = loadCheckpoint(join(run, 'checkpoint.bin')).step; // throws if it does not load
      assert.ok(step % 5 === 0 && step <= STEPS, `checkpoint at step ${step}`);
    }
  }
  assert.equal(kills, KILLS, `killed ${kills} times (delays ${delays.join(', ')} ms)`);
  const last = await watch(startHiql(args(run), dir));
  assert.equal(last.code, 0, last.err);
  const ref = await straight;
  assert.equal(ref.code, 0, ref.err);

  const a = loadCheckpoint(join(reference, 'checkpoint.bin'));
  const b = loadCheckpoint(join(run, 'checkpoint.bin'));
  assert.equal(b.step, STEPS);
  assert.deepEqual([...b.tensors.keys()], [...a.tensors.keys()]);
  for (const [k, t] of a.tensors)
    assert.deepEqual(b.tensors.get(k)!.data, t.data, `${k} differs from the uninterrupted run (kills at ${delays.join(', ')} ms)`);
  assert.deepEqual(rows(run, 'metrics.jsonl'), rows(reference, 'metrics.jsonl'));
  assert.deepEqual(rows(run, 'eval.jsonl'), rows(reference, 'eval.jsonl'));
  assert.deepEqual(
    rows(run, 'eval.jsonl').map((r) => r['step']),
    [100, 200, 300, 400, 500, 600, 700, 800],
  );
  assert.deepEqual(
    readdirSync(run).filter((f) => f.startsWith('.') || f.endsWith('.tmp')),
    [],
    'no temporary file left',
  );
});
