// Graph IR and builder. A Graph holds ONNX nodes in topological (creation) order; every value has a
// dtype and a shape checked at build time, where a dimension is a number or a symbol such as 'batch'.
// Op helpers live in ops.ts and are attached to Graph as methods so that code reads `g.matMul(a, b)`;
// serialize.ts converts a Graph to and from an ONNX model (toModel, toBytes, fromBytes).
import { graphFromBytes, graphToBytes, graphToModel, type LoadedGraph, type ModelOptions } from './serialize.ts';
import type { ModelProtoObj } from './proto.ts';

export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'bool' | 'uint8';
export type Dim = number | string;
export type Shape = readonly Dim[];

/** A handle to a value in a graph. */
export interface Tensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

export type TypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

/** A constant tensor with its data (initializers, Constant attributes). */
export interface ConstTensor {
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: TypedArray;
}

export type Attr =
  | { type: 'int'; value: number }
  | { type: 'float'; value: number }
  | { type: 'ints'; value: readonly number[] }
  | { type: 'floats'; value: readonly number[] }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: ConstTensor };

export interface Node {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[]; // '' marks an omitted optional input; trailing ones are dropped
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, Attr>>;
}

/** ONNX TensorProto.DataType code of each dtype: the one table of these codes in onnx/. */
export const ONNX_DTYPE: Readonly<Record<DType, number>> = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float64: 11 };
const DTYPE_OF = new Map(Object.entries(ONNX_DTYPE).map(([dtype, code]) => [code, dtype as DType]));

/** The dtype of an ONNX TensorProto.DataType code, undefined for a type the builder does not support. */
export function dtypeOfOnnx(code: number): DType | undefined {
  return DTYPE_OF.get(code);
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

export function shapeToString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Number of elements of a fully static shape; throws if a dimension is symbolic. */
export function staticSize(shape: Shape, what = 'shape'): number {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number')
      throw new RangeError(`${what} ${shapeToString(shape)} has a symbolic dimension '${d}' where a static one is needed`);
    n *= d;
  }
  return n;
}

export function isStatic(shape: Shape): shape is readonly number[] {
  return shape.every((d) => typeof d === 'number');
}

export function typedArrayFor(dtype: DType, n: number): TypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'bool':
    case 'uint8':
      return new Uint8Array(n);
  }
}

/**
 * What a shape rule may ask of its graph: the value of a constant input, a fresh symbolic dimension.
 * (Narrower than Graph, so that the op table's type, which declares Graph's op methods, does not
 * depend on Graph's own members.)
 */
export interface ShapeContext {
  constValue(t: Tensor): ConstTensor | undefined;
  unknownDim(): string;
}

/** Shape inference: given the node's input tensors and attributes, returns output (dtype, shape) pairs. */
export type InferFn = (
  g: ShapeContext,
  inputs: (Tensor | null)[],
  attrs: Readonly<Record<string, Attr>>,
  nodeName: string,
) => { dtype: DType; shape: Shape }[];

/** Registry of shape-inference rules, filled by ops.ts. The set of keys is the set of supported ops. */
export const SHAPE_RULES = new Map<string, InferFn>();

/** The operator domain of each op outside ai.onnx (onnxruntime's 'com.microsoft' contrib ops), filled by ops.ts. */
export const OP_DOMAINS = new Map<string, string>();

export interface GraphOptions {
  /**
   * Let composite functions emit onnxruntime's contrib ops (domain 'com.microsoft', e.g. FastGelu) where
   * one kernel replaces several. Only for graphs run by onnxruntime itself (training steps); exported
   * models stay standard ai.onnx, which is the default.
   */
  contribOps?: boolean;
}

export class Graph implements ShapeContext {
  readonly nodes: Node[] = [];
  readonly values = new Map<string, Tensor>();
  readonly inputs: Tensor[] = [];
  readonly outputs: Tensor[] = [];
  readonly initializers = new Map<string, ConstTensor>();
  /** Values produced by stopGradient: the backward pass never crosses them. */
  readonly stopped = new Set<string>();
  readonly producer = new Map<string, Node>();
  private readonly scopes: string[] = [];
  private readonly used = new Map<string, number>();
  private readonly scalarCache = new Map<string, Tensor>();
  private symCounter = 0;

  constructor(
    readonly name = 'graph',
    readonly options: GraphOptions = {},
  ) {}

  // ---- naming ---------------------------------------------------------------------------------

  /** Runs `fn` with names prefixed by `name/`. Scopes nest. */
  scope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  get prefix(): string {
    return this.scopes.length ? this.scopes.join('/') + '/' : '';
  }

