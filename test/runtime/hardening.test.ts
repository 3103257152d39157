// Hardness of the runtime against files that are not what they claim (issue 15): companions of
// another model.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPolicy } from '../../runtime/src/index.ts';
import { loadPolicy as loadWeb } from '../../runtime/src/web.ts';
import { makePolicy, re, tempDir } from './helpers.ts';

const tmp = tempDir();
after(tmp.cleanup);
const MODELS = join(import.meta.dirname, '..', '..', 'models');
const bytesOf = (p: string) => new Uint8Array(readFileSync(p));

const hiql = await makePolicy(tmp.dir, 'p', 'hiql', { step: 1000 });

test('companions of another maze (same config and step) are refused, naming what differs', async () => {
  // The same config and training step, trained on the large maze: only hiql.env (and the weights) differ.
  const largeDir = join(tmp.dir, 'large');
  const mixedDir = join(tmp.dir, 'mixed');
  mkdirSync(largeDir);
  mkdirSync(mixedDir);
  const large = await makePolicy(largeDir, 'p', 'hiql', { step: 1000, env: 'pointmaze-large-navigate', seed: 2 });
  assert.equal(large.info.configHash, hiql.info.configHash, 'the same config hash: the check must look further');
  copyFileSync(hiql.path, join(mixedDir, 'p.onnx'));
  for (const f of ['p.low.onnx', 'p.phi.onnx']) copyFileSync(join(largeDir, f), join(mixedDir, f));
  await assert.rejects(loadPolicy(join(mixedDir, 'p.onnx')), (e: Error) => {
    assert.equal(e.constructor, Error);
    assert.match(
      e.message,
      re(
        /^'.*mixed.p\.low\.onnx' is not the low_policy companion of this policy: /,
        /it was trained on pointmaze-large-navigate, the policy on pointmaze-medium-navigate /,
        /\(the files of one export carry the same metadata; keep them together\)$/,
      ),
    );
    return true;
  });
  await assert.rejects(
    loadPolicy(bytesOf(hiql.path), { companions: { goal_rep: bytesOf(join(largeDir, 'p.phi.onnx')) } }),
    /is not the goal_rep companion of this policy: it was trained on pointmaze-large-navigate, the policy on pointmaze-medium-navigate/,
  );
  await assert.rejects(
    loadWeb(bytesOf(hiql.path), { companions: { low_policy: bytesOf(join(largeDir, 'p.low.onnx')) } }),
    /is not the low_policy companion of this policy: it was trained on pointmaze-large-navigate/,
  );
  // The shipped medium policy with the large run's companions: maze and step differ.
  const shipped = join(tmp.dir, 'shipped');
  mkdirSync(shipped);
  copyFileSync(join(MODELS, 'pointmaze-medium-navigate-hiql.onnx'), join(shipped, 'pointmaze-medium-navigate-hiql.onnx'));
  for (const [from, to] of [
    ['pointmaze-large-navigate-hiql.low.onnx', 'pointmaze-medium-navigate-hiql.low.onnx'],
    ['pointmaze-large-navigate-hiql.phi.onnx', 'pointmaze-medium-navigate-hiql.phi.onnx'],
  ] as const)
    copyFileSync(join(MODELS, from), join(shipped, to));
  await assert.rejects(
    loadPolicy(join(shipped, 'pointmaze-medium-navigate-hiql.onnx')),
    re(
      /is not the low_policy companion of this policy: /,
      /it was trained on pointmaze-large-navigate, the policy on pointmaze-medium-navigate; /,
      /it is from training step 130000, the policy from step 50000 \(/,
    ),
  );
  // A step of its own, and dimensions, are named too.
  await makePolicy(largeDir, 'later', 'hiql', { step: 2000 });
  await assert.rejects(
    loadPolicy(bytesOf(hiql.path), { companions: { low_policy: bytesOf(join(largeDir, 'later.low.onnx')) } }),
    /is not the low_policy companion of this policy: it is from training step 2000, the policy from step 1000 \(/,
  );
});
