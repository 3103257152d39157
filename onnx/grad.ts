// Reverse-mode differentiation that emits standard ai.onnx ops.
// GRAD_RULES maps an op type to a rule returning one gradient per input (null where none). Rules may
// return a gradient with the broadcast shape of the output: the backward walk reduces it to the
// input's shape (unbroadcast) and sums contributions to values used more than once, in one place.
// Ops whose outputs carry no gradient are listed in NO_GRADIENT; any other op on a differentiated path
// is an error that names it.
import { Graph, isFloat, isStatic, shapeToString, typedArrayFor, type DType, type Node, type Tensor } from './graph.ts';
import { GELU_A, GELU_B } from './nn.ts';
import { attrFloat, attrInt, attrInts, constInts } from './ops.ts';

export interface GradContext {
  g: Graph;
  node: Node;
  /** The node's input tensors (null for an omitted optional input). */
  x: (Tensor | null)[];
  /** The node's output tensors. */
  y: Tensor[];
  /** Gradient of the loss w.r.t. each output, null where no gradient flows. */
  dy: (Tensor | null)[];
}

export type GradRule = (c: GradContext) => (Tensor | null)[];

/** An optional int64 constant input (the node's shape rule already required it to be a constant). */
const constAxes = (g: Graph, t: Tensor | null | undefined, what: string): number[] | undefined => (t ? constInts(g, t, what) : undefined);

/** x's shape as a Reshape or Expand target: its dimensions when static, else Shape(x). */
const shapeOf = (g: Graph, x: Tensor): readonly number[] | Tensor => (isStatic(x.shape) ? x.shape : g.shape(x));

/** Reshape, Squeeze, Unsqueeze: dY reshaped back to the input's shape. */
const reshapeBack: GradRule = ({ g, x, dy }) => [g.reshape(dy[0]!, shapeOf(g, x[0]!)), null];

/** Reduction axes of `node` normalised to non-negative, all axes when none are given. */
function reduceAxes(c: GradContext): number[] {
  const rank = c.x[0]!.shape.length;
  const axes = c.node.opType === 'ReduceSum' ? constAxes(c.g, c.x[1], 'ReduceSum axes') : attrInts(c.node.attrs, 'axes');
  return (axes && axes.length ? axes : c.x[0]!.shape.map((_, i) => i)).map((a) => (a < 0 ? a + rank : a));
}

/** dy of a reduction brought back to the input's shape (keepdims form, then broadcast). */
function expandReduced(c: GradContext, dy: Tensor): Tensor {
  const { g } = c;
  const x = c.x[0]!;
  const axes = reduceAxes(c);
  const keep = attrInt(c.node.attrs, 'keepdims', 1) === 1;
  const dk = keep ? dy : g.unsqueeze(dy, axes);
  return g.expand(dk, shapeOf(g, x));
}

/** Number of elements reduced by a reduction node, as a scalar of the input's dtype. */
function reducedCount(c: GradContext): Tensor {
  const { g } = c;
  const x = c.x[0]!;
  const dims = reduceAxes(c).map((a) => x.shape[a]!);
  if (dims.every((d): d is number => typeof d === 'number'))
    return g.constant(
      dims.reduce((a, b) => a * b, 1),
      x.dtype,
    );
  return g.div(g.cast(g.size(x), x.dtype), g.cast(g.size(c.y[0]!), x.dtype));
}

