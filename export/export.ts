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
import { mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Graph, createSession, ort } from '../onnx/index.ts';
import { AGENTS } from '../train/agents/index.ts';
import { isPixels } from '../train/dims.ts';
import { buildGoalRepGraph, buildLowPolicyGraph, buildPolicyGraph, type ParamValues } from '../train/graphs.ts';
import { VERSION, type RunInfo } from '../train/run-folder.ts';
import { writeFileSet } from './file-set.ts';

/** Bump when the file layout or metadata keys change in a way older runtimes cannot read. */
export const FORMAT_VERSION = 1;
export const PRODUCER_VERSION = VERSION;
export const OPSET = 17;
export const IR_VERSION = 8;

export type Role = 'policy' | 'low_policy' | 'goal_rep';

export interface ExportedFile {
  role: Role;
  path: string;
  bytes: Uint8Array;
  sha256: string;
}

export interface ExportResult {
  files: ExportedFile[];
  /** Largest |exported - training-graph| output difference per file and backend. */
  validation: { role: Role; backend: 'onnxruntime-node' | 'onnxruntime-web'; maxAbsDiff: number }[];
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
function graphFor(info: RunInfo, role: Role, params: ParamValues): Graph {
  const c = info.config.agentConfig;
  if (role === 'policy') return buildPolicyGraph(info.config.agent, c, info.dims, params);
  if (role === 'low_policy') return buildLowPolicyGraph(info.config.agent, c, info.dims, params);
  return buildGoalRepGraph(info.config.agent, c, info.dims, params);
}

type Feed = { data: Float32Array | Uint8Array; dims: number[] };

/** Random feeds for a graph's inputs at batch n: floats in [-10, 10], or any bytes for uint8 frames. */
function randomFeeds(
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

async function runWith(engine: 'node' | 'web', model: Uint8Array, feeds: Record<string, Feed>): Promise<Record<string, Float32Array>> {
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

/**
 * Checks an exported graph against the training-form graph (parameters fed as inputs, as during
 * training) on random inputs, in onnxruntime-node and onnxruntime-web. Throws if any output differs
 * by more than `tol` times max(1, its largest |entry|).
 */
export async function validateExport(
  info: RunInfo,
  role: Role,
  exported: Uint8Array,
  params: ReadonlyMap<string, Float32Array>,
  tol = 1e-4,
): Promise<ExportResult['validation']> {
  const { graph: eg } = Graph.fromBytes(exported);
  const feeds = randomFeeds(eg.inputs, 64, 12345);
  // Reference: the same builders with the parameters fed as inputs, as in the training graph.
  const ref = graphFor(info, role, null);
  const refFeeds = { ...feeds };
  for (const t of ref.inputs) if (!(t.name in refFeeds)) refFeeds[t.name] = { data: params.get(t.name)!, dims: t.shape as number[] };
  const refOut = await runWith('node', ref.toBytes(), refFeeds);
  const results: ExportResult['validation'] = [];
  for (const engine of ['node', 'web'] as const) {
    const out = await runWith(engine, exported, feeds);
    let worst = 0;
    for (const [k, v] of Object.entries(refOut)) {
      const o = out[k];
      if (!o || o.length !== v.length)
        throw new Error(`export validation (${role}, onnxruntime-${engine}): output '${k}' missing or of the wrong size`);
      // float32 rounding differs between engines (wasm and native kernels sum in different orders) in
      // proportion to the values: tol is relative to max(1, the output's largest |entry|). 1e-4 is
      // orders of magnitude below what a wrong graph gives; the giant policy at 270k steps differs by
      // 1.1e-5 on onnxruntime-web, the shipped medium/large ones by ~3e-6.
      let [scale, diff] = [1, 0];
      for (let i = 0; i < v.length; i++) {
        scale = Math.max(scale, Math.abs(v[i]!));
        diff = Math.max(diff, Math.abs(o[i]! - v[i]!));
      }
      if (!(diff <= tol * scale))
        throw new Error(
          `export validation (${role}, onnxruntime-${engine}): output '${k}' differs from the training graph ` +
            `by ${diff} > ${tol} x ${scale.toPrecision(4)} (its largest |entry|)`,
        );
      worst = Math.max(worst, diff);
    }
    results.push({ role, backend: engine === 'node' ? 'onnxruntime-node' : 'onnxruntime-web', maxAbsDiff: worst });
  }
  return results;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const { createHash } = await import('node:crypto');
  return createHash('sha256').update(bytes).digest('hex');
}

/** Exports a run's parameters to `out` (and companions beside it for HIQL), validated, written atomically as a set. */
export async function exportPolicy(
  info: RunInfo,
  params: ReadonlyMap<string, Float32Array>,
  step: number,
  out: string,
  o: { validate?: boolean } = {},
): Promise<ExportResult> {
  const stem = basename(out).replace(/\.onnx$/, '');
  const roles: Role[] = info.config.agent === 'hiql' ? ['policy', 'low_policy', 'goal_rep'] : ['policy'];
  const fileOf: Record<Role, string> = { policy: `${stem}.onnx`, low_policy: `${stem}.low.onnx`, goal_rep: `${stem}.phi.onnx` };
  const companions: Record<string, string> =
    info.config.agent === 'hiql' ? { low_policy: fileOf.low_policy, goal_rep: fileOf.goal_rep } : {};
  mkdirSync(dirname(out) || '.', { recursive: true });
  const files: ExportedFile[] = [];
  const validation: ExportResult['validation'] = [];
  let policyNaming: (names: Record<string, string>) => Uint8Array = () => new Uint8Array(0);
  for (const role of roles) {
    const g = graphFor(info, role, params);
    const bytesNaming = (names: Record<string, string>) =>
      g.toBytes({
        opset: OPSET,
        irVersion: IR_VERSION,
        producerVersion: PRODUCER_VERSION,
        metadata: metadataFor(info, role, step, names),
        docString: `HIQL-TS ${role} for ${info.config.env} (${info.config.agent})`,
      });
    const bytes = bytesNaming(companions);
    if (role === 'policy') policyNaming = bytesNaming;
    if (o.validate !== false) validation.push(...(await validateExport(info, role, bytes, params)));
    files.push({ role, path: join(dirname(out), fileOf[role]), bytes, sha256: await sha256(bytes) });
  }
  // Write only once every graph validated, as a set: a reader finds the old set or the new one,
  // never a mix, even if the process is killed mid-way (export/file-set.ts).
  writeFileSet(files[0]!, files.slice(1), policyNaming);
  return { files, validation };
}
