// Every rule in GRAD_RULES against central finite differences in float64, both sides run by
// onnxruntime (see gradcheck.ts), plus the backward walk's contracts: every builder op is accounted
// for, unsupported ops throw naming the op, stopGradient cuts, values used twice accumulate, and the
// emitted names are readable.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GRAD_RULES,
  Graph,
  NO_GRADIENT,
  SHAPE_RULES,
  createSession,
  fastGeluGrad,
  gaussianLogProb,
  gelu,
  gradients,
  lengthNormalize,
  toOrt,
  type Tensor,
} from '../../onnx/index.ts';
import { Rng } from '../../rng/rng.ts';
import { gradCheck, type GradCase, type InputSpec } from './gradcheck.ts';

const inp = (name: string, shape: number[], extra: Partial<InputSpec> = {}): InputSpec => ({ name, shape, ...extra });
const check = (label: string, c: GradCase) => test(label, async () => void (await gradCheck(label, c)));

/** Broadcasting shape pairs used for every binary op: [a runtime, a declared, b runtime, b declared]. */
const BROADCAST: [string, number[], (number | string)[] | undefined, number[], (number | string)[] | undefined][] = [
  ['same shape', [3, 4], undefined, [3, 4], undefined],
  ['[2,1,1,5] with [1,3,4,1]', [2, 1, 1, 5], undefined, [1, 3, 4, 1], undefined],
  ['scalar with matrix', [], undefined, [3, 4], undefined],
  ['matrix with scalar', [3, 4], undefined, [], undefined],
  ['rank 3 with rank 1', [2, 3, 4], undefined, [4], undefined],
  // A static [n, d] with [d]: the row operand's gradient is a column sum (unbroadcast's sumRows).
  ['matrix with row', [3, 4], undefined, [4], undefined],
  ['[4,1] with [2,3,1,5]', [4, 1], undefined, [2, 3, 1, 5], undefined],
  ['symbolic batch with row', [3, 4], ['batch', 4], [4], undefined],
  ['symbolic batch with column', [3, 1], ['batch', 1], [3, 5], ['batch', 5]],
];

describe('elementwise binary ops with broadcasting', () => {
  const BINARY: [string, (g: Graph, a: Tensor, b: Tensor) => Tensor, Partial<InputSpec>?][] = [
    ['Add', (g, a, b) => g.add(a, b)],
    ['Sub', (g, a, b) => g.sub(a, b)],
    ['Mul', (g, a, b) => g.mul(a, b)],
    // Denominators kept away from 0.
    ['Div', (g, a, b) => g.div(a, b), { lo: 0.5, hi: 2 }],
    // Distinct random values: no ties within the step.
    ['Max', (g, a, b) => g.max(a, b)],
    ['Min', (g, a, b) => g.min(a, b)],
  ];
  for (const [op, f, bExtra] of BINARY) {
    for (const [what, as, ad, bs, bd] of BROADCAST) {
      check(`${op}: ${what}`, {
        inputs: [inp('a', as, { decl: ad }), inp('b', bs, { decl: bd, ...bExtra })],
        build: (g, t) => f(g, t['a']!, t['b']!),
      });
    }
  }
  for (const [what, as, ad, bs, bd] of BROADCAST) {
    // The condition depends on a and b through a comparison (no gradient through it).
    check(`Where: ${what}`, {
      inputs: [inp('a', as, { decl: ad }), inp('b', bs, { decl: bd })],
      build: (g, t) => g.where(g.greater(t['a']!, g.mul(t['b']!, 0.5)), t['a']!, t['b']!),
    });
  }
  check('Mul of a value by itself (x * x)', { inputs: [inp('x', [3, 4])], build: (g, t) => g.mul(t['x']!, t['x']!) });
  check('Mul of a value by itself, then used again', {
    inputs: [inp('x', [2, 3])],
    build: (g, t) => g.add(g.mul(t['x']!, t['x']!), g.mul(t['x']!, 3)),
  });
  check('Where: bool input condition [3,1] with [1,4] and a scalar', {
    inputs: [inp('c', [3, 1], { dtype: 'bool', data: [1, 0, 1] }), inp('a', [1, 4]), inp('b', [])],
    build: (g, t) => g.where(t['c']!, t['a']!, t['b']!),
  });
  check('Pow: constant integer exponent', { inputs: [inp('x', [3, 4])], build: (g, t) => g.pow(t['x']!, 3) });
  check('Pow: constant fractional exponent', { inputs: [inp('x', [3, 4], { lo: 0.2, hi: 2 })], build: (g, t) => g.pow(t['x']!, 1.5) });
  check('Pow: constant negative exponent', { inputs: [inp('x', [3, 4], { lo: 0.5, hi: 2 })], build: (g, t) => g.pow(t['x']!, -2.5) });
  check('Pow: constant exponent vector broadcast over a symbolic batch', {
    inputs: [inp('x', [3, 4], { decl: ['batch', 4], lo: 0.5, hi: 2 })],
    build: (g, t) => g.pow(t['x']!, g.constant([2, 0.5, -1, 3], 'float64', [4])),
  });
  check('Pow: scalar base with a constant exponent matrix', {
    inputs: [inp('x', [], { lo: 0.5, hi: 2 })],
    build: (g, t) => g.pow(t['x']!, g.constant([1, 2, 3, 0.5, -1, 2.5], 'float64', [2, 3])),
  });
});

