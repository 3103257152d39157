// The runtime's Policy: outputs against onnxruntime run directly on the exported files, batch forms,
// input validation (error class and message, session usable afterwards), companions, flat agents,
// the k-step controller, backends and explicit fallback, onnxruntime-node vs onnxruntime-web.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createPolicy, loadPolicy, nodeProvider, type OrtModule, type OrtProvider, type Policy } from '../../runtime/src/index.ts';
import { makePolicy, randomFloats, tempDir } from './helpers.ts';

const tmp = tempDir();
const hiql = await makePolicy(tmp.dir, 'p', 'hiql');
const gcbc = await makePolicy(tmp.dir, 'flat', 'gcbc');
const policy = await loadPolicy(hiql.path);
const flat = await loadPolicy(gcbc.path);
after(async () => {
  await policy.release();
  await flat.release();
  tmp.cleanup();
});

/** Runs one exported file directly in onnxruntime-node (1 thread), the oracle for the runtime. */
async function direct(file: string, feeds: Record<string, Float32Array>, n: number): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(join(tmp.dir, file), {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const t: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) t[k] = new ort.Tensor('float32', v, [n, v.length / n]);
  const out = await s.run(t);
  await s.release();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

const OBS = new Float32Array([3.5, 7.25]);
const GOAL = new Float32Array([20.5, 12]);

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

test('act, subgoal, actTowards and goalRep equal onnxruntime run on the exported files', async () => {
  assert.equal(policy.backend, 'cpu');
  assert.equal(policy.engine, 'onnxruntime-node');
  assert.equal(policy.fallback, null);
  assert.deepEqual(policy.hasCompanion, { low_policy: true, goal_rep: true });
  const ref = await direct('p.onnx', { observation: OBS, goal: GOAL }, 1);
  const a = await policy.act(OBS, GOAL);
  assert.ok(a instanceof Float32Array);
  assert.deepEqual(a, ref['action']);
  const z = await policy.subgoal(OBS, GOAL);
  assert.deepEqual(z, ref['subgoal']);
  assert.equal(z.length, 10);
  assert.ok(Math.abs(Math.hypot(...z) - Math.sqrt(10)) < 1e-4, 'subgoal is length-normalised to sqrt(repDim)');
  const both = await policy.actWithSubgoal(OBS, GOAL);
  assert.deepEqual(both, { action: ref['action'], subgoal: ref['subgoal'] });
  // The policy's action is the low level on its own subgoal.
  assert.deepEqual(await policy.actTowards(OBS, z), (await direct('p.low.onnx', { observation: OBS, subgoal: z }, 1))['action']);
  assert.ok(maxDiff(await policy.actTowards(OBS, z), a) <= 1e-6);
  assert.deepEqual(await policy.goalRep(OBS, GOAL), (await direct('p.phi.onnx', { observation: OBS, goal: GOAL }, 1))['representation']);
  // Plain arrays and other typed arrays are accepted.
  assert.deepEqual(await policy.act([3.5, 7.25], [20.5, 12]), a);
  assert.deepEqual(await policy.act(Float64Array.from(OBS), Float64Array.from(GOAL)), a);
  assert.deepEqual(
    await policy.act(Int16Array.from([3, 7]), [20.5, 12]),
    (await direct('p.onnx', { observation: new Float32Array([3, 7]), goal: GOAL }, 1))['action'],
  );
  // Actions are within the bounds (the graph clips).
  const big = await policy.actBatch(randomFloats(200, 3, 1e4), randomFloats(200, 4, 1e4), 100);
  assert.ok(big.every((x) => x >= -1 && x <= 1));
});

test('batch forms equal the batch-1 calls row by row, and the direct batch run', async () => {
  const n = 7;
  const obs = randomFloats(n * 2, 11, 12);
  const goals = randomFloats(n * 2, 12, 12);
  const acts = await policy.actBatch(obs, goals, n);
  const subs = await policy.subgoalBatch(obs, goals, n);
  const reps = await policy.goalRepBatch(obs, goals, n);
  const towards = await policy.actTowardsBatch(obs, subs, n);
  assert.deepEqual([acts.length, subs.length, reps.length, towards.length], [n * 2, n * 10, n * 10, n * 2]);
  const ref = await direct('p.onnx', { observation: obs, goal: goals }, n);
  assert.deepEqual(acts, ref['action']);
  assert.deepEqual(subs, ref['subgoal']);
  for (let i = 0; i < n; i++) {
    const o = obs.subarray(2 * i, 2 * i + 2);
    const g = goals.subarray(2 * i, 2 * i + 2);
    assert.ok(maxDiff(await policy.act(o, g), acts.subarray(2 * i, 2 * i + 2)) <= 1e-6);
    assert.ok(maxDiff(await policy.subgoal(o, g), subs.subarray(10 * i, 10 * i + 10)) <= 1e-5);
    assert.ok(maxDiff(await policy.goalRep(o, g), reps.subarray(10 * i, 10 * i + 10)) <= 1e-5);
  }
  assert.ok(maxDiff(towards, acts) <= 1e-6);
  // Changing the batch size back and forth reuses and regrows buffers correctly.
  for (const m of [3, 7, 1, 5, 7])
    assert.deepEqual(
      await policy.actBatch(obs.subarray(0, 2 * m), goals.subarray(0, 2 * m), m),
      m === 1
        ? await policy.act(obs.subarray(0, 2), goals.subarray(0, 2))
        : (await direct('p.onnx', { observation: obs.subarray(0, 2 * m), goal: goals.subarray(0, 2 * m) }, m))['action'],
    );
});

test('concurrent calls are serialised: each gets the answer to its own inputs', async () => {
  const n = 24;
  const obs = randomFloats(n * 2, 21, 12);
  const goals = randomFloats(n * 2, 22, 12);
  const sequential: Float32Array[] = [];
  for (let i = 0; i < n; i++) sequential.push(await policy.act(obs.subarray(2 * i, 2 * i + 2), goals.subarray(2 * i, 2 * i + 2)));
  const mixed = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      i % 3 === 2
        ? policy.actBatch(obs.subarray(2 * i, 2 * i + 2), goals.subarray(2 * i, 2 * i + 2), 1)
        : policy.act(obs.subarray(2 * i, 2 * i + 2), goals.subarray(2 * i, 2 * i + 2)),
    ),
  );
  assert.deepEqual(mixed, sequential);
});

