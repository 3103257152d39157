// The trainer core end to end: a regression problem trains, checkpoints resume exactly, and broken
// checkpoints are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Graph,
  StepRunner,
  buildTrainStep,
  gelu,
  glorotUniform,
  loadCheckpoint,
  mean,
  ort,
  saveCheckpoint,
  zeroOptimizerState,
} from '../../onnx/index.ts';
import { Rng } from '../../rng/rng.ts';

const IN = 4;
const H = 32;

function regressionStep() {
  const g = new Graph('regression');
  const x = g.input('x', 'float32', ['batch', IN]);
  const y = g.input('y', 'float32', ['batch', 1]);
  const w1 = g.input('w1', 'float32', [IN, H]);
  const b1 = g.input('b1', 'float32', [H]);
  const w2 = g.input('w2', 'float32', [H, 1]);
  const b2 = g.input('b2', 'float32', [1]);
  const pred = g.gemm(gelu(g, g.gemm(x, w1, b1)), w2, b2);
  const err = g.sub(pred, y);
  const loss = mean(g, g.mul(err, err));
  return buildTrainStep({
    g,
    trainable: [w1, b1, w2, b2],
    loss,
    batchInputs: [x, y],
    adam: { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
  });
}

function initParams(seed: number) {
  const rng = new Rng(seed);
  return new Map<string, Float32Array>([
    ['w1', glorotUniform(rng, IN, H)],
    ['b1', new Float32Array(H)],
    ['w2', glorotUniform(rng, H, 1)],
    ['b2', new Float32Array(1)],
  ]);
}

function batch(rng: Rng, n: number) {
  const x = new Float32Array(n * IN);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let t = 0;
    for (let j = 0; j < IN; j++) {
      const v = 2 * rng.uniform() - 1;
      x[i * IN + j] = v;
      t += (j + 1) * 0.25 * v;
    }
    y[i] = Math.sin(t);
  }
  return { x: new ort.Tensor('float32', x, [n, IN]), y: new ort.Tensor('float32', y, [n, 1]) };
}

test('a small regression problem trains and its loss falls at least 100-fold', async () => {
  const spec = regressionStep();
  const runner = await StepRunner.create(spec, zeroOptimizerState(spec, initParams(1)), { threads: 1 });
  const rng = new Rng(7);
  const first = (await runner.step(batch(rng, 256)))['loss']!;
  let last = first;
  for (let i = 0; i < 1500; i++) last = (await runner.step(batch(rng, 256)))['loss']!;
  assert.ok(last < first / 100, `loss went from ${first} to ${last}`);
  await runner.release();
});

test('a checkpoint saved at step N and resumed gives the same losses as an uninterrupted run', async () => {
  const spec = regressionStep();
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
  const batches = Array.from({ length: 20 }, (_, i) => batch(new Rng(100 + i), 64));
  const a = await StepRunner.create(spec, zeroOptimizerState(spec, initParams(3)), { threads: 1 });
  const straight: number[] = [];
  for (const b of batches) straight.push((await a.step(b))['loss']!);

  const b1 = await StepRunner.create(spec, zeroOptimizerState(spec, initParams(3)), { threads: 1 });
  for (const b of batches.slice(0, 10)) await b1.step(b);
  const path = join(dir, 'ck.bin');
  const snap = await b1.snapshot();
  saveCheckpoint(path, {
    step: b1.stepCount,
    tensors: new Map([...snap].map(([k, v]) => [k, { dtype: 'float32', dims: spec.state.find((s) => s.name === k)!.dims, data: v }])),
    meta: { note: 'test' },
  });
  await b1.release();

  const ck = loadCheckpoint(path);
  assert.equal(ck.step, 10);
  assert.deepEqual(ck.meta, { note: 'test' });
  for (const [k, v] of snap) assert.deepEqual(ck.tensors.get(k)!.data, v, `tensor ${k} differs after reload`);
  const b2 = await StepRunner.create(spec, new Map([...ck.tensors].map(([k, t]) => [k, t.data])), { threads: 1 });
  b2.stepCount = ck.step;
  const resumed: number[] = [];
  for (const b of batches.slice(10)) resumed.push((await b2.step(b))['loss']!);
  assert.deepEqual(resumed, straight.slice(10));
});