describe('elementwise unary ops', () => {
  const UNARY: [string, (g: Graph, x: Tensor) => Tensor, Partial<InputSpec>][] = [
    ['Identity', (g, x) => g.identity(x), {}],
    ['Neg', (g, x) => g.neg(x), {}],
    // Away from the kink at 0.
    ['Abs', (g, x) => g.abs(x), { minAbs: 0.1 }],
    ['Relu', (g, x) => g.relu(x), { minAbs: 0.1 }],
    ['Exp', (g, x) => g.exp(x), { lo: -2, hi: 2 }],
    ['Log', (g, x) => g.log(x), { lo: 0.2, hi: 3 }],
    ['Sqrt', (g, x) => g.sqrt(x), { lo: 0.2, hi: 3 }],
    ['Reciprocal', (g, x) => g.reciprocal(x), { minAbs: 0.3, lo: -2, hi: 2 }],
    ['Tanh', (g, x) => g.tanh(x), { lo: -2, hi: 2 }],
    ['Sigmoid', (g, x) => g.sigmoid(x), { lo: -3, hi: 3 }],
  ];
  for (const [op, f, extra] of UNARY) {
    check(`${op}`, { inputs: [inp('x', [3, 4], extra)], build: (g, t) => f(g, t['x']!) });
    check(`${op} on a symbolic batch`, { inputs: [inp('x', [2, 3], { decl: ['batch', 3], ...extra })], build: (g, t) => f(g, t['x']!) });
  }
  // onnxruntime's CPU provider has Softplus for float32 only ("Could not find an implementation for
  // Softplus(1)" in float64), so it is checked in float32: 5-point stencil with h = 2^-6 (exact in
  // float32 around values of this size), truncation error ~h^4 f^(5)/30 < 1e-9, rounding error
  // ~1e-7 |loss| / h, hence rtol 1e-4 and atol 1e-4.
  check('Softplus (float32)', {
    dtype: 'float32',
    stencil: 4,
    h: 2 ** -6,
    rtol: 1e-4,
    atol: 1e-4,
    inputs: [inp('x', [3, 4], { lo: -3, hi: 3 })],
    build: (g, t) => g.softplus(t['x']!),
  });
  check('Clip: both bounds', { inputs: [inp('x', [4, 5], { lo: -1, hi: 1 })], build: (g, t) => g.clip(t['x']!, -0.5, 0.4) });
  check('Clip: min only', { inputs: [inp('x', [4, 5])], build: (g, t) => g.clip(t['x']!, -0.3) });
  check('Clip: max only, symbolic batch', {
    inputs: [inp('x', [4, 5], { decl: ['batch', 5] })],
    build: (g, t) => g.clip(t['x']!, undefined, 0.2),
  });
});

describe('Cast', () => {
  // Inputs on a dyadic grid and h = 2^-12, so x +- h is exact in float32 and the float32 round trip
  // does not quantise the finite difference.
  const grid = (n: number, seed: number) => Array.from({ length: n }, (_, i) => (((i * 37 + seed) % 64) - 32) / 32);
  check('Cast float64 -> float32 -> float64', {
    h: 2 ** -12,
    rtol: 1e-6,
    inputs: [inp('x', [3, 4], { data: grid(12, 5) })],
    build: (g, t) => g.tanh(g.cast(g.cast(t['x']!, 'float32'), 'float64')),
  });
  check('Cast float32 -> float64 (loss in float64, float32 gradient)', {
    h: 2 ** -12,
    rtol: 1e-6,
    atol: 1e-7,
    inputs: [inp('x', [3, 4], { dtype: 'float32', data: grid(12, 3) })],
    build: (g, t) => {
      const x = g.cast(t['x']!, 'float64');
      return g.mul(x, g.add(x, 0.25)); // quadratic: central differences are exact
    },
  });
});

