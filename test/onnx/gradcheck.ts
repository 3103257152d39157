// Finite-difference gradient checking through onnxruntime, shared by the gradient tests.
//
// A case declares its inputs (runtime shape, optionally a declared shape with symbolic dims) and a
// build function returning one or more outputs. The check builds
//   loss = sum_i sum(output_i * weight_i)      (weight_i fixed random inputs of output_i's shape)
// emits `gradients()` for every differentiable input, runs the graph once in onnxruntime, and
// compares each gradient element against a finite difference of the forward graph (loss only) run in
// onnxruntime at x + h e_j and x - h e_j (and +-2h for the 5-point stencil).
import assert from 'node:assert/strict';
import {
  Graph,
  createSession,
  gradients,
  isFloat,
  ort,
  toOrt,
  typedArrayFor,
  type DType,
  type Dim,
  type Tensor,
  type TypedArray,
} from '../../onnx/index.ts';
import { Rng } from '../../rng/rng.ts';

export interface InputSpec {
  name: string;
  /** Runtime shape (what is fed). */
  shape: number[];
  /** Declared shape (symbolic dims allowed); defaults to `shape`. */
  decl?: Dim[];
  dtype?: DType; // default: the case's dtype
  /** Explicit values; otherwise uniform in [lo, hi] with |x| >= minAbs. */
  data?: readonly number[];
  lo?: number;
  hi?: number;
  minAbs?: number;
  /** Do not differentiate with respect to this input. */
  noGrad?: boolean;
}

export interface GradCase {
  inputs: InputSpec[];
  build: (g: Graph, t: Record<string, Tensor>) => Tensor | Tensor[];
  /** Default dtype of inputs: float64. */
  dtype?: DType;
  /** Finite-difference step (default 1e-6). */
  h?: number;
  /** 2: central difference (default); 4: five-point stencil (for float32 cases). */
  stencil?: 2 | 4;
  rtol?: number;
  atol?: number;
  seed?: number;
  /** Build with GraphOptions.contribOps (composites may emit onnxruntime contrib ops). */
  contribOps?: boolean;
}

function makeData(spec: InputSpec, dtype: DType, rng: Rng): TypedArray {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const out = typedArrayFor(dtype, n);
  if (spec.data) {
    if (spec.data.length !== n) throw new RangeError(`input ${spec.name}: ${spec.data.length} values for shape [${spec.shape}]`);
    if (out instanceof BigInt64Array) spec.data.forEach((v, i) => (out[i] = BigInt(v)));
    else (out as Float64Array).set(spec.data);
    return out;
  }
  const lo = spec.lo ?? -1;
  const hi = spec.hi ?? 1;
  const minAbs = spec.minAbs ?? 0;
  for (let i = 0; i < n; i++) {
    let v: number;
    do v = lo + (hi - lo) * rng.uniform();
    while (Math.abs(v) < minAbs);
    if (out instanceof BigInt64Array) out[i] = BigInt(Math.round(v));
    else if (out instanceof Uint8Array) out[i] = v > 0 ? 1 : 0;
    else out[i] = v;
  }
  return out;
}

export interface GradCheckResult {
  /** The gradient graph, for tests that look at names. */
  graph: Graph;
  grads: Map<string, Float64Array>;
  numeric: Map<string, Float64Array>;
}

function asF64(data: unknown): Float64Array {
  return Float64Array.from(data as ArrayLike<number>);
}

