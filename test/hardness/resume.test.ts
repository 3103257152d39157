// Issue 15, items 1, 2 and 12: a resumed run is never rewound or relabelled, trains only on what it
// started on, and leaves logs that read as those of an uninterrupted run (no duplicate or
// out-of-order rows, the metrics being averaged at the checkpoint restored), with no stale
// temporary files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfig } from '../../train/config.ts';
import { loadCheckpoint } from '../../onnx/checkpoint.ts';
import { readRunInfo } from '../../train/run-folder.ts';
import { train } from '../../train/trainer.ts';
import { ENV, deadPid, hiql, tempDir, writeDataset } from './helpers.ts';

const dir = tempDir('resume');
const data = writeDataset(join(dir, 'd.npz'));
const tiny = { batchSize: 16, valueHiddenDims: '8,8', actorHiddenDims: '8,8', repDim: 4, evalEpisodes: 1, threads: 1 };
const cfgFor = (steps: number, o: Record<string, unknown> = {}, env = ENV, dataset = data) =>
  resolveConfig({
    agent: 'hiql',
    preset: 'quick',
    env,
    dataset,
    overrides: { ...tiny, evalEvery: 0, logEvery: 10, saveEvery: 20, steps, ...o },
  });
const checkpointOf = (runDir: string) => loadCheckpoint(join(runDir, 'checkpoint.bin'));
const rows = (runDir: string, file: string) =>
  readFileSync(join(runDir, file), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, number>);
const losses = (runDir: string) => rows(runDir, 'metrics.jsonl').map((r) => [r['step'], r['loss'], r['value/value_loss']]);

test('--steps at or below the checkpoint step neither rewinds nor relabels the run', async () => {
  const run = join(dir, 'r1');
  await train(cfgFor(60), run, { evalAtEnd: false });
  const before = readFileSync(join(run, 'checkpoint.bin'));
  const metrics = readFileSync(join(run, 'metrics.jsonl'), 'utf8');
  for (const saveEvery of [0, 20])
    await assert.rejects(
      train(cfgFor(20, { saveEvery }), run, { resume: true, evalAtEnd: false }),
      (e: Error) =>
        e instanceof RangeError && /cannot resume '.*r1' to step 20: its checkpoint is at step 60; give --steps above 60/.test(e.message),
    );
  const same = await train(cfgFor(60), run, { resume: true });
  assert.deepEqual([same.steps, same.startStep, same.finalEval], [60, 60, null], 'at its step already: nothing to do');
  assert.deepEqual(readFileSync(join(run, 'checkpoint.bin')), before, 'checkpoint untouched');
  assert.equal(checkpointOf(run).step, 60);
  assert.equal(readFileSync(join(run, 'metrics.jsonl'), 'utf8'), metrics, 'metrics untouched');
  // The command says so and exits 0 for a no-op, 1 for a rewind.
  const noop = await hiql(['train', '--run-dir', run, '--resume', '--steps', '60']);
  assert.equal(noop.code, 0, noop.err);
  assert.match(noop.err, /is already at step 60: nothing to train/);
  assert.doesNotMatch(noop.err, /steps\/s/);
  const back = await hiql(['train', '--run-dir', run, '--resume', '--steps', '25']);
  assert.equal(back.code, 1);
  assert.match(back.err, /its checkpoint is at step 60/);
});

test('a resumed run trains on what it started on: another env, dataset or data is refused, naming it', async () => {
  const run = join(dir, 'r2');
  await train(cfgFor(20), run, { evalAtEnd: false });
  assert.equal(readRunInfo(run).data?.rows, 2002, 'config.json records the data');
  const large = writeDataset(join(dir, 'large.npz'), 'pointmaze-large-navigate', 2);
  const other = writeDataset(join(dir, 'other.npz'), ENV, 2, 7);
  await assert.rejects(
    train(cfgFor(40, {}, 'pointmaze-large-navigate', large), run, { resume: true }),
    new RegExp(
      /cannot resume '.*r2': .* another env 'pointmaze-large-navigate' \(the run trains on 'pointmaze-medium-navigate'\), /.source +
        /another dataset '.*large\.npz'/.source,
    ),
  );
  await assert.rejects(
    train(cfgFor(40, {}, ENV, other), run, { resume: true }),
    /another dataset '.*other\.npz' \(the run trains on '.*d\.npz'\)/,
  );
  // The same path with other contents.
  const saved = readFileSync(data);
  copyFileSync(other, data);
  try {
    await assert.rejects(
      train(cfgFor(40), run, { resume: true }),
      /cannot resume '.*r2': the data in '.*d\.npz' .* is not what the run started on/,
    );
  } finally {
    writeFileSync(data, saved);
  }
  // The command refuses before loading anything; repeating the same settings is fine.
  const r = await hiql(['train', '--run-dir', run, '--resume', '--steps', '40', '--env', 'pointmaze-large-navigate', '--dataset', large]);
  assert.equal(r.code, 1);
  assert.match(r.err, /cannot resume '.*r2' with --env pointmaze-large-navigate: the run was started with --env pointmaze-medium-navigate/);
  const ok = await hiql(['train', '--run-dir', run, '--resume', '--steps', '40', '--env', ENV, '--dataset', data, '--batchSize', '16']);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(readRunInfo(run).config.env, ENV);
  assert.equal(checkpointOf(run).step, 40);
});