describe('Gemm and MatMul', () => {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const [M, K, N] = [3, 4, 5];
      const a = transA ? [K, M] : [M, K];
      const b = transB ? [N, K] : [K, N];
      const biases: [string, number[] | null][] = [
        ['no bias', null],
        ['bias [N]', [N]],
        ['bias [1,N]', [1, N]],
        ['bias [M,1]', [M, 1]],
        ['bias [M,N]', [M, N]],
        ['scalar bias', []],
      ];
      for (const [what, cs] of biases) {
        check(`Gemm transA=${+transA} transB=${+transB}, ${what}`, {
          inputs: [inp('a', a), inp('b', b), ...(cs ? [inp('c', cs)] : [])],
          build: (g, t) => g.gemm(t['a']!, t['b']!, t['c'] ?? null, { transA, transB }),
        });
      }
      check(`Gemm transA=${+transA} transB=${+transB}, alpha 0.7 beta -1.3`, {
        inputs: [inp('a', a), inp('b', b), inp('c', [N])],
        build: (g, t) => g.gemm(t['a']!, t['b']!, t['c']!, { transA, transB, alpha: 0.7, beta: -1.3 }),
      });
    }
  }
  check('Gemm with a symbolic batch (A [batch,K])', {
    inputs: [inp('a', [3, 4], { decl: ['batch', 4] }), inp('b', [4, 5]), inp('c', [5])],
    build: (g, t) => g.gemm(t['a']!, t['b']!, t['c']!),
  });
  check('MatMul 2-D', { inputs: [inp('a', [3, 4]), inp('b', [4, 5])], build: (g, t) => g.matMul(t['a']!, t['b']!) });
  check('MatMul batched [2,3,4] x [2,4,5]', {
    inputs: [inp('a', [2, 3, 4]), inp('b', [2, 4, 5])],
    build: (g, t) => g.matMul(t['a']!, t['b']!),
  });
  check('MatMul batched with a broadcast matrix [2,3,4] x [4,5]', {
    inputs: [inp('a', [2, 3, 4]), inp('b', [4, 5])],
    build: (g, t) => g.matMul(t['a']!, t['b']!),
  });
  check('MatMul batch broadcast [2,1,3,4] x [3,4,2]', {
    inputs: [inp('a', [2, 1, 3, 4]), inp('b', [3, 4, 2])],
    build: (g, t) => g.matMul(t['a']!, t['b']!),
  });
  check('MatMul symbolic batch [batch,3,4] x [4,2]', {
    inputs: [inp('a', [2, 3, 4], { decl: ['batch', 3, 4] }), inp('b', [4, 2])],
    build: (g, t) => g.matMul(t['a']!, t['b']!),
  });
});

describe('reductions', () => {
  const REDUCE: [string, (g: Graph, x: Tensor, axes: number[] | undefined, keep: boolean) => Tensor][] = [
    ['ReduceSum', (g, x, axes, keep) => g.reduceSum(x, axes, keep)],
    ['ReduceMean', (g, x, axes, keep) => g.reduceMean(x, axes, keep)],
    // Random values are distinct: no ties.
    ['ReduceMax', (g, x, axes, keep) => g.reduceMax(x, axes, keep)],
    ['ReduceMin', (g, x, axes, keep) => g.reduceMin(x, axes, keep)],
  ];
  for (const [op, f] of REDUCE) {
    for (const axes of [[1], [0, 2], [-1], undefined]) {
      for (const keep of [true, false]) {
        check(`${op} axes ${axes ? `[${axes}]` : 'all'} keepdims ${+keep}`, {
          inputs: [inp('x', [2, 3, 4])],
          build: (g, t) => f(g, t['x']!, axes, keep),
        });
      }
    }
    check(`${op} over a symbolic batch axis, keepdims 0`, {
      inputs: [inp('x', [3, 2, 4], { decl: ['batch', 2, 4] })],
      build: (g, t) => f(g, t['x']!, [0, 2], false),
    });
    check(`${op} over a static axis of a symbolic-batch tensor`, {
      inputs: [inp('x', [3, 4], { decl: ['batch', 4] })],
      build: (g, t) => f(g, t['x']!, [1], true),
    });
  }
});