export const GRAD_RULES: Record<string, GradRule> = {
  Identity: ({ dy }) => [dy[0]!],
  Add: ({ dy }) => [dy[0]!, dy[0]!],
  Sub: ({ g, dy }) => [dy[0]!, g.neg(dy[0]!)],
  // x * x: one gradient 2 x dy (two passes) rather than two contributions and their sum (three).
  Mul: ({ g, x, dy }) => (x[0] === x[1] ? [g.mul(g.mul(dy[0]!, x[0]!), 2), null] : [g.mul(dy[0]!, x[1]!), g.mul(dy[0]!, x[0]!)]),
  Div: ({ g, x, y, dy }) => [g.div(dy[0]!, x[1]!), g.neg(g.div(g.mul(dy[0]!, y[0]!), x[1]!))],
  Neg: ({ g, dy }) => [g.neg(dy[0]!)],
  Abs: ({ g, x, dy }) => [g.mul(dy[0]!, g.sign(x[0]!))],
  Exp: ({ g, y, dy }) => [g.mul(dy[0]!, y[0]!)],
  Log: ({ g, x, dy }) => [g.div(dy[0]!, x[0]!)],
  Sqrt: ({ g, y, dy }) => [g.div(g.mul(dy[0]!, 0.5), y[0]!)],
  Reciprocal: ({ g, y, dy }) => [g.neg(g.mul(dy[0]!, g.mul(y[0]!, y[0]!)))],
  Relu: ({ g, x, dy }) => [g.where(g.greater(x[0]!, 0), dy[0]!, 0)],
  Tanh: ({ g, y, dy }) => [g.mul(dy[0]!, g.sub(1, g.mul(y[0]!, y[0]!)))],
  Sigmoid: ({ g, y, dy }) => [g.mul(dy[0]!, g.mul(y[0]!, g.sub(1, y[0]!)))],
  Softplus: ({ g, x, dy }) => [g.mul(dy[0]!, g.sigmoid(x[0]!))],
  Pow: ({ g, x, dy, node }) => {
    const e = g.constValue(x[1]!);
    if (!e) throw new Error(`Pow '${node.name}': only a constant exponent is differentiable`);
    return [g.mul(dy[0]!, g.mul(x[1]!, g.pow(x[0]!, g.sub(x[1]!, 1)))), null];
  },
  // Ties go to the first operand (a >= b), as in TensorFlow's maximum/minimum gradients.
  Max: (c) => {
    if (c.x.length !== 2) throw new Error(`Max '${c.node.name}': gradient implemented for 2 inputs`);
    const { g, x, dy } = c;
    const first = g.greaterOrEqual(x[0]!, x[1]!);
    return [g.where(first, dy[0]!, 0), g.where(first, 0, dy[0]!)];
  },
  Min: (c) => {
    if (c.x.length !== 2) throw new Error(`Min '${c.node.name}': gradient implemented for 2 inputs`);
    const { g, x, dy } = c;
    const first = g.lessOrEqual(x[0]!, x[1]!);
    return [g.where(first, dy[0]!, 0), g.where(first, 0, dy[0]!)];
  },
  // Gradient passes where min <= x <= max; bounds are not differentiated.
  Clip: ({ g, x, dy }) => {
    let inside: Tensor | null = null;
    if (x[1]) inside = g.greaterOrEqual(x[0]!, x[1]);
    if (x[2]) {
      const le = g.lessOrEqual(x[0]!, x[2]);
      inside = inside ? g.and(inside, le) : le;
    }
    return [inside ? g.where(inside, dy[0]!, 0) : dy[0]!, null, null];
  },
  Where: ({ g, x, dy }) => [null, g.where(x[0]!, dy[0]!, 0), g.where(x[0]!, 0, dy[0]!)],
  Cast: ({ g, x, dy, node }) => {
    if (!isFloat(x[0]!.dtype)) throw new Error(`Cast '${node.name}': gradient only from a float input`);
    return [g.cast(dy[0]!, x[0]!.dtype)];
  },
  MatMul: ({ g, x, dy }) => {
    const [a, b] = [x[0]!, x[1]!];
    const swap = (t: Tensor) =>
      g.transpose(
        t,
        [...t.shape.keys()].map((i, _, arr) => (i < arr.length - 2 ? i : i === arr.length - 2 ? arr.length - 1 : arr.length - 2)),
      );
    if (a.shape.length === 2 && b.shape.length === 2) {
      return [g.gemm(dy[0]!, b, null, { transB: true }), g.gemm(a, dy[0]!, null, { transA: true })];
    }
    return [g.matMul(dy[0]!, swap(b)), g.matMul(swap(a), dy[0]!)];
  },
  Gemm: ({ g, x, dy, node }) => {
    const [a, b, c] = x;
    const d = dy[0]!;
    const alpha = attrFloat(node.attrs, 'alpha', 1);
    const beta = attrFloat(node.attrs, 'beta', 1);
    const tA = attrInt(node.attrs, 'transA', 0) === 1;
    const tB = attrInt(node.attrs, 'transB', 0) === 1;
    let da: Tensor;
    let db: Tensor;
    if (!tA && !tB) {
      da = g.gemm(d, b!, null, { transB: true, alpha });
      db = g.gemm(a!, d, null, { transA: true, alpha });
    } else if (!tA && tB) {
      da = g.gemm(d, b!, null, { alpha });
      db = g.gemm(d, a!, null, { transA: true, alpha });
    } else if (tA && !tB) {
      da = g.gemm(b!, d, null, { transB: true, alpha });
      db = g.gemm(a!, d, null, { alpha });
    } else {
      da = g.gemm(b!, d, null, { transA: true, transB: true, alpha });
      db = g.gemm(d, a!, null, { transA: true, transB: true, alpha });
    }
    return [da, db, c ? (beta === 1 ? d : g.mul(d, beta)) : null];
  },
  ReduceSum: (c) => [expandReduced(c, c.dy[0]!), null],
  ReduceMean: (c) => [c.g.div(expandReduced(c, c.dy[0]!), reducedCount(c))],
  // Ties share the gradient equally, as in TensorFlow.
  ReduceMax: (c) => reduceExtremumGrad(c),
  ReduceMin: (c) => reduceExtremumGrad(c),
  Concat: ({ g, x, dy, node }) => {
    const rank = x[0]!.shape.length;
    let axis = attrInt(node.attrs, 'axis', 0);
    if (axis < 0) axis += rank;
    const sizes = x.map((t) => t!.shape[axis]!);
    if (!sizes.every((s): s is number => typeof s === 'number'))
      throw new Error(`Concat '${node.name}': gradient needs static sizes along axis ${axis}, got ${shapeToString(sizes)}`);
    return g.split(dy[0]!, sizes, axis);
  },
  Split: ({ g, y, dy, node }) => {
    const parts = y.map((t, i) => dy[i] ?? g.zerosLike(t));
    return [g.concat(parts, attrInt(node.attrs, 'axis', 0)), null];
  },
  Slice: ({ g, x, y, dy, node }) => {
    const xs = x[0]!;
    const starts = constAxes(g, x[1], 'Slice starts')!;
    const axes = constAxes(g, x[3], 'Slice axes') ?? starts.map((_, i) => i);
    const steps = constAxes(g, x[4], 'Slice steps') ?? starts.map(() => 1);
    if (steps.some((s) => s !== 1)) throw new Error(`Slice '${node.name}': gradient implemented for step 1 only`);
    const rank = xs.shape.length;
    const pads = new Array<number>(2 * rank).fill(0);
    axes.forEach((a0, i) => {
      const a = a0 < 0 ? a0 + rank : a0;
      const d = xs.shape[a]!;
      const out = y[0]!.shape[a]!;
      if (typeof d !== 'number' || typeof out !== 'number')
        throw new Error(`Slice '${node.name}': gradient needs a static size on axis ${a}`);
      const s = Math.min(Math.max(starts[i]! < 0 ? starts[i]! + d : starts[i]!, 0), d);
      pads[a] = s;
      pads[a + rank] = d - s - out;
    });
    return [g.pad(dy[0]!, pads), null, null, null, null];
  },
  Reshape: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Transpose: ({ g, x, dy, node }) => {
    const rank = x[0]!.shape.length;
    const perm = attrInts(node.attrs, 'perm') ?? [...Array(rank).keys()].reverse();
    const inv = new Array<number>(rank);
    perm.forEach((p, i) => (inv[p] = i));
    return [g.transpose(dy[0]!, inv)];
  },
  Pad: ({ g, x, dy, node }) => {
    const xs = x[0]!;
    const pads = constAxes(g, x[1], 'Pad pads')!;
    const rank = xs.shape.length;
    if (pads.some((p) => p < 0)) throw new Error(`Pad '${node.name}': gradient implemented for non-negative pads`);
    const dims = xs.shape.map((d, i) => (typeof d === 'number' ? d : pads[i] === 0 && pads[i + rank] === 0 ? null : NaN));
    if (dims.some((d) => Number.isNaN(d))) throw new Error(`Pad '${node.name}': gradient needs static sizes on padded axes`);
    const axes = dims.flatMap((d, i) => (d === null ? [] : [i]));
    return [
      g.slice(
        dy[0]!,
        axes.map((i) => pads[i]!),
        axes.map((i) => pads[i]! + (dims[i] as number)),
        axes,
      ),
      null,
    ];
  },
  // Conv: dX is the transposed convolution of dY; dW correlates X with dY (convWeightGrad).
  Conv: ({ g, x, dy, node }) => {
    const [xs, w, b] = x;
    const { strides, pads } = convGeometry(node);
    const [, , kh, kw] = w!.shape as number[];
    const [h, wd] = [xs!.shape[2], xs!.shape[3]];
    const [ho, wo] = [dy[0]!.shape[2], dy[0]!.shape[3]];
    if (![h, wd, ho, wo].every((d) => typeof d === 'number')) throw new Error(`Conv '${node.name}': gradient needs static spatial sizes`);
    const outputPadding = [
      (h as number) - (strides[0]! * ((ho as number) - 1) + kh! - pads[0]! - pads[2]!),
      (wd as number) - (strides[1]! * ((wo as number) - 1) + kw! - pads[1]! - pads[3]!),
    ];
    const dx = g.convTranspose(dy[0]!, w!, { strides, pads, outputPadding });
    return [dx, convWeightGrad(g, xs!, dy[0]!, strides, pads, [kh!, kw!]), b ? g.reduceSum(dy[0]!, [0, 2, 3], false) : null];
  },
  // ConvTranspose is the adjoint of Conv in its input: dX = Conv(dY, W); dW correlates dY with X.
  ConvTranspose: ({ g, x, dy, node }) => {
    const [xs, w] = x;
    const { strides, pads } = convGeometry(node);
    const [, , kh, kw] = w!.shape as number[];
    return [g.conv(dy[0]!, w!, null, { strides, pads }), convWeightGrad(g, dy[0]!, xs!, strides, pads, [kh!, kw!]), null];
  },
  // MaxPool: dY goes to the input element each window picked, summed where windows overlap.
  MaxPool: ({ g, x, y, dy, node }) => [maxPoolGrad(g, x[0]!, y[0]!, dy[0]!, node)],
  // ScatterElements with reduction 'add' (the only one differentiated): data passes dY through;
  // each update receives dY at the position it was added to.
  ScatterElements: ({ g, x, dy, node }) => {
    const red = node.attrs['reduction'];
    if (!red || red.type !== 'string' || red.value !== 'add')
      throw new Error(`ScatterElements '${node.name}': gradient implemented for reduction 'add'`);
    return [dy[0]!, null, g.gatherElements(dy[0]!, x[1]!, attrInt(node.attrs, 'axis', 0))];
  },
  GatherElements: ({ g, x, dy, node }) => [
    g.scatterElements(g.zerosLike(x[0]!), x[1]!, dy[0]!, { axis: attrInt(node.attrs, 'axis', 0), reduction: 'add' }),
    null,
  ],
  // The walker's unbroadcast sums dy over the expanded axes.
  Expand: ({ dy }) => [dy[0]!, null],
  FastGelu: ({ g, x, y, dy }) => [fastGeluGrad(g, x[0]!, y[0]!, dy[0]!)],
  LayerNormalization: ({ g, x, y, dy, node }) => {
    const [xs, scale, bias] = x;
    const rank = xs!.shape.length;
    let axis = attrInt(node.attrs, 'axis', -1);
    if (axis < 0) axis += rank;
    const axes = [...Array(rank - axis).keys()].map((i) => i + axis);
    const d = dy[0]!;
    let mean = y[1]!;
    let inv = y[2]!;
    if (mean.dtype !== xs!.dtype) {
      // float64 x: the node's statistics are float32 (stash_type), too coarse for a float64
      // gradient, so recompute them in x's precision (epsilon as the float attribute stores it).
      const eps = Math.fround(attrFloat(node.attrs, 'epsilon', 1e-5));
      mean = g.reduceMean(xs!, axes, true);
      const centred = g.sub(xs!, mean);
      inv = g.reciprocal(g.sqrt(g.add(g.reduceMean(g.mul(centred, centred), axes, true), eps)));
    }
    const xhat = g.mul(g.sub(xs!, mean), inv);
    const dxhat = g.mul(d, scale!);
    const m1 = g.reduceMean(dxhat, axes, true);
    // d scale's terms d xhat also give m2 = mean(dxhat xhat) = (d xhat) scale / n: over the last axis
    // of a matrix with a vector scale that is a matrix-vector product, one pass fewer than Mul + ReduceMean.
    // 1/n is Gemm's alpha in float32; alpha is a float attribute, so float64 divides instead.
    const dScale = g.mul(d, xhat);
    const n = xs!.shape[rank - 1];
    let m2: Tensor;
    if (rank === 2 && axis === 1 && scale!.shape.length === 1 && typeof n === 'number') {
      const col = g.reshape(scale!, [n, 1]);
      m2 = xs!.dtype === 'float32' ? g.gemm(dScale, col, null, { alpha: 1 / n }) : g.div(g.gemm(dScale, col), n);
    } else m2 = g.reduceMean(g.mul(dxhat, xhat), axes, true);
    const dx = g.mul(inv, g.sub(g.sub(dxhat, m1), g.mul(xhat, m2)));
    // d scale and d bias have the shape of x here; the walker sums them over the leading axes.
    return [dx, dScale, bias ? d : null];
  },
  // TopK: each selected value's dY goes back to the input position its index names (the indices
  // output carries none); unselected entries get zero.
  TopK: ({ g, x, y, dy, node }) => [
    dy[0] ? g.scatterElements(g.zerosLike(x[0]!), y[1]!, dy[0], { axis: attrInt(node.attrs, 'axis', -1), reduction: 'add' }) : null,
    null,
  ],
  // Y_i = sum_{j <= i} X_j, so dX_j = sum_{i >= j} dY_i: the running sum taken the other way.
  CumSum: ({ g, x, dy, node }) => [
    g.cumSum(dy[0]!, constInts(g, x[1], 'CumSum axis')[0]!, { reverse: attrInt(node.attrs, 'reverse', 0) !== 1 }),
    null,
  ],
};

