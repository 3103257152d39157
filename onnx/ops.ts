// The op table: every ONNX op the graph builder supports, one entry each (OPS below) with its shape
// rule, checked at build time, and its typed Graph method, named after the op in camelCase with ONNX
// attribute names and defaults (`g.matMul(a, b)`, `g.gemm(a, b, c, { transB: true })`). The table
// fills SHAPE_RULES and Graph.prototype, and its type declares the methods on Graph; the op's
// gradient rule in grad.ts is the only other place an op appears. Opset 17 semantics throughout:
// ReduceSum, Squeeze, Unsqueeze, Split, Slice, Clip and Expand take their axes/sizes as int64 inputs,
// while ReduceMean and ReduceMax still take `axes` as an attribute.
import {
  Graph,
  ONNX_DTYPE,
  OP_DOMAINS,
  SHAPE_RULES,
  dtypeOfOnnx,
  isFloat,
  isStatic,
  shapeToString,
  staticSize,
  type Attr,
  type DType,
  type Dim,
  type InferFn,
  type Shape,
  type ShapeContext,
  type Tensor,
} from './graph.ts';

export type Operand = Tensor | number;

// ---- attribute helpers ------------------------------------------------------------------------

const int = (value: number): Attr => ({ type: 'int', value });
const float = (value: number): Attr => ({ type: 'float', value });
const ints = (value: readonly number[]): Attr => ({ type: 'ints', value });

function attrInt(attrs: Readonly<Record<string, Attr>>, key: string, dflt: number): number {
  const a = attrs[key];
  if (a === undefined) return dflt;
  if (a.type !== 'int') throw new TypeError(`attribute '${key}' must be an int`);
  return a.value;
}
function attrFloat(attrs: Readonly<Record<string, Attr>>, key: string, dflt: number): number {
  const a = attrs[key];
  if (a === undefined) return dflt;
  if (a.type !== 'float') throw new TypeError(`attribute '${key}' must be a float`);
  return a.value;
}
function attrInts(attrs: Readonly<Record<string, Attr>>, key: string): readonly number[] | undefined {
  const a = attrs[key];
  if (a === undefined) return undefined;
  if (a.type !== 'ints') throw new TypeError(`attribute '${key}' must be ints`);
  return a.value;
}
export { attrInt, attrFloat, attrInts };

// ---- shape utilities --------------------------------------------------------------------------

function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new RangeError(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** Numpy-style broadcasting with symbolic dimensions ('batch' broadcasts with 1 and with itself). */
export function broadcastShapes(a: Shape, b: Shape): Shape {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = i - (n - a.length) >= 0 ? a[i - (n - a.length)]! : 1;
    const y = i - (n - b.length) >= 0 ? b[i - (n - b.length)]! : 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else if (typeof x === 'string' && typeof y === 'number') out.push(y);
    else if (typeof y === 'string' && typeof x === 'number') out.push(x);
    else if (typeof x === 'string' && typeof y === 'string') out.push(x.startsWith('?') ? y : x);
    else throw new RangeError(`shapes ${shapeToString(a)} and ${shapeToString(b)} do not broadcast (dimension ${i}: ${x} vs ${y})`);
  }
  return out;
}

function sameDtype(inputs: (Tensor | null | undefined)[], op: string): DType {
  const ts = inputs.filter((x): x is Tensor => x != null); // null or absent (trailing optional inputs)
  const dt = ts[0]!.dtype;
  for (const t of ts)
    if (t.dtype !== dt) throw new TypeError(`${op} needs inputs of one dtype, got ${ts.map((x) => x.dtype).join(' and ')}`);
  return dt;
}

function requireFloat(t: Tensor, op: string): void {
  if (!isFloat(t.dtype)) throw new TypeError(`${op} needs a float tensor, got ${t.dtype}`);
}

/** The values of an int64 constant input (axes, sizes, pads); a computed or missing one is a RangeError naming `what`. */
export function constInts(g: ShapeContext, t: Tensor | null | undefined, what: string): number[] {
  if (!t) throw new RangeError(`${what} is required`);
  const c = g.constValue(t);
  if (!c) throw new RangeError(`${what} must be a constant (initializer), '${t.name}' is computed`);
  return Array.from(c.data as BigInt64Array, (v) => Number(v));
}

function reducedShape(shape: Shape, axes: readonly number[] | undefined, keepdims: boolean): Shape {
  const rank = shape.length;
  const set = new Set((axes === undefined || axes.length === 0 ? shape.map((_, i) => i) : axes).map((a) => normAxis(a, rank)));
  const out: Dim[] = [];
  shape.forEach((d, i) => {
    if (set.has(i)) {
      if (keepdims) out.push(1);
    } else out.push(d);
  });
  return out;
}

function sameAsInput(): InferFn {
  return (_g, [x]) => [{ dtype: x!.dtype, shape: x!.shape }];
}