describe('shape ops', () => {
  check('Concat axis 1 of three inputs', {
    inputs: [inp('a', [2, 3]), inp('b', [2, 1]), inp('c', [2, 2])],
    build: (g, t) => g.concat([t['a']!, t['b']!, t['c']!], 1),
  });
  check('Concat axis -1 with a symbolic batch', {
    inputs: [inp('a', [3, 2], { decl: ['batch', 2] }), inp('b', [3, 4], { decl: ['batch', 4] })],
    build: (g, t) => g.concat([t['a']!, t['b']!], -1),
  });
  check('Concat axis 0 of rank-3 tensors', {
    inputs: [inp('a', [1, 2, 3]), inp('b', [2, 2, 3])],
    build: (g, t) => g.concat([t['a']!, t['b']!], 0),
  });
  check('Concat of a value with itself', { inputs: [inp('a', [2, 3])], build: (g, t) => g.concat([t['a']!, g.tanh(t['a']!), t['a']!], 1) });
  check('Slice with a negative start', { inputs: [inp('x', [4, 6])], build: (g, t) => g.slice(t['x']!, [-3], [100], [1]) });
  check('Slice on two axes with negative starts and ends', {
    inputs: [inp('x', [3, 4, 5])],
    build: (g, t) => g.slice(t['x']!, [1, -4], [3, -1], [0, 2]),
  });
  check('Slice with start clamped (-100) and explicit step 1', {
    inputs: [inp('x', [4, 5])],
    build: (g, t) => g.slice(t['x']!, [-100, 1], [2, 4], [0, 1], [1, 1]),
  });
  check('Slice on a symbolic-batch tensor (static axis)', {
    inputs: [inp('x', [3, 6], { decl: ['batch', 6] })],
    build: (g, t) => g.slice(t['x']!, [2], [5], [1]),
  });
  check('Split into three along axis 1', { inputs: [inp('x', [2, 6])], build: (g, t) => g.split(t['x']!, [2, 3, 1], 1) });
  check('Split with an unused output (its gradient is zero)', {
    inputs: [inp('x', [5, 3])],
    build: (g, t) => g.split(t['x']!, [2, 3], 0)[1]!,
  });
  check('Split along axis -1 of a symbolic batch, first output only', {
    inputs: [inp('x', [3, 4], { decl: ['batch', 4] })],
    build: (g, t) => g.split(t['x']!, [1, 3], -1)[0]!,
  });
  check('Reshape [2,3,4] -> [6,4]', { inputs: [inp('x', [2, 3, 4])], build: (g, t) => g.reshape(t['x']!, [6, 4]) });
  check('Reshape with -1 and 0', { inputs: [inp('x', [2, 3, 4])], build: (g, t) => g.reshape(t['x']!, [0, -1]) });
  check('Reshape of a symbolic batch [batch,3,4] -> [batch,12]', {
    inputs: [inp('x', [2, 3, 4], { decl: ['batch', 3, 4] })],
    build: (g, t) => g.reshape(t['x']!, [-1, 12]),
  });
  check('Transpose perm [2,0,1]', { inputs: [inp('x', [2, 3, 4])], build: (g, t) => g.transpose(t['x']!, [2, 0, 1]) });
  check('Transpose default (reversed)', { inputs: [inp('x', [2, 3, 4])], build: (g, t) => g.transpose(t['x']!) });
  check('Transpose of a symbolic batch', {
    inputs: [inp('x', [3, 2, 4], { decl: ['batch', 2, 4] })],
    build: (g, t) => g.transpose(t['x']!, [1, 0, 2]),
  });
  check('Squeeze axis 1', { inputs: [inp('x', [3, 1, 4, 1])], build: (g, t) => g.squeeze(t['x']!, [1]) });
  check('Squeeze all unit axes', { inputs: [inp('x', [3, 1, 4, 1])], build: (g, t) => g.squeeze(t['x']!) });
  check('Squeeze axis -1 of a symbolic batch', {
    inputs: [inp('x', [3, 1], { decl: ['batch', 1] })],
    build: (g, t) => g.squeeze(t['x']!, [-1]),
  });
  check('Unsqueeze axes [0,3]', { inputs: [inp('x', [2, 3])], build: (g, t) => g.unsqueeze(t['x']!, [0, 3]) });
  check('Unsqueeze axis -1 of a symbolic batch', {
    inputs: [inp('x', [3, 2], { decl: ['batch', 2] })],
    build: (g, t) => g.unsqueeze(t['x']!, [-1]),
  });
  check('Expand [3,1] -> [2,3,4]', { inputs: [inp('x', [3, 1])], build: (g, t) => g.expand(t['x']!, [2, 3, 4]) });
  check('Expand [4] -> [3,4]', { inputs: [inp('x', [4])], build: (g, t) => g.expand(t['x']!, [3, 4]) });
  check('Expand scalar -> [2,3]', { inputs: [inp('x', [])], build: (g, t) => g.expand(t['x']!, [2, 3]) });
  check('Expand [2,1,4] -> [2,3,4] (shape with ones kept)', {
    inputs: [inp('x', [2, 1, 4])],
    build: (g, t) => g.expand(t['x']!, [1, 3, 1]),
  });
  check('Pad [3,4] by [1,0,2,1]', { inputs: [inp('x', [3, 4])], build: (g, t) => g.pad(t['x']!, [1, 0, 2, 1]) });
  check('Pad the static axis of a symbolic batch', {
    inputs: [inp('x', [3, 4], { decl: ['batch', 4] })],
    build: (g, t) => g.pad(t['x']!, [0, 2, 0, 1]),
  });
});

