// Export: cut the inference part out of the same network definitions used in training and write it
// as small, self-describing ONNX files (IR 8, opset 17, ai.onnx ops only).
//
// Files. `NAME.onnx` is the policy: observation [batch, obsDim], goal [batch, goalDim] -> action
// [batch, actionDim] (deterministic, clipped to the action bounds) and, for HIQL, subgoal
// [batch, repDim] (the length-normalised latent). For HIQL two companion graphs sit beside it:
// `NAME.low.onnx` (observation, subgoal -> action: the low level on a held subgoal) and
// `NAME.phi.onnx` (observation, goal -> representation: phi([s; g]), to show subgoals as positions).
// Companions are separate graphs rather than extra outputs so that `act` computes nothing it does
// not return. Every file carries the same metadata (format version, role, agent, dims, bounds,
// config and its hash, producing version) in standard metadata_props.
//
// With `quantize: 'int8'` the same files are written with int8 weights (export/quantize.ts): same
// inputs, outputs and metadata, plus `hiql.weights` = 'int8' and `hiql.quantization`.
import { mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createSession, ort } from '../onnx/index.ts';
import { decodeModel } from '../onnx/proto.ts';
import { AGENTS, type AgentConfig, type AgentName } from '../train/agents/index.ts';
import { isPixels, type Dims } from '../train/dims.ts';
import { buildGoalRepGraph, buildLowPolicyGraph, buildPolicyGraph, type ParamValues } from '../train/graphs.ts';
import { VERSION, type RunInfo } from '../train/run-folder.ts';
import { ROLE_SUFFIX, writeFileSet } from './file-set.ts';
import { checkFor, checkQuantizedLayers, quantizeModel, type LayerCheck, type QuantizeReport, type Scheme } from './quantize.ts';

/** Bump when the file layout or metadata keys change in a way older runtimes cannot read. */
export const FORMAT_VERSION = 1;
export const PRODUCER_VERSION = VERSION;
export const OPSET = 17;
export const IR_VERSION = 8;

export type Role = keyof typeof ROLE_SUFFIX;

export interface ExportedFile {
  role: Role;
  path: string;
  bytes: Uint8Array;
  sha256: string;
}

export interface ExportResult {
  files: ExportedFile[];
  /**
   * Largest and mean |exported - training-graph| output difference per file and backend (the worst
   * output's), and per output (`gated` false: measured, not held to the tolerance).
   */
  validation: {
    role: Role;
    backend: 'onnxruntime-node' | 'onnxruntime-web';
    maxAbsDiff: number;
    meanAbsDiff: number;
    outputs: { output: string; max: number; mean: number; scale: number; gated: boolean }[];
  }[];
  /** With quantized weights: what each file's quantization did and its per-layer check. */
  quantization?: { scheme: Scheme; reports: Partial<Record<Role, QuantizeReport>>; layerChecks: LayerCheck[] };
}

/** The part of a run's info the exported graphs are built from (a RunInfo is one). */
export interface GraphSpec {
  config: { agent: AgentName; agentConfig: AgentConfig };
  dims: Dims;
}

/** How an exported output must agree with the training graph's (scale: max(1, its largest |entry|)). */
export interface OutputCheck {
  describe: string;
  /** `gated` false: the difference is measured and reported but not held to the tolerance. */
  check(
    ref: Float32Array,
    out: Float32Array,
    where: { role: Role; output: string; agent: AgentName },
  ): { ok: boolean; gated?: boolean; max: number; mean: number; scale: number };
}

/** max(1, largest |ref|), largest and mean |out - ref|. */
export function diffStats(ref: Float32Array, out: Float32Array): { max: number; mean: number; scale: number } {
  let [scale, max, sum] = [1, 0, 0];
  for (let i = 0; i < ref.length; i++) {
    scale = Math.max(scale, Math.abs(ref[i]!));
    const d = Math.abs(out[i]! - ref[i]!);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / ref.length, scale };
}

/**
 * The float check: max |diff| <= tol x scale. float32 rounding differs between engines (wasm and
 * native kernels sum in different orders) in proportion to the values; 1e-4 is orders of magnitude
 * below what a wrong graph gives; the giant policy at 270k steps differs by 1.1e-5 on
 * onnxruntime-web, the shipped medium/large ones by ~3e-6.
 */
export function floatCheck(tol = 1e-4): OutputCheck {
  return {
    describe: `max |diff| <= ${tol} x scale (scale = max(1, largest |entry|))`,
    check(ref, out) {
      const d = diffStats(ref, out);
      return { ok: d.max <= tol * d.scale, ...d };
    },
  };
}