/** Builds the case, checks every gradient against finite differences, and throws on a mismatch. */
export async function gradCheck(label: string, c: GradCase): Promise<GradCheckResult> {
  const dtype = c.dtype ?? 'float64';
  const rng = new Rng(c.seed ?? 1234);
  const feeds: Record<string, ort.Tensor> = {};
  const data = new Map<string, TypedArray>();
  for (const s of c.inputs) {
    const dt = s.dtype ?? dtype;
    const d = makeData(s, dt, rng);
    data.set(s.name, d);
    feeds[s.name] = toOrt(dt, d, s.shape);
  }
  const declare = (g: Graph) => {
    const t: Record<string, Tensor> = {};
    for (const s of c.inputs) t[s.name] = g.input(s.name, s.dtype ?? dtype, s.decl ?? s.shape);
    return t;
  };
  const outputsOf = (r: Tensor | Tensor[]) => (Array.isArray(r) ? r : [r]).filter((o) => isFloat(o.dtype));

  // Pass 1: the outputs' runtime shapes.
  const probe = new Graph(`${label}_probe`, { contribOps: c.contribOps });
  outputsOf(c.build(probe, declare(probe))).forEach((o, i) => probe.output(o, `out${i}`));
  const ps = await createSession(probe.toBytes(), { threads: 1 });
  const probed = await ps.run(feeds);
  await ps.release();

  // Pass 2: loss = sum_i sum(out_i * w_i), forward model and gradient model.
  const g = new Graph(label, { contribOps: c.contribOps });
  const t = declare(g);
  const outs = outputsOf(c.build(g, t));
  assert.ok(outs.length > 0, `${label}: no float output`);
  const lossType = outs[0]!.dtype;
  let loss: Tensor | null = null;
  outs.forEach((o, i) => {
    const dims = probed[`out${i}`]!.dims as number[];
    const wname = `loss_weight_${i}`;
    const w = g.input(wname, o.dtype, o.shape);
    const wd = typedArrayFor(
      o.dtype,
      dims.reduce((a, b) => a * b, 1),
    ) as Float64Array;
    for (let k = 0; k < wd.length; k++) wd[k] = 0.5 + rng.uniform(); // in [0.5, 1.5): no cancellation
    feeds[wname] = toOrt(o.dtype, wd, dims);
    let term = g.reduceSum(g.mul(o, w), undefined, false);
    if (term.dtype !== lossType) term = g.cast(term, lossType);
    loss = loss ? g.add(loss, term) : term;
  });
  g.output(loss!, 'loss');
  const forward = await createSession(g.toBytes(), { threads: 1 });
  const wrtSpecs = c.inputs.filter((s) => !s.noGrad && isFloat(s.dtype ?? dtype));
  const grads = gradients(
    g,
    loss!,
    wrtSpecs.map((s) => t[s.name]!),
  );
  grads.forEach((gr) => g.output(gr));
  const full = await createSession(g.toBytes(), { threads: 1 });
  const res = await full.run(feeds);
  const lossValue = Number(res['loss']!.data[0]);

  const f = async (name: string, x: TypedArray): Promise<number> => {
    const r = await forward.run({
      ...feeds,
      [name]: toOrt(data.get(name) instanceof Float32Array ? 'float32' : 'float64', x, feeds[name]!.dims as number[]),
    });
    return Number(r['loss']!.data[0]);
  };
  const h = c.h ?? 1e-6;
  const rtol = c.rtol ?? 1e-6;
  const atol = c.atol ?? 1e-8 * (1 + Math.abs(lossValue));
  const gradMap = new Map<string, Float64Array>();
  const numMap = new Map<string, Float64Array>();
  for (let i = 0; i < wrtSpecs.length; i++) {
    const s = wrtSpecs[i]!;
    const gr = grads[i]!;
    const analytic = asF64(res[gr.name]!.data);
    const x0 = data.get(s.name)!;
    assert.equal(analytic.length, x0.length, `${label}: gradient of ${s.name} has ${analytic.length} elements, the input ${x0.length}`);
    assert.deepEqual(
      res[gr.name]!.dims,
      feeds[s.name]!.dims,
      `${label}: gradient of ${s.name} has dims [${res[gr.name]!.dims}], the input [${feeds[s.name]!.dims}]`,
    );
    const numeric = new Float64Array(x0.length);
    for (let j = 0; j < x0.length; j++) {
      const at = async (k: number) => {
        const x = x0.slice() as Float64Array;
        x[j] = (x0[j] as number) + k * h;
        return f(s.name, x);
      };
      numeric[j] =
        c.stencil === 4
          ? (-(await at(2)) + 8 * (await at(1)) - 8 * (await at(-1)) + (await at(-2))) / (12 * h)
          : ((await at(1)) - (await at(-1))) / (2 * h);
    }
    for (let j = 0; j < x0.length; j++) {
      const a = analytic[j]!;
      const n = numeric[j]!;
      const err = Math.abs(a - n);
      if (!(err <= rtol * Math.max(Math.abs(a), Math.abs(n)) + atol)) {
        assert.fail(
          `${label}: d loss / d ${s.name}[${j}] = ${a} (rule) vs ${n} (finite difference), error ${err.toExponential(2)} ` +
            `> rtol ${rtol} / atol ${atol.toExponential(1)}\n` +
            ` rule:    ${Array.from(analytic, (v) => v.toPrecision(6)).join(' ')}\n` +
            ` numeric: ${Array.from(numeric, (v) => v.toPrecision(6)).join(' ')}`,
        );
      }
    }
    gradMap.set(s.name, analytic);
    numMap.set(s.name, numeric);
  }
  await forward.release();
  await full.release();
  return { graph: g, grads: gradMap, numeric: numMap };
}