describe('LayerNormalization (epsilon 1e-6)', () => {
  const ln = (axis: number, withBias: boolean) => (g: Graph, t: Record<string, Tensor>) =>
    g.layerNormalization(t['x']!, t['scale']!, withBias ? t['bias']! : null, { axis, epsilon: 1e-6 }).y;
  const cases: [string, number[], (number | string)[] | undefined, number, number[]][] = [
    ['axis -1 of [4,5]', [4, 5], undefined, -1, [5]],
    ['axis -1 of [2,3,4]', [2, 3, 4], undefined, -1, [4]],
    ['axis 1 of [2,3,4]', [2, 3, 4], undefined, 1, [3, 4]],
    ['axis 0 of [3,4] (all axes)', [3, 4], undefined, 0, [3, 4]],
    ['axis -1 of a symbolic batch', [3, 6], ['batch', 6], -1, [6]],
    ['axis -1 with a broadcast scale [1,4]', [2, 3, 4], undefined, -1, [1, 4]],
  ];
  for (const [what, xs, xd, axis, ss] of cases) {
    for (const withBias of [true, false]) {
      check(`LayerNormalization ${what}${withBias ? '' : ', no bias'}`, {
        inputs: [inp('x', xs, { decl: xd, lo: -2, hi: 2 }), inp('scale', ss, { lo: 0.5, hi: 1.5 }), ...(withBias ? [inp('bias', ss)] : [])],
        build: ln(axis, withBias),
      });
    }
  }
  // float32 takes the rule's other branch for m2 (Gemm with alpha 1/n); checked like Softplus.
  check('LayerNormalization axis -1 of [4,5] (float32)', {
    dtype: 'float32',
    stencil: 4,
    h: 2 ** -6,
    rtol: 1e-3,
    atol: 1e-3,
    inputs: [inp('x', [4, 5], { lo: -2, hi: 2 }), inp('scale', [5], { lo: 0.5, hi: 1.5 }), inp('bias', [5])],
    build: ln(-1, true),
  });
});

describe('composites (decompositions, no rule of their own)', () => {
  check('gelu (tanh approximation)', { inputs: [inp('x', [3, 4], { lo: -3, hi: 3 })], build: (g, t) => gelu(g, t['x']!) });
  check('lengthNormalize', { inputs: [inp('x', [3, 4], { minAbs: 0.2 })], build: (g, t) => lengthNormalize(g, t['x']!) });
  check('gaussianLogProb', {
    inputs: [inp('a', [3, 2], { decl: ['batch', 2] }), inp('mu', [3, 2], { decl: ['batch', 2] })],
    build: (g, t) => gaussianLogProb(g, t['a']!, t['mu']!),
  });
  check('an MLP layer: Gemm, LayerNormalization, gelu', {
    inputs: [
      inp('x', [4, 3], { decl: ['batch', 3] }),
      inp('w', [3, 5]),
      inp('b', [5]),
      inp('scale', [5], { lo: 0.5, hi: 1.5 }),
      inp('bias', [5]),
    ],
    build: (g, t) => gelu(g, g.layerNormalization(g.gemm(t['x']!, t['w']!, t['b']!), t['scale']!, t['bias']!, { epsilon: 1e-6 }).y),
  });
});

