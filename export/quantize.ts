// Weight quantization of exported policies: the same graph, inputs, outputs and metadata, with the
// large weight matrices stored as int8 and run by standard ONNX integer ops (opset 10/11, so files
// stay IR 8 / opset 17) that onnxruntime runs on CPU (onnxruntime-node) and wasm (onnxruntime-web).
//
// Scheme ('int8'). Every Gemm / MatMul whose weight is a float32 initializer [K, N] with K and N at
// least `minDim` (16: the hidden x hidden layers; the first layer, which reads raw positions, and the
// small output heads stay float32) becomes
//
//   x -> DynamicQuantizeLinear -> (x_q uint8, x_scale, x_zero_point)
//   MatMulInteger(x_q, W_q int8 [K, N], x_zero_point) -> Cast(float) -> Mul(x_scale * w_scale[N]) -> Add(bias)
//
// with W_q = round(W / w_scale), w_scale[n] = max_k |W[k, n]| / 63 (symmetric, per output channel; 7
// bits so that no CPU saturates, see QMAX).
// onnxruntime fuses the chain into one DynamicQuantizeMatMul kernel (u8 x s8 GEMM). The activations are
// quantized per call over the whole input tensor: at batch 1 that is per row; in a batch, rows share one
// range, so a row's action can differ slightly with the batch it is in (the medium policy's success
// is 77.6% both ways: 5 x 50 episodes as one batch of 250, and one row per call).
//
// Why this form: measured (`npm run bench -- runtime-latency`, variants alternated in one process,
// 3 x 512 policy, one thread) against int8 DequantizeLinear (per channel, axis 1) feeding the same Gemm
// (variant int8dq), which onnxruntime-node fuses to an 8-bit MatMulNBits: at batch 1 on
// onnxruntime-node CPU both take 0.51x the float policy's time; at batch 256 this form takes 0.39x,
// the other 0.86x; on onnxruntime-web wasm the other is not fused and dequantizes every call (16.6x
// the float policy at batch 1, this form 1.9x).
//
// GELU. The networks' GELU is the sigmoid form x sigmoid(x (a + b x^2)) (6 ops). The quantized graph
// writes it in the equal tanh form 0.5 x (1 + tanh(c x (1 + 0.044715 x^2))) that onnxruntime's
// FastGeluFusion turns into one FastGelu kernel (on CPU and wasm); the two agree to float32 rounding.
// `fastGelu` does that rewrite alone (the bench measures a float policy with it, to tell the two
// effects apart).
import { mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { constFromProto } from '../onnx/index.ts';
import { decodeModel, encodeModel, type ModelProtoObj, type NodeProtoObj, type TensorProtoObj } from '../onnx/proto.ts';
import {
  diffStats,
  modelInputs,
  randomFeeds,
  runWith,
  validateExport,
  type ExportResult,
  type ExportedFile,
  type GraphSpec,
  type OutputCheck,
  type Role,
} from './export.ts';
import type { AgentConfig } from '../train/agents/index.ts';
import type { Dims } from '../train/dims.ts';
import type { EvalResult } from '../train/evaluate.ts';
import type { Backend } from '../runtime/src/index.ts';
import { writeCard, type CardData } from './card.ts';
import { ROLE_SUFFIX, writeFileSet } from './file-set.ts';
import { evaluateExported } from './evaluate.ts';

export type Scheme = 'int8' | 'fp16';

/** Fresh node-output names, one per key, made in the keys' order. */
function freshNames<K extends string>(fresh: (s: string) => string, keys: readonly K[]): Record<K, string> {
  return Object.fromEntries(keys.map((k) => [k, fresh(k)])) as Record<K, string>;
}
export const SCHEMES: readonly Scheme[] = ['int8', 'fp16'];

/** ONNX TensorProto data types used here. */
const FLOAT = 1;
const INT8 = 3;
const FLOAT16 = 10;
/**
 * Largest |int8 weight|: 63, i.e. 7 bits ("reduce range"). x86 CPUs without VNNI (AVX2, AVX-512 before
 * VNNI) multiply u8 x s8 pairs with vpmaddubsw, which saturates a pair's sum at 32767; with 8-bit
 * weights a pair reaches 2 x 255 x 127 = 64770 (measured: ~1e-4 of the pairs in the shipped policies
 * at batch 1), so results would depend on the CPU. 2 x 255 x 63 = 32130 never saturates: every x86
 * CPU, and wasm, computes the same integers. Measured cost on the medium policy: -0.8 points of
 * success vs -1.2 with 8 bits (5 x 50 episodes), the same at batch 1.
 */
const QMAX = 63;

export interface QuantizeOptions {
  /** Only matrices with both dimensions at least this large are quantized (default 16). */
  minDim?: number;
  /** Rewrite GELU into the form onnxruntime fuses (default true). */
  fastGelu?: boolean;
  /**
   * int8 graph form: 'integer' (default: DynamicQuantizeLinear + MatMulInteger) or 'dequantize'
   * (DequantizeLinear of the int8 weights, axis 1, feeding the float Gemm: weight-only; kept for the
   * benchmark that chose between them, its files are not validated layer by layer).
   */
  form?: 'integer' | 'dequantize';
}

export interface QuantizeReport {
  scheme: Scheme;
  /**
   * Weight matrices stored in the scheme's type: [K, N] of each, the node that used it, its float
   * weight and bias names and (int8) the tensors of the layer's input, output, int8 weights and scales.
   */
  quantized: {
    node: string;
    weight: string;
    k: number;
    n: number;
    transB: boolean;
    bias?: string;
    input: string;
    output: string;
    qweight: string;
    scale: string;
  }[];
  /** Weight matrices kept float32 (too small to matter), with their shapes. */
  kept: { node: string; weight: string; k: number; n: number }[];
  /** GELUs rewritten into the fusable tanh form. */
  gelus: number;
}

/** Metadata keys a quantized file adds to the float file's. */
export function quantizationMetadata(scheme: Scheme, r: QuantizeReport, sourceSha256?: string): Record<string, string> {
  const m: Record<string, string> = {
    'hiql.weights': scheme,
    'hiql.quantization': JSON.stringify(
      scheme === 'int8'
        ? {
            weights: 'int8 in [-63, 63] (7 bits: no saturation on any CPU), symmetric, one scale per output channel',
            activations: 'uint8, per tensor, computed per call (DynamicQuantizeLinear)',
            ops: ['DynamicQuantizeLinear', 'MatMulInteger'],
            matrices: r.quantized.length,
            float_matrices: r.kept.length,
          }
        : { weights: 'float16, Cast to float32 at load', matrices: r.quantized.length, float_matrices: r.kept.length },
    ),
  };
  if (sourceSha256) m['hiql.quantized_from_sha256'] = sourceSha256;
  return m;
}

// ---- graph rewriting (on the decoded ModelProto: the graph builder has no int8 / float16 types) ----------

class Names {
  private readonly taken = new Set<string>();
  constructor(m: ModelProtoObj) {
    const g = m.graph;
    for (const t of g.initializer) this.taken.add(t.name);
    for (const t of g.input) this.taken.add(t.name);
    for (const n of g.node) {
      this.taken.add(n.name);
      for (const o of n.output) this.taken.add(o);
    }
  }
  fresh(base: string): string {
    let name = base;
    for (let k = 1; this.taken.has(name); k++) name = `${base}_${k}`;
    this.taken.add(name);
    return name;
  }
}

const attrInt = (n: NodeProtoObj, name: string, dflt: number): number => {
  const a = n.attribute.find((x) => x.name === name);
  return a?.i !== undefined ? Number(a.i) : dflt;
};
const attrFloat = (n: NodeProtoObj, name: string, dflt: number): number => n.attribute.find((x) => x.name === name)?.f ?? dflt;

const rawOf = (a: Float32Array | Int8Array | Uint16Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A float32 scalar initializer's value (shape [] or [1]), else undefined. */
function scalarOf(inits: Map<string, TensorProtoObj>, name: string): number | undefined {
  const t = inits.get(name);
  if (!t || t.dataType !== FLOAT || (t.dims ?? []).reduce((a, b) => a * Number(b), 1) !== 1) return undefined;
  return (constFromProto(t).data as Float32Array)[0];
}

const near = (v: number | undefined, x: number) => v !== undefined && Math.abs(v - x) <= 1e-6 * Math.abs(x);

/**
 * Rewrites each sigmoid-form GELU (x * Sigmoid(x * (Mul(Mul(x, x), b) + a)), a = 2 sqrt(2/pi),
 * b = 0.044715 a) into the tanh form onnxruntime fuses into FastGelu. Returns the number rewritten.
 */
export function fastGelu(m: ModelProtoObj): number {
  const g = m.graph;
  const names = new Names(m);
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const producer = new Map<string, NodeProtoObj>();
  const consumers = new Map<string, NodeProtoObj[]>();
  for (const n of g.node) {
    for (const o of n.output) producer.set(o, n);
    for (const i of n.input) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  }
  const graphOutputs = new Set(g.output.map((o) => o.name));
  const only = (v: string) => (consumers.get(v)?.length === 1 && !graphOutputs.has(v) ? consumers.get(v)![0]! : undefined);
  const other = (n: NodeProtoObj, v: string) => (n.input[0] === v ? n.input[1] : n.input[1] === v ? n.input[0] : undefined);
  const a = 2 * Math.sqrt(2 / Math.PI);
  const b = 0.044715 * a;
  const constant = (base: string, v: number): string => {
    const name = names.fresh(base);
    g.initializer.push({ name, dims: [], dataType: FLOAT, rawData: rawOf(new Float32Array([v])) });
    return name;
  };
  let cs: { c044: string; one: string; c079: string; half: string } | null = null;

  const replace = new Map<NodeProtoObj, NodeProtoObj[]>();
  const remove = new Set<NodeProtoObj>();
  for (const sig of g.node) {
    if (sig.opType !== 'Sigmoid') continue;
    const m2 = producer.get(sig.input[0]!);
    const m3 = only(sig.output[0]!);
    if (!m2 || m2.opType !== 'Mul' || !m3 || m3.opType !== 'Mul' || only(m2.output[0]!) !== sig) continue;
    const x = other(m3, sig.output[0]!);
    if (x === undefined) continue;
    const addOut = other(m2, x);
    const add = addOut !== undefined ? producer.get(addOut) : undefined;
    if (!add || add.opType !== 'Add' || only(add.output[0]!) !== m2) continue;
    const m1 = [add.input[0], add.input[1]].map((v) => producer.get(v ?? '')).find((n) => n?.opType === 'Mul');
    if (!m1 || !near(scalarOf(inits, other(add, m1.output[0]!) ?? ''), a) || only(m1.output[0]!) !== add) continue;
    const m0Out = [m1.input[0], m1.input[1]].find((v) => producer.get(v ?? '')?.opType === 'Mul');
    const m0 = m0Out !== undefined ? producer.get(m0Out) : undefined;
    if (!m0 || m0.input[0] !== x || m0.input[1] !== x || only(m0.output[0]!) !== m1) continue;
    if (!near(scalarOf(inits, other(m1, m0.output[0]!) ?? ''), b)) continue;
    // 0.5 x (1 + tanh(c x (1 + 0.044715 x^2))): the node pattern of onnxruntime's FastGeluFusion.
    cs ??= {
      c044: constant('gelu_tanh/c_0.044715', 0.044715),
      one: constant('gelu_tanh/one', 1),
      c079: constant('gelu_tanh/c_sqrt_2_over_pi', 0.7978845834732056),
      half: constant('gelu_tanh/half', 0.5),
    };
    const base = m3.name.replace(/\/[^/]*$/, '') + '/tanh_form';
    const v = (s: string) => names.fresh(`${base}/${s}`);
    const {
      x_c: t1,
      x2_c: t2,
      inner: t3,
      cx: t4,
      arg: t5,
      tanh: t6,
      one_plus: t7,
      half_x: t8,
    } = freshNames(v, ['x_c', 'x2_c', 'inner', 'cx', 'arg', 'tanh', 'one_plus', 'half_x'] as const);
    const node = (opType: string, input: string[], out: string): NodeProtoObj => ({
      name: names.fresh(out),
      opType,
      input,
      output: [out],
      attribute: [],
    });
    replace.set(m3, [
      node('Mul', [x, cs.c044], t1),
      node('Mul', [t1, x], t2),
      node('Add', [t2, cs.one], t3),
      node('Mul', [x, cs.c079], t4),
      node('Mul', [t3, t4], t5),
      node('Tanh', [t5], t6),
      node('Add', [t6, cs.one], t7),
      node('Mul', [x, cs.half], t8),
      { ...node('Mul', [t7, t8], m3.output[0]!), name: names.fresh(`${base}/out`) },
    ]);
    for (const n of [m0, m1, add, m2, sig]) remove.add(n);
  }
  g.node = g.node.flatMap((n) => (remove.has(n) ? [] : (replace.get(n) ?? [n])));
  return replace.size;
}

/** float32 -> IEEE half bits, round to nearest even. */
function toHalf(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let h = mant >> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  // A carry out of the mantissa moves into the exponent (up to 0x7c00, infinity): still correct.
  let h = (e << 10) | (mant >> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** Quantizes the weight matrices of a decoded model in place (see the header). */
export function quantizeWeights(
  m: ModelProtoObj,
  scheme: Scheme,
  minDim = 16,
  form: QuantizeOptions['form'] = 'integer',
): Omit<QuantizeReport, 'gelus'> {
  const g = m.graph;
  const names = new Names(m);
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const uses = new Map<string, number>();
  for (const n of g.node) for (const i of n.input) if (i) uses.set(i, (uses.get(i) ?? 0) + 1);
  const quantized: QuantizeReport['quantized'] = [];
  const kept: QuantizeReport['kept'] = [];
  const nodes: NodeProtoObj[] = [];
  const dropped = new Set<string>();
  for (const n of g.node) {
    const wName = n.input[1];
    const w = (n.opType === 'Gemm' || n.opType === 'MatMul') && wName ? inits.get(wName) : undefined;
    const simpleGemm =
      n.opType === 'MatMul' ||
      (attrInt(n, 'transA', 0) === 0 &&
        attrFloat(n, 'alpha', 1) === 1 &&
        (n.input.length < 3 || !n.input[2] || attrFloat(n, 'beta', 1) === 1));
    if (!w || w.dataType !== FLOAT || (w.dims ?? []).length !== 2 || !simpleGemm) {
      nodes.push(n);
      continue;
    }
    const transB = n.opType === 'Gemm' && attrInt(n, 'transB', 0) === 1;
    const [d0, d1] = w.dims.map(Number) as [number, number];
    const [K, N] = transB ? [d1, d0] : [d0, d1];
    if (K < minDim || N < minDim) {
      kept.push({ node: n.name, weight: wName!, k: K, n: N });
      nodes.push(n);
      continue;
    }
    const src = constFromProto(w).data as Float32Array;
    const W = (k: number, j: number) => (transB ? src[j * K + k]! : src[k * N + j]!);
    if ((uses.get(wName!) ?? 0) === 1) dropped.add(wName!);
    const base = n.name || wName!;
    const bias = n.opType === 'Gemm' && n.input[2] ? n.input[2] : undefined;
    const node = (opType: string, input: string[], output: string[], attribute: NodeProtoObj['attribute'] = []): NodeProtoObj => ({
      name: names.fresh(`${base}/${opType}`),
      opType,
      input,
      output,
      attribute,
    });

    const entry = { node: n.name, weight: wName!, k: K, n: N, transB, input: n.input[0]!, output: n.output[0]!, bias };
    if (scheme === 'fp16') {
      quantized.push({ ...entry, qweight: '', scale: '' });
      const h = new Uint16Array(K * N);
      for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) h[k * N + j] = toHalf(W(k, j));
      const wh = names.fresh(`${wName}_fp16`);
      g.initializer.push({ name: wh, dims: [K, N], dataType: FLOAT16, rawData: rawOf(h) });
      const wf = names.fresh(`${wName}_fp32`);
      nodes.push(node('Cast', [wh], [wf], [{ name: 'to', type: 2, i: FLOAT }]));
      const rest = n.attribute.filter((a) => a.name !== 'transB');
      nodes.push({ ...n, input: [n.input[0]!, wf, ...n.input.slice(2)], attribute: rest });
      continue;
    }

    const scale = new Float32Array(N);
    for (let j = 0; j < N; j++) {
      let mx = 0;
      for (let k = 0; k < K; k++) mx = Math.max(mx, Math.abs(W(k, j)));
      scale[j] = mx > 0 ? mx / QMAX : 1;
    }
    const q = new Int8Array(K * N);
    for (let k = 0; k < K; k++)
      for (let j = 0; j < N; j++) {
        const v = W(k, j) / scale[j]!;
        q[k * N + j] = Math.max(-QMAX, Math.min(QMAX, Math.sign(v) * Math.round(Math.abs(v))));
      }
    const wq = names.fresh(`${wName}_int8`);
    const ws = names.fresh(`${wName}_scale`);
    g.initializer.push({ name: wq, dims: [K, N], dataType: INT8, rawData: rawOf(q) });
    g.initializer.push({ name: ws, dims: [N], dataType: FLOAT, rawData: rawOf(scale) });
    quantized.push({ ...entry, qweight: wq, scale: ws });
    if (form === 'dequantize') {
      const zp = names.fresh(`${wName}_zero_point`);
      g.initializer.push({ name: zp, dims: [N], dataType: INT8, rawData: new Uint8Array(N) });
      const wf = names.fresh(`${wName}_dequantized`);
      nodes.push(node('DequantizeLinear', [wq, ws, zp], [wf], [{ name: 'axis', type: 2, i: 1 }]));
      nodes.push({ ...n, input: [n.input[0]!, wf, ...n.input.slice(2)], attribute: n.attribute.filter((a) => a.name !== 'transB') });
      continue;
    }
    const v = (s: string) => names.fresh(`${base}/${s}`);
    const {
      x_q: xq,
      x_scale: xs,
      x_zero_point: xz,
      y_int32: y32,
      y_float: yf,
      scale: s,
      y,
    } = freshNames(v, ['x_q', 'x_scale', 'x_zero_point', 'y_int32', 'y_float', 'scale', 'y'] as const);
    const out = n.output[0]!;
    nodes.push(node('DynamicQuantizeLinear', [n.input[0]!], [xq, xs, xz]));
    nodes.push(node('MatMulInteger', [xq, wq, xz], [y32]));
    nodes.push(node('Cast', [y32], [yf], [{ name: 'to', type: 2, i: FLOAT }]));
    nodes.push(node('Mul', [xs, ws], [s]));
    if (bias) {
      nodes.push(node('Mul', [yf, s], [y]));
      nodes.push(node('Add', [y, bias], [out]));
    } else nodes.push(node('Mul', [yf, s], [out]));
  }
  g.node = nodes;
  g.initializer = g.initializer.filter((t) => !dropped.has(t.name));
  return { scheme, quantized, kept };
}

/** Drops initializers no node or output uses any more. */
function dropUnused(m: ModelProtoObj): void {
  const used = new Set<string>(m.graph.output.map((o) => o.name));
  for (const n of m.graph.node) for (const i of n.input) if (i) used.add(i);
  m.graph.initializer = m.graph.initializer.filter((t) => used.has(t.name));
}

/**
 * The quantized form of an exported float policy file (any role): weights as `scheme`, GELU in the
 * fusable form, metadata `extraMetadata` merged over the file's (plus hiql.weights / hiql.quantization).
 */
export function quantizeModel(
  bytes: Uint8Array,
  scheme: Scheme,
  o: QuantizeOptions & { metadata?: Record<string, string>; sourceSha256?: string } = {},
): { bytes: Uint8Array; report: QuantizeReport } {
  const m = decodeModel(bytes);
  const gelus = o.fastGelu === false ? 0 : fastGelu(m);
  const report: QuantizeReport = { ...quantizeWeights(m, scheme, o.minDim ?? 16, o.form), gelus };
  dropUnused(m);
  const meta = new Map(m.metadataProps.map((p) => [p.key, p.value]));
  for (const [k, v] of Object.entries({ ...o.metadata, ...quantizationMetadata(scheme, report, o.sourceSha256) })) meta.set(k, v);
  m.metadataProps = [...meta].map(([key, value]) => ({ key, value }));
  m.docString = `${m.docString ?? ''} (${scheme} weights)`.trim();
  return { bytes: encodeModel(m), report };
}

/** The GELU rewrite alone, on a float file (for benchmarks: separates its effect from int8's). */
export function withFastGelu(bytes: Uint8Array): Uint8Array {
  const m = decodeModel(bytes);
  fastGelu(m);
  dropUnused(m);
  return encodeModel(m);
}

// ---- validation ---------------------------------------------------------------------------------------

/**
 * The int8 check of an output against the float training graph, on the validation inputs (random in
 * [-10, 10], batch 64): mean |diff| <= 0.1 x scale (scale = max(1, the output's largest |entry|)).
 *
 * Why. Rounding moves each weight by up to half its column's step (1/126 of the column's largest
 * entry) and each activation by up to its tensor's step (1/255 of its range); outputs move by the sum
 * of those through the network, so a mean is the measure (the largest entry of 64 rows is set by the
 * row nearest a decision boundary). Measured on the shipped medium, large and giant policies: mean
 * 0.002-0.003 x scale for phi, 0.016-0.039 for the low actor, 0.013-0.034 for the subgoal; 0.1 leaves
 * 2.5x. Weights transposed or scales reversed give 0.05-0.9, but an error as small as one dropped bias
 * (0.003-0.04) hides in that noise: `checkQuantizedLayers` looks for those layer by layer. The
 * HIQL policy's action is not held to it: it is the low actor on the length-normalised subgoal, where a
 * small change of the subgoal near a tie moves the action a lot (0.03-0.09 x scale on these inputs,
 * out of the maze); both halves are checked on their own (the `subgoal` output, the low_policy file).
 */
export const INT8_CHECK: OutputCheck = {
  describe: 'mean |diff| <= 0.1 x scale (scale = max(1, largest |entry|))',
  check(ref, out, where) {
    const d = diffStats(ref, out);
    const gated = !(where.role === 'policy' && where.agent === 'hiql' && where.output === 'action');
    return { ok: !gated || d.mean <= 0.1 * d.scale, gated, ...d };
  },
};

/** The float16 check: 11 significant bits move outputs by ~1e-3 relative, so max |diff| <= 1e-2 x scale. */
export const FP16_CHECK: OutputCheck = {
  describe: 'max |diff| <= 1e-2 x scale (scale = max(1, largest |entry|))',
  check(ref, out) {
    const d = diffStats(ref, out);
    return { ok: d.max <= 1e-2 * d.scale, ...d };
  },
};

/**
 * Checks every int8 layer of a quantized graph against its float layer on the layer's own input (taken
 * from the quantized graph, on the validation inputs, in onnxruntime-node and -web). With W' = W_q s_j
 * the dequantized weights (s_j the column's scale) and xs the activation step (DynamicQuantizeLinear:
 * range / 255), each output entry's error e = y_int8 - (x W + b) is a sum of rounding errors:
 *
 * - hard bound: |e| <= xs sum_k |W'_kj| + (s_j / 2) sum_k |x_k| (+ float32 rounding); it holds for any
 *   correct layer (an activation moves by at most one step, a weight by half of one), so it can never
 *   fail one, but it is loose (correct layers reach 0.1-0.2 of it) and misses small errors;
 * - statistical: rounding errors are independent and uniform, so e has the standard deviation
 *   sigma = sqrt((s_j^2 ||x||^2 + xs^2 ||W'_j||^2) / 12), and z = e / sigma must look like it: RMS of z
 *   over the layer <= 1.4 and max |z| <= 8. Measured on the shipped policies (64 x 256 entries a
 *   layer): RMS 0.76-1.11, max 3.2-6.5; a dropped bias gives RMS 1.1-3.0 / max 4.6-9.9, one column
 *   scale 2 % off RMS 1.9-4.3 / max 10-15, 10 % off RMS 7-19 / max 36-65.
 *
 * Throws naming the layer if either fails; returns per backend the worst ratio to the hard bound and
 * the worst RMS and max |z|.
 */
export async function checkQuantizedLayers(
  quantized: Uint8Array,
  report: QuantizeReport,
  params: ReadonlyMap<string, Float32Array>,
): Promise<Omit<LayerCheck, 'role'>[]> {
  if (report.scheme !== 'int8' || report.quantized.length === 0) return [];
  const m = decodeModel(quantized);
  const have = new Set(m.graph.output.map((o) => o.name));
  for (const l of report.quantized)
    for (const v of [l.input, l.output])
      if (!have.has(v)) {
        m.graph.output.push({ name: v, type: { tensorType: { elemType: FLOAT } } });
        have.add(v);
      }
  const inits = new Map(m.graph.initializer.map((t) => [t.name, t]));
  const probe = encodeModel(m);
  const feeds = randomFeeds(modelInputs(quantized), 64, 12345);
  const results: Omit<LayerCheck, 'role'>[] = [];
  for (const engine of ['node', 'web'] as const) {
    const backend = engine === 'node' ? 'onnxruntime-node' : 'onnxruntime-web';
    const out = await runWith(engine, probe, feeds);
    let [worst, worstRms, worstZ] = [0, 0, 0];
    for (const l of report.quantized) {
      const x = out[l.input]!;
      const y = out[l.output]!;
      const W = params.get(l.weight);
      const b = l.bias ? params.get(l.bias) : undefined;
      if (!W) throw new Error(`int8 layer check: no float weights '${l.weight}'`);
      const q = new Int8Array(Uint8Array.from(inits.get(l.qweight)!.rawData!).buffer);
      const s = constFromProto(inits.get(l.scale)!).data as Float32Array;
      const { k: K, n: N } = l;
      const M = x.length / K;
      if (!Number.isInteger(M) || y.length !== M * N) throw new Error(`int8 layer check: '${l.node}' has unexpected sizes`);
      let [lo, hi] = [0, 0];
      for (const v of x) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
      const xs = (hi - lo) / 255;
      const absWq = new Float64Array(N);
      const sqWq = new Float64Array(N);
      for (let k = 0; k < K; k++)
        for (let j = 0; j < N; j++) {
          const w = q[k * N + j]! * s[j]!;
          absWq[j]! += Math.abs(w);
          sqWq[j]! += w * w;
        }
      let [ratio, z2, zMax] = [0, 0, 0];
      for (let r = 0; r < M; r++) {
        let [sumX, sqX] = [0, 0];
        for (let k = 0; k < K; k++) {
          sumX += Math.abs(x[r * K + k]!);
          sqX += x[r * K + k]! ** 2;
        }
        for (let j = 0; j < N; j++) {
          let ref = b ? b[b.length === N ? j : 0]! : 0;
          let mag = Math.abs(ref);
          for (let k = 0; k < K; k++) {
            const t = x[r * K + k]! * (l.transB ? W[j * K + k]! : W[k * N + j]!);
            ref += t;
            mag += Math.abs(t);
          }
          const e = Math.abs(y[r * N + j]! - ref);
          const fp = 1e-5 * mag + 1e-6;
          ratio = Math.max(ratio, e / (xs * absWq[j]! + (s[j]! / 2) * sumX + fp));
          const z = e / (Math.sqrt((s[j]! ** 2 * sqX + xs ** 2 * sqWq[j]!) / 12) + fp);
          z2 += z * z;
          zMax = Math.max(zMax, z);
        }
      }
      const rms = Math.sqrt(z2 / (M * N));
      if (!(ratio <= 1 && rms <= 1.4 && zMax <= 8))
        throw new Error(
          `int8 layer check (${backend}): layer '${l.node}' is not what int8 rounding of its float layer gives: ` +
            `${ratio.toFixed(2)} x the hard bound (must be <= 1), errors / their rounding sigma RMS ${rms.toFixed(2)} (<= 1.4), ` +
            `max ${zMax.toFixed(1)} (<= 8)`,
        );
      [worst, worstRms, worstZ] = [Math.max(worst, ratio), Math.max(worstRms, rms), Math.max(worstZ, zMax)];
    }
    results.push({ backend, worstRatio: worst, rmsZ: worstRms, maxZ: worstZ, layers: report.quantized.length });
  }
  return results;
}

export const checkFor = (scheme: Scheme): OutputCheck => (scheme === 'int8' ? INT8_CHECK : FP16_CHECK);

/**
 * What the training-form graph of an exported float file needs: agent, agent config and dims from its
 * metadata, parameters from its initializers (they carry the training parameters' names).
 */
export function trainingFormOf(bytes: Uint8Array, source: string): { spec: GraphSpec; params: Map<string, Float32Array> } {
  const m = decodeModel(bytes);
  const meta = Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value]));
  if (!meta['hiql.format_version']) throw new Error(`'${source}' is not a policy exported by 'hiql export' (no hiql.* metadata)`);
  if (meta['hiql.weights'] && meta['hiql.weights'] !== 'float32')
    throw new Error(`'${source}' already has ${meta['hiql.weights']} weights; quantize the float export`);
  const dims: Dims = { obsDim: Number(meta['hiql.obs_dim']), actionDim: Number(meta['hiql.action_dim']) };
  if (meta['hiql.obs_shape']) dims.obsShape = JSON.parse(meta['hiql.obs_shape']) as number[];
  const spec: GraphSpec = {
    config: { agent: meta['hiql.agent'] as GraphSpec['config']['agent'], agentConfig: JSON.parse(meta['hiql.config']!) as AgentConfig },
    dims,
  };
  const params = new Map<string, Float32Array>();
  for (const t of m.graph.initializer) if (t.dataType === FLOAT) params.set(t.name, constFromProto(t).data as Float32Array);
  return { spec, params };
}

