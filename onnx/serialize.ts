// Graph <-> ONNX model: graphToModel writes the nodes a graph's outputs need, its initializers as raw
// data and its inputs and outputs as value infos; graphFromModel rebuilds a Graph from a model,
// re-running shape inference on every node. Graph.toModel, Graph.toBytes and Graph.fromBytes call
// these; proto.ts holds the message types and does the wire encoding.
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import {
  Graph,
  ONNX_DTYPE,
  OP_DOMAINS,
  dtypeOfOnnx,
  shapeToString,
  typedArrayFor,
  type Attr,
  type ConstTensor,
  type Node,
  type Tensor,
} from './graph.ts';
import {
  decodeModel,
  encodeModel,
  type AttributeProtoObj,
  type ModelProtoObj,
  type NodeProtoObj,
  type TensorProtoObj,
  type ValueInfoProtoObj,
} from './proto.ts';

/** The project's version (package.json), the producer_version of every model written here. */
export const PROJECT_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

const { AttributeType } = onnxProto.onnx.AttributeProto;

/** What a model carries besides the graph (opset 17, IR version 8, producer version 0.1.0 by default). */
export interface ModelOptions {
  opset?: number;
  irVersion?: number;
  metadata?: Record<string, string>;
  producerVersion?: string;
  docString?: string;
}

/** A graph read from a model, with the model's metadata_props, default-domain opset and IR version. */
export interface LoadedGraph {
  graph: Graph;
  metadata: Record<string, string>;
  opset: number;
  irVersion: number;
}

/** Builds the ModelProto. Only nodes needed for the outputs are kept; unused initializers are dropped. */
export function graphToModel(g: Graph, opts: ModelOptions = {}): ModelProtoObj {
  const needed = new Set<string>(g.outputs.map((o) => o.name));
  const kept: Node[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (n.outputs.some((o) => needed.has(o))) {
      kept.push(n);
      for (const x of n.inputs) if (x) needed.add(x);
    }
  }
  kept.reverse();
  const inputNames = new Set(g.inputs.map((t) => t.name));
  const initializer: TensorProtoObj[] = [];
  for (const [name, c] of g.initializers) {
    if (needed.has(name) && !inputNames.has(name)) initializer.push(tensorProto(name, c));
  }
  return {
    irVersion: opts.irVersion ?? 8,
    // onnxruntime's contrib ops are version 1 of 'com.microsoft'; the domain is imported only when used.
    opsetImport: [
      { domain: '', version: opts.opset ?? 17 },
      ...[...new Set(kept.map((n) => n.domain).filter((d) => d !== ''))].map((domain) => ({ domain, version: 1 })),
    ],
    producerName: 'hiql-ts',
    producerVersion: opts.producerVersion ?? PROJECT_VERSION,
    docString: opts.docString ?? '',
    graph: {
      name: g.name,
      node: kept.map(nodeProto),
      initializer,
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
    },
    metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
}

export function graphToBytes(g: Graph, opts: ModelOptions = {}): Uint8Array {
  return encodeModel(graphToModel(g, opts));
}

/** Rebuilds a Graph from a ModelProto, re-running shape inference on every node. */
export function graphFromModel(model: ModelProtoObj): LoadedGraph {
  const gp = model.graph;
  const g = new Graph(gp.name || 'graph');
  for (const init of gp.initializer ?? []) g.initializer(init.name, constFromProto(init));
  for (const vi of gp.input ?? []) {
    if (g.initializers.has(vi.name)) continue;
    const tt = vi.type.tensorType;
    const dt = dtypeOfOnnx(tt.elemType);
    if (!dt) throw new Error(`input '${vi.name}' has unsupported element type ${tt.elemType}`);
    g.input(
      vi.name,
      dt,
      (tt.shape?.dim ?? []).map((d) => (d.dimParam !== undefined && d.dimParam !== '' ? d.dimParam : Number(d.dimValue ?? 0))),
    );
  }
  for (const np of gp.node ?? []) {
    if ((np.domain ?? '') !== (OP_DOMAINS.get(np.opType) ?? ''))
      throw new Error(`node '${np.name}': op '${np.opType}' of domain '${np.domain}' is not supported`);
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

export function graphFromBytes(bytes: Uint8Array): LoadedGraph {
  return graphFromModel(decodeModel(bytes));
}

/** Names uniqueName gives stopGradient nodes: `[scope/]StopGradient[_k]`. */
const STOP_GRADIENT_NAME = /(^|\/)StopGradient(_\d+)?$/;

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

function bytesOf(data: ConstTensor['data']): Uint8Array {
  // Typed arrays are little-endian on every platform onnxruntime supports, as ONNX raw_data requires.
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function tensorProto(name: string, c: ConstTensor): TensorProtoObj {
  return { name, dims: [...c.dims], dataType: ONNX_DTYPE[c.dtype], rawData: bytesOf(c.data) };
}

export function constFromProto(t: TensorProtoObj): ConstTensor {
  const dtype = dtypeOfOnnx(t.dataType);
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

function nodeProto(n: Node): NodeProtoObj {
  const attribute: AttributeProtoObj[] = Object.entries(n.attrs).map(([name, a]) => {
    switch (a.type) {
      case 'int':
        return { name, type: AttributeType.INT, i: a.value };
      case 'float':
        return { name, type: AttributeType.FLOAT, f: a.value };
      case 'ints':
        return { name, type: AttributeType.INTS, ints: [...a.value] };
      case 'floats':
        return { name, type: AttributeType.FLOATS, floats: [...a.value] };
      case 'string':
        return { name, type: AttributeType.STRING, s: new TextEncoder().encode(a.value) };
      case 'tensor':
        return { name, type: AttributeType.TENSOR, t: tensorProto('', a.value) };
    }
  });
  return { name: n.name, opType: n.opType, domain: n.domain, input: [...n.inputs], output: [...n.outputs], attribute };
}

function attrFromProto(a: AttributeProtoObj): Attr {
  switch (a.type) {
    case AttributeType.FLOAT:
      return { type: 'float', value: a.f ?? 0 };
    case AttributeType.INT:
      return { type: 'int', value: Number(a.i ?? 0) };
    case AttributeType.STRING:
      return { type: 'string', value: new TextDecoder().decode(a.s ?? new Uint8Array()) };
    case AttributeType.TENSOR:
      return { type: 'tensor', value: constFromProto(a.t!) };
    case AttributeType.FLOATS:
      return { type: 'floats', value: a.floats ?? [] };
    case AttributeType.INTS:
      return { type: 'ints', value: (a.ints ?? []).map(Number) };
    default:
      throw new Error(`attribute '${a.name}' has unsupported type ${a.type}`);
  }
}
