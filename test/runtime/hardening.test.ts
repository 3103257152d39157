// Hardness of the runtime against files that are not what they claim (issue 15): companions of
// another model, external-data references, non-finite outputs, files that differ from their model
// card; and a call's inputs are read when it is made, not when it runs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Graph } from '../../onnx/index.ts';
import { metadataFor } from '../../export/export.ts';
import { loadPolicy } from '../../runtime/src/index.ts';
import { loadPolicy as loadWeb } from '../../runtime/src/web.ts';
import { findExternalData } from '../../runtime/src/external-data.ts';
import {
  craftedModel,
  editGraph,
  externalTensor,
  lenField,
  makePolicy,
  nodeWithAttribute,
  randomFloats,
  re,
  tempDir,
  varintField,
} from './helpers.ts';

const tmp = tempDir();
after(tmp.cleanup);
const MODELS = join(import.meta.dirname, '..', '..', 'models');
const OBS = new Float32Array([3.5, 7.25]);
const GOAL = new Float32Array([20.5, 12]);
const bytesOf = (p: string) => new Uint8Array(readFileSync(p));
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

const hiql = await makePolicy(tmp.dir, 'p', 'hiql', { step: 1000 });
const flat = await makePolicy(tmp.dir, 'flat', 'gcbc');
const policy = await loadPolicy(hiql.path);
after(() => policy.release());

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
  // Another training step is named too.
  await makePolicy(largeDir, 'later', 'hiql', { step: 2000 });
  await assert.rejects(
    loadPolicy(bytesOf(hiql.path), { companions: { low_policy: bytesOf(join(largeDir, 'later.low.onnx')) } }),
    /is not the low_policy companion of this policy: it is from training step 2000, the policy from step 1000 \(/,
  );
});