/**
 * dX of Y = FastGelu(X) = x s(u), s = sigmoid, u = x (A + B x^2) (onnx/nn.ts): s + x s (1 - s) u' with
 * u' = A + 3 B x^2, written with x s = y as dy (s + (1 - s) y u'). FastGelu keeps no intermediates,
 * so s is recomputed from x: 12 passes, against 15 for the 6-op decomposition and its backward.
 * Exported so that the formula can be checked in float64, where FastGelu has no CPU kernel.
 */
export function fastGeluGrad(g: Graph, x: Tensor, y: Tensor, dy: Tensor): Tensor {
  const x2 = g.mul(x, x);
  const s = g.sigmoid(g.mul(x, g.add(g.mul(x2, GELU_B), GELU_A)));
  const yu = g.mul(y, g.add(g.mul(x2, 3 * GELU_B), GELU_A));
  return g.mul(dy, g.add(g.mul(g.sub(1, s), yu), s));
}

function reduceExtremumGrad(c: GradContext): (Tensor | null)[] {
  const { g } = c;
  const x = c.x[0]!;
  const keep = attrInt(c.node.attrs, 'keepdims', 1) === 1;
  const axes = reduceAxes(c);
  const yk = keep ? c.y[0]! : g.unsqueeze(c.y[0]!, axes);
  const mask = g.cast(g.equal(x, yk), x.dtype);
  const count = g.reduceSum(mask, axes, true);
  return [g.div(g.mul(expandReduced(c, c.dy[0]!), mask), count)];
}