function reduceShape(op: string, axesFromInput: boolean): InferFn {
  return (g, [x, axesT], attrs) => {
    const axes = axesFromInput ? (axesT ? constInts(g, axesT, `${op} axes`) : undefined) : attrInts(attrs, 'axes');
    const keep = attrInt(attrs, 'keepdims', 1) === 1;
    if (axesFromInput && attrInt(attrs, 'noop_with_empty_axes', 0) === 1 && (!axes || axes.length === 0))
      return [{ dtype: x!.dtype, shape: x!.shape }];
    return [{ dtype: x!.dtype, shape: reducedShape(x!.shape, axes, keep) }];
  };
}

// 2-D convolution and pooling, NCHW, explicit pads [top, left, bottom, right], no groups.
function spatial(attrs: Readonly<Record<string, Attr>>, kernel: readonly number[]) {
  const strides = attrInts(attrs, 'strides') ?? [1, 1];
  const pads = attrInts(attrs, 'pads') ?? [0, 0, 0, 0];
  const dil = attrInts(attrs, 'dilations') ?? [1, 1];
  if (kernel.length !== 2 || strides.length !== 2 || pads.length !== 4)
    throw new RangeError('only 2-D convolution/pooling (NCHW) is supported');
  if (attrs['auto_pad'] && attrs['auto_pad'].type === 'string' && attrs['auto_pad'].value !== 'NOTSET')
    throw new RangeError('use explicit pads, not auto_pad');
  return { strides, pads, dil };
}
const convOut = (d: Dim, k: number, s: number, pb: number, pe: number, dil = 1): Dim =>
  typeof d === 'number' ? Math.floor((d + pb + pe - ((k - 1) * dil + 1)) / s) + 1 : `?conv(${d})`;

export interface ConvOptions {
  strides?: readonly number[];
  /** [top, left, bottom, right] */
  pads?: readonly number[];
  dilations?: readonly number[];
}
const convAttrs = (o: ConvOptions = {}): Record<string, Attr> => {
  const a: Record<string, Attr> = { strides: ints(o.strides ?? [1, 1]), pads: ints(o.pads ?? [0, 0, 0, 0]) };
  if (o.dilations) a['dilations'] = ints(o.dilations);
  return a;
};

// ---- the op table -------------------------------------------------------------------------------

/** One op of the builder: its shape rule and the Graph method that emits it. */
export interface OpDef {
  /** Output dtypes and shapes from the inputs and attributes, checked when a node is added. */
  shape: InferFn;
  /** Becomes `Graph.prototype[camelCase(op)]`; `this` is the graph. */
  method: (this: Graph, ...args: never[]) => unknown;
  /** The operator domain when not ai.onnx ('com.microsoft' for onnxruntime's contrib ops). */
  domain?: string;
}

/** The same kind of entry for each op of a family (the op type is passed to `def`). */
function each<const K extends string, M extends OpDef['method']>(
  ops: readonly K[],
  def: (op: K) => { shape: InferFn; method: M },
): Record<K, { shape: InferFn; method: M }> {
  return Object.fromEntries(ops.map((op) => [op, def(op)])) as Record<K, { shape: InferFn; method: M }>;
}

function unary(op: string) {
  return function (this: Graph, x: Tensor): Tensor {
    return this.node(op, [x])[0]!;
  };
}
function binary(op: string) {
  return function (this: Graph, a: Operand, b: Operand): Tensor {
    if (typeof a === 'number' && typeof b === 'number') throw new TypeError(`${op}: at least one operand must be a tensor`);
    const dt = typeof a === 'number' ? (b as Tensor).dtype : (a as Tensor).dtype;
    return this.node(op, [this.lift(a, dt), this.lift(b, dt)])[0]!;
  };
}
function boolBinary(op: string) {
  return function (this: Graph, a: Tensor, b: Tensor): Tensor {
    return this.node(op, [a, b])[0]!;
  };
}
/** ReduceMean, ReduceMax, ReduceMin (opset 17: `axes` is an attribute). */
function reduceWithAxesAttribute(op: string) {
  return function (this: Graph, x: Tensor, axes?: readonly number[], keepdims = true): Tensor {
    const attrs: Record<string, Attr> = { keepdims: int(keepdims ? 1 : 0) };
    if (axes && axes.length) attrs['axes'] = ints(axes);
    return this.node(op, [x], attrs)[0]!;
  };
}

/**
 * Every op the builder supports, keyed by ONNX op type. Each entry registers its shape rule in
 * SHAPE_RULES and its method on Graph under the op type in camelCase (`MatMul` -> `g.matMul`); the
 * type of this table declares those methods on Graph (OpMethods below). The op's gradient rule is in
 * grad.ts (GRAD_RULES, or NO_GRADIENT for ops whose outputs carry none).
 */