test('external data: a crafted policy would read weights from any file under the working directory; it is refused', async () => {
  // A flat policy whose weight W is a graph input with an initializer (so onnxruntime's optimizer
  // leaves it alone) kept as external data at 'package.json', resolved against the process's cwd.
  const g = new Graph('crafted');
  const obs = g.input('observation', 'float32', ['batch', 2]);
  g.input('goal', 'float32', ['batch', 2]);
  g.output(g.mul(obs, g.input('W', 'float32', [1, 2])), 'action');
  const bytes = editGraph(g.toBytes({ metadata: metadataFor(flat.info, 'policy', 0, {}) }), {
    extraInitializers: [externalTensor('W', [1, 2], 'package.json')],
  });
  // The attack is real: onnxruntime alone loads it and computes with bytes of ./package.json.
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all' });
  const one = new ort.Tensor('float32', new Float32Array([1, 1]), [1, 2]);
  const out = await s.run({ observation: one, goal: one });
  await s.release();
  const pkg = new Float32Array(new Uint8Array(readFileSync('package.json')).slice(0, 8).buffer);
  assert.deepEqual(out['action']!.data, pkg, 'onnxruntime read W from ./package.json');

  const file = join(tmp.dir, 'evil.onnx');
  writeFileSync(file, bytes);
  const refused = re(
    /^'.*' is refused: tensor 'W' keeps its data outside the model file \(external data at 'package\.json'\); /,
    /this runtime loads self-contained models only/,
  );
  for (const load of [() => loadPolicy(file), () => loadPolicy(bytes), () => loadWeb(bytes), () => loadPolicy(file, { backend: 'wasm' })])
    await assert.rejects(load(), (e: Error) => e.constructor === Error && refused.test(e.message));

  // Only the flag (data_location EXTERNAL, no location), or a location outside the folder, or deep
  // in a subgraph (a Constant in an If branch) or a companion: all refused.
  const base = craftedModel(flat, 'policy', [0.5]);
  const flagOnly = editGraph(base, { replace: 'W_action', tensor: externalTensor('W_action', [2, 2], null) });
  await assert.rejects(loadPolicy(flagOnly), /tensor 'W_action' keeps its data outside the model file; this runtime/);
  const outside = editGraph(base, { replace: 'W_action', tensor: externalTensor('W_action', [2, 2], '../../etc/passwd') });
  await assert.rejects(loadPolicy(outside), /external data at '\.\.\/\.\.\/etc\/passwd'/);
  const constant = nodeWithAttribute('Constant', 'value', 4, 5, externalTensor('hidden', [2], '/etc/hostname'));
  const branch = lenField(1, constant); // GraphProto.node
  const nested = editGraph(base, { extraNodes: [nodeWithAttribute('If', 'then_branch', 5, 6, concat(branch, lenField(2, enc('b'))))] });
  await assert.rejects(loadPolicy(nested), /tensor 'hidden' keeps its data outside the model file \(external data at '\/etc\/hostname'\)/);
  const low = editGraph(craftedModel(hiql, 'low_policy', [0.5], 1000), {
    replace: 'W_action',
    tensor: externalTensor('W_action', [2, 10], 'x.bin'),
  });
  await assert.rejects(
    loadPolicy(craftedModel(hiql, 'policy', [0.5], 1000), { companions: { low_policy: low } }),
    /^Error: '\(low_policy bytes\)' is refused: tensor 'W_action' keeps its data outside the model file/,
  );
  // Every shipped and exported file is self-contained.
  for (const f of [
    'pointmaze-medium-navigate-hiql.onnx',
    'pointmaze-medium-navigate-hiql.low.onnx',
    'pointmaze-giant-navigate-hiql.phi.onnx',
  ])
    assert.equal(findExternalData(bytesOf(join(MODELS, f)), f), null, f);
  for (const f of ['p.onnx', 'p.low.onnx', 'p.phi.onnx', 'flat.onnx']) assert.equal(findExternalData(bytesOf(join(tmp.dir, f))), null, f);
  assert.deepEqual(findExternalData(varintField(7, 1)), null, 'non-message fields are skipped');
  assert.throws(
    () => findExternalData(lenField(7, new Uint8Array([0x2a, 0x05, 1])), 'cut.onnx'),
    /'cut\.onnx' is not a readable ONNX model/,
  );
});

const enc = (s: string) => new TextEncoder().encode(s);
const concat = (a: Uint8Array, b: Uint8Array) => {
  const o = new Uint8Array(a.length + b.length);
  o.set(a);
  o.set(b, a.length);
  return o;
};

