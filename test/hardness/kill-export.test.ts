// Fault injection (issue 15, item 3): `hiql export` over an existing HIQL model killed with SIGKILL
// ten times, at each stage of writing the file set. Every atomic write waits 120 ms before its
// rename (HIQL_TEST_RENAME_DELAY_MS), and kill k lands in write k mod 6 of the set's six (counted
// from the export's first temporary file), so every stage is hit. After every kill the folder loads with the
// runtime's loadPolicy (which refuses companions of another step or config) as the old model or
// the new one; after the next complete export only the three files are left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { exportPolicy } from '../../export/export.ts';
import { loadPolicy } from '../../runtime/src/index.ts';
import { resolveConfig } from '../../train/config.ts';
import { readRunInfo, readRunParams } from '../../train/run-folder.ts';
import { train } from '../../train/trainer.ts';
import { ENV, hiqlChild, startHiql, tempDir, writeDataset } from './helpers.ts';

const KILLS = 10;
const WRITE_MS = 120;
const dir = tempDir('kill-export');
const data = writeDataset(join(dir, 'd.npz'));
const runOf = async (steps: number) => {
  const runDir = join(dir, `run${steps}`);
  const overrides = { batchSize: 16, valueHiddenDims: '8,8', actorHiddenDims: '8,8', repDim: 4, evalEvery: 0, threads: 1, steps };
  await train(resolveConfig({ agent: 'hiql', preset: 'quick', env: ENV, dataset: data, overrides }), runDir, { evalAtEnd: false });
  return runDir;
};

test('export killed at every stage of writing the set leaves a folder that loads, old or new', { timeout: 120_000 }, async () => {
  const runs = [await runOf(10), await runOf(20)];
  const models = join(dir, 'models');
  const out = join(models, 'p.onnx');
  const { params, step } = readRunParams(runs[0]!);
  await exportPolicy(readRunInfo(runs[0]!), params, step, out, { validate: false });
  const stepsSeen = new Set<number>();
  for (let k = 0; k < KILLS; k++) {
    const child = startHiql(['export', runs[(k + 1) % 2]!, '--out', out, '--no-validate', '--force'], dir, {
      HIQL_TEST_RENAME_DELAY_MS: String(WRITE_MS),
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    let closed = false;
    void exited.then(() => (closed = true));
    // Wait for the export's first temporary file, then kill within write number k % 6.
    const tag = `.${child.pid}.`;
    while (!closed && !readdirSync(models).some((f) => f.includes(tag))) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, (k % 6) * WRITE_MS + Math.random() * WRITE_MS));
    child.kill('SIGKILL');
    await exited;
    const policy = await loadPolicy(out, { threads: 1 }); // throws on a mixed set
    try {
      assert.ok([10, 20].includes(policy.info.trainSteps), `step ${policy.info.trainSteps}`);
      stepsSeen.add(policy.info.trainSteps);
      const z = await policy.subgoal(new Float32Array([0, 0]), new Float32Array([8, 8]));
      assert.equal((await policy.actTowards(new Float32Array([0, 0]), z)).length, 2);
    } finally {
      await policy.release();
    }
  }
  assert.deepEqual([...stepsSeen].sort(), [10, 20], 'kills left the old set and the new one');
  const r = hiqlChild(['export', runs[1]!, '--out', out, '--no-validate', '--force'], dir);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(models).sort(), ['p.low.onnx', 'p.onnx', 'p.phi.onnx'], 'no temporary or staged file left');
  const policy = await loadPolicy(out, { threads: 1 });
  assert.equal(policy.info.trainSteps, 20);
  await policy.release();
});