export function metadataFor(info: RunInfo, role: Role, step: number, companions: Record<string, string>): Record<string, string> {
  const c = info.config;
  const m: Record<string, string> = {
    'hiql.format_version': String(FORMAT_VERSION),
    'hiql.role': role,
    'hiql.agent': c.agent,
    'hiql.env': c.env,
    'hiql.observation_type': isPixels(info.dims) ? 'pixels' : 'state',
    'hiql.obs_dim': String(info.dims.obsDim),
    'hiql.goal_dim': String(info.dims.obsDim),
    'hiql.action_dim': String(info.dims.actionDim),
    'hiql.action_low': '-1',
    'hiql.action_high': '1',
    'hiql.train_steps': String(step),
    'hiql.preset': c.preset,
    'hiql.config': JSON.stringify(c.agentConfig),
    'hiql.config_hash': info.configHash,
    'hiql.producer_version': PRODUCER_VERSION,
  };
  // Pixel policies take uint8 frames [batch, H, W, C] (scaled by 1/255 inside the graph).
  if (isPixels(info.dims)) {
    m['hiql.obs_shape'] = JSON.stringify(info.dims.obsShape);
    m['hiql.obs_dtype'] = 'uint8';
  }
  // Hierarchical agents: the subgoal latent's size, the subgoal step k, and the companion files.
  const agent = AGENTS[c.agent];
  const k = agent.sampling(c.agentConfig).highActor?.subgoalSteps;
  if (agent.subgoalDim && k !== undefined) {
    m['hiql.rep_dim'] = String(agent.subgoalDim(c.agentConfig));
    m['hiql.subgoal_steps'] = String(k);
    m['hiql.companions'] = JSON.stringify(companions);
  }
  return m;
}

/** The graph of `role`; with `params` null, parameters are graph inputs as in the training graph. */
function graphFor(info: GraphSpec, role: Role, params: ParamValues) {
  const c = info.config.agentConfig;
  if (role === 'policy') return buildPolicyGraph(info.config.agent, c, info.dims, params);
  if (role === 'low_policy') return buildLowPolicyGraph(info.config.agent, c, info.dims, params);
  return buildGoalRepGraph(info.config.agent, c, info.dims, params);
}

export type Feed = { data: Float32Array | Uint8Array; dims: number[] };

/** Random feeds for a graph's inputs at batch n: floats in [-10, 10], or any bytes for uint8 frames. */
export function randomFeeds(
  inputs: readonly { name: string; dtype: string; shape: readonly (number | string)[] }[],
  n: number,
  seed: number,
): Record<string, Feed> {
  let s = seed >>> 0;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const out: Record<string, Feed> = {};
  for (const t of inputs) {
    const dims = [n, ...(t.shape.slice(1) as number[])];
    const size = dims.reduce((a, b) => a * b, 1);
    out[t.name] = {
      data:
        t.dtype === 'uint8'
          ? Uint8Array.from({ length: size }, () => Math.floor(rnd() * 256))
          : Float32Array.from({ length: size }, () => (rnd() * 2 - 1) * 10),
      dims,
    };
  }
  return out;
}

const tensorOf = <T>(
  Tensor: {
    new (type: 'float32', data: Float32Array, dims: readonly number[]): T;
    new (type: 'uint8', data: Uint8Array, dims: readonly number[]): T;
  },
  v: Feed,
): T => (v.data instanceof Uint8Array ? new Tensor('uint8', v.data, v.dims) : new Tensor('float32', v.data, v.dims));

export async function runWith(
  engine: 'node' | 'web',
  model: Uint8Array,
  feeds: Record<string, Feed>,
): Promise<Record<string, Float32Array>> {
  if (engine === 'node') {
    const s = await createSession(model, { threads: 1 });
    const out = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, tensorOf(ort.Tensor, v)])));
    await s.release();
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  }
  const web = await import('onnxruntime-web');
  web.env.wasm.numThreads = 1;
  const s = await web.InferenceSession.create(model);
  const out = await s.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, tensorOf(web.Tensor, v)])));
  await s.release();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

/** A model's graph inputs (name, element type, shape) from its bytes (any element types inside). */
export function modelInputs(bytes: Uint8Array): { name: string; dtype: string; shape: (number | string)[] }[] {
  const g = decodeModel(bytes).graph;
  const inits = new Set(g.initializer.map((t) => t.name));
  return g.input
    .filter((vi) => !inits.has(vi.name))
    .map((vi) => ({
      name: vi.name,
      dtype: vi.type.tensorType.elemType === 2 ? 'uint8' : 'float32',
      shape: (vi.type.tensorType.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue ?? 0))),
    }));
}

/**
 * Checks an exported graph against the training-form graph (parameters fed as inputs, as during
 * training) on random inputs, in onnxruntime-node and onnxruntime-web. Throws if an output fails
 * `check` (a number is the float check's tolerance).
 */