describe('FastGelu (onnxruntime contrib op)', () => {
  // FastGelu has a float32 CPU kernel only. Its rule's formula (fastGeluGrad) is checked in float64
  // against central differences of the equal 6-op decomposition (gelu without contribOps), with that
  // decomposition's output standing in for FastGelu's; then the rule itself in float32 like Softplus.
  test('the derivative formula, float64, against finite differences of the decomposition', async () => {
    const n = 12;
    const rng = new Rng(7);
    const xs = Float64Array.from({ length: n }, () => -4 + 8 * rng.uniform());
    const ws = Float64Array.from({ length: n }, () => 0.5 + rng.uniform());
    const g = new Graph('fast_gelu_formula');
    const x = g.input('x', 'float64', [n]);
    const w = g.input('w', 'float64', [n]);
    const y = gelu(g, x);
    g.output(g.reduceSum(g.mul(y, w), undefined, false), 'loss');
    g.output(fastGeluGrad(g, x, y, w), 'dx');
    const s = await createSession(g.toBytes(), { threads: 1 });
    const run = async (v: Float64Array) => s.run({ x: toOrt('float64', v, [n]), w: toOrt('float64', ws, [n]) });
    const dx = (await run(xs))['dx']!.data as Float64Array;
    const h = 1e-6;
    for (let j = 0; j < n; j++) {
      const at = async (k: number) => {
        const v = xs.slice();
        v[j]! += k * h;
        return Number((await run(v))['loss']!.data[0]);
      };
      const numeric = ((await at(1)) - (await at(-1))) / (2 * h);
      assert.ok(Math.abs(dx[j]! - numeric) <= 1e-7 * Math.abs(numeric) + 1e-9, `x = ${xs[j]}: ${dx[j]} (formula) vs ${numeric}`);
    }
    await s.release();
  });
  const f32 = { dtype: 'float32', stencil: 4, h: 2 ** -6, rtol: 1e-4, atol: 1e-4 } as const;
  check('FastGelu (float32)', { ...f32, inputs: [inp('x', [3, 4], { lo: -4, hi: 4 })], build: (g, t) => g.fastGelu(t['x']!) });
  check('gelu with contribOps emits FastGelu (float32)', {
    ...f32,
    contribOps: true,
    inputs: [inp('x', [2, 5], { decl: ['batch', 5], lo: -3, hi: 3 })],
    build: (g, t) => {
      const y = gelu(g, t['x']!);
      assert.equal(g.producer.get(y.name)!.opType, 'FastGelu');
      return y;
    },
  });
});