// ---- a float file set -> a quantized file set --------------------------------------------------------

async function sha256(bytes: Uint8Array): Promise<string> {
  const { createHash } = await import('node:crypto');
  return createHash('sha256').update(bytes).digest('hex');
}

/** A policy file and its companions (per its hiql.companions), by role, read from beside it. */
export function readPolicyFileSet(path: string): { role: Role; path: string; bytes: Uint8Array }[] {
  const bytes = new Uint8Array(readFileSync(path));
  const meta = Object.fromEntries(decodeModel(bytes).metadataProps.map((p) => [p.key, p.value]));
  if (meta['hiql.role'] !== 'policy')
    throw new Error(
      `'${path}' is a ${meta['hiql.role'] ?? 'non-policy'} file; give the policy file (NAME.onnx), its companions come along`,
    );
  const set: { role: Role; path: string; bytes: Uint8Array }[] = [{ role: 'policy', path, bytes }];
  const companions = meta['hiql.companions'] ? (JSON.parse(meta['hiql.companions']) as Partial<Record<Role, string>>) : {};
  for (const role of ['low_policy', 'goal_rep'] as const) {
    const f = companions[role];
    if (!f) continue;
    const p = join(dirname(path), f);
    try {
      set.push({ role, path: p, bytes: new Uint8Array(readFileSync(p)) });
    } catch {
      throw new Error(`'${path}' lists its ${role} companion '${f}', which cannot be read beside it (${p})`);
    }
  }
  return set;
}

