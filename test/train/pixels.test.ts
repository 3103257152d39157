// Pixels (docs/spec.md section 8), CI-sized: a visual dataset of uint8 frames, HIQL with its impala
// encoders trained on it, evaluated on rendered frames, exported with uint8 inputs and run by the
// runtime, which must agree with the training-side policy graph.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDataset, parseEnvName } from '../../envs/datasets.ts';
import { getMaze } from '../../envs/maze.ts';
import { renderPixelObservation, renderPixelObservations } from '../../envs/render.ts';
import { Graph, createSession, gradients, ort } from '../../onnx/index.ts';
import { InputParams, conv3x3 } from '../../train/networks.ts';
import { buildAgentStep } from '../../train/step.ts';
import { buildPolicyGraph } from '../../train/graphs.ts';
import { datasetFromGenerated } from '../../train/data/dataset.ts';
import { resolveConfig } from '../../train/config.ts';
import { datasetDims } from '../../train/dims.ts';
import { readRunInfo, readRunParams } from '../../train/run-folder.ts';
import { train } from '../../train/trainer.ts';
import { exportPolicy } from '../../export/export.ts';
import { loadPolicy } from '../../runtime/src/index.ts';
import { Rng } from '../../rng/rng.ts';
import { samplerFor } from '../../train/trainer.ts';
import { buildTrajectoryIndex } from '../../train/data/dataset.ts';

const ENV = 'visual-pointmaze-medium-navigate';
const SIZE = 8;
const maze = getMaze('medium');
const gen = generateDataset(ENV, { seed: 2, episodes: 4 });
const ds = datasetFromGenerated(gen, { data: renderPixelObservations(maze, gen.observations, gen.terminals.length, SIZE), size: SIZE });
const tiny = {
  batchSize: 16,
  actorHiddenDims: '16,16',
  valueHiddenDims: '16,16',
  repDim: 4,
  encoderChannels: '2,4,4',
  encoderDense: 8,
  steps: 30,
  logEvery: 10,
  evalEvery: 0,
  evalEpisodes: 1,
  saveEvery: 0,
  threads: 1,
};

test("visual names: frames of the state dataset's first episodes; the visual preset turns on the encoders", () => {
  assert.deepEqual(parseEnvName('visual-pointmaze-large-navigate-v0'), {
    name: 'visual-pointmaze-large-navigate',
    maze: 'large',
    datasetType: 'navigate',
    visual: true,
  });
  const state = generateDataset('pointmaze-medium-navigate', { seed: 2, episodes: 4 });
  assert.deepEqual(gen.observations, state.observations, 'same trajectories as the state dataset');
  assert.deepEqual(ds.obsShape, [SIZE, SIZE, 3]);
  assert.ok(ds.observations instanceof Uint8Array);
  const r = 1234;
  assert.deepEqual(
    ds.observations.subarray(r * SIZE * SIZE * 3, (r + 1) * SIZE * SIZE * 3),
    renderPixelObservation(maze, gen.observations[2 * r]!, gen.observations[2 * r + 1]!, SIZE),
  );
  const cfg = resolveConfig({ agent: 'hiql', preset: 'ogbench', env: ENV, dataset: 'x' });
  assert.equal(cfg.agentConfig.batchSize, 256);
  assert.equal((cfg.agentConfig as { encoder: string }).encoder, 'impala_small');
  assert.equal((cfg.agentConfig as { lowActorRepGrad: boolean }).lowActorRepGrad, true);
});

const PADDED_CONV_TEST =
  '6-channel convolutions run zero-padded to 8 channels (WebGPU Conv is wrong at 6): ' +
  'same output and kernel gradient, same parameter shape';