test('a truncated or corrupt checkpoint is refused with a clear error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
  const path = join(dir, 'ck.bin');
  saveCheckpoint(path, {
    step: 5,
    tensors: new Map([['w', { dtype: 'float32', dims: [3], data: new Float32Array([1, 2, 3]) }]]),
    meta: {},
  });
  const bytes = readFileSync(path);
  writeFileSync(join(dir, 'trunc.bin'), bytes.subarray(0, bytes.length - 7));
  assert.throws(() => loadCheckpoint(join(dir, 'trunc.bin')), /trunc\.bin: not a valid checkpoint: file is \d+ bytes, its header says \d+/);
  const flipped = Uint8Array.from(bytes);
  flipped[flipped.length - 10]! ^= 0x40;
  writeFileSync(join(dir, 'flip.bin'), flipped);
  assert.throws(() => loadCheckpoint(join(dir, 'flip.bin')), /checksum mismatch .* corrupt/);
  writeFileSync(join(dir, 'junk.bin'), new TextEncoder().encode('this is not a checkpoint at all, no'));
  assert.throws(() => loadCheckpoint(join(dir, 'junk.bin')), /bad magic/);
  assert.throws(() => loadCheckpoint(join(dir, 'missing.bin')), /cannot read checkpoint/);
});

test('the device-resident path (state fed back as returned, read back through a second session) matches double-buffering', async () => {
  // On a GPU provider the state never leaves the device between steps and snapshots are read back
  // by a read-back session; on the CPU provider the same code path runs with CPU tensors.
  const spec = regressionStep();
  const init = zeroOptimizerState(spec, initParams(3));
  const plain = await StepRunner.create(spec, init, { threads: 1 });
  const resident = await StepRunner.create(spec, init, { threads: 1, deviceResident: true });
  const r1 = new Rng(11);
  const r2 = new Rng(11);
  for (let i = 0; i < 5; i++) assert.equal((await resident.step(batch(r2, 64)))['loss'], (await plain.step(batch(r1, 64)))['loss']);
  const a = await plain.snapshot();
  const b = await resident.snapshot();
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  for (const [k, v] of a) assert.deepEqual(b.get(k), v, `state '${k}' differs`);
  // A snapshot is a copy: stepping on does not change it.
  const w1 = Float32Array.from(b.get('w1')!);
  await resident.step(batch(r2, 64));
  assert.deepEqual(b.get('w1'), w1);
  assert.notDeepEqual(await resident.read('w1'), w1);
  await plain.release();
  await resident.release();
});

test('state outputs are the update nodes themselves, renamed (no Identity copy of the state per step)', () => {
  const spec = regressionStep();
  const { graph } = Graph.fromBytes(spec.model);
  for (const s of spec.state) {
    const producer = graph.producer.get(s.next);
    assert.ok(producer, `'${s.next}' is produced by a node`);
    assert.notEqual(producer.opType, 'Identity', `'${s.next}'`);
  }
  // Inputs and outputs keep their names.
  const g = new Graph('rename');
  const a = g.input('a', 'float32', [2]);
  const b = g.neg(a);
  const c = g.add(b, b);
  assert.throws(() => g.rename(a, 'a2'), /not a node output/);
  const b2 = g.rename(b, 'b:next');
  assert.deepEqual(graphInputsOf(g, c), ['b:next', 'b:next']);
  assert.throws(() => g.neg(b), /does not belong/);
  g.output(b2);
  assert.throws(() => g.rename(b2, 'b3'), /already an output/);
});

function graphInputsOf(g: Graph, t: { name: string }): readonly string[] {
  return g.producer.get(t.name)!.inputs;
}