/**
 * Quantizes an exported float policy and its companions (`src`, e.g. models/NAME.onnx) into `out`
 * (e.g. models/NAME-int8.onnx, companions NAME-int8.low.onnx / .phi.onnx beside it). Each file is
 * validated against the training-form graph rebuilt from its metadata and initializers, in
 * onnxruntime-node and onnxruntime-web, with the scheme's tolerance; files are written only when all pass.
 */
export async function quantizePolicyFiles(
  src: string,
  out: string,
  scheme: Scheme = 'int8',
  o: QuantizeOptions & { validate?: boolean } = {},
): Promise<ExportResult & { quantization: NonNullable<ExportResult['quantization']>; source: ExportedFile[] }> {
  if (!out.endsWith('.onnx')) throw new RangeError(`quantize: the output must be a .onnx file name, got '${out}'`);
  const set = readPolicyFileSet(src);
  const stem = basename(out).replace(/\.onnx$/, '');
  const companions: Record<string, string> = {};
  for (const f of set) if (f.role !== 'policy') companions[f.role] = `${stem}${ROLE_SUFFIX[f.role]}`;
  const files: ExportedFile[] = [];
  const source: ExportedFile[] = [];
  const validation: ExportResult['validation'] = [];
  const reports: Partial<Record<Role, QuantizeReport>> = {};
  const layerChecks: LayerCheck[] = [];
  for (const f of set) {
    const srcSha = await sha256(f.bytes);
    source.push({ role: f.role, path: f.path, bytes: f.bytes, sha256: srcSha });
    const metadata: Record<string, string> = f.role === 'policy' && set.length > 1 ? { 'hiql.companions': JSON.stringify(companions) } : {};
    const q = quantizeModel(f.bytes, scheme, { ...o, metadata, sourceSha256: srcSha });
    if (o.validate !== false) {
      const { spec, params } = trainingFormOf(f.bytes, f.path);
      validation.push(...(await validateExport(spec, f.role, q.bytes, params, checkFor(scheme))));
      layerChecks.push(...(await checkQuantizedLayers(q.bytes, q.report, params)).map((c) => ({ role: f.role, ...c })));
    }
    const path = join(dirname(out), `${stem}${ROLE_SUFFIX[f.role]}`);
    files.push({ role: f.role, path, bytes: q.bytes, sha256: await sha256(q.bytes) });
    reports[f.role] = q.report;
  }
  mkdirSync(dirname(out) || '.', { recursive: true });
  // As a set (export/file-set.ts): a kill mid-way leaves the old set or the new one, never a mix.
  const policySrc = set.find((f) => f.role === 'policy')!;
  const policySha = source.find((f) => f.role === 'policy')!.sha256;
  const policyNaming = (names: Record<string, string>) =>
    quantizeModel(policySrc.bytes, scheme, { ...o, metadata: { 'hiql.companions': JSON.stringify(names) }, sourceSha256: policySha }).bytes;
  const ordered = [...files.filter((f) => f.role === 'policy'), ...files.filter((f) => f.role !== 'policy')];
  writeFileSet(ordered[0]!, ordered.slice(1), policyNaming);
  return { files, validation, quantization: { scheme, reports, layerChecks }, source };
}