const OPS = {
  ...each(
    ['Neg', 'Abs', 'Exp', 'Log', 'Sqrt', 'Relu', 'Tanh', 'Sigmoid', 'Softplus', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sign'] as const,
    (op) => ({
      shape: (_g, [x]) => {
        if (op !== 'Neg' && op !== 'Abs' && op !== 'Sign') requireFloat(x!, op);
        return [{ dtype: x!.dtype, shape: x!.shape }];
      },
      method: unary(op),
    }),
  ),
  Identity: { shape: sameAsInput(), method: unary('Identity') },
  Not: {
    shape: (_g, [x]) => {
      if (x!.dtype !== 'bool') throw new TypeError(`Not needs bool, got ${x!.dtype}`);
      return [{ dtype: 'bool', shape: x!.shape }];
    },
    method: unary('Not'),
  },
  ...each(['Add', 'Sub', 'Mul', 'Div', 'Pow'] as const, (op) => ({
    shape: (_g, ins) => {
      const dt = op === 'Pow' ? ins[0]!.dtype : sameDtype(ins, op);
      return [{ dtype: dt, shape: broadcastShapes(ins[0]!.shape, ins[1]!.shape) }];
    },
    method: binary(op),
  })),
  ...each(['Min', 'Max'] as const, (op) => ({
    shape: (_g, ins) => {
      const dt = sameDtype(ins, op);
      return [{ dtype: dt, shape: ins.reduce((s: Shape, t) => broadcastShapes(s, t!.shape), []) }];
    },
    method: binary(op),
  })),
  ...each(['Greater', 'Less', 'Equal', 'GreaterOrEqual', 'LessOrEqual'] as const, (op) => ({
    shape: (_g, ins) => {
      sameDtype(ins, op);
      return [{ dtype: 'bool', shape: broadcastShapes(ins[0]!.shape, ins[1]!.shape) }];
    },
    method: binary(op),
  })),
  ...each(['And', 'Or', 'Xor'] as const, (op) => ({
    shape: (_g, ins) => {
      if (ins.some((t) => t!.dtype !== 'bool')) throw new TypeError(`${op} needs bool inputs`);
      return [{ dtype: 'bool', shape: broadcastShapes(ins[0]!.shape, ins[1]!.shape) }];
    },
    method: boolBinary(op),
  })),
  Where: {
    shape: (_g, [c, a, b]) => {
      if (c!.dtype !== 'bool') throw new TypeError(`Where condition must be bool, got ${c!.dtype}`);
      const dt = sameDtype([a!, b!], 'Where');
      return [{ dtype: dt, shape: broadcastShapes(c!.shape, broadcastShapes(a!.shape, b!.shape)) }];
    },
    method(this: Graph, c: Tensor, a: Operand, b: Operand): Tensor {
      const dt = typeof a === 'number' ? (typeof b === 'number' ? 'float32' : b.dtype) : a.dtype;
      return this.node('Where', [c, this.lift(a, dt), this.lift(b, dt)])[0]!;
    },
  },
  Clip: {
    shape: (_g, [x, lo, hi]) => {
      for (const b of [lo, hi]) {
        if (b && (b.dtype !== x!.dtype || b.shape.length !== 0)) throw new TypeError(`Clip bounds must be scalars of ${x!.dtype}`);
      }
      return [{ dtype: x!.dtype, shape: x!.shape }];
    },
    method(this: Graph, x: Tensor, min?: number, max?: number): Tensor {
      return this.node('Clip', [
        x,
        min === undefined ? null : this.constant(min, x.dtype),
        max === undefined ? null : this.constant(max, x.dtype),
      ])[0]!;
    },
  },
  Cast: {
    shape: (_g, [x], attrs) => {
      const to = attrInt(attrs, 'to', 0);
      const dt = dtypeOfOnnx(to);
      if (!dt) throw new TypeError(`Cast to unsupported type ${to}`);
      return [{ dtype: dt, shape: x!.shape }];
    },
    method(this: Graph, x: Tensor, to: DType): Tensor {
      return this.node('Cast', [x], { to: int(ONNX_DTYPE[to]) })[0]!;
    },
  },
  MatMul: {
    shape: (_g, [a, b]) => {
      const dt = sameDtype([a, b], 'MatMul');
      requireFloat(a!, 'MatMul');
      if (a!.shape.length < 2 || b!.shape.length < 2) throw new RangeError('MatMul here needs rank >= 2 operands');
      const [m, ka] = a!.shape.slice(-2);
      const [kb, n] = b!.shape.slice(-2);
      if (typeof ka === 'number' && typeof kb === 'number' && ka !== kb)
        throw new RangeError(`MatMul inner dimensions differ: ${shapeToString(a!.shape)} x ${shapeToString(b!.shape)}`);
      const batch = broadcastShapes(a!.shape.slice(0, -2), b!.shape.slice(0, -2));
      return [{ dtype: dt, shape: [...batch, m!, n!] }];
    },
    method(this: Graph, a: Tensor, b: Tensor): Tensor {
      return this.node('MatMul', [a, b])[0]!;
    },
  },
  Gemm: {
    shape: (_g, [a, b, c], attrs) => {
      const dt = sameDtype([a, b, c], 'Gemm');
      requireFloat(a!, 'Gemm');
      if (a!.shape.length !== 2 || b!.shape.length !== 2) throw new RangeError('Gemm needs 2-D A and B');
      const tA = attrInt(attrs, 'transA', 0);
      const tB = attrInt(attrs, 'transB', 0);
      const [m, ka] = tA ? [a!.shape[1]!, a!.shape[0]!] : [a!.shape[0]!, a!.shape[1]!];
      const [kb, n] = tB ? [b!.shape[1]!, b!.shape[0]!] : [b!.shape[0]!, b!.shape[1]!];
      if (typeof ka === 'number' && typeof kb === 'number' && ka !== kb)
        throw new RangeError(`Gemm inner dimensions differ: ${ka} vs ${kb}`);
      if (c) broadcastShapes([m, n], c.shape);
      return [{ dtype: dt, shape: [m, n] }];
    },
    method(
      this: Graph,
      a: Tensor,
      b: Tensor,
      c: Tensor | null = null,
      opts: { alpha?: number; beta?: number; transA?: boolean; transB?: boolean } = {},
    ): Tensor {
      const attrs: Record<string, Attr> = {};
      if (opts.alpha !== undefined && opts.alpha !== 1) attrs['alpha'] = float(opts.alpha);
      if (opts.beta !== undefined && opts.beta !== 1) attrs['beta'] = float(opts.beta);
      if (opts.transA) attrs['transA'] = int(1);
      if (opts.transB) attrs['transB'] = int(1);
      return this.node('Gemm', [a, b, c ?? null], attrs)[0]!;
    },
  },
  ReduceSum: {
    shape: reduceShape('ReduceSum', true),
    method(this: Graph, x: Tensor, axes?: readonly number[], keepdims = true): Tensor {
      return this.node('ReduceSum', axes && axes.length ? [x, this.ints(axes)] : [x], { keepdims: int(keepdims ? 1 : 0) })[0]!;
    },
  },
  ...each(['ReduceMean', 'ReduceMax', 'ReduceMin'] as const, (op) => ({
    shape: reduceShape(op, false),
    method: reduceWithAxesAttribute(op),
  })),
  ArgMax: {
    shape: (_g, [x], attrs) => {
      const axis = normAxis(attrInt(attrs, 'axis', 0), x!.shape.length);
      return [{ dtype: 'int64', shape: reducedShape(x!.shape, [axis], attrInt(attrs, 'keepdims', 1) === 1) }];
    },
    method(this: Graph, x: Tensor, axis = 0, keepdims = true): Tensor {
      return this.node('ArgMax', [x], { axis: int(axis), keepdims: int(keepdims ? 1 : 0) })[0]!;
    },
  },
  Concat: {
    shape: (_g, ins, attrs) => {
      const dt = sameDtype(ins, 'Concat');
      const rank = ins[0]!.shape.length;
      const axis = normAxis(attrInt(attrs, 'axis', 0), rank);
      const out: Dim[] = [...ins[0]!.shape];
      let total: Dim = 0;
      for (const t of ins) {
        if (t!.shape.length !== rank) throw new RangeError('Concat inputs must have the same rank');
        t!.shape.forEach((d, i) => {
          if (i !== axis) out[i] = broadcastShapes([out[i]!], [d])[0]!;
        });
        const d = t!.shape[axis]!;
        total = typeof total === 'number' && typeof d === 'number' ? total + d : `${total}+${d}`;
      }
      out[axis] = total;
      return [{ dtype: dt, shape: out }];
    },
    /** Concatenates along `axis`; a single tensor is returned as it is (no node). */
    method(this: Graph, xs: readonly Tensor[], axis: number): Tensor {
      if (xs.length === 1) return xs[0]!;
      return this.node('Concat', [...xs], { axis: int(axis) })[0]!;
    },
  },
  Split: {
    shape: (g, [x, splitT], attrs) => {
      const rank = x!.shape.length;
      const axis = normAxis(attrInt(attrs, 'axis', 0), rank);
      const sizes = constInts(g, splitT, 'Split sizes');
      const d = x!.shape[axis]!;
      const total = sizes.reduce((a, b) => a + b, 0);
      if (typeof d === 'number' && d !== total)
        throw new RangeError(`Split sizes ${sizes.join('+')}=${total} do not add up to dimension ${d}`);
      return sizes.map((s) => {
        const sh: Dim[] = [...x!.shape];
        sh[axis] = s;
        return { dtype: x!.dtype, shape: sh };
      });
    },
    method(this: Graph, x: Tensor, sizes: readonly number[], axis = 0): Tensor[] {
      return this.node('Split', [x, this.ints(sizes)], { axis: int(axis) });
    },
  },
  Slice: {
    shape: (g, [x, startsT, endsT, axesT, stepsT]) => {
      const starts = constInts(g, startsT, 'Slice starts');
      const ends = constInts(g, endsT, 'Slice ends');
      const rank = x!.shape.length;
      const axes = axesT ? constInts(g, axesT, 'Slice axes') : starts.map((_, i) => i);
      const steps = stepsT ? constInts(g, stepsT, 'Slice steps') : starts.map(() => 1);
      const out: Dim[] = [...x!.shape];
      axes.forEach((a0, i) => {
        const a = normAxis(a0, rank);
        const d = x!.shape[a]!;
        const step = steps[i]!;
        if (step === 0) throw new RangeError('Slice step must not be 0');
        if (typeof d !== 'number') {
          out[a] = g.unknownDim();
          return;
        }
        const clampIdx = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + d : v, lo), hi);
        const s = step > 0 ? clampIdx(starts[i]!, 0, d) : clampIdx(starts[i]!, -1, d - 1);
        const e = step > 0 ? clampIdx(ends[i]!, 0, d) : clampIdx(ends[i]!, -1, d - 1);
        out[a] = Math.max(0, Math.ceil((e - s) / step));
      });
      return [{ dtype: x!.dtype, shape: out }];
    },
    method(
      this: Graph,
      x: Tensor,
      starts: readonly number[],
      ends: readonly number[],
      axes?: readonly number[],
      steps?: readonly number[],
    ): Tensor {
      const ins: (Tensor | null)[] = [x, this.ints(starts), this.ints(ends)];
      if (axes || steps) ins.push(this.ints(axes ?? starts.map((_, i) => i)));
      if (steps) ins.push(this.ints(steps));
      return this.node('Slice', ins)[0]!;
    },
  },
  Reshape: {
    shape: (g, [x, shapeT]) => {
      const c = g.constValue(shapeT!);
      if (!c) {
        const n = staticSize(shapeT!.shape, 'Reshape shape input');
        return [{ dtype: x!.dtype, shape: Array.from({ length: n }, () => g.unknownDim()) }];
      }
      const target = Array.from(c.data as BigInt64Array, Number);
      const out: Dim[] = target.map((v, i) => (v === 0 ? x!.shape[i]! : v));
      const neg = out.indexOf(-1);
      if (neg >= 0) {
        const known = out.filter((_, i) => i !== neg);
        if (isStatic(x!.shape) && isStatic(known)) {
          const total = staticSize(x!.shape);
          const part = staticSize(known);
          if (total % part !== 0) throw new RangeError(`cannot reshape ${shapeToString(x!.shape)} to ${shapeToString(target)}`);
          out[neg] = total / part;
        } else {
          // A symbolic batch times known sizes divided by the same known sizes keeps the symbol.
          const symbolic = x!.shape.filter((d) => typeof d === 'string');
          const xStatic = x!.shape.filter((d): d is number => typeof d === 'number').reduce((a, b) => a * b, 1);
          const kStatic = known.filter((d): d is number => typeof d === 'number').reduce((a, b) => a * b, 1);
          const kSym = known.filter((d) => typeof d === 'string');
          out[neg] =
            symbolic.length === 1 && kSym.length === 0 && xStatic === kStatic
              ? symbolic[0]!
              : symbolic.length === 1 && kSym.length === 1 && kSym[0] === symbolic[0]
                ? xStatic / kStatic
                : g.unknownDim();
        }
      } else if (isStatic(x!.shape) && isStatic(out) && staticSize(out) !== staticSize(x!.shape)) {
        throw new RangeError(`cannot reshape ${shapeToString(x!.shape)} (${staticSize(x!.shape)} elements) to ${shapeToString(out)}`);
      }
      return [{ dtype: x!.dtype, shape: out }];
    },
    method(this: Graph, x: Tensor, shape: readonly number[] | Tensor): Tensor {
      return this.node('Reshape', [x, Array.isArray(shape) ? this.ints(shape as number[]) : (shape as Tensor)])[0]!;
    },
  },
  Transpose: {
    shape: (_g, [x], attrs) => {
      const rank = x!.shape.length;
      const perm = attrInts(attrs, 'perm') ?? x!.shape.map((_, i) => rank - 1 - i);
      if (perm.length !== rank || new Set(perm).size !== rank) throw new RangeError(`Transpose perm ${perm} does not fit rank ${rank}`);
      return [{ dtype: x!.dtype, shape: perm.map((p) => x!.shape[p]!) }];
    },
    method(this: Graph, x: Tensor, perm?: readonly number[]): Tensor {
      return this.node('Transpose', [x], perm ? { perm: ints(perm) } : {})[0]!;
    },
  },
  Squeeze: {
    shape: (g, [x, axesT]) => {
      const rank = x!.shape.length;
      const axes = axesT
        ? constInts(g, axesT, 'Squeeze axes').map((a) => normAxis(a, rank))
        : x!.shape.flatMap((d, i) => (d === 1 ? [i] : []));
      for (const a of axes)
        if (x!.shape[a] !== 1 && typeof x!.shape[a] === 'number') throw new RangeError(`Squeeze axis ${a} has size ${x!.shape[a]}, not 1`);
      return [{ dtype: x!.dtype, shape: x!.shape.filter((_, i) => !axes.includes(i)) }];
    },
    method(this: Graph, x: Tensor, axes?: readonly number[]): Tensor {
      return this.node('Squeeze', axes ? [x, this.ints(axes)] : [x])[0]!;
    },
  },
  Unsqueeze: {
    shape: (g, [x, axesT]) => {
      const outRank = x!.shape.length + constInts(g, axesT, 'Unsqueeze axes').length;
      const axes = constInts(g, axesT, 'Unsqueeze axes').map((a) => normAxis(a, outRank));
      const out: Dim[] = [];
      let j = 0;
      for (let i = 0; i < outRank; i++) out.push(axes.includes(i) ? 1 : x!.shape[j++]!);
      return [{ dtype: x!.dtype, shape: out }];
    },
    method(this: Graph, x: Tensor, axes: readonly number[]): Tensor {
      return this.node('Unsqueeze', [x, this.ints(axes)])[0]!;
    },
  },
  Expand: {
    shape: (g, [x, shapeT]) => {
      const c = g.constValue(shapeT!);
      if (!c)
        return [
          {
            dtype: x!.dtype,
            shape: broadcastShapes(
              x!.shape,
              Array.from({ length: staticSize(shapeT!.shape) }, () => 1),
            ).map((d) => (d === 1 ? g.unknownDim() : d)),
          },
        ];
      return [{ dtype: x!.dtype, shape: broadcastShapes(x!.shape, Array.from(c.data as BigInt64Array, Number)) }];
    },
    method(this: Graph, x: Tensor, shape: readonly number[] | Tensor): Tensor {
      return this.node('Expand', [x, Array.isArray(shape) ? this.ints(shape as number[]) : (shape as Tensor)])[0]!;
    },
  },
  Shape: {
    shape: (_g, [x]) => [{ dtype: 'int64', shape: [x!.shape.length] }],
    method: unary('Shape'),
  },
  Size: {
    shape: () => [{ dtype: 'int64', shape: [] }],
    method: unary('Size'),
  },
  ConstantOfShape: {
    shape: (g, [s], attrs) => {
      const v = attrs['value'];
      const dtype: DType = v && v.type === 'tensor' ? v.value.dtype : 'float32';
      const c = g.constValue(s!);
      const rank = staticSize(s!.shape, 'ConstantOfShape shape input');
      return [{ dtype, shape: c ? Array.from(c.data as BigInt64Array, Number) : Array.from({ length: rank }, () => g.unknownDim()) }];
    },
    method(this: Graph, shape: Tensor, value: number, dtype: DType): Tensor {
      const data =
        dtype === 'float64'
          ? new Float64Array([value])
          : dtype === 'float32'
            ? new Float32Array([value])
            : dtype === 'int64'
              ? new BigInt64Array([BigInt(value)])
              : new Uint8Array([value]);
      return this.node('ConstantOfShape', [shape], { value: { type: 'tensor', value: { dtype, dims: [1], data } } })[0]!;
    },
  },
  Pad: {
    shape: (g, [x, padsT], attrs) => {
      const a = attrs['mode'];
      if (a && (a.type !== 'string' || a.value !== 'constant')) throw new RangeError('Pad: only constant mode is supported');
      const pads = constInts(g, padsT, 'Pad pads');
      const rank = x!.shape.length;
      if (pads.length !== 2 * rank) throw new RangeError(`Pad needs ${2 * rank} pads for rank ${rank}, got ${pads.length}`);
      return [
        {
          dtype: x!.dtype,
          shape: x!.shape.map((d, i) =>
            typeof d === 'number' ? d + pads[i]! + pads[i + rank]! : pads[i] === 0 && pads[i + rank] === 0 ? d : g.unknownDim(),
          ),
        },
      ];
    },
    /** Constant (zero) padding; `pads` as ONNX orders them: all starts, then all ends. */
    method(this: Graph, x: Tensor, pads: readonly number[]): Tensor {
      return this.node('Pad', [x, this.ints(pads)])[0]!;
    },
  },
  Conv: {
    shape: (_g, [x, w, b], attrs) => {
      sameDtype([x, w, b], 'Conv');
      if (x!.shape.length !== 4 || w!.shape.length !== 4)
        throw new RangeError('Conv needs 4-D input [N, C, H, W] and weight [M, C, kH, kW]');
      if (attrInt(attrs, 'group', 1) !== 1) throw new RangeError('Conv groups are not supported');
      const [m, c, kh, kw] = w!.shape as number[];
      if (typeof x!.shape[1] === 'number' && x!.shape[1] !== c)
        throw new RangeError(`Conv input has ${x!.shape[1]} channels, weight expects ${c}`);
      if (b && (b.shape.length !== 1 || b.shape[0] !== m)) throw new RangeError(`Conv bias must be [${m}]`);
      const { strides, pads, dil } = spatial(attrs, [kh!, kw!]);
      return [
        {
          dtype: x!.dtype,
          shape: [
            x!.shape[0]!,
            m!,
            convOut(x!.shape[2]!, kh!, strides[0]!, pads[0]!, pads[2]!, dil[0]),
            convOut(x!.shape[3]!, kw!, strides[1]!, pads[1]!, pads[3]!, dil[1]),
          ],
        },
      ];
    },
    method(this: Graph, x: Tensor, w: Tensor, b: Tensor | null, opts: ConvOptions = {}): Tensor {
      return this.node('Conv', [x, w, b], convAttrs(opts))[0]!;
    },
  },
  ConvTranspose: {
    shape: (_g, [x, w, b], attrs) => {
      sameDtype([x, w, b], 'ConvTranspose');
      if (x!.shape.length !== 4 || w!.shape.length !== 4) throw new RangeError('ConvTranspose needs 4-D input and weight');
      const [, c, kh, kw] = w!.shape as number[];
      const { strides, pads } = spatial(attrs, [kh!, kw!]);
      const op = attrInts(attrs, 'output_padding') ?? [0, 0];
      const up = (d: Dim, k: number, i: number): Dim =>
        typeof d === 'number' ? strides[i]! * (d - 1) + op[i]! + k - pads[i]! - pads[i + 2]! : `?convT(${d})`;
      return [{ dtype: x!.dtype, shape: [x!.shape[0]!, c!, up(x!.shape[2]!, kh!, 0), up(x!.shape[3]!, kw!, 1)] }];
    },
    method(this: Graph, x: Tensor, w: Tensor, opts: ConvOptions & { outputPadding?: readonly number[] } = {}): Tensor {
      const a = convAttrs(opts);
      if (opts.outputPadding) a['output_padding'] = ints(opts.outputPadding);
      return this.node('ConvTranspose', [x, w], a)[0]!;
    },
  },
  MaxPool: {
    shape: (_g, [x], attrs) => {
      requireFloat(x!, 'MaxPool');
      const k = attrInts(attrs, 'kernel_shape');
      if (!k) throw new RangeError('MaxPool needs kernel_shape');
      const { strides, pads } = spatial(attrs, k);
      const shape = [
        x!.shape[0]!,
        x!.shape[1]!,
        convOut(x!.shape[2]!, k[0]!, strides[0]!, pads[0]!, pads[2]!),
        convOut(x!.shape[3]!, k[1]!, strides[1]!, pads[1]!, pads[3]!),
      ];
      return [
        { dtype: x!.dtype, shape },
        { dtype: 'int64', shape },
      ];
    },
    /** Max pooling (output Y only: onnxruntime's WebGPU kernel has no Indices output). */
    method(this: Graph, x: Tensor, opts: ConvOptions & { kernelShape: readonly number[] }): { y: Tensor } {
      const [y] = this.node('MaxPool', [x], { ...convAttrs(opts), kernel_shape: ints(opts.kernelShape) }, { outputs: 1 });
      return { y: y! };
    },
  },
  ScatterElements: {
    shape: (_g, [data, idx, upd]) => {
      if (idx!.dtype !== 'int64') throw new TypeError('ScatterElements indices must be int64');
      sameDtype([data, upd], 'ScatterElements');
      return [{ dtype: data!.dtype, shape: data!.shape }];
    },
    method(this: Graph, data: Tensor, indices: Tensor, updates: Tensor, opts: { axis?: number; reduction?: 'none' | 'add' } = {}): Tensor {
      return this.node('ScatterElements', [data, indices, updates], {
        axis: int(opts.axis ?? 0),
        reduction: { type: 'string', value: opts.reduction ?? 'none' },
      })[0]!;
    },
  },
  GatherElements: {
    shape: (_g, [data, idx]) => {
      if (idx!.dtype !== 'int64') throw new TypeError('GatherElements indices must be int64');
      return [{ dtype: data!.dtype, shape: idx!.shape }];
    },
    method(this: Graph, data: Tensor, indices: Tensor, axis = 0): Tensor {
      return this.node('GatherElements', [data, indices], { axis: int(axis) })[0]!;
    },
  },
  // onnxruntime contrib op (CPU, CUDA, WebGPU): GELU, tanh approximation, in one kernel. The CPU
  // kernel is float32 only. Only composite functions of a graph built with contribOps emit it.
  FastGelu: {
    domain: 'com.microsoft',
    shape: (_g, [x]) => {
      requireFloat(x!, 'FastGelu');
      return [{ dtype: x!.dtype, shape: x!.shape }];
    },
    method: unary('FastGelu') as (this: Graph, x: Tensor) => Tensor,
  },
  LayerNormalization: {
    shape: (_g, [x, scale, bias], attrs) => {
      requireFloat(x!, 'LayerNormalization');
      const rank = x!.shape.length;
      const axis = normAxis(attrInt(attrs, 'axis', -1), rank);
      const normShape = x!.shape.slice(axis);
      broadcastShapes(normShape, scale!.shape);
      if (bias) broadcastShapes(normShape, bias.shape);
      const stat = x!.shape.map((d, i) => (i < axis ? d : 1));
      // Mean and InvStdDev have the type stash_type names (ONNX type constraint U: float32 by default),
      // also for a float64 input: onnxruntime's CPU kernel returns float32 statistics for a double x.
      const statType: DType = attrInt(attrs, 'stash_type', 1) === 1 ? 'float32' : x!.dtype;
      return [
        { dtype: x!.dtype, shape: x!.shape },
        { dtype: statType, shape: stat },
        { dtype: statType, shape: stat },
      ];
    },
    method(
      this: Graph,
      x: Tensor,
      scale: Tensor,
      bias: Tensor | null,
      opts: { axis?: number; epsilon?: number } = {},
    ): { y: Tensor; mean: Tensor; invStdDev: Tensor } {
      const [y, mean, invStdDev] = this.node('LayerNormalization', [x, scale, bias], {
        axis: int(opts.axis ?? -1),
        epsilon: float(opts.epsilon ?? 1e-5),
      });
      return { y: y!, mean: mean!, invStdDev: invStdDev! };
    },
  },
  // TopK-11: the k largest (or smallest) entries along an axis and their int64 indices; sorted, ties
  // to the lower index (ONNX spec). With k the axis length and largest 0 it is a stable ascending
  // sort (QRL's IQE distance sorts interval end points, train/agents/qrl.ts).
  TopK: {
    shape: (g, [x, kT], attrs) => {
      const rank = x!.shape.length;
      const axis = normAxis(attrInt(attrs, 'axis', -1), rank);
      const [k] = constInts(g, kT, 'TopK k');
      const d = x!.shape[axis]!;
      if (k === undefined || k < 0 || (typeof d === 'number' && k > d)) throw new RangeError(`TopK k ${k} does not fit axis size ${d}`);
      const shape: Dim[] = [...x!.shape];
      shape[axis] = k;
      return [
        { dtype: x!.dtype, shape },
        { dtype: 'int64', shape },
      ];
    },
    method(this: Graph, x: Tensor, k: number, opts: { axis?: number; largest?: boolean } = {}): { values: Tensor; indices: Tensor } {
      const [values, indices] = this.node('TopK', [x, this.ints([k])], {
        axis: int(opts.axis ?? -1),
        largest: int(opts.largest === false ? 0 : 1),
        sorted: int(1),
      });
      return { values: values!, indices: indices! };
    },
  },
  // CumSum-14: inclusive running sum along an axis given as an int64 scalar constant.
  CumSum: {
    shape: (g, [x, axisT], attrs) => {
      constInts(g, axisT, 'CumSum axis');
      if (attrInt(attrs, 'exclusive', 0) !== 0) throw new RangeError('CumSum: only the inclusive form is supported');
      return [{ dtype: x!.dtype, shape: x!.shape }];
    },
    method(this: Graph, x: Tensor, axis: number, opts: { reverse?: boolean } = {}): Tensor {
      const attrs: Record<string, Attr> = opts.reverse ? { reverse: int(1) } : {};
      return this.node('CumSum', [x, this.constant(axis, 'int64')], attrs)[0]!;
    },
  },
} satisfies Record<string, OpDef>;