  /** A fresh name `prefix + base`, suffixed `_1`, `_2`, ... when taken. */
  uniqueName(base: string): string {
    const full = this.prefix + base;
    if (!this.values.has(full) && !this.used.has(full)) {
      this.used.set(full, 0);
      return full;
    }
    let k = this.used.get(full) ?? 0;
    let candidate: string;
    do {
      k++;
      candidate = `${full}_${k}`;
    } while (this.values.has(candidate) || this.used.has(candidate));
    this.used.set(full, k);
    this.used.set(candidate, 0);
    return candidate;
  }

  /** A fresh symbolic dimension name for a size not known at build time. */
  unknownDim(): string {
    return `?${++this.symCounter}`;
  }

  // ---- values ---------------------------------------------------------------------------------

  tensor(name: string): Tensor {
    const t = this.values.get(name);
    if (!t) throw new Error(`graph '${this.name}' has no value named '${name}'`);
    return t;
  }

  private define(name: string, dtype: DType, shape: Shape): Tensor {
    if (this.values.has(name)) throw new Error(`graph '${this.name}': value '${name}' is defined twice`);
    const t: Tensor = Object.freeze({ name, dtype, shape: Object.freeze([...shape]) });
    this.values.set(name, t);
    return t;
  }

  /** Declares a graph input. Dimensions may be symbolic ('batch'). */
  input(name: string, dtype: DType, shape: Shape): Tensor {
    const t = this.define(name, dtype, shape);
    this.used.set(name, 0);
    this.inputs.push(t);
    return t;
  }

  /** Adds a named constant (initializer). */
  initializer(name: string, c: ConstTensor): Tensor {
    const n = staticSize(c.dims);
    if (c.data.length !== n)
      throw new RangeError(`initializer '${name}': data has ${c.data.length} elements, dims ${shapeToString(c.dims)} need ${n}`);
    const t = this.define(name, c.dtype, c.dims);
    this.used.set(name, 0);
    this.initializers.set(name, c);
    return t;
  }

  /** A constant from JS numbers (ints become int64). Scalars of the same dtype and value are shared. */
  constant(value: number | readonly number[] | TypedArray, dtype: DType, dims?: readonly number[]): Tensor {
    const isScalar = typeof value === 'number';
    if (isScalar && dims === undefined) {
      const key = `${dtype}:${Object.is(value, -0) ? '-0' : value}`;
      const hit = this.scalarCache.get(key);
      if (hit) return hit;
      const t = this.initializer(this.uniqueConstName(), { dtype, dims: [], data: fill(dtype, [value as number]) });
      this.scalarCache.set(key, t);
      return t;
    }
    const arr = isScalar ? [value as number] : value;
    const data = ArrayBuffer.isView(arr) ? (arr as TypedArray) : fill(dtype, arr as readonly number[]);
    return this.initializer(this.uniqueConstName(), { dtype, dims: dims ?? [data.length], data });
  }

  /** An int64 1-D constant, as ONNX wants for axes, shapes, starts, ... */
  ints(values: readonly number[]): Tensor {
    return this.constant(values, 'int64', [values.length]);
  }

  constValue(t: Tensor): ConstTensor | undefined {
    return this.initializers.get(t.name);
  }

  private uniqueConstName(): string {
    const saved = this.scopes.splice(0);
    try {
      return this.uniqueName('const');
    } finally {
      this.scopes.push(...saved);
    }
  }

  // ---- nodes ----------------------------------------------------------------------------------