test('a non-finite output is an Error, never a returned value (act, actBatch, subgoal, actTowards, goalRep, controller)', async () => {
  const bad = await loadPolicy(craftedModel(flat, 'policy', [NaN, 1]));
  const broken = /the model returned action\[0\] = NaN; expected finite numbers \(the inputs were finite\), so the model file is broken/;
  await assert.rejects(
    bad.act(OBS, GOAL),
    (e: Error) => e.constructor === Error && /^policy\.act: /.test(e.message) && broken.test(e.message),
  );
  await assert.rejects(
    bad.actBatch(randomFloats(6, 1), randomFloats(6, 2), 3),
    /^Error: policy\.actBatch: the model returned action\[0\] \(row 0, column 0\) = NaN/,
  );
  await assert.rejects(bad.controller().act(OBS, GOAL), /^Error: policy\.act: the model returned action\[0\] = NaN/);
  await bad.release();
  // A HIQL policy whose files agree on their metadata but compute NaN or Infinity.
  const step = 1000;
  const p = await loadPolicy(craftedModel(hiql, 'policy', [1, NaN, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], step), {
    companions: {
      low_policy: craftedModel(hiql, 'low_policy', [0.5, Infinity], step),
      goal_rep: craftedModel(hiql, 'goal_rep', [-Infinity], step),
    },
  });
  await assert.rejects(p.act(OBS, GOAL), /^Error: policy\.act: the model returned action\[1\] = NaN/);
  await assert.rejects(p.subgoal(OBS, GOAL), /^Error: policy\.subgoal: the model returned subgoal\[1\] = NaN/);
  await assert.rejects(p.actWithSubgoal(OBS, GOAL), /^Error: policy\.actWithSubgoal: the model returned action\[1\] = NaN/);
  await assert.rejects(
    p.subgoalBatch(OBS, GOAL, 1),
    /^Error: policy\.subgoalBatch: the model returned subgoal\[1\] \(row 0, column 1\) = NaN/,
  );
  const z = new Float32Array(10);
  await assert.rejects(p.actTowards(OBS, z), /^Error: policy\.actTowards: the model returned action\[1\] = Infinity/);
  await assert.rejects(
    p.actTowardsBatch([1, 1, 2, 2], new Float32Array(20), 2),
    /^Error: policy\.actTowardsBatch: the model returned action\[1\] \(row 0, column 1\) = Infinity/,
  );
  await assert.rejects(p.goalRep(OBS, GOAL), /^Error: policy\.goalRep: the model returned representation\[0\] = -Infinity/);
  await assert.rejects(p.goalRepBatch(OBS, GOAL, 1), /^Error: policy\.goalRepBatch: the model returned representation\[0\]/);
  await p.release();
  // A finite crafted policy (same construction) acts: the check is on values, not on the construction.
  const ok = await loadPolicy(craftedModel(flat, 'policy', [0.5, -0.25]));
  assert.deepEqual(await ok.act([2, 4], GOAL), new Float32Array([0.5 * 2 + 0.5 * 4, -0.25 * 2 - 0.25 * 4]));
  await ok.release();
});