export type LayerCheck = { role: Role; backend: string; worstRatio: number; rmsZ: number; maxZ: number; layers: number };

// ---- model card and command line ------------------------------------------------------------------------

/** The lines a card states about a quantization and its validation. */
export function describeQuantization(
  q: NonNullable<ExportResult['quantization']>,
  validation: ExportResult['validation'],
): {
  scheme: string[];
  validation: string[];
} {
  const all = Object.values(q.reports);
  const n = all.reduce((a, r) => a + r!.quantized.length, 0);
  const kept = all.flatMap((r) => r!.kept.map((k) => `${k.k}x${k.n}`));
  const gelus = all.reduce((a, r) => a + r!.gelus, 0);
  const scheme =
    q.scheme === 'int8'
      ? [
          `${n} weight matrices over the ${all.length} files (every one with both sides >= 16) stored as int8 in [-63, 63], ` +
            `symmetric, one scale per output channel (7 bits: x86 CPUs without VNNI would saturate 8-bit products); ` +
            `${kept.length} kept float32 (${[...new Set(kept)].join(', ')}: ` +
            'the first layer, which reads raw positions, and the output heads)',
          'activations quantized to uint8 per call over the input tensor (DynamicQuantizeLinear), multiplied by MatMulInteger ' +
            '(ONNX opset 10/11 ops; the files stay IR 8, opset 17); onnxruntime fuses each layer into one DynamicQuantizeMatMul kernel. ' +
            "At batch 1 the range is the row's own; in a batch the rows share it (the evaluation runs its 250 episodes as one batch)",
          `the ${gelus} GELUs written in the tanh form that onnxruntime fuses into one FastGelu kernel (equal to float32 rounding)`,
        ]
      : [`${n} weight matrices stored as float16 and Cast to float32 at load; ${kept.length} small ones kept float32`];
  const lines: string[] = [];
  for (const role of Object.keys(q.reports) as Role[]) {
    const v = validation.filter((x) => x.role === role);
    const l = q.layerChecks.filter((x) => x.role === role);
    if (v.length === 0) continue;
    const outs = v[0]!.outputs.map((o) => {
      const worst = (k: 'max' | 'mean') => Math.max(...v.map((x) => x.outputs.find((y) => y.output === o.output)![k]));
      const rel = (x: number) => (x / o.scale).toFixed(4);
      return `\`${o.output}\` mean ${rel(worst('mean'))}, max ${rel(worst('max'))} x scale${o.gated ? '' : ' (not held to the tolerance)'}`;
    });
    const worstOf = (k: 'worstRatio' | 'rmsZ' | 'maxZ') => Math.max(...l.map((x) => x[k])).toFixed(2);
    const layer = l.length
      ? `; int8 layers: ${worstOf('worstRatio')} x the hard rounding bound, errors / rounding sigma RMS ${worstOf('rmsZ')}, ` +
        `max ${worstOf('maxZ')}`
      : '';
    lines.push(`${role}: ${outs.join('; ')}${layer} (the worse of onnxruntime-node and -web)`);
  }
  lines.push(
    q.scheme === 'int8'
      ? `tolerance: ${INT8_CHECK.describe} on random inputs in [-10, 10], except the HIQL policy's composed action ` +
          '(its two halves are held to it: the subgoal output and the low_policy file); ' +
          'each int8 layer, on its own input, within the hard bound of int8 rounding and with errors / rounding sigma of ' +
          'RMS <= 1.4, max <= 8 (checkQuantizedLayers in export/quantize.ts)'
      : `tolerance: ${FP16_CHECK.describe}`,
  );
  return { scheme, validation: lines };
}