/**
 * dX of Y = MaxPool(X) (2-D, dilation 1, floor mode) without MaxPool's Indices output, which
 * onnxruntime's WebGPU provider cannot produce: for each kernel offset (i, j), in the row-major
 * order MaxPool scans a window, the strided slice of X at that offset is compared with Y; the first
 * offset equal to the maximum takes the window's dY (as Indices would: ties go to the first), and
 * its dY is placed back on the input grid (zero-interleaved by the stride, shifted by the offset).
 * The masks are float 0/1 (Equal, Cast, Mul): WebGPU has no kernel for the boolean Or.
 */
function maxPoolGrad(g: Graph, xs: Tensor, y: Tensor, dY: Tensor, node: Node): Tensor {
  if (!isStatic(xs.shape) || xs.shape.length !== 4) throw new Error(`MaxPool '${node.name}': gradient needs a static 4-D input shape`);
  const k = attrInts(node.attrs, 'kernel_shape')!;
  const {
    strides: [sh, sw],
    pads: [pt, pl, pb, pr],
  } = convGeometry(node);
  const [n, c, h, w] = xs.shape as number[];
  const [ho, wo] = [y.shape[2] as number, y.shape[3] as number];
  const [hp, wp] = [h! + pt! + pb!, w! + pl! + pr!];
  const [lh, lw] = [sh! * (ho - 1) + 1, sw! * (wo - 1) + 1];
  const xp = pt || pl || pb || pr ? g.pad(xs, [0, 0, pt!, pl!, 0, 0, pb!, pr!]) : xs;
  let taken: Tensor | null = null;
  let dxp: Tensor | null = null;
  for (let i = 0; i < k[0]!; i++) {
    for (let j = 0; j < k[1]!; j++) {
      let hit = g.cast(g.equal(g.slice(xp, [i, j], [i + lh, j + lw], [2, 3], [sh!, sw!]), y), xs.dtype);
      // Padding is not part of any window (ONNX pads MaxPool with -inf): mask padded positions out.
      const valid = new Float32Array(ho * wo);
      for (let a = 0; a < ho; a++) {
        for (let b = 0; b < wo; b++) {
          const [r, q] = [i + sh! * a - pt!, j + sw! * b - pl!];
          valid[a * wo + b] = r >= 0 && r < h! && q >= 0 && q < w! ? 1 : 0;
        }
      }
      if (valid.some((v) => v === 0))
        hit = g.mul(hit, g.constant(xs.dtype === 'float64' ? Float64Array.from(valid) : valid, xs.dtype, [1, 1, ho, wo]));
      // first = hit and not yet taken; taken stays 0/1 because first excludes what is taken.
      const first: Tensor = taken ? g.mul(hit, g.sub(1, taken)) : hit;
      taken = taken ? g.add(taken, first) : first;
      // dY of the windows this offset wins, on the padded input grid at rows i + sh * a, cols j + sw * b.
      let part = g.mul(first, dY);
      if (sh! > 1 || sw! > 1) {
        part = g.reshape(g.pad(g.reshape(part, [n!, c!, ho, 1, wo, 1]), [0, 0, 0, 0, 0, 0, 0, 0, 0, sh! - 1, 0, sw! - 1]), [
          n!,
          c!,
          ho * sh!,
          wo * sw!,
        ]);
        part = g.slice(part, [0, 0], [lh, lw], [2, 3]);
      }
      part = g.pad(part, [0, 0, i, j, 0, 0, hp - i - lh, wp - j - lw]);
      dxp = dxp ? g.add(dxp, part) : part;
    }
  }
  return pt || pl || pb || pr ? g.slice(dxp!, [pt!, pl!], [pt! + h!, pl! + w!], [2, 3]) : dxp!;
}

