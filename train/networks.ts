// Network builders shared by training, evaluation and export (docs/spec.md section 1). A network is a
// function of a Graph and a ParamSource: in a training graph parameters are graph inputs (they are
// state carried between steps); in an exported graph they are initializers holding trained values.
// Parameter names are paths: `phi/mlp/0/kernel`, `value/1/mlp/3/bias`, `low_actor/mean/kernel`.
//
// Seeds. A training step of N independent seeds (`hiql train --seeds N`) stacks everything along a
// leading seed axis: parameters are [N, ...shape], batches [N, B, ...]. The same network code runs
// both: a layer reads the seed axis off its parameter (rank 3 kernel: batched MatMul; rank 2: Gemm),
// features are always the last axis and batch rows the one before it.
import { gelu, glorotUniform, lengthNormalize, paramRng, seedFor, type Graph, type Tensor } from '../onnx/index.ts';

export type ParamInit = { kind: 'glorot'; fanIn: number; fanOut: number; scale: number } | { kind: 'zeros' } | { kind: 'ones' };

export interface ParamSpec {
  name: string;
  shape: number[];
  init: ParamInit;
}

/** Where a network's parameters come from. */
export interface ParamSource {
  get(name: string, shape: number[], init: ParamInit): Tensor;
}

/** Parameters as float32 graph inputs; `specs` records every parameter asked for, in order. */
export class InputParams implements ParamSource {
  readonly specs = new Map<string, ParamSpec>();
  readonly tensors = new Map<string, Tensor>();
  constructor(private readonly g: Graph) {}
  get(name: string, shape: number[], init: ParamInit): Tensor {
    const hit = this.tensors.get(name);
    if (hit) {
      if (hit.shape.join() !== shape.join()) throw new RangeError(`parameter '${name}' asked for with shape [${shape}] and [${hit.shape}]`);
      return hit;
    }
    const t = this.g.input(name, 'float32', shape);
    this.tensors.set(name, t);
    this.specs.set(name, { name, shape, init });
    return t;
  }
}

/** Parameters as initializers with known values (export, evaluation graphs). */
export class ConstParams implements ParamSource {
  private readonly tensors = new Map<string, Tensor>();
  constructor(
    private readonly g: Graph,
    private readonly values: ReadonlyMap<string, Float32Array>,
  ) {}
  get(name: string, shape: number[]): Tensor {
    const hit = this.tensors.get(name);
    if (hit) return hit;
    const v = this.values.get(name);
    if (!v) throw new Error(`model parameters have no '${name}' (have ${[...this.values.keys()].slice(0, 8).join(', ')}, ...)`);
    const n = shape.reduce((a, b) => a * b, 1);
    if (v.length !== n) throw new RangeError(`parameter '${name}' has ${v.length} values, the network needs [${shape}] = ${n}`);
    const t = this.g.initializer(name, { dtype: 'float32', dims: shape, data: v });
    this.tensors.set(name, t);
    return t;
  }
}

/**
 * The same parameters with the gradient stopped (each read once): a loss that evaluates a network
 * at its current parameters without training it, as OGBench's agents do when they call a module
 * without `params=grad_params` (the DDPG+BC actors' critics, QRL's value and dynamics).
 */
export class FrozenParams implements ParamSource {
  private readonly cache = new Map<string, Tensor>();
  constructor(
    private readonly g: Graph,
    private readonly P: ParamSource,
  ) {}
  get(name: string, shape: number[], init: ParamInit): Tensor {
    let t = this.cache.get(name);
    if (!t) this.cache.set(name, (t = this.g.stopGradient(this.P.get(name, shape, init))));
    return t;
  }
}

export type Activation = 'gelu' | 'relu';

export interface MlpOptions {
  /** Hidden layer sizes; each hidden layer is Dense, activation, then LayerNorm if `layerNorm`. */
  hidden: readonly number[];
  /** Size of a final Dense layer with no activation (omit for none). */
  out?: number;
  layerNorm: boolean;
  activation?: Activation;
  /** Init scale of the final Dense layer (SPEC: 1e-2 for the actors' mean heads, else 1). */
  outScale?: number;
}

/**
 * A Dense layer: x W + b with W [in, out] Glorot-uniform (scaled) and b zeros. Seed-stacked
 * parameters (W [N, in, out], b [N, out]) take x [N, B, in]: one batched MatMul, then the bias.
 */
export function dense(g: Graph, P: ParamSource, name: string, x: Tensor, out: number, scale = 1): Tensor {
  const inDim = x.shape[x.shape.length - 1];
  if (typeof inDim !== 'number') throw new RangeError(`dense '${name}': input feature dimension must be static, got ${inDim}`);
  const w = P.get(`${name}/kernel`, [inDim, out], { kind: 'glorot', fanIn: inDim, fanOut: out, scale });
  const b = P.get(`${name}/bias`, [out], { kind: 'zeros' });
  if (w.shape.length === 2) return g.gemm(x, w, b);
  return g.add(g.matMul(x, w), seedRows(g, b));
}