describe('the backward walk', () => {
  test('every op the builder supports has a gradient rule or is listed in NO_GRADIENT', () => {
    const missing = [...SHAPE_RULES.keys()].filter((op) => !(op in GRAD_RULES) && !NO_GRADIENT.has(op));
    assert.deepEqual(missing, [], `ops with neither a gradient rule nor a NO_GRADIENT entry: ${missing.join(', ')}`);
    const both = Object.keys(GRAD_RULES).filter((op) => NO_GRADIENT.has(op));
    assert.deepEqual(both, [], `ops with a rule and a NO_GRADIENT entry: ${both.join(', ')}`);
    const unknown = [...Object.keys(GRAD_RULES), ...NO_GRADIENT].filter((op) => !SHAPE_RULES.has(op));
    assert.deepEqual(unknown, [], `gradient entries for ops the builder does not support: ${unknown.join(', ')}`);
  });

  test('an op without a gradient rule on a differentiated path throws an error naming the op and node', () => {
    // Register a builder op that has no rule (Sin), for this test only.
    assert.ok(!SHAPE_RULES.has('Sin'));
    SHAPE_RULES.set('Sin', (_g, [x]) => [{ dtype: x!.dtype, shape: x!.shape }]);
    try {
      const g = new Graph('unsupported');
      const x = g.input('x', 'float64', [3]);
      const w = g.input('w', 'float64', [3]);
      const y = g.node('Sin', [g.mul(x, w)], {}, { name: 'my_sin' })[0]!;
      const loss = g.reduceSum(y, undefined, false);
      assert.throws(
        () => gradients(g, loss, [w]),
        (e: Error) => /no gradient rule for op 'Sin'/.test(e.message) && /my_sin/.test(e.message),
      );
      // The same op off the differentiated path is fine.
      const g2 = new Graph('unsupported_off_path');
      const x2 = g2.input('x', 'float64', [3]);
      const w2 = g2.input('w', 'float64', [3]);
      const loss2 = g2.reduceSum(g2.mul(g2.node('Sin', [x2])[0]!, w2), undefined, false);
      assert.doesNotThrow(() => gradients(g2, loss2, [w2]));
    } finally {
      SHAPE_RULES.delete('Sin');
    }
  });

  test('stopGradient cuts the path', async () => {
    // loss = sum(w * stop(w) * x): d/dw = stop(w) * x (not 2 w x).
    const g = new Graph('stop');
    const x = g.input('x', 'float64', [4]);
    const w = g.input('w', 'float64', [4]);
    const loss = g.reduceSum(g.mul(g.mul(w, g.stopGradient(w)), x), undefined, false);
    // A parameter reached only through stopGradient gets zeros.
    const v = g.input('v', 'float64', [4]);
    const loss2 = g.add(loss, g.reduceSum(g.stopGradient(g.mul(v, v)), undefined, false));
    const [gw, gv] = gradients(g, loss2, [w, v]);
    g.output(gw!);
    g.output(gv!);
    const s = await createSession(g.toBytes(), { threads: 1 });
    const xs = [1, -2, 3, 0.5];
    const ws = [0.3, 0.7, -1.1, 2];
    const r = await s.run({
      x: toOrt('float64', Float64Array.from(xs), [4]),
      w: toOrt('float64', Float64Array.from(ws), [4]),
      v: toOrt('float64', Float64Array.from([1, 2, 3, 4]), [4]),
    });
    assert.deepEqual(
      Array.from(r[gw!.name]!.data as Float64Array),
      ws.map((wi, i) => wi * xs[i]!),
    );
    assert.deepEqual(Array.from(r[gv!.name]!.data as Float64Array), [0, 0, 0, 0]);
    await s.release();
  });

  test('a value used twice accumulates both contributions', async () => {
    // loss = sum(x * x + x): d/dx = 2x + 1.
    const g = new Graph('twice');
    const x = g.input('x', 'float64', [3]);
    const loss = g.reduceSum(g.add(g.mul(x, x), x), undefined, false);
    const [gx] = gradients(g, loss, [x]);
    g.output(gx!);
    const s = await createSession(g.toBytes(), { threads: 1 });
    const r = await s.run({ x: toOrt('float64', Float64Array.from([1.5, -2, 0.25]), [3]) });
    assert.deepEqual(Array.from(r[gx!.name]!.data as Float64Array), [4, -3, 1.5]);
    await s.release();
    // And through finite differences, with a value used by three consumers of different ops.
    await gradCheck('used three times', {
      inputs: [inp('x', [2, 3])],
      build: (gg, t) => gg.mul(gg.tanh(t['x']!), gg.add(t['x']!, gg.reduceSum(t['x']!, [1], true))),
    });
  });

  test('ReduceMax/ReduceMin ties share the gradient equally, Max/Min ties go to the first operand (hand-computed)', async () => {
    // Finite differences are undefined at ties, so these are checked against the documented choice.
    const g = new Graph('ties');
    const x = g.input('x', 'float64', [2, 3]);
    const y = g.input('y', 'float64', [2, 3]);
    const loss = g.add(
      g.add(g.reduceSum(g.reduceMax(x, [1], false), undefined, false), g.reduceSum(g.mul(g.reduceMin(x, [1], true), 2), undefined, false)),
      g.reduceSum(g.mul(g.max(x, y), 10), undefined, false),
    );
    const [gx, gy] = gradients(g, loss, [x, y]);
    g.output(gx!);
    g.output(gy!);
    const s = await createSession(g.toBytes(), { threads: 1 });
    const r = await s.run({
      x: toOrt('float64', Float64Array.from([1, 1, 0, 2, 2, 2]), [2, 3]),
      y: toOrt('float64', Float64Array.from([1, 0, 5, 2, 3, 1]), [2, 3]),
    });
    // Row 0: max 1 tied at 0,1 -> 0.5 each; min 0 at 2 -> 2. Row 1: all tied -> 1/3 and 2/3 each.
    // max(x, y): ties (x=y) to x.
    const ex = [0.5 + 10, 0.5 + 10, 2, 1 / 3 + 2 / 3 + 10, 1 / 3 + 2 / 3, 1 / 3 + 2 / 3 + 10];
    const ey = [0, 0, 10, 0, 10, 0];
    (r[gx!.name]!.data as Float64Array).forEach((v, i) => assert.ok(Math.abs(v - ex[i]!) < 1e-12, `d/dx[${i}] = ${v}, expected ${ex[i]}`));
    assert.deepEqual(Array.from(r[gy!.name]!.data as Float64Array), ey);
    await s.release();
  });

  test('a parameter the loss does not depend on gets a zero gradient of its shape', async () => {
    const g = new Graph('unused');
    const x = g.input('x', 'float64', [2]);
    const u = g.input('u', 'float64', [2, 3]);
    const loss = g.reduceSum(g.mul(x, x), undefined, false);
    const [gu] = gradients(g, loss, [u]);
    assert.deepEqual(gu!.shape, [2, 3]);
    g.output(gu!);
    const s = await createSession(g.toBytes(), { threads: 1 });
    const r = await s.run({ x: toOrt('float64', Float64Array.from([1, 2]), [2]), u: toOrt('float64', new Float64Array(6), [2, 3]) });
    assert.deepEqual(Array.from(r[gu!.name]!.data as Float64Array), [0, 0, 0, 0, 0, 0]);
    await s.release();
  });

  test('gradient names are readable: <param>_grad, backward nodes under <node>_Grad/', () => {
    const g = new Graph('names');
    const x = g.input('x', 'float32', ['batch', 3]);
    const w = g.input('value/mlp/0/kernel', 'float32', [3, 4]);
    const b = g.input('value/mlp/0/bias', 'float32', [4]);
    // h is used twice: the sum of its two gradient contributions sits under 'value/mlp/Tanh_Grad/'.
    const h = g.scope('value', () => g.scope('mlp', () => g.tanh(g.gemm(x, w, b))));
    const loss = g.reduceMean(g.mul(h, g.exp(h)), undefined, false);
    const [gw, gb] = gradients(g, loss, [w, b]);
    assert.equal(gw!.name, 'value/mlp/0/kernel_grad');
    assert.equal(gb!.name, 'value/mlp/0/bias_grad');
    const forwardNames = g.nodes.slice(0, 5).map((n) => n.name);
    assert.deepEqual(forwardNames, ['value/mlp/Gemm', 'value/mlp/Tanh', 'Exp', 'Mul', 'ReduceMean']);
    const backward = g.nodes.slice(5);
    // Every backward node but the final naming Identities sits under '<forward node>_Grad/'.
    for (const n of backward) {
      if (n.outputs.some((o) => o.endsWith('_grad'))) continue;
      assert.ok(
        forwardNames.some((f) => n.name.startsWith(`${f}_Grad/`)),
        `backward node '${n.name}' is not under a '<node>_Grad/' scope`,
      );
    }
    assert.ok(backward.some((n) => n.name.startsWith('value/mlp/Gemm_Grad/')));
    assert.ok(backward.some((n) => n.name.startsWith('value/mlp/Tanh_Grad/')));
    assert.ok(
      backward.some((n) => n.name.startsWith('value/mlp/Tanh_Grad/') && n.opType === 'Add'),
      'the accumulation of dh',
    );
  });

  test('named: false returns the same gradients without the naming Identities', () => {
    const g = new Graph('unnamed');
    const w = g.input('w', 'float32', [3]);
    const unused = g.input('unused', 'float32', [2]);
    const loss = g.reduceSum(g.mul(w, w), undefined, false);
    const before = g.nodes.length;
    const [gw, gu] = gradients(g, loss, [w, unused], { named: false });
    assert.ok(g.nodes.slice(before).every((n) => n.opType !== 'Identity'));
    assert.equal(g.producer.get(gw!.name)!.opType, 'Mul');
    assert.deepEqual(gu!.shape, [2]);
  });
});