test('bad inputs: each is rejected with its error class and a message naming what was expected; the policy stays usable', async () => {
  const good = await policy.act(OBS, GOAL);
  const cases: [string, () => Promise<unknown>, ErrorConstructor, RegExp][] = [
    [
      'string observation',
      () => policy.act('3.5,7.25' as never, GOAL),
      TypeError,
      /^policy\.act: observation must be an array or typed array of numbers, got string$/,
    ],
    [
      'null goal',
      () => policy.act(OBS, null as never),
      TypeError,
      /^policy\.act: goal must be an array or typed array of numbers, got null$/,
    ],
    [
      'object',
      () => policy.act({ 0: 1, 1: 2, length: 2 } as never, GOAL),
      TypeError,
      /observation must be an array or typed array of numbers, got Object/,
    ],
    [
      'BigInt64Array',
      () => policy.act(new BigInt64Array(2) as never, GOAL),
      TypeError,
      /observation must be an array or typed array of numbers, got BigInt64Array/,
    ],
    [
      'string element',
      () => policy.act([1, '2'] as never, GOAL),
      TypeError,
      /^policy\.act: observation\[1\] must be a number, got string$/,
    ],
    ['too long', () => policy.act([1, 2, 3], GOAL), RangeError, /^policy\.act: observation must have 2 numbers, got 3$/],
    ['too short goal', () => policy.act(OBS, [1]), RangeError, /^policy\.act: goal must have 2 numbers, got 1$/],
    ['empty', () => policy.act(new Float32Array(0), GOAL), RangeError, /observation must have 2 numbers, got 0/],
    ['NaN', () => policy.act([1, NaN], GOAL), RangeError, /^policy\.act: observation\[1\] is NaN; inputs must be finite numbers$/],
    [
      'Infinity',
      () => policy.act(OBS, new Float32Array([Infinity, 0])),
      RangeError,
      /^policy\.act: goal\[0\] is Infinity; inputs must be finite numbers$/,
    ],
    ['-Infinity', () => policy.act([-Infinity, 0], GOAL), RangeError, /observation\[0\] is -Infinity/],
    [
      'float32 overflow',
      () => policy.act(new Float64Array([1, 1e39]), GOAL),
      RangeError,
      /^policy\.act: observation\[1\] is Infinity \(1e\+39 overflows float32\); inputs must be finite numbers$/,
    ],
    [
      'batch length',
      () => policy.actBatch(new Float32Array(5), new Float32Array(6), 3),
      RangeError,
      /^policy\.actBatch: observations must have 3 x 2 = 6 numbers, got 5$/,
    ],
    [
      'batch NaN',
      () => policy.actBatch(new Float32Array(6), Float32Array.from([0, 0, 0, NaN, 0, 0]), 3),
      RangeError,
      /^policy\.actBatch: goals\[3\] \(row 1, column 1\) is NaN/,
    ],
    [
      'batch n = 0',
      () => policy.actBatch(new Float32Array(0), new Float32Array(0), 0),
      RangeError,
      /^policy\.actBatch: n must be a positive integer \(the batch size\), got 0$/,
    ],
    ['batch n = 1.5', () => policy.subgoalBatch(OBS, GOAL, 1.5), RangeError, /policy\.subgoalBatch: n must be a positive integer/],
    [
      'batch n missing',
      () => (policy.actBatch as (a: unknown, b: unknown) => Promise<unknown>)(OBS, GOAL),
      RangeError,
      /n must be a positive integer \(the batch size\), got undefined/,
    ],
    ['subgoal length', () => policy.actTowards(OBS, [1, 2]), RangeError, /^policy\.actTowards: subgoal must have 10 numbers, got 2$/],
    [
      'subgoals batch',
      () => policy.actTowardsBatch(OBS, new Float32Array(10), 2),
      RangeError,
      /policy\.actTowardsBatch: observations must have 2 x 2 = 4 numbers, got 2/,
    ],
    ['goalRep NaN', () => policy.goalRep(OBS, [0, NaN]), RangeError, /^policy\.goalRep: goal\[1\] is NaN/],
  ];
  for (const [name, call, cls, re] of cases) {
    await assert.rejects(call(), (e: Error) => {
      assert.equal(e.constructor, cls, `${name}: ${e.constructor.name}: ${e.message}`);
      assert.match(e.message, re, name);
      return true;
    });
    // The session is still usable and unaffected after each rejected call.
    assert.deepEqual(await policy.act(OBS, GOAL), good, `usable after: ${name}`);
  }
  // A rejected call in the middle of concurrent good ones does not disturb them.
  const [r1, r2, r3] = await Promise.allSettled([policy.act(OBS, GOAL), policy.act([NaN, 0], GOAL), policy.act(OBS, GOAL)]);
  assert.deepEqual([r1.status, r2.status, r3.status], ['fulfilled', 'rejected', 'fulfilled']);
  assert.deepEqual((r3 as PromiseFulfilledResult<Float32Array>).value, good);
});