/** Concatenation along the feature axis (the last): [B, d1] + [B, d2], or [N, B, d1] + [N, B, d2]. */
export const concatFeatures = (g: Graph, xs: readonly Tensor[]): Tensor => g.concat(xs, xs[0]!.shape.length - 1);

/** A seed-stacked per-feature parameter [N, d] as [N, 1, d], to broadcast over a batch [N, B, d]. */
export const seedRows = (g: Graph, p: Tensor): Tensor => g.unsqueeze(p, [1]);

/**
 * LayerNorm over the last axis with a learned scale and bias (epsilon 1e-6). ONNX's
 * LayerNormalization takes one scale for all rows, so seed-stacked scale and bias [N, d] are
 * applied after a unit-scale normalisation.
 */
function layerNorm(g: Graph, P: ParamSource, prefix: string, a: Tensor, size: number): Tensor {
  const scale = P.get(`${prefix}/ln/scale`, [size], { kind: 'ones' });
  const bias = P.get(`${prefix}/ln/bias`, [size], { kind: 'zeros' });
  if (scale.shape.length === 1) return g.layerNormalization(a, scale, bias, { epsilon: 1e-6 }).y;
  const unit = g.layerNormalization(a, g.constant(new Float32Array(size).fill(1), 'float32', [size]), null, { epsilon: 1e-6 }).y;
  return g.add(g.mul(unit, seedRows(g, scale)), seedRows(g, bias));
}

/** The OGBench MLP: hidden layers (Dense, activation, [LayerNorm eps 1e-6]), then an optional final Dense. */
export function mlp(g: Graph, P: ParamSource, prefix: string, x: Tensor, o: MlpOptions): Tensor {
  let h = x;
  o.hidden.forEach((size, i) => {
    h = g.scope(`${prefix}/${i}`, () => {
      const z = dense(g, P, `${prefix}/${i}`, h, size);
      const a = (o.activation ?? 'gelu') === 'gelu' ? gelu(g, z) : g.relu(z);
      return o.layerNorm ? layerNorm(g, P, `${prefix}/${i}`, a, size) : a;
    });
  });
  if (o.out !== undefined) {
    const i = o.hidden.length;
    h = g.scope(`${prefix}/${i}`, () => dense(g, P, `${prefix}/${i}`, h, o.out!, o.outScale ?? 1));
  }
  return h;
}

export interface EncoderOptions {
  /** Output channels of each stack (impala small: 16, 32, 32). */
  channels: readonly number[];
  /** Width of the final Dense + GELU (impala small: 512). */
  dense: number;
}

/**
 * A 3 x 3 convolution, stride 1, SAME padding; kernel [Cout, Cin, 3, 3] Glorot-uniform, bias zeros.
 *
 * Input channel counts above 3 that are not a multiple of 4 (the [s; g] stack has 6) are zero-padded
 * to the next multiple of 4, input and kernel alike, so the result is the same convolution: on an
 * H200, onnxruntime-node 1.30's WebGPU Conv with 6 input channels is wrong (max |diff| 2.1x the
 * output's largest entry), while 3, 4, 8 and 16 channels, and 6 zero-padded to 8, agree with the CPU
 * to 1e-6 (`npm run bench -- op-parity --device webgpu`). The parameter keeps its [Cout, Cin, 3, 3]
 * shape, so checkpoints and exported models made before the padding still load.
 */
export function conv3x3(g: Graph, P: ParamSource, name: string, x: Tensor, out: number): Tensor {
  const cin = x.shape[1] as number;
  const w = P.get(`${name}/kernel`, [out, cin, 3, 3], { kind: 'glorot', fanIn: 9 * cin, fanOut: 9 * out, scale: 1 });
  const b = P.get(`${name}/bias`, [out], { kind: 'zeros' });
  const extra = cin > 3 && cin % 4 !== 0 ? 4 - (cin % 4) : 0;
  if (extra === 0) return g.conv(x, w, b, { pads: [1, 1, 1, 1] });
  const padChannels = [0, 0, 0, 0, 0, extra, 0, 0];
  return g.conv(g.pad(x, padChannels), g.pad(w, padChannels), b, { pads: [1, 1, 1, 1] });
}

/** Max-pool 3 x 3, stride 2, SAME padding as TensorFlow: output ceil(n / 2), the odd pixel of padding at the end. */
function maxPoolSame(g: Graph, x: Tensor): Tensor {
  const pad = (n: number) => Math.max((Math.ceil(n / 2) - 1) * 2 + 3 - n, 0);
  const [ph, pw] = [pad(x.shape[2] as number), pad(x.shape[3] as number)];
  return g.maxPool(x, { kernelShape: [3, 3], strides: [2, 2], pads: [ph >> 1, pw >> 1, ph - (ph >> 1), pw - (pw >> 1)] }).y;
}