export async function validateExport(
  info: GraphSpec,
  role: Role,
  exported: Uint8Array,
  params: ReadonlyMap<string, Float32Array>,
  check: OutputCheck | number = 1e-4,
): Promise<ExportResult['validation']> {
  const c = typeof check === 'number' ? floatCheck(check) : check;
  const feeds = randomFeeds(modelInputs(exported), 64, 12345);
  // Reference: the same builders with the parameters fed as inputs, as in the training graph.
  const ref = graphFor(info, role, null);
  const refFeeds = { ...feeds };
  for (const t of ref.inputs) {
    if (t.name in refFeeds) continue;
    const p = params.get(t.name);
    if (!p) throw new Error(`export validation (${role}): no value for the training graph's parameter '${t.name}'`);
    refFeeds[t.name] = { data: p, dims: t.shape as number[] };
  }
  const refOut = await runWith('node', ref.toBytes(), refFeeds);
  const results: ExportResult['validation'] = [];
  for (const engine of ['node', 'web'] as const) {
    const out = await runWith(engine, exported, feeds);
    let [worst, worstMean] = [0, 0];
    const outputs: ExportResult['validation'][number]['outputs'] = [];
    for (const [k, v] of Object.entries(refOut)) {
      const o = out[k];
      if (!o || o.length !== v.length)
        throw new Error(`export validation (${role}, onnxruntime-${engine}): output '${k}' missing or of the wrong size`);
      const r = c.check(v, o, { role, output: k, agent: info.config.agent });
      if (!r.ok)
        throw new Error(
          `export validation (${role}, onnxruntime-${engine}): output '${k}' differs from the training graph by ` +
            `max ${r.max.toExponential(3)}, mean ${r.mean.toExponential(3)} (scale ${r.scale.toPrecision(4)}); needed: ${c.describe}`,
        );
      worst = Math.max(worst, r.max);
      worstMean = Math.max(worstMean, r.mean);
      outputs.push({ output: k, max: r.max, mean: r.mean, scale: r.scale, gated: r.gated !== false });
    }
    const backend = engine === 'node' ? 'onnxruntime-node' : 'onnxruntime-web';
    results.push({ role, backend, maxAbsDiff: worst, meanAbsDiff: worstMean, outputs });
  }
  return results;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const { createHash } = await import('node:crypto');
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Exports a run's parameters to `out` (and companions beside it for HIQL), validated, written
 * atomically as a set. With `quantize`, the weights are stored in that scheme (export/quantize.ts)
 * and validated against the training graph with the scheme's tolerance.
 */
export async function exportPolicy(
  info: RunInfo,
  params: ReadonlyMap<string, Float32Array>,
  step: number,
  out: string,
  o: { validate?: boolean; quantize?: Scheme } = {},
): Promise<ExportResult> {
  const stem = basename(out).replace(/\.onnx$/, '');
  const roles: Role[] = info.config.agent === 'hiql' ? ['policy', 'low_policy', 'goal_rep'] : ['policy'];
  const fileOf = (role: Role) => `${stem}${ROLE_SUFFIX[role]}`;
  const companions: Record<string, string> =
    info.config.agent === 'hiql' ? { low_policy: fileOf('low_policy'), goal_rep: fileOf('goal_rep') } : {};
  mkdirSync(dirname(out) || '.', { recursive: true });
  const files: ExportedFile[] = [];
  const validation: ExportResult['validation'] = [];
  const quantization: ExportResult['quantization'] = o.quantize ? { scheme: o.quantize, reports: {}, layerChecks: [] } : undefined;
  let policyNaming: (names: Record<string, string>) => Uint8Array = () => new Uint8Array(0);
  for (const role of roles) {
    const g = graphFor(info, role, params);
    const floatNaming = (names: Record<string, string>) =>
      g.toBytes({
        opset: OPSET,
        irVersion: IR_VERSION,
        producerVersion: PRODUCER_VERSION,
        metadata: metadataFor(info, role, step, names),
        docString: `HIQL-TS ${role} for ${info.config.env} (${info.config.agent})`,
      });
    // Quantization is deterministic: the same bytes whatever the companions are named.
    const bytesNaming = (names: Record<string, string>) =>
      o.quantize ? quantizeModel(floatNaming(names), o.quantize).bytes : floatNaming(names);
    const q = o.quantize ? quantizeModel(floatNaming(companions), o.quantize) : null;
    const bytes = q ? q.bytes : floatNaming(companions);
    if (q) quantization!.reports[role] = q.report;
    if (role === 'policy') policyNaming = bytesNaming;
    if (o.validate !== false) {
      validation.push(...(await validateExport(info, role, bytes, params, o.quantize ? checkFor(o.quantize) : 1e-4)));
      if (q) quantization!.layerChecks.push(...(await checkQuantizedLayers(bytes, q.report, params)).map((c) => ({ role, ...c })));
    }
    files.push({ role, path: join(dirname(out), fileOf(role)), bytes, sha256: await sha256(bytes) });
  }
  // Write only once every graph validated, as a set: a reader finds the old set or the new one,
  // never a mix, even if the process is killed mid-way (export/file-set.ts).
  writeFileSet(files[0]!, files.slice(1), policyNaming);
  return { files, validation, quantization };
}
