// examples/controller.ts: the fixed-rate loop runs a tiny policy through whole episodes and reports
// its timing figures (no wall-clock assertions: only that they are reported and consistent).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { formatSummary, parseArgs, runController } from '../../examples/controller.ts';
import { makePolicy, tempDir } from './helpers.ts';

const tmp = tempDir();
after(tmp.cleanup);

test('controller example: fixed-rate loop over whole episodes, with deadline and latency figures', async () => {
  const { path } = await makePolicy(tmp.dir, 'ctl', 'hiql');
  const o = parseArgs([path, '--hz', '2000', '--episodes', '2', '--max-steps', '30', '--subgoal-every', '5', '--spin-ms', '0.2']);
  assert.deepEqual([o.model, o.hz, o.episodes, o.maxSteps, o.subgoalEvery], [path, 2000, 2, 30, 5]);
  const s = await runController(o);
  assert.equal(s.episodes.length, 2);
  assert.equal(
    s.ticks,
    s.episodes.reduce((a, e) => a + e.steps, 0),
  );
  for (const e of s.episodes) assert.ok(e.steps >= 1 && e.steps <= 30 && Number.isFinite(e.finalDistance));
  assert.ok(s.deadlineMisses >= 0 && s.deadlineMisses <= s.ticks);
  assert.ok(s.actUs.p50 > 0 && s.actUs.p50 <= s.actUs.p99 && s.actUs.p99 <= s.actUs.max);
  assert.match(formatSummary(s), /deadline \d+ missed/);
  assert.throws(() => parseArgs(['--hz', '0']), /^RangeError: --hz expects a positive number, got '0'$/);
  assert.throws(() => parseArgs(['--bogus']), /unknown option '--bogus'/);
  await assert.rejects(runController(parseArgs([`${tmp.dir}/none.onnx`])), /no policy at '.*none\.onnx'; export one with: hiql export/);
});
