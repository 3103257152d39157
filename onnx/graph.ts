// Graph IR and builder. A Graph holds ONNX nodes in topological (creation) order; every value has a
// dtype and a shape checked at build time, where a dimension is a number or a symbol such as 'batch'.
// Op helpers live in ops.ts and are attached to Graph as methods so that code reads `g.matMul(a, b)`.
import {
  decodeModel,
  encodeModel,
  type AttributeProtoObj,
  type ModelProtoObj,
  type TensorProtoObj,
  type ValueInfoProtoObj,
} from './proto.ts';

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

export const ONNX_DTYPE: Record<DType, number> = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float64: 11 };
const DTYPE_OF: Record<number, DType> = { 1: 'float32', 2: 'uint8', 6: 'int32', 7: 'int64', 9: 'bool', 11: 'float64' };

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

/** Shape inference: given the node's input tensors and attributes, returns output (dtype, shape) pairs. */
export type InferFn = (
  g: Graph,
  inputs: (Tensor | null)[],
  attrs: Readonly<Record<string, Attr>>,
  nodeName: string,
) => { dtype: DType; shape: Shape }[];

/** Registry of shape-inference rules, filled by ops.ts. The set of keys is the set of supported ops. */
export const SHAPE_RULES = new Map<string, InferFn>();

export class Graph {
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

  constructor(readonly name = 'graph') {}

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
      domain: '',
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

  /** Identity whose output the backward pass treats as a constant (named so that fromBytes can tell). */
  stopGradient(x: Tensor): Tensor {
    const [y] = this.node('Identity', [x], {}, { name: 'StopGradient' });
    this.stopped.add(y!.name);
    return y!;
  }

  // ---- serialisation --------------------------------------------------------------------------

  /** Builds the ModelProto. Only nodes needed for the outputs are kept; unused initializers are dropped. */
  toModel(
    opts: { opset?: number; irVersion?: number; metadata?: Record<string, string>; producerVersion?: string; docString?: string } = {},
  ): ModelProtoObj {
    const needed = new Set<string>(this.outputs.map((o) => o.name));
    const kept: Node[] = [];
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i]!;
      if (n.outputs.some((o) => needed.has(o))) {
        kept.push(n);
        for (const x of n.inputs) if (x) needed.add(x);
      }
    }
    kept.reverse();
    const inputNames = new Set(this.inputs.map((t) => t.name));
    const initializer: TensorProtoObj[] = [];
    for (const [name, c] of this.initializers) {
      if (needed.has(name) && !inputNames.has(name)) initializer.push(tensorProto(name, c));
    }
    return {
      irVersion: opts.irVersion ?? 8,
      opsetImport: [{ domain: '', version: opts.opset ?? 17 }],
      producerName: 'hiql-ts',
      producerVersion: opts.producerVersion ?? '0.1.0',
      docString: opts.docString ?? '',
      graph: {
        name: this.name,
        node: kept.map(nodeProto),
        initializer,
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    };
  }

  toBytes(opts: Parameters<Graph['toModel']>[0] = {}): Uint8Array {
    return encodeModel(this.toModel(opts));
  }

  /** Rebuilds a Graph from ONNX bytes, re-running shape inference on every node. */
  static fromBytes(bytes: Uint8Array): { graph: Graph; metadata: Record<string, string>; opset: number; irVersion: number } {
    const model = decodeModel(bytes);
    const gp = model.graph;
    const g = new Graph(gp.name || 'graph');
    for (const init of gp.initializer ?? []) g.initializer(init.name, constFromProto(init));
    for (const vi of gp.input ?? []) {
      if (g.initializers.has(vi.name)) continue;
      const tt = vi.type.tensorType;
      const dt = DTYPE_OF[tt.elemType];
      if (!dt) throw new Error(`input '${vi.name}' has unsupported element type ${tt.elemType}`);
      g.input(
        vi.name,
        dt,
        (tt.shape?.dim ?? []).map((d) => (d.dimParam !== undefined && d.dimParam !== '' ? d.dimParam : Number(d.dimValue ?? 0))),
      );
    }
    for (const np of gp.node ?? []) {
      if (np.domain) throw new Error(`node '${np.name}': custom domain '${np.domain}' is not supported`);
      const attrs: Record<string, Attr> = {};
      for (const a of np.attribute ?? []) attrs[a.name] = attrFromProto(a);
      const ins = (np.input ?? []).map((n) => (n === '' ? null : g.tensor(n)));
      g.node(np.opType, ins, attrs, { outNames: np.output, outputs: np.output.length, name: np.name || np.opType });
      // stopGradient's Identity nodes are recognised by the name the builder gives them.
      if (np.opType === 'Identity' && STOP_GRADIENT_NAME.test(np.name)) g.stopped.add(np.output[0]!);
    }
    for (const vo of gp.output ?? []) g.outputs.push(g.tensor(vo.name));
    const metadata: Record<string, string> = {};
    for (const p of model.metadataProps) metadata[p.key] = p.value;
    const opset = Number(model.opsetImport.find((o) => !o.domain)?.version ?? 0);
    return { graph: g, metadata, opset, irVersion: Number(model.irVersion) };
  }
}