test(PADDED_CONV_TEST, async () => {
  const g = new Graph('conv');
  const P = new InputParams(g);
  const x = g.input('x', 'float32', [2, 6, 5, 5]);
  const r = g.input('r', 'float32', [2, 4, 5, 5]);
  const y = conv3x3(g, P, 'c', x, 4);
  const [w, b] = [P.tensors.get('c/kernel')!, P.tensors.get('c/bias')!];
  assert.deepEqual(w.shape, [4, 6, 3, 3], 'checkpoints keep the [Cout, Cin, 3, 3] kernel');
  const convs = g.nodes.filter((n) => n.opType === 'Conv');
  assert.equal(convs.length, 1);
  const plain = g.conv(x, w, b, { pads: [1, 1, 1, 1] });
  const loss = (t: typeof y) => g.reduceSum(g.mul(t, r), [0, 1, 2, 3], false);
  const [dwPadded] = gradients(g, loss(y), [w]);
  const [dwPlain] = gradients(g, loss(plain), [w]);
  g.output(y, 'y');
  g.output(plain, 'plain');
  g.output(dwPadded!, 'dw_padded');
  g.output(dwPlain!, 'dw_plain');
  const fill = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + k));
  const sess = await createSession(g.toBytes(), { threads: 1 });
  const out = await sess.run({
    x: new ort.Tensor('float32', fill(300, 1), [2, 6, 5, 5]),
    r: new ort.Tensor('float32', fill(200, 2), [2, 4, 5, 5]),
    'c/kernel': new ort.Tensor('float32', fill(216, 3), [4, 6, 3, 3]),
    'c/bias': new ort.Tensor('float32', fill(4, 4), [4]),
  });
  await sess.release();
  const close = (a: string, b2: string) => {
    const [u, v] = [out[a]!.data as Float32Array, out[b2]!.data as Float32Array];
    assert.equal(u.length, v.length);
    u.forEach((e, i) => assert.ok(Math.abs(e - v[i]!) < 1e-5, `${a}[${i}] = ${e}, ${b2}[${i}] = ${v[i]}`));
  };
  close('y', 'plain');
  close('dw_padded', 'dw_plain');
  // The convolution the graph runs sees 8 input channels.
  const convIn = convs[0]!.inputs[0]!;
  assert.equal(g.nodes.find((n) => n.outputs.includes(convIn))?.opType, 'Pad');
});

test('pixel HIQL: one encoder per network (phi on 6 channels), a target encoder, uint8 batches', () => {
  const cfg = resolveConfig({ agent: 'hiql', preset: 'quick', env: ENV, dataset: 'x', overrides: tiny });
  const step = buildAgentStep('hiql', cfg.agentConfig, datasetDims(ds));
  const names = step.params.map((p) => p.name);
  for (const net of ['phi', 'value', 'target_value', 'low_actor', 'high_actor'])
    assert.ok(names.includes(`${net}/encoder/stack0/conv/kernel`), `${net} has its own encoder`);
  const shape = (n: string) => step.params.find((p) => p.name === n)!.shape;
  assert.deepEqual(shape('phi/encoder/stack0/conv/kernel'), [2, 6, 3, 3]);
  assert.deepEqual(shape('high_actor/encoder/stack0/conv/kernel'), [2, 6, 3, 3]);
  assert.deepEqual(shape('value/encoder/stack0/conv/kernel'), [2, 3, 3, 3]);
  // 8 x 8 -> 4 -> 2 -> 1 after three SAME pools of stride 2: 4 channels x 1 x 1 into the Dense layer.
  assert.deepEqual(shape('value/encoder/dense/kernel'), [4, 8]);
  assert.ok(
    step.layouts.target_params.entries.some((e) => e.name === 'target_value/encoder/dense/kernel'),
    'the target encoder is a target (EMA) copy',
  );
  const sampler = samplerFor('hiql', cfg.agentConfig, ds, buildTrajectoryIndex(ds.terminals));
  const batch = sampler.sample(new Rng(1));
  assert.ok(batch['observations'] instanceof Uint8Array && batch['highActorTargets'] instanceof Uint8Array);
  assert.ok(batch['actions'] instanceof Float32Array);
  // The flat baselines have no pixel encoder: a clear error, not a dtype failure inside onnxruntime.
  const gcbc = resolveConfig({ agent: 'gcbc', preset: 'quick', env: ENV, dataset: 'x' });
  assert.throws(
    () => buildAgentStep('gcbc', gcbc.agentConfig, datasetDims(ds)),
    /gcbc has no pixel encoder: it needs state observations, got uint8 frames/,
  );
  const noEnc = resolveConfig({ agent: 'hiql', preset: 'quick', env: 'pointmaze-medium-navigate', dataset: 'x' });
  assert.throws(
    () => buildAgentStep('hiql', noEnc.agentConfig, datasetDims(ds)),
    /pixel observations \[256,8,8,3\] need an encoder \(--encoder impala_small\)/,
  );
});