function convGeometry(node: Node): { strides: number[]; pads: number[] } {
  const dil = attrInts(node.attrs, 'dilations');
  if (dil && dil.some((d) => d !== 1)) throw new Error(`${node.opType} '${node.name}': gradient implemented for dilation 1`);
  return { strides: [...(attrInts(node.attrs, 'strides') ?? [1, 1])], pads: [...(attrInts(node.attrs, 'pads') ?? [0, 0, 0, 0])] };
}

/**
 * dW of Y = Conv(A, W) for W [M, C, kh, kw]: a convolution over swapped axes, with A as [C, N, H, W]
 * and dY as a [M, N, Ho, Wo] kernel dilated by the stride; the result is cut to the kernel size.
 */
function convWeightGrad(g: Graph, a: Tensor, dY: Tensor, strides: number[], pads: number[], kernel: [number, number]): Tensor {
  const at = g.transpose(a, [1, 0, 2, 3]);
  const gt = g.transpose(dY, [1, 0, 2, 3]);
  const full = g.conv(at, gt, null, { pads, dilations: strides });
  return g.transpose(g.slice(full, [0, 0], kernel, [2, 3]), [1, 0, 2, 3]);
}

/** Ops of the builder whose outputs carry no gradient to their inputs (comparisons, shapes, integer-valued ops). */
export const NO_GRADIENT: ReadonlySet<string> = new Set([
  'Shape',
  'Size',
  'Greater',
  'Less',
  'Equal',
  'GreaterOrEqual',
  'LessOrEqual',
  'Not',
  'And',
  'Or',
  'Xor',
  'ConstantOfShape',
  'ArgMax',
  'Sign',
  'Floor',
  'Ceil',
  'Round',
]);