/** Graph methods built from ops rather than one op of their own. */
const HELPERS = {
  /** A scalar or tensor operand as a Tensor of `dtype`. */
  lift(this: Graph, x: Operand, dtype: DType): Tensor {
    return typeof x === 'number' ? this.constant(x, dtype) : x;
  },
  /** Zeros of x's shape and dtype (Expand of a scalar when the shape is static, else ConstantOfShape). */
  zerosLike(this: Graph, x: Tensor): Tensor {
    if (isStatic(x.shape)) return this.expand(this.constant(0, x.dtype), x.shape as number[]);
    return this.constantOfShape(this.shape(x), 0, x.dtype);
  },
};

type Methods<T> = { [K in keyof T as Uncapitalize<K & string>]: OmitThisParameter<T[K] extends OpDef ? T[K]['method'] : T[K]> };
/** The Graph methods of the op table: `g.matMul(a, b)`, `g.reduceSum(x, [1])`, ... */
export type OpMethods = Methods<typeof OPS>;

declare module './graph.ts' {
  interface Graph extends OpMethods, Methods<typeof HELPERS> {}
}

for (const [op, def] of Object.entries(OPS) as [string, OpDef][]) {
  SHAPE_RULES.set(op, def.shape);
  if (def.domain) OP_DOMAINS.set(op, def.domain);
  Object.defineProperty(Graph.prototype, op[0]!.toLowerCase() + op.slice(1), { value: def.method, writable: true, configurable: true });
}
for (const [name, fn] of Object.entries(HELPERS))
  Object.defineProperty(Graph.prototype, name, { value: fn, writable: true, configurable: true });

/** The set of op types the builder supports; the gradient table must account for each (tested). */
export const OP_TYPES: readonly string[] = [...SHAPE_RULES.keys()];