/**
 * The "impala small" encoder of docs/spec.md section 8 (OGBench ImpalaEncoder, one residual block per
 * stack) on uint8 frames [B, H, W, C]: pixels / 255; per stack conv 3x3, max-pool 3x3 stride 2 SAME,
 * then x + conv(relu(conv(relu(x)))); a final ReLU; flatten; Dense + GELU. Runs in NCHW (ONNX's
 * layout), so the flattened features are in C, H, W order (OGBench flattens H, W, C).
 */
export function impalaEncoder(g: Graph, P: ParamSource, prefix: string, x: Tensor, o: EncoderOptions): Tensor {
  if (x.dtype !== 'uint8' || x.shape.length !== 4)
    throw new RangeError(`impalaEncoder '${prefix}': expected uint8 frames [B, H, W, C], got ${x.dtype} [${x.shape}]`);
  return g.scope(prefix, () => {
    let h = g.transpose(g.mul(g.cast(x, 'float32'), 1 / 255), [0, 3, 1, 2]);
    o.channels.forEach((ch, i) => {
      h = g.scope(`${prefix}/stack${i}`, () => {
        const p = `${prefix}/stack${i}`;
        const pooled = maxPoolSame(g, conv3x3(g, P, `${p}/conv`, h, ch));
        const r = conv3x3(g, P, `${p}/res1`, g.relu(conv3x3(g, P, `${p}/res0`, g.relu(pooled), ch)), ch);
        return g.add(pooled, r);
      });
    });
    h = g.relu(h);
    const flat = (h.shape.slice(1) as number[]).reduce((a, b) => a * b, 1);
    return gelu(g, dense(g, P, `${prefix}/dense`, g.reshape(h, [-1, flat]), o.dense));
  });
}

/** Goal representation phi([s; g]): MLP to repDim, then rescaled to length sqrt(repDim). */
export function goalRep(
  g: Graph,
  P: ParamSource,
  s: Tensor,
  goal: Tensor,
  o: { hidden: readonly number[]; repDim: number; layerNorm: boolean; encoder?: EncoderOptions | null },
): Tensor {
  return g.scope('phi', () => {
    // Pixels: one encoder over the channel stack [s; g] (6 channels), as OGBench's goal_rep.
    const input = o.encoder ? impalaEncoder(g, P, 'phi/encoder', g.concat([s, goal], 3), o.encoder) : concatFeatures(g, [s, goal]);
    return lengthNormalize(g, mlp(g, P, 'phi/mlp', input, { hidden: o.hidden, out: o.repDim, layerNorm: o.layerNorm }));
  });
}

/** The value ensemble on a prepared input; returns one [B] tensor ([N, B] with seeds) per member. */
export function valueHeads(
  g: Graph,
  P: ParamSource,
  prefix: string,
  input: Tensor,
  o: { hidden: readonly number[]; layerNorm: boolean; ensemble?: number },
): Tensor[] {
  return Array.from({ length: o.ensemble ?? 2 }, (_, m) =>
    g.scope(`${prefix}/${m}`, () =>
      g.squeeze(mlp(g, P, `${prefix}/${m}/mlp`, input, { hidden: o.hidden, out: 1, layerNorm: o.layerNorm }), [-1]),
    ),
  );
}

export interface ActorOptions {
  hidden: readonly number[];
  outDim: number;
  activation?: Activation;
  /** Learn a state-independent log-std (the paper preset); else std is the constant 1. */
  learnStd?: boolean;
}

/** Gaussian actor: mean = Dense(outDim, init scale 1e-2) over an MLP with activate_final and no LayerNorm. */
export function actorMean(g: Graph, P: ParamSource, prefix: string, input: Tensor, o: ActorOptions): Tensor {
  return g.scope(prefix, () => {
    const h = mlp(g, P, `${prefix}/mlp`, input, { hidden: o.hidden, layerNorm: false, activation: o.activation });
    return dense(g, P, `${prefix}/mean`, h, o.outDim, 1e-2);
  });
}

/** The actor's log-std vector (clipped to [-5, 2]; [N, 1, d] with seeds) when it is learned, else null (std = 1). */
export function actorLogStd(g: Graph, P: ParamSource, prefix: string, o: ActorOptions): Tensor | null {
  if (!o.learnStd) return null;
  const p = P.get(`${prefix}/log_std`, [o.outDim], { kind: 'zeros' });
  return g.clip(p.shape.length === 1 ? p : seedRows(g, p), -5, 2);
}

/** Initial values for parameter specs, deterministic per (seed, parameter name). */
export function initParams(specs: Iterable<ParamSpec>, seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    let v: Float32Array;
    // Conv kernels have fan-in k*k*Cin and fan-out k*k*Cout but k*k*Cin*Cout values.
    if (s.init.kind === 'glorot') v = glorotUniform(paramRng(seedFor(seed, s.name)), s.init.fanIn, s.init.fanOut, s.init.scale, n);
    else v = new Float32Array(n).fill(s.init.kind === 'ones' ? 1 : 0);
    out.set(s.name, v);
  }
  return out;
}