test('the caller may reuse its arrays: results are not views of internal buffers', async () => {
  const o = Float32Array.from(OBS);
  const a1 = await policy.act(o, GOAL);
  o[0] = -5;
  const a2 = await policy.act(o, GOAL);
  o[0] = OBS[0]!;
  assert.deepEqual(await policy.act(o, GOAL), a1);
  assert.notDeepEqual(a1, a2);
});

test('flat policies: act works; subgoals, companions and k > 1 controllers are clear errors', async () => {
  assert.equal(flat.info.hierarchical, false);
  assert.deepEqual(await flat.act(OBS, GOAL), (await direct('flat.onnx', { observation: OBS, goal: GOAL }, 1))['action']);
  for (const [name, call] of [
    ['subgoal', () => flat.subgoal(OBS, GOAL)],
    ['subgoalBatch', () => flat.subgoalBatch(OBS, GOAL, 1)],
    ['actTowards', () => flat.actTowards(OBS, new Float32Array(10))],
    ['goalRep', () => flat.goalRep(OBS, GOAL)],
  ] as const) {
    await assert.rejects(
      call(),
      (e: Error) =>
        e.constructor === Error &&
        new RegExp(`^policy\\.${name}: '.*flat\\.onnx' is a flat gcbc policy; only hierarchical \\(hiql\\) policies have subgoals$`).test(
          e.message,
        ),
    );
  }
  assert.throws(() => flat.controller({ subgoalEvery: 5 }), /policy\.controller: '.*' is a flat gcbc policy/);
  const c = flat.controller();
  assert.deepEqual(await c.act(OBS, GOAL), await flat.act(OBS, GOAL));
  assert.equal(c.subgoal, null);
  await assert.rejects(
    loadPolicy(gcbc.path, { companions: { low_policy: readFileSync(join(tmp.dir, 'p.low.onnx')) } }),
    /is a flat gcbc policy; it has no companions, but some were given/,
  );
});

