// Refuses ONNX models whose tensors keep their data outside the file ("external data"). onnxruntime
// resolves an external-data location against the process's working directory when a model is given
// as bytes (as this runtime gives it), so a crafted policy could read weights from any file there.
// Exported policies never use external data, so any use of it is refused before a session exists.
//
// A minimal walk of the protobuf wire format (no dependency, as in metadata.ts) over every place
// onnx.proto can hold a TensorProto:
//   ModelProto         7 graph, 20 training_info, 25 functions
//   TrainingInfoProto  1 initialization, 2 algorithm (GraphProto)
//   GraphProto         1 node, 5 initializer, 15 sparse_initializer
//   FunctionProto      7 node, 11 attribute_proto
//   NodeProto          5 attribute
//   AttributeProto     5 t, 6 g, 10 tensors, 11 graphs, 22 sparse_tensor, 23 sparse_tensors
//   SparseTensorProto  1 values, 2 indices
//   TensorProto        8 name, 13 external_data (StringStringEntryProto 1 key, 2 value), 14 data_location
// Everything else is skipped by its wire type.
import { Reader, describe, utf8 } from './metadata.js';

/** A tensor that refers to external data: its name and its `location` entry (if any). */
export interface ExternalTensor {
  tensor: string;
  location: string | null;
}

type Kind = 'model' | 'training' | 'graph' | 'function' | 'node' | 'attribute' | 'sparse' | 'tensor';

/** Message-typed fields to descend into, per message kind. */
const CHILDREN: Record<Exclude<Kind, 'tensor'>, Record<number, Kind>> = {
  model: { 7: 'graph', 20: 'training', 25: 'function' },
  training: { 1: 'graph', 2: 'graph' },
  graph: { 1: 'node', 5: 'tensor', 15: 'sparse' },
  function: { 7: 'node', 11: 'attribute' },
  node: { 5: 'attribute' },
  attribute: { 5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph', 22: 'sparse', 23: 'sparse' },
  sparse: { 1: 'tensor', 2: 'tensor' },
};

const MAX_DEPTH = 64;

function text(r: Reader, [a, z]: [number, number]): string {
  try {
    return utf8.decode(r.b.subarray(a, z));
  } catch {
    return r.fail('string that is not UTF-8');
  }
}

/** The tensor at [start, end) if it refers to external data, else null. */
function tensorExternal(r: Reader): ExternalTensor | null {
  let name = '';
  let external = false;
  let location: string | null = null;
  while (r.pos < r.end) {
    const tag = r.varint();
    const f = Math.floor(tag / 8);
    const w = tag & 7;
    if (f === 0) r.fail('field number 0');
    if (f === 8 && w === 2) name = text(r, r.bytes());
    else if (f === 14 && w === 0) external = r.varint() !== 0 || external;
    else if (f === 13 && w === 2) {
      external = true;
      const e = new Reader(r.b, ...r.bytes(), r.where);
      let key = '';
      let value = '';
      while (e.pos < e.end) {
        const t = e.varint();
        const ef = Math.floor(t / 8);
        if ((ef === 1 || ef === 2) && (t & 7) === 2) {
          const s = text(e, e.bytes());
          if (ef === 1) key = s;
          else value = s;
        } else e.skip(t & 7);
      }
      if (key === 'location') location = value;
    } else r.skip(w);
  }
  return external ? { tensor: name, location } : null;
}

function walk(r: Reader, kind: Kind, depth: number): ExternalTensor | null {
  if (depth > MAX_DEPTH) r.fail(`messages nested deeper than ${MAX_DEPTH}`);
  if (kind === 'tensor') return tensorExternal(r);
  const children = CHILDREN[kind];
  while (r.pos < r.end) {
    const tag = r.varint();
    const f = Math.floor(tag / 8);
    const w = tag & 7;
    if (f === 0) r.fail('field number 0');
    const child = children[f];
    if (child !== undefined && w === 2) {
      const found = walk(new Reader(r.b, ...r.bytes(), r.where), child, depth + 1);
      if (found) return found;
    } else r.skip(w);
  }
  return null;
}

/** The first tensor of an ONNX model that refers to external data, or null if the model is self-contained. */
export function findExternalData(bytes: Uint8Array, source = ''): ExternalTensor | null {
  return walk(new Reader(bytes, 0, bytes.length, describe(source)), 'model', 0);
}

/** Throws an Error naming the tensor if the model refers to external data. */
export function assertSelfContained(bytes: Uint8Array, source: string): void {
  const x = findExternalData(bytes, source);
  if (x === null) return;
  throw new Error(
    `${describe(source)} is refused: tensor '${x.tensor}' keeps its data outside the model file` +
      `${x.location === null ? '' : ` (external data at '${x.location}')`}; this runtime loads self-contained models only ` +
      "(exported policies never use external data: re-export it with 'hiql export')",
  );
}