/**
 * The column sums of a matrix [n, d] (a bias gradient): ones[1, n] x it, a matrix-vector product, then
 * a Reshape to [d]. onnxruntime's CPU ReduceSum over axis 0 takes 3-4x as long at [256, 256]. A
 * symbolic n is left to ReduceSum.
 */
function sumRows(g: Graph, x: Tensor): Tensor {
  const [n, d] = x.shape;
  if (typeof n !== 'number') return g.reduceSum(x, [0], false);
  return g.reshape(g.gemm(onesRow(g, n, x.dtype), x), [d as number]);
}

const ONES = new WeakMap<Graph, Map<string, Tensor>>();

/** A [1, n] constant of ones, one per graph, size and dtype. */
function onesRow(g: Graph, n: number, dtype: DType): Tensor {
  const cache = ONES.get(g) ?? new Map<string, Tensor>();
  ONES.set(g, cache);
  const key = `${dtype}:${n}`;
  let t = cache.get(key);
  if (!t) cache.set(key, (t = g.constant(typedArrayFor(dtype, n).fill(1 as never), dtype, [1, n])));
  return t;
}

/** Reduces a gradient of a broadcast shape back to `target`'s shape (sum over broadcast axes). */
function unbroadcast(g: Graph, grad: Tensor, target: Tensor): Tensor {
  const gs = grad.shape;
  const ts = target.shape;
  const lead = gs.length - ts.length;
  if (lead < 0) throw new Error(`gradient of '${target.name}' has rank ${gs.length} < ${ts.length}`);
  const oneAxes: number[] = [];
  ts.forEach((d, j) => {
    if (d === 1 && gs[lead + j] !== 1) oneAxes.push(lead + j);
  });
  if (lead === 0 && oneAxes.length === 0) return grad;
  const leadAxes = [...Array(lead).keys()];
  if (oneAxes.length === 0) return lead === 1 && gs.length === 2 ? sumRows(g, grad) : g.reduceSum(grad, leadAxes, false);
  const summed = g.reduceSum(grad, [...leadAxes, ...oneAxes], true);
  return lead === 0 ? summed : g.reshape(summed, shapeOf(g, target));
}