test('companions: found beside the file; missing or mismatched ones are clear errors', async () => {
  const alone = join(tmp.dir, 'alone');
  mkdirSync(alone);
  copyFileSync(hiql.path, join(alone, 'p.onnx'));
  await assert.rejects(
    loadPolicy(join(alone, 'p.onnx')),
    (e: Error) =>
      e.constructor === Error &&
      /^policy 'p\.onnx' lists its low_policy companion 'p\.low\.onnx', which cannot be read beside it \(.*alone.p\.low\.onnx\): /.test(
        e.message,
      ) &&
      /\): no such file; keep the exported files together$/.test(e.message),
  );
  await assert.rejects(loadPolicy(join(alone, 'missing.onnx')), /^Error: cannot read policy '.*missing\.onnx': no such file$/);
  await assert.rejects(loadPolicy(alone), /cannot read policy '.*alone': it is a folder/);
  // From bytes, companions come only from options; act works without them.
  const bytes = new Uint8Array(readFileSync(hiql.path));
  const bare = await loadPolicy(bytes);
  assert.deepEqual(bare.hasCompanion, { low_policy: false, goal_rep: false });
  assert.deepEqual(await bare.act(OBS, GOAL), await policy.act(OBS, GOAL));
  assert.deepEqual(await bare.subgoal(OBS, GOAL), await policy.subgoal(OBS, GOAL));
  await assert.rejects(
    bare.actTowards(OBS, new Float32Array(10)),
    /^Error: policy\.actTowards: the low_policy companion 'p\.low\.onnx' was not loaded; .*options\.companions\.low_policy$/,
  );
  await assert.rejects(bare.goalRep(OBS, GOAL), /policy\.goalRep: the goal_rep companion 'p\.phi\.onnx' was not loaded/);
  assert.throws(() => bare.controller({ subgoalEvery: 4 }), /policy\.controller: the low_policy companion 'p\.low\.onnx' was not loaded/);
  await bare.release();
  const low = new Uint8Array(readFileSync(join(tmp.dir, 'p.low.onnx')));
  const phi = new Uint8Array(readFileSync(join(tmp.dir, 'p.phi.onnx')));
  const withBytes = await loadPolicy(bytes, { companions: { low_policy: low, goal_rep: phi } });
  assert.deepEqual(await withBytes.goalRep(OBS, GOAL), await policy.goalRep(OBS, GOAL));
  await withBytes.release();
  // A companion file given as the policy.
  await assert.rejects(
    loadPolicy(join(tmp.dir, 'p.low.onnx')),
    /'.*p\.low\.onnx' is the low_policy companion of a policy, not a policy; load the policy file itself/,
  );
  // Wrong role, and a companion of another config.
  await assert.rejects(
    loadPolicy(bytes, { companions: { low_policy: phi } }),
    /is not the low_policy companion of this policy: its role is 'goal_rep'/,
  );
  const other = await makePolicy(tmp.dir, 'wide', 'hiql', { hidden: 16 });
  const otherLow = new Uint8Array(readFileSync(join(tmp.dir, 'wide.low.onnx')));
  await assert.rejects(
    loadPolicy(bytes, { companions: { low_policy: otherLow } }),
    /is not the low_policy companion of this policy: it was exported from another config \(hash [0-9a-f]{12} vs [0-9a-f]{12}\)/,
  );
  void other;
  await assert.rejects(loadPolicy(bytes, { companions: { low_policy: 'p.low.onnx' as never } }), TypeError);
  await assert.rejects(
    loadPolicy(42 as never),
    /^TypeError: loadPolicy: source must be a file path, a file: URL or a Uint8Array, got number$/,
  );
});

