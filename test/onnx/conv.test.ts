// Conv, ConvTranspose, MaxPool, ScatterElements and GatherElements gradients against central finite
// differences in float64 through onnxruntime (strides, padding, overlapping pooling windows).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, createSession, gradients, ort } from '../../onnx/index.ts';
import { gradCheck, type GradCase, type InputSpec } from './gradcheck.ts';

const inp = (name: string, shape: number[], extra: Partial<InputSpec> = {}): InputSpec => ({ name, shape, ...extra });
const check = (label: string, c: GradCase) => test(label, async () => void (await gradCheck(label, c)));

// onnxruntime's CPU provider implements Conv and ConvTranspose for float32 only ("Could not find an
// implementation for Conv(11)" in float64), so they are checked in float32 like Softplus: a 5-point
// stencil with h = 2^-6, whose truncation error is negligible here and whose rounding error is
// ~1e-7 |loss| / h; hence rtol and atol 1e-3 on losses of order 1-10.
const F32 = { dtype: 'float32' as const, stencil: 4 as const, h: 2 ** -6, rtol: 1e-3, atol: 1e-3 };

describe('Conv', () => {
  const cases: [string, number[], number[], { strides?: number[]; pads?: number[] }][] = [
    ['3x3, stride 1, no padding', [2, 3, 6, 5], [4, 3, 3, 3], {}],
    ['3x3, stride 1, SAME padding', [2, 3, 6, 6], [4, 3, 3, 3], { pads: [1, 1, 1, 1] }],
    ['3x3, stride 2, SAME padding (odd size)', [2, 2, 7, 7], [3, 2, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] }],
    ['3x3, stride 2, asymmetric padding (even size)', [1, 2, 8, 6], [2, 2, 3, 3], { strides: [2, 2], pads: [0, 0, 1, 1] }],
    ['2x3 kernel, strides 2 and 1', [2, 2, 5, 6], [3, 2, 2, 3], { strides: [2, 1], pads: [1, 0, 0, 1] }],
    ['1x1 kernel', [2, 4, 3, 3], [2, 4, 1, 1], {}],
  ];
  for (const [what, xs, ws, o] of cases) {
    check(`Conv ${what} (float32)`, {
      ...F32,
      inputs: [inp('x', xs), inp('w', ws), inp('b', [ws[0]!])],
      build: (g, t) => g.conv(t['x']!, t['w']!, t['b']!, o),
    });
  }
  check('ConvTranspose, stride 2 with output padding (float32)', {
    ...F32,
    inputs: [inp('x', [2, 3, 3, 4]), inp('w', [3, 2, 3, 3])],
    build: (g, t) => g.convTranspose(t['x']!, t['w']!, { strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 0] }),
  });
});

describe('MaxPool', () => {
  // Distinct random values keep every window's maximum unique within the finite-difference step.
  check('MaxPool 3x3 stride 2 SAME (overlapping windows)', {
    inputs: [inp('x', [2, 3, 8, 8])],
    build: (g, t) => g.maxPool(t['x']!, { kernelShape: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1] }).y,
  });
  check('MaxPool 3x3 stride 2 on an odd size with padding on both sides', {
    inputs: [inp('x', [1, 2, 7, 9])],
    build: (g, t) => g.maxPool(t['x']!, { kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }).y,
  });
  check('MaxPool 2x2 stride 2 (non-overlapping)', {
    inputs: [inp('x', [2, 2, 4, 6])],
    build: (g, t) => g.maxPool(t['x']!, { kernelShape: [2, 2], strides: [2, 2] }).y,
  });
  test('MaxPool ties: the first element of a window takes dY (as MaxPool Indices do), padding never does', async () => {
    // All-equal input: every window is a tie. SAME-style padding on all sides puts padded cells first
    // in the top and left windows; they must not take the gradient.
    for (const [pads, want] of [
      [
        [1, 1, 1, 1],
        [1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      ],
      [
        [0, 0, 1, 1],
        [1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0],
      ],
    ] as const) {
      const g = new Graph('ties');
      const x = g.input('x', 'float32', [1, 1, 4, 4]);
      const y = g.maxPool(x, { kernelShape: [3, 3], strides: [2, 2], pads }).y;
      g.output(gradients(g, g.reduceSum(y, undefined, false), [x])[0]!, 'dx');
      const s = await createSession(g.toBytes(), { threads: 1 });
      const out = await s.run({ x: new ort.Tensor('float32', new Float32Array(16), [1, 1, 4, 4]) });
      assert.deepEqual([...(out['dx']!.data as Float32Array)], want, `pads [${pads}]`);
    }
  });
  check('MaxPool 3x3 stride 1 (each input in up to 9 windows)', {
    inputs: [inp('x', [1, 2, 6, 6])],
    build: (g, t) => g.maxPool(t['x']!, { kernelShape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] }).y,
  });
});

describe('ScatterElements and GatherElements', () => {
  check('ScatterElements add with repeated indices', {
    inputs: [inp('d', [6]), inp('u', [5])],
    build: (g, t) => g.scatterElements(t['d']!, g.constant([0, 2, 2, 5, 0], 'int64', [5]), t['u']!, { reduction: 'add' }),
  });
  check('GatherElements on axis 1', {
    inputs: [inp('d', [3, 4])],
    build: (g, t) => g.gatherElements(t['d']!, g.constant([0, 3, 3, 1, 2, 2], 'int64', [3, 2]), 1),
  });
});