test('resume after a kill: rows after the checkpoint are dropped and written once, equal to an uninterrupted run', async () => {
  // logEvery 4 and saveEvery 10 do not line up: the row at step 12 averages steps 9-12, two of them
  // before the checkpoint at 10.
  const o = { logEvery: 4, saveEvery: 10, evalEvery: 10 };
  const straight = join(dir, 'straight');
  await train(cfgFor(30, o), straight);
  const run = join(dir, 'killed');
  // Killed right after the row of step 20 is written, before its evaluation and checkpoint: the
  // checkpoint is that of step 10, the logs run to 20; then half a row, and the temporary files of
  // a writer that is gone.
  const kill = (e: { step: number }) => {
    if (e.step === 20) throw new Error('killed');
  };
  await assert.rejects(train(cfgFor(30, o), run, { cb: { onLog: kill } }), /killed/);
  assert.equal(checkpointOf(run).step, 10);
  writeFileSync(join(run, 'metrics.jsonl'), readFileSync(join(run, 'metrics.jsonl'), 'utf8') + '{"step":24,"ti');
  const pid = deadPid();
  for (const f of ['checkpoint.bin', 'curves.svg', 'config.json']) writeFileSync(join(run, `.${f}.${pid}.1700000000000.tmp`), 'x');
  writeFileSync(join(run, 'notes.1.2.tmp'), 'not ours');
  const infos: string[] = [];
  await train(cfgFor(30, o), run, { resume: true, cb: { onInfo: (m) => infos.push(m) } });
  assert.deepEqual(losses(run), losses(straight));
  assert.deepEqual(
    rows(run, 'metrics.jsonl').map((r) => r['step']),
    [4, 8, 12, 16, 20, 24, 28, 30],
  );
  const evals = rows(run, 'eval.jsonl').map((r) => [r['step'], r['success']]);
  assert.deepEqual(
    evals,
    rows(straight, 'eval.jsonl').map((r) => [r['step'], r['success']]),
  );
  assert.deepEqual(
    evals.map((e) => e[0]),
    [10, 20, 30],
  );
  assert.deepEqual(
    readdirSync(run).filter((f) => f.endsWith('.tmp')),
    ['notes.1.2.tmp'],
    'stale temporary files of the run removed, others left',
  );
  assert.ok(infos.some((m) => /removed .*\.checkpoint\.bin\.\d+\.1700000000000\.tmp, left by a killed run/.test(m)));
  assert.ok(infos.some((m) => /metrics\.jsonl: dropped 4 rows after step 10/.test(m)));
  const a = checkpointOf(straight);
  const b = checkpointOf(run);
  for (const [k, t] of a.tensors) assert.deepEqual(b.tensors.get(k)!.data, t.data, `${k} differs`);
});

test('--resume on a folder with no run yet starts it; without --env it says what is missing', async () => {
  const run = join(dir, 'fresh');
  const r = await hiql(['train', '--run-dir', run, '--resume']);
  assert.equal(r.code, 1);
  assert.match(r.err, /cannot resume '.*fresh': it holds no run \(no config\.json\); to start one there, --env is required/);
  assert.ok(!existsSync(run));
  const infos: string[] = [];
  await train(cfgFor(10), run, { resume: true, evalAtEnd: false, cb: { onInfo: (m) => infos.push(m) } });
  assert.ok(infos.includes(`'${run}' holds no run yet: starting it`));
  assert.equal(checkpointOf(run).step, 10);
});

test('a dataset generation killed mid-write leaves a temporary file that the next one removes', async () => {
  const out = join(dir, 'gen', 'g.npz');
  const pid = deadPid();
  const r0 = await hiql(['data', 'generate', '--env', ENV, '--episodes', '1', '--out', out]);
  assert.equal(r0.code, 0, r0.err);
  writeFileSync(join(dir, 'gen', `.g.npz.${pid}.1700000000000.tmp`), 'half a dataset');
  writeFileSync(join(dir, 'gen', `.other.npz.${pid}.1700000000000.tmp`), 'not this target');
  const r = await hiql(['data', 'generate', '--env', ENV, '--episodes', '1', '--out', out, '--force']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(readdirSync(join(dir, 'gen')).sort(), [`.other.npz.${pid}.1700000000000.tmp`, 'g.npz']);
});