test('controller: every k steps it asks the high level and holds the subgoal; in between it is actTowards on the held latent', async () => {
  const k = 3;
  const c = policy.controller({ subgoalEvery: k });
  assert.equal(c.subgoalEvery, k);
  const goal = Float32Array.from(GOAL);
  const obs = Float32Array.from(OBS);
  let held: Float32Array | null = null;
  for (let t = 0; t < 10; t++) {
    const a = await c.act(obs, goal);
    if (t % k === 0) {
      // A refresh step: the plain policy action, and the newly held subgoal is the high level's.
      assert.deepEqual(a, await policy.act(obs, goal), `step ${t}`);
      held = await policy.subgoal(obs, goal);
      assert.deepEqual(c.subgoal, held);
    } else {
      assert.deepEqual(c.subgoal, held, `step ${t}: subgoal held`);
      assert.deepEqual(a, await policy.actTowards(obs, held!), `step ${t}: low level on the held subgoal`);
      // ... which is not what asking the high level afresh would give here (the test has teeth).
      if (t === 1) assert.notDeepEqual(await policy.subgoal(obs, goal), held);
    }
    assert.equal(c.steps, t + 1);
    // Move as the PointMaze dynamics would (0.2 x action per step, scaled up so the subgoal moves).
    obs[0]! += 5 * a[0]! + 0.7;
    obs[1]! += 5 * a[1]! - 0.4;
  }
  // A new goal refreshes at once, and reset() forgets the held subgoal.
  const before = c.subgoal!;
  const goal2 = new Float32Array([1, 1]);
  assert.deepEqual(await c.act(obs, goal2), await policy.act(obs, goal2));
  assert.deepEqual(c.subgoal, await policy.subgoal(obs, goal2));
  assert.notDeepEqual(c.subgoal, before);
  c.reset();
  assert.equal(c.subgoal, null);
  assert.equal(c.steps, 0);
  assert.deepEqual(await c.act(obs, goal2), await policy.act(obs, goal2));
  // A rejected call does not advance the controller.
  await assert.rejects(c.act([NaN, 0], goal2), RangeError);
  assert.equal(c.steps, 1);
  // k = 1 is plain act.
  const c1 = policy.controller({ subgoalEvery: 1 });
  for (let t = 0; t < 3; t++) assert.deepEqual(await c1.act(obs, goal), await policy.act(obs, goal));
  assert.equal(c1.subgoal, null);
  assert.throws(
    () => policy.controller({ subgoalEvery: 0 }),
    /^RangeError: policy\.controller: subgoalEvery must be a positive integer, got 0$/,
  );
  assert.throws(() => policy.controller({ subgoalEvery: 2.5 }), RangeError);
});

test('an unavailable GPU backend: a clear Error without fallback, a reported fallback with fallback: cpu', async (t) => {
  for (const backend of ['cuda', 'webgpu'] as const) {
    let available = true;
    try {
      await (await ort.InferenceSession.create(readFileSync(hiql.path), { executionProviders: [backend] })).release();
    } catch {
      available = false;
    }
    if (available) {
      t.diagnostic(`${backend} is available on this machine; the unavailable-backend case is covered by the injected provider test`);
      continue;
    }
    await assert.rejects(loadPolicy(hiql.path, { backend }), (e: Error) => {
      assert.equal(e.constructor, Error);
      assert.match(
        e.message,
        new RegExp(
          `^backend '${backend}' \\(onnxruntime-node\\) could not load '.*p\\.onnx': .+; ` +
            `the ${backend === 'cuda' ? 'CUDA' : 'WebGPU'} backend needs .*, or pass \\{ fallback: 'cpu' \\} to fall back explicitly$`,
        ),
      );
      assert.ok(e.cause instanceof Error, 'cause kept');
      return true;
    });
    const p = await loadPolicy(hiql.path, { backend, fallback: 'cpu' });
    assert.equal(p.backend, 'cpu');
    assert.equal(p.fallback?.from, backend);
    assert.ok((p.fallback?.reason.length ?? 0) > 0);
    assert.deepEqual(await p.act(OBS, GOAL), await policy.act(OBS, GOAL));
    await p.release();
  }
  await assert.rejects(
    loadPolicy(hiql.path, { backend: 'metal' as never }),
    /^RangeError: loadPolicy: unknown backend 'metal'; valid backends here: cpu, cuda, webgpu, wasm$/,
  );
  await assert.rejects(
    loadPolicy(hiql.path, { fallback: 'cuda' as never }),
    /^RangeError: loadPolicy: fallback must be 'cpu' or 'wasm', got 'cuda'$/,
  );
  await assert.rejects(loadPolicy(hiql.path, { threads: 0 }), /^RangeError: loadPolicy: threads must be a positive integer, got 0$/);
});