test("a queued call reads its inputs when it is made: changing the caller's arrays afterwards does not reach it", async () => {
  const other = new Float32Array([-4, 9]);
  const [wantA, wantOther] = [await policy.act(OBS, GOAL), await policy.act(other, GOAL)];
  assert.notDeepEqual(wantA, wantOther);
  const buf = Float32Array.from(OBS);
  const arr = [...OBS];
  const first = policy.act(buf, GOAL); // takes the session now
  const queued = policy.act(buf, GOAL); // waits for it
  const queuedArray = policy.act(arr, GOAL);
  buf.set(other);
  arr[0] = other[0]!;
  arr[1] = other[1]!;
  assert.deepEqual(await Promise.all([first, queued, queuedArray]), [wantA, wantA, wantA]);
  // Batch, subgoal and companion calls alike.
  const n = 5;
  const obs = randomFloats(2 * n, 3, 12);
  const goals = randomFloats(2 * n, 4, 12);
  const want = await policy.actBatch(obs, goals, n);
  const z = await policy.subgoal(OBS, GOAL);
  const wantTowards = await policy.actTowards(OBS, z);
  const wantRep = await policy.goalRep(OBS, GOAL);
  const zBuf = Float32Array.from(z);
  const gBuf = Float32Array.from(GOAL);
  const o2 = Float32Array.from(obs);
  void policy.act(OBS, GOAL);
  const calls = [policy.actBatch(o2, goals, n), policy.actTowards(OBS, zBuf), policy.goalRep(OBS, gBuf)];
  o2.fill(0);
  zBuf.fill(1);
  gBuf.fill(-3);
  assert.deepEqual(await Promise.all(calls), [want, wantTowards, wantRep]);
  // A bad input in a queued call is reported for that call (when it is made); the others run.
  const results = await Promise.allSettled([policy.act(OBS, GOAL), policy.act([NaN, 1], GOAL), policy.act(OBS, GOAL)]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
});

test('integrity: sha256 digests from the model card are checked before loading; a file that differs is refused', async () => {
  const card = JSON.parse(readFileSync(join(MODELS, 'pointmaze-medium-navigate-hiql.json'), 'utf8')) as {
    files: { file: string; role: 'policy' | 'low_policy' | 'goal_rep'; sha256: string }[];
  };
  const shipped = join(MODELS, 'pointmaze-medium-navigate-hiql.onnx');
  const byRole = Object.fromEntries(card.files.map((f) => [f.role, f.sha256]));
  for (const digests of [card.files, byRole, { ...byRole, policy: byRole['policy']!.toUpperCase() }]) {
    const p = await loadPolicy(shipped, { sha256: digests });
    assert.deepEqual(p.hasCompanion, { low_policy: true, goal_rep: true });
    assert.equal((await p.act(OBS, GOAL)).length, 2);
    await p.release();
  }
  // A companion that differs from the card (here: the large maze's, renamed).
  const dir = join(tmp.dir, 'card');
  mkdirSync(dir);
  for (const f of card.files) copyFileSync(join(MODELS, f.file), join(dir, f.file));
  copyFileSync(join(MODELS, 'pointmaze-large-navigate-hiql.phi.onnx'), join(dir, 'pointmaze-medium-navigate-hiql.phi.onnx'));
  const got = sha(join(dir, 'pointmaze-medium-navigate-hiql.phi.onnx'));
  await assert.rejects(loadPolicy(join(dir, 'pointmaze-medium-navigate-hiql.onnx'), { sha256: card.files }), (e: Error) => {
    assert.equal(e.constructor, Error);
    assert.equal(
      e.message,
      `the goal_rep companion '${join(dir, 'pointmaze-medium-navigate-hiql.phi.onnx')}' is not the file expected: its SHA-256 is ${got}, ` +
        `expected ${byRole['goal_rep']} (options.sha256); the file was changed, damaged or mixed up with another model`,
    );
    return true;
  });
  // One flipped byte in the policy file.
  const flipped = bytesOf(shipped);
  flipped[flipped.length - 100]! ^= 1;
  await assert.rejects(
    loadPolicy(flipped, { sha256: byRole }),
    /^Error: the policy '\(bytes\)' is not the file expected: its SHA-256 is [0-9a-f]{64}, expected a0673c43/,
  );
  // Every file loaded needs its digest; from bytes without companions the policy's suffices.
  await assert.rejects(
    loadPolicy(hiql.path, { sha256: { policy: sha(hiql.path) } }),
    re(
      /^Error: loadPolicy: options\.sha256 has no digest for the low_policy companion '.*p\.low\.onnx'; /,
      /give every file's \(a model card lists them\) or none$/,
    ),
  );
  const bare = await loadPolicy(bytesOf(hiql.path), { sha256: { policy: sha(hiql.path) } });
  assert.deepEqual(await bare.act(OBS, GOAL), await policy.act(OBS, GOAL));
  await bare.release();
  // The browser entry checks with crypto.subtle.
  const web = await loadWeb(bytesOf(shipped), { sha256: card.files });
  assert.equal(web.engine, 'onnxruntime-web');
  await web.release();
  await assert.rejects(loadWeb(flipped, { sha256: card.files }), /^Error: the policy '\(bytes\)' is not the file expected/);
  // Malformed digests.
  await assert.rejects(
    loadPolicy(hiql.path, { sha256: { policy: 'abc' } }),
    /^RangeError: loadPolicy: options\.sha256\.policy must be a SHA-256 digest \(64 hex digits\), got 'abc'$/,
  );
  await assert.rejects(
    loadPolicy(hiql.path, { sha256: { low: sha(hiql.path) } as never }),
    /^RangeError: loadPolicy: options\.sha256\.low names role 'low'; expected one of policy, low_policy, goal_rep$/,
  );
  await assert.rejects(
    loadPolicy(hiql.path, { sha256: [{ role: 'policy' }] as never }),
    /^RangeError: loadPolicy: options\.sha256\[0\] must be a SHA-256 digest \(64 hex digits\), got undefined$/,
  );
  await assert.rejects(loadPolicy(hiql.path, { sha256: 'a0673c43' as never }), /^TypeError: loadPolicy: options\.sha256 must be/);
});