  /**
   * Appends a node and returns its outputs. Shapes are inferred by the op's rule in SHAPE_RULES;
   * an error names the node. `outNames` fixes output names (else derived from the node name).
   */
  node(
    opType: string,
    inputs: readonly (Tensor | null)[],
    attrs: Record<string, Attr> = {},
    opts: { outputs?: number; outNames?: readonly string[]; name?: string } = {},
  ): Tensor[] {
    const rule = SHAPE_RULES.get(opType);
    if (!rule) throw new Error(`op '${opType}' is not supported by the graph builder`);
    for (const x of inputs) {
      if (x && this.values.get(x.name) !== x) throw new Error(`${opType}: input '${x.name}' does not belong to graph '${this.name}'`);
    }
    const name = this.uniqueName(opts.name ?? opType);
    let outs: { dtype: DType; shape: Shape }[];
    try {
      outs = rule(this, [...inputs], attrs, name);
    } catch (e) {
      const err = e as Error;
      const described = inputs.map((x) => (x ? `${x.name}${shapeToString(x.shape)}:${x.dtype}` : '<none>')).join(', ');
      const msg = `node '${name}' (${opType}, inputs ${described}): ${err.message}`;
      throw err instanceof RangeError ? new RangeError(msg) : err instanceof TypeError ? new TypeError(msg) : new Error(msg);
    }
    const count = opts.outputs ?? outs.length;
    const outNames = opts.outNames ?? outs.slice(0, count).map((_, i) => (count === 1 ? name : `${name}:${i}`));
    const tensors = outs.slice(0, count).map((o, i) => this.define(outNames[i]!, o.dtype, o.shape));
    for (const n of outNames) this.used.set(n, 0);
    // Trailing omitted inputs are left out rather than written as '' (both are valid ONNX, but
    // onnxruntime 1.30's extended graph optimisations crash on a float32 LayerNormalization whose
    // omitted bias is written as '').
    const inputNames = inputs.map((x) => (x ? x.name : ''));
    while (inputNames.length > 0 && inputNames[inputNames.length - 1] === '') inputNames.pop();
    const node: Node = Object.freeze({
      name,
      opType,
      domain: OP_DOMAINS.get(opType) ?? '',
      inputs: inputNames,
      outputs: outNames,
      attrs: Object.freeze({ ...attrs }),
    });
    this.nodes.push(node);
    for (const o of outNames) this.producer.set(o, node);
    return tensors;
  }

  /** Marks `t` as a graph output under `name` (an Identity is added when the names differ). */
  output(t: Tensor, name?: string): Tensor {
    let out = t;
    if (name !== undefined && name !== t.name) {
      out = this.node('Identity', [t], {}, { outNames: [name], name: `${name}_identity` })[0]!;
    }
    if (this.outputs.some((o) => o.name === out.name)) throw new Error(`graph '${this.name}': '${out.name}' is already an output`);
    this.outputs.push(out);
    return out;
  }

  /**
   * Gives the node output `t` the name `name` in place (its producer and consumers are rewritten) and
   * returns the renamed tensor; `t` no longer belongs to the graph. Where `output(t, name)` would add an
   * Identity, which copies the whole value each run, this costs nothing (the training step's state
   * outputs). Graph inputs, initializers and outputs are refused: they keep their names.
   */
  rename(t: Tensor, name: string): Tensor {
    const producer = this.producer.get(t.name);
    if (!producer || this.values.get(t.name) !== t) throw new Error(`rename: '${t.name}' is not a node output of graph '${this.name}'`);
    if (this.outputs.includes(t)) throw new Error(`rename: '${t.name}' is already an output`);
    if (this.values.has(name) || this.used.has(name)) throw new Error(`rename: the name '${name}' is taken`);
    const swap = (names: readonly string[]) => names.map((n) => (n === t.name ? name : n));
    this.producer.delete(t.name);
    this.nodes.forEach((n, i) => {
      if (n !== producer && !n.inputs.includes(t.name)) return;
      const m: Node = Object.freeze({ ...n, inputs: swap(n.inputs), outputs: swap(n.outputs) });
      this.nodes[i] = m;
      for (const o of m.outputs) this.producer.set(o, m);
    });
    this.values.delete(t.name);
    if (this.stopped.delete(t.name)) this.stopped.add(name);
    this.used.set(name, 0);
    return this.define(name, t.dtype, t.shape);
  }

  /** Identity whose output the backward pass treats as a constant (named so that fromBytes can tell). */
  stopGradient(x: Tensor): Tensor {
    const [y] = this.node('Identity', [x], {}, { name: 'StopGradient' });
    this.stopped.add(y!.name);
    return y!;
  }

  // ---- serialisation (serialize.ts) -----------------------------------------------------------

  /** Builds the ModelProto. Only nodes needed for the outputs are kept; unused initializers are dropped. */
  toModel(opts: ModelOptions = {}): ModelProtoObj {
    return graphToModel(this, opts);
  }

  toBytes(opts: ModelOptions = {}): Uint8Array {
    return graphToBytes(this, opts);
  }

  /** Rebuilds a Graph from ONNX bytes, re-running shape inference on every node. */
  static fromBytes(bytes: Uint8Array): LoadedGraph {
    return graphFromBytes(bytes);
  }
}

function fill(dtype: DType, values: readonly number[]): TypedArray {
  const a = typedArrayFor(dtype, values.length);
  if (a instanceof BigInt64Array) values.forEach((v, i) => (a[i] = BigInt(Math.trunc(v))));
  else (a as Float32Array).set(values);
  return a;
}