test('fallback logic with an injected provider whose GPU backend fails', async () => {
  const bytes = new Uint8Array(readFileSync(hiql.path));
  const calls: string[] = [];
  const failing: OrtProvider = {
    ...nodeProvider,
    async module(backend, threads) {
      calls.push(backend);
      const real = await nodeProvider.module(backend === 'webgpu' ? 'cpu' : backend, threads);
      if (backend !== 'webgpu') return real;
      const broken: OrtModule = {
        Tensor: real.Tensor,
        InferenceSession: {
          create: async () => {
            throw new Error('no adapter (injected)');
          },
        },
      };
      return broken;
    },
  };
  await assert.rejects(
    createPolicy({ bytes, name: 'x.onnx' }, {}, { backend: 'webgpu' }, failing),
    /^Error: backend 'webgpu' \(onnxruntime-node\) could not load 'x\.onnx': no adapter \(injected\); the WebGPU backend needs/,
  );
  const p: Policy = await createPolicy({ bytes, name: 'x.onnx' }, {}, { backend: 'webgpu', fallback: 'wasm' }, failing);
  assert.deepEqual([p.backend, p.engine, p.fallback], ['wasm', 'onnxruntime-web', { from: 'webgpu', reason: 'no adapter (injected)' }]);
  assert.ok(maxDiff(await p.act(OBS, GOAL), await policy.act(OBS, GOAL)) <= 1e-5);
  await p.release();
  assert.deepEqual(calls, ['webgpu', 'webgpu', 'wasm']);
});

test('onnxruntime-node and onnxruntime-web (wasm) give the same actions for the same inputs', async (t) => {
  const web = await loadPolicy(hiql.path, { backend: 'wasm' });
  assert.deepEqual([web.backend, web.engine], ['wasm', 'onnxruntime-web']);
  const n = 64;
  const obs = randomFloats(n * 2, 31, 12);
  const goals = randomFloats(n * 2, 32, 12);
  const diffs: Record<string, number> = {};
  diffs['actBatch'] = maxDiff(await web.actBatch(obs, goals, n), await policy.actBatch(obs, goals, n));
  const subs = await policy.subgoalBatch(obs, goals, n);
  diffs['subgoalBatch'] = maxDiff(await web.subgoalBatch(obs, goals, n), subs);
  diffs['actTowardsBatch'] = maxDiff(await web.actTowardsBatch(obs, subs, n), await policy.actTowardsBatch(obs, subs, n));
  diffs['goalRepBatch'] = maxDiff(await web.goalRepBatch(obs, goals, n), await policy.goalRepBatch(obs, goals, n));
  let act1 = 0;
  for (let i = 0; i < 16; i++)
    act1 = Math.max(
      act1,
      maxDiff(
        await web.act(obs.subarray(2 * i, 2 * i + 2), goals.subarray(2 * i, 2 * i + 2)),
        await policy.act(obs.subarray(2 * i, 2 * i + 2), goals.subarray(2 * i, 2 * i + 2)),
      ),
    );
  diffs['act'] = act1;
  t.diagnostic(`max |node - web| ${JSON.stringify(diffs)}`);
  // Same graph and op semantics; the kernels differ (MLAS native vs wasm SIMD), so float32 rounding may.
  for (const [k, d] of Object.entries(diffs)) assert.ok(d <= 1e-5, `${k}: ${d}`);
  // The same validation in both engines.
  await assert.rejects(web.act([1, NaN], GOAL), /^RangeError: policy\.act: observation\[1\] is NaN/);
  assert.ok(maxDiff(await web.act(OBS, GOAL), await policy.act(OBS, GOAL)) <= 1e-5);
  await web.release();
});

test('release: later calls are clear errors; releasing twice is fine', async () => {
  const p = await loadPolicy(hiql.path);
  await p.act(OBS, GOAL);
  await p.release();
  await p.release();
  await assert.rejects(p.act(OBS, GOAL), /^Error: policy\.act: the policy was released$/);
  await assert.rejects(p.actTowards(OBS, new Float32Array(10)), /policy\.actTowards: the policy was released/);
});
