// An export never replaces what a user has without being told to: an existing policy set at --out
// (NAME.onnx, its companions, its card) is kept unless --force, and then replaced as a whole, so that
// no old card or old companion is left describing a policy that is not there any more. A re-encoding
// (--from-model) never writes over the files it reads, forced or not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportPolicy } from '../../export/export.ts';
import { loadPolicy } from '../../runtime/src/index.ts';
import { resolveConfig } from '../../train/config.ts';
import { readRunInfo, readRunParams } from '../../train/run-folder.ts';
import { train } from '../../train/trainer.ts';
import { ENV, hiql, tempDir, writeDataset } from './helpers.ts';

const dir = tempDir('overwrite');
const data = writeDataset(join(dir, 'd.npz'));
const runOf = async (agent: 'hiql' | 'gcbc', steps: number, name = `${agent}${steps}`) => {
  const runDir = join(dir, name);
  const small = { batchSize: 16, actorHiddenDims: '8,8', evalEvery: 0, threads: 1, steps };
  const overrides = agent === 'hiql' ? { ...small, valueHiddenDims: '8,8', repDim: 4 } : small;
  await train(resolveConfig({ agent, preset: 'quick', env: ENV, dataset: data, overrides }), runDir, { evalAtEnd: false });
  return runDir;
};
const bytesOf = (folder: string) => new Map(readdirSync(folder).map((f) => [f, readFileSync(join(folder, f))]));

test('hiql export keeps an existing policy set unless --force, which replaces the set and removes its old card', async () => {
  const [hiql10, hiql20, gcbc10] = [await runOf('hiql', 10), await runOf('hiql', 20), await runOf('gcbc', 10)];
  const models = join(dir, 'models');
  const out = join(models, 'p.onnx');
  const { params, step } = readRunParams(hiql10);
  await exportPolicy(readRunInfo(hiql10), params, step, out, { validate: false });
  writeFileSync(join(models, 'p.md'), '# the card of the step-10 policy\n');
  writeFileSync(join(models, 'p.json'), '{"success": 0.78}\n');
  const before = bytesOf(models);

  const kept = await hiql(['export', hiql20, '--out', out, '--no-validate']);
  assert.notEqual(kept.code, 0);
  assert.match(
    kept.err,
    /hiql export: a policy is already exported there \(.*p\.onnx, .*p\.low\.onnx, .*p\.phi\.onnx, .*p\.md, .*p\.json\); it is kept\. /,
  );
  assert.match(kept.err, /Pass --force to replace the whole set/);
  assert.ok(kept.err.startsWith('hiql export: a policy'), 'the command is named once');
  assert.deepEqual(bytesOf(models), before, 'nothing was written or removed');
  // A flag given a value by mistake (the run folder after it) is refused, not taken as true.
  const misplaced = await hiql(['export', '--force', hiql20, '--out', out]);
  assert.match(misplaced.err, /--force takes no value \(got '.*hiql20'\); put it after the positional arguments/);

  const forced = await hiql(['export', hiql20, '--out', out, '--no-validate', '--force']);
  assert.equal(forced.code, 0, forced.err);
  assert.match(forced.err, /removed .*p\.md \(it described the replaced policy\)/);
  assert.deepEqual(readdirSync(models).sort(), ['p.low.onnx', 'p.onnx', 'p.phi.onnx']);
  const policy = await loadPolicy(out, { threads: 1 });
  assert.equal(policy.info.trainSteps, 20);
  await policy.release();

  // A one-file policy forced over a HIQL set: the old companions go too.
  const flat = await hiql(['export', gcbc10, '--out', out, '--no-validate', '--force']);
  assert.equal(flat.code, 0, flat.err);
  assert.deepEqual(readdirSync(models), ['p.onnx']);
  const bin = await hiql(['export', gcbc10, '--out', join(models, 'p.bin')]);
  assert.match(bin.err, /hiql export: --out must name a \.onnx file, got '.*p\.bin'/);
});

test('hiql export --from-model never writes over the files it reads, even with --force', async () => {
  const run = await runOf('hiql', 10, 'source');
  const models = join(dir, 'src');
  const src = join(models, 'm.onnx');
  const { params, step } = readRunParams(run);
  await exportPolicy(readRunInfo(run), params, step, src, { validate: false });
  const before = bytesOf(models);
  for (const target of [src, join(models, 'm.phi.onnx')]) {
    const r = await hiql(['export', '--from-model', src, '--quantize', 'int8', '--out', target, '--no-validate', '--force']);
    assert.notEqual(r.code, 0);
    assert.match(
      r.err,
      /hiql export --from-model: --out '.*' would replace '.*m(\.phi)?\.onnx', which this export reads; choose another --out/,
    );
  }
  assert.deepEqual(bytesOf(models), before);
});