test('pixel HIQL trains, evaluates on rendered frames, exports uint8 inputs, and the runtime agrees', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pixels-'));
  try {
    const cfg = resolveConfig({ agent: 'hiql', preset: 'quick', env: ENV, dataset: 'generated', overrides: tiny });
    const losses: number[] = [];
    const r = await train(cfg, dir, { dataset: ds, cb: { onLog: (e) => losses.push(e.metrics['loss']!) } });
    assert.equal(losses.length, 3);
    assert.ok(losses.every(Number.isFinite));
    assert.equal(r.finalEval!.tasks.length, 5);
    const info = readRunInfo(dir);
    assert.deepEqual(info.dims.obsShape, [SIZE, SIZE, 3]);
    const { params, step } = readRunParams(dir);
    const out = await exportPolicy(info, params, step, join(dir, 'pix.onnx'));
    for (const v of out.validation) assert.ok(v.maxAbsDiff < 1e-5, `${v.role} on ${v.backend}: ${v.maxAbsDiff}`);

    const policy = await loadPolicy(join(dir, 'pix.onnx'));
    assert.equal(policy.info.observationType, 'pixels');
    assert.deepEqual(policy.info.obsShape, [SIZE, SIZE, 3]);
    assert.equal(policy.info.obsDtype, 'uint8');
    const n = 3;
    const pos = Float32Array.from([2.1, 3.3, 9.5, 9.9, 17.2, 5.5]);
    const goalPos = Float32Array.from([20.5, 20.1, 2.2, 14.7, 12.1, 4.4]);
    const frames = renderPixelObservations(maze, pos, n, SIZE);
    const goals = renderPixelObservations(maze, goalPos, n, SIZE);
    const fromRuntime = await policy.actBatch(frames, goals, n);
    const s = await createSession(buildPolicyGraph('hiql', info.config.agentConfig, info.dims, params).toBytes(), { threads: 1 });
    const ref = (
      await s.run({
        observation: new ort.Tensor('uint8', frames, [n, SIZE, SIZE, 3]),
        goal: new ort.Tensor('uint8', goals, [n, SIZE, SIZE, 3]),
      })
    )['action']!.data as Float32Array;
    await s.release();
    for (let i = 0; i < ref.length; i++)
      assert.ok(Math.abs(ref[i]! - fromRuntime[i]!) < 1e-5, `action ${i}: ${fromRuntime[i]} vs ${ref[i]}`);
    // Plain number arrays of bytes work; floats do not.
    const one = await policy.act(Array.from(frames.subarray(0, SIZE * SIZE * 3)), Array.from(goals.subarray(0, SIZE * SIZE * 3)));
    assert.ok(Math.abs(one[0]! - ref[0]!) < 1e-5);
    await assert.rejects(
      policy.act(new Float32Array(SIZE * SIZE * 3).fill(0.5), goals.subarray(0, SIZE * SIZE * 3)),
      /observation\[0\] is 0.5; pixel frames must be integers 0..255/,
    );
    await assert.rejects(policy.act(frames, goals.subarray(0, SIZE * SIZE * 3)), /observation must have 192 numbers, got 576/);
    await policy.release();

    // Pixel policies are refused on WebGPU (their encoder did not match the CPU there), explicitly
    // falling back where asked; pixel training on webgpu is refused before any work.
    await assert.rejects(loadPolicy(join(dir, 'pix.onnx'), { backend: 'webgpu' }), /pixel policies are not validated on WebGPU/);
    const fb = await loadPolicy(join(dir, 'pix.onnx'), { backend: 'webgpu', fallback: 'cpu' });
    assert.equal(fb.backend, 'cpu');
    assert.match(fb.fallback!.reason, /not validated on WebGPU/);
    await fb.release();
    const gpuCfg = resolveConfig({
      agent: 'hiql',
      preset: 'quick',
      env: ENV,
      dataset: 'generated',
      overrides: { ...tiny, device: 'webgpu' },
    });
    await assert.rejects(train(gpuCfg, join(dir, 'gpu'), { dataset: ds }), /pixel agents are not validated on webgpu/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