/** Names uniqueName gives stopGradient nodes: `[scope/]StopGradient[_k]`. */
const STOP_GRADIENT_NAME = /(^|\/)StopGradient(_\d+)?$/;

function fill(dtype: DType, values: readonly number[]): TypedArray {
  const a = typedArrayFor(dtype, values.length);
  if (a instanceof BigInt64Array) values.forEach((v, i) => (a[i] = BigInt(Math.trunc(v))));
  else (a as Float32Array).set(values);
  return a;
}

function valueInfo(t: Tensor): ValueInfoProtoObj {
  return {
    name: t.name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE[t.dtype],
        shape: { dim: t.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function bytesOf(data: TypedArray): Uint8Array {
  // Typed arrays are little-endian on every platform onnxruntime supports, as ONNX raw_data requires.
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function tensorProto(name: string, c: ConstTensor): TensorProtoObj {
  return { name, dims: [...c.dims], dataType: ONNX_DTYPE[c.dtype], rawData: bytesOf(c.data) };
}

export function constFromProto(t: TensorProtoObj): ConstTensor {
  const dtype = DTYPE_OF[t.dataType];
  if (!dtype) throw new Error(`tensor '${t.name}' has unsupported data type ${t.dataType}`);
  const dims = (t.dims ?? []).map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const out = typedArrayFor(dtype, n);
  if (t.rawData && t.rawData.length > 0) {
    if (t.rawData.length !== out.byteLength)
      throw new RangeError(
        `tensor '${t.name}': raw data has ${t.rawData.length} bytes, dims ${shapeToString(dims)} of ${dtype} need ${out.byteLength}`,
      );
    new Uint8Array(out.buffer).set(t.rawData);
  } else {
    const src = t.floatData?.length
      ? t.floatData
      : t.doubleData?.length
        ? t.doubleData
        : t.int64Data?.length
          ? t.int64Data
          : (t.int32Data ?? []);
    if (src.length !== n) throw new RangeError(`tensor '${t.name}': has ${src.length} values, dims need ${n}`);
    if (out instanceof BigInt64Array) src.forEach((v, i) => (out[i] = BigInt(v)));
    else (out as Float32Array).set(src);
  }
  return { dtype, dims, data: out };
}

function nodeProto(n: Node) {
  const attribute: AttributeProtoObj[] = Object.entries(n.attrs).map(([name, a]) => {
    switch (a.type) {
      case 'int':
        return { name, type: 2, i: a.value };
      case 'float':
        return { name, type: 1, f: a.value };
      case 'ints':
        return { name, type: 7, ints: [...a.value] };
      case 'floats':
        return { name, type: 6, floats: [...a.value] };
      case 'string':
        return { name, type: 3, s: new TextEncoder().encode(a.value) };
      case 'tensor':
        return { name, type: 4, t: tensorProto('', a.value) };
    }
  });
  return { name: n.name, opType: n.opType, domain: n.domain, input: [...n.inputs], output: [...n.outputs], attribute };
}

function attrFromProto(a: AttributeProtoObj): Attr {
  switch (a.type) {
    case 1:
      return { type: 'float', value: a.f ?? 0 };
    case 2:
      return { type: 'int', value: Number(a.i ?? 0) };
    case 3:
      return { type: 'string', value: new TextDecoder().decode(a.s ?? new Uint8Array()) };
    case 4:
      return { type: 'tensor', value: constFromProto(a.t!) };
    case 6:
      return { type: 'floats', value: a.floats ?? [] };
    case 7:
      return { type: 'ints', value: (a.ints ?? []).map(Number) };
    default:
      throw new Error(`attribute '${a.name}' has unsupported type ${a.type}`);
  }
}
