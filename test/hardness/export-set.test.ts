// Issue 15, item 3, deterministically: an export over an existing HIQL model that stops at its
// first, second, ... rename (fs.renameSync made to throw there, as a kill would stop it) leaves a
// folder that the runtime loads, as the old model or the new one; the next export leaves only the
// three files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { readdirSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { exportPolicy } from '../../export/export.ts';
import { loadPolicy } from '../../runtime/src/index.ts';
import { resolveConfig } from '../../train/config.ts';
import { readRunInfo, readRunParams } from '../../train/run-folder.ts';
import { train } from '../../train/trainer.ts';
import { ENV, tempDir, writeDataset } from './helpers.ts';

const dir = tempDir('export-set');
const data = writeDataset(join(dir, 'd.npz'));
const exportRun = async (steps: number, out: string) => {
  const runDir = join(dir, `run${steps}`);
  const { params, step } = readRunParams(runDir);
  return exportPolicy(readRunInfo(runDir), params, step, out, { validate: false });
};

/** Runs `fn` with the `n`-th and later fs.renameSync calls throwing, as if the process died there. */
async function stoppedAtRename<T>(n: number, fn: () => Promise<T>): Promise<void> {
  const rename = fs.renameSync;
  let calls = 0;
  fs.renameSync = ((a: fs.PathLike, b: fs.PathLike) => {
    if (++calls >= n) throw Object.assign(new Error('simulated kill'), { code: 'EINTR' });
    rename(a, b);
  }) as typeof fs.renameSync;
  syncBuiltinESMExports(); // named imports of node:fs see the replacement
  try {
    await assert.rejects(fn(), /simulated kill/);
  } finally {
    fs.renameSync = rename;
    syncBuiltinESMExports();
  }
}

test('an export stopped at any rename leaves a loadable set, old or new', async () => {
  for (const steps of [10, 20]) {
    const overrides = { batchSize: 16, valueHiddenDims: '8,8', actorHiddenDims: '8,8', repDim: 4, evalEvery: 0, threads: 1, steps };
    await train(resolveConfig({ agent: 'hiql', preset: 'quick', env: ENV, dataset: data, overrides }), join(dir, `run${steps}`), {
      evalAtEnd: false,
    });
  }
  const out = join(dir, 'models', 'p.onnx');
  const seen: number[] = [];
  for (let n = 1; n <= 6; n++) {
    await exportRun(10, out);
    await stoppedAtRename(n, () => exportRun(20, out)).catch(() => assert.fail(`the export did not reach rename ${n}`));
    const policy = await loadPolicy(out, { threads: 1 }).catch((e: Error) => assert.fail(`stopped at rename ${n}: ${e.message}`));
    seen.push(policy.info.trainSteps);
    await policy.release();
  }
  assert.equal(seen[0], 10, 'stopped before any rename: the old set');
  assert.ok(seen.includes(20), 'stopped after the switch: the new set');
  await exportRun(20, out);
  assert.deepEqual(readdirSync(join(dir, 'models')).sort(), ['p.low.onnx', 'p.onnx', 'p.phi.onnx']);
});
