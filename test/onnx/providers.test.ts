// Execution-provider selection for training: a provider that cannot start is an error naming the
// provider, onnxruntime's reason and what to do (onnxruntime never falls back by itself). On a
// machine where the provider does start, the step must run and agree with the CPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, StepRunner, buildTrainStep, mean, ort } from '../../onnx/index.ts';

function tinyStep() {
  const g = new Graph('tiny');
  const x = g.input('x', 'float32', [4, 3]);
  const w = g.input('w', 'float32', [3, 1]);
  const loss = mean(g, g.mul(g.matMul(x, w), g.matMul(x, w)));
  return buildTrainStep({ g, trainable: [w], loss, batchInputs: [x] });
}
const init = () =>
  new Map([
    ['w', new Float32Array([0.1, -0.2, 0.3])],
    ['opt/m/w', new Float32Array(3)],
    ['opt/v/w', new Float32Array(3)],
  ]);
const batch = () => ({
  x: new ort.Tensor(
    'float32',
    Float32Array.from({ length: 12 }, (_, i) => i / 10),
    [4, 3],
  ),
});

for (const [ep, hint] of [
  ['webgpu', /WebGPU needs a GPU adapter/],
  ['cuda', /ONNXRUNTIME_NODE_INSTALL=cuda12/],
] as const) {
  test(`training on '${ep}' either runs like the CPU or fails with a clear error`, async () => {
    const spec = tinyStep();
    const cpu = await StepRunner.create(spec, init(), { threads: 1 });
    const want = await cpu.step(batch());
    let runner: StepRunner;
    try {
      runner = await StepRunner.create(spec, init(), { executionProviders: [ep], deviceResident: true });
    } catch (e) {
      assert.match((e as Error).message, new RegExp(`onnxruntime could not start the '${ep}' execution provider: .+`));
      assert.match((e as Error).message, hint);
      return;
    }
    const got = await runner.step(batch());
    assert.ok(Math.abs(got['loss']! - want['loss']!) < 1e-5);
    assert.ok(Math.abs((await runner.read('w'))[0]! - (await cpu.read('w'))[0]!) < 1e-6);
  });
}