/**
 * Emits the gradients of scalar `loss` with respect to each of `wrt`, named `<wrt>_grad` (an
 * Identity each) unless `named` is false (gradients only consumed inside the graph, e.g. the flat
 * gradient's parts). Only paths from `wrt` to `loss` are differentiated; stopGradient outputs and
 * integer/bool values cut paths. A `wrt` the loss does not depend on gets zeros.
 */
export function gradients(g: Graph, loss: Tensor, wrt: readonly Tensor[], opts: { seed?: Tensor; named?: boolean } = {}): Tensor[] {
  if (!opts.seed && loss.shape.length !== 0)
    throw new RangeError(`gradients: loss '${loss.name}' must be a scalar, has shape ${shapeToString(loss.shape)}`);
  // Forward reachability from wrt.
  const reach = new Set(wrt.map((t) => t.name));
  const nodes = g.nodes.slice();
  for (const n of nodes) {
    if (NO_GRADIENT.has(n.opType)) continue;
    if (n.inputs.some((i) => reach.has(i))) for (const o of n.outputs) if (!g.stopped.has(o) && isFloat(g.tensor(o).dtype)) reach.add(o);
  }
  // Backward: values the loss depends on.
  const needed = new Set([loss.name]);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (n.outputs.some((o) => needed.has(o))) for (const x of n.inputs) if (x) needed.add(x);
  }
  const contrib = new Map<string, Tensor[]>();
  const push = (name: string, t: Tensor) => {
    const list = contrib.get(name);
    if (list) list.push(t);
    else contrib.set(name, [t]);
  };
  const total = (name: string, outName?: string): Tensor | null => {
    const list = contrib.get(name);
    if (!list || list.length === 0) return null;
    let acc = list[0]!;
    for (let k = 1; k < list.length; k++) acc = g.add(acc, list[k]!);
    if (outName) acc = g.node('Identity', [acc], {}, { outNames: [g.uniqueName(outName)], name: `${outName}_identity` })[0]!;
    contrib.set(name, [acc]);
    return acc;
  };
  push(loss.name, opts.seed ?? g.constant(1, loss.dtype));
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!;
    if (!node.outputs.some((o) => reach.has(o) && needed.has(o))) continue;
    if (node.outputs.some((o) => g.stopped.has(o))) continue;
    // Contributions to the node's output gradients are summed under its '_Grad/' scope too.
    const dy = g.scope(`${node.name}_Grad`, () => node.outputs.map((o) => (reach.has(o) ? total(o) : null)));
    if (dy.every((d) => d === null)) continue;
    if (NO_GRADIENT.has(node.opType)) continue;
    const rule = GRAD_RULES[node.opType];
    if (!rule)
      throw new Error(
        `no gradient rule for op '${node.opType}' (node '${node.name}') on the path from ` +
          `[${wrt.map((w) => w.name).join(', ')}] to '${loss.name}'`,
      );
    const x = node.inputs.map((n) => (n ? g.tensor(n) : null));
    const y = node.outputs.map((o) => g.tensor(o));
    const dx = g.scope(`${node.name}_Grad`, () => rule({ g, node, x, y, dy }));
    g.scope(`${node.name}_Grad`, () => {
      dx.forEach((d, k) => {
        const input = x[k];
        if (!d || !input || !reach.has(input.name)) return;
        push(input.name, unbroadcast(g, d, input));
      });
    });
  }
  if (opts.named === false) return wrt.map((w) => total(w.name) ?? g.zerosLike(w));
  return wrt.map(
    (w) =>
      total(w.name, `${w.name}_grad`) ??
      g.node('Identity', [g.zerosLike(w)], {}, { outNames: [g.uniqueName(`${w.name}_grad`)], name: `${w.name}_grad_zero` })[0]!,
  );
}