/**
 * Evaluates the quantized policy `out` and its float source `floatPath` through the runtime (same
 * protocol, one after the other in this process) and writes the quantized card beside `out`. `build`
 * makes the card's training part from the quantized evaluation (as cardData does).
 */
export async function writeQuantizedCard(p: {
  out: string;
  floatPath: string;
  floatFiles: ExportedFile[];
  result: ExportResult;
  env: string;
  episodes: number;
  seed: number;
  backend: Backend;
  build: (ev: EvalResult) => CardData;
}): Promise<{ files: string[]; quantized: EvalResult; float: EvalResult }> {
  const float = await evaluateExported(p.floatPath, p.env, p.episodes, p.seed, p.backend);
  const quantized = await evaluateExported(p.out, p.env, p.episodes, p.seed, p.backend);
  const d = p.build(quantized);
  const q = p.result.quantization!;
  const described = describeQuantization(q, p.result.validation);
  d.quantization = {
    weights: q.scheme,
    ...described,
    source: {
      name: basename(p.floatPath).replace(/\.onnx$/, ''),
      files: p.floatFiles.map((f) => ({ file: basename(f.path), role: f.role, bytes: f.bytes.length, sha256: f.sha256 })),
    },
    float: { success: float.success, tasks: float.tasks },
  };
  return { files: writeCard(d, p.out), quantized, float };
}