describe('TopK and CumSum', () => {
  // Distinct random values: no ties, so the sort order is fixed within the finite-difference step.
  check('TopK: full ascending sort along the last axis (largest 0)', {
    inputs: [inp('x', [3, 6])],
    build: (g, t) => g.topK(t['x']!, 6, { largest: false }).values,
  });
  check('TopK: the 3 largest along axis 1 of a rank-3 tensor (unselected entries get zero)', {
    inputs: [inp('x', [2, 5, 3])],
    build: (g, t) => g.topK(t['x']!, 3, { axis: 1 }).values,
  });
  check('TopK: sorted values times a function of the indices, symbolic batch', {
    inputs: [inp('x', [4, 8], { decl: ['batch', 8] })],
    build: (g, t) => {
      const { values, indices } = g.topK(t['x']!, 8, { largest: false });
      return g.mul(values, g.cast(indices, 'float64'));
    },
  });
  check('CumSum along the last axis', { inputs: [inp('x', [3, 5])], build: (g, t) => g.cumSum(t['x']!, -1) });
  check('CumSum along axis 0 of a rank-3 tensor', { inputs: [inp('x', [4, 2, 3])], build: (g, t) => g.cumSum(t['x']!, 0) });
  check('CumSum reversed, symbolic batch', {
    inputs: [inp('x', [3, 4], { decl: ['batch', 4] })],
    build: (g, t) => g.cumSum(t['x']!, 1, { reverse: true }),
  });
  test('TopK ties: the lower index comes first (a stable sort, as jnp.argsort)', async () => {
    const g = new Graph('topk_ties');
    const x = g.input('x', 'float32', [1, 6]);
    const { values, indices } = g.topK(x, 6, { largest: false });
    g.output(values, 'v');
    g.output(indices, 'i');
    const s = await createSession(g.toBytes(), { threads: 1 });
    const r = await s.run({ x: toOrt('float32', Float32Array.from([2, 1, 2, 0, 1, 2]), [1, 6]) });
    assert.deepEqual(Array.from(r['v']!.data as Float32Array), [0, 1, 1, 2, 2, 2]);
    assert.deepEqual(Array.from(r['i']!.data as BigInt64Array, Number), [3, 1, 4, 0, 2, 5]);
    await s.release();
  });
});
