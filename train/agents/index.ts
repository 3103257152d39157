// The three agents behind one table: what each needs in a batch, which target networks it keeps,
// its loss and its deterministic policy. Builds the training-step graph and inference graphs.
import { FlatLayout, Graph, buildTrainStep, ema, flatGradient, flatViews, ort, type StepGraphSpec, type Tensor } from '../../onnx/index.ts';
import { ConstParams, InputParams, initParams, type ParamSource, type ParamSpec } from '../networks.ts';
import type { LossOut } from './common.ts';
import { GCBC_BATCH_KEYS, GCBC_DEFAULTS, GCBC_TARGETS, gcbcLoss, gcbcPolicy, type GcbcBatch, type GcbcConfig } from './gcbc.ts';
import {
  GCIVL_BATCH_KEYS,
  GCIVL_DEFAULTS,
  GCIVL_TARGETS,
  gcivlLoss,
  gcivlPolicy,
  gcivlValue,
  type GcivlBatch,
  type GcivlConfig,
} from './gcivl.ts';
import {
  HIQL_BATCH_KEYS,
  HIQL_DEFAULTS,
  HIQL_TARGETS,
  hiqlGoalRep,
  hiqlLoss,
  hiqlLowPolicy,
  hiqlPolicy,
  hiqlValue,
  type HiqlBatch,
  type HiqlConfig,
} from './hiql.ts';

export type AgentName = 'hiql' | 'gcivl' | 'gcbc';
export const AGENT_NAMES: readonly AgentName[] = ['hiql', 'gcivl', 'gcbc'];

export type AgentConfig = HiqlConfig | GcivlConfig | GcbcConfig;

export interface Dims {
  /** Numbers per observation (for pixels: height * width * channels). */
  obsDim: number;
  actionDim: number;
  /** Pixel observations: [height, width, channels] uint8 frames (HWC). Absent for state vectors. */
  obsShape?: number[];
}

/** Whether observations (and goals) are uint8 frames rather than float32 state vectors. */
export const isPixels = (dims: Dims): boolean => dims.obsShape !== undefined && dims.obsShape.length === 3;

/** The graph dtype and per-row shape of observations and goals. */
export function obsInput(dims: Dims): { dtype: 'float32' | 'uint8'; shape: number[] } {
  return isPixels(dims) ? { dtype: 'uint8', shape: dims.obsShape! } : { dtype: 'float32', shape: [dims.obsDim] };
}

const NON_OBS_KEYS = new Set(['actions', 'rewards', 'masks', 'actionMask']);

export type BatchKey = (typeof HIQL_BATCH_KEYS)[number] | (typeof GCIVL_BATCH_KEYS)[number] | (typeof GCBC_BATCH_KEYS)[number];

interface AgentDef {
  defaults: AgentConfig;
  batchKeys: readonly BatchKey[];
  /** [target prefix, online prefix]: target copies updated by EMA from the online parameters. */
  targets: readonly [string, string][];
  loss(g: Graph, P: ParamSource, b: Record<string, Tensor>, c: AgentConfig): LossOut;
  policy(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: AgentConfig, actionDim: number): { action: Tensor; subgoal?: Tensor };
}

export const AGENTS: Record<AgentName, AgentDef> = {
  hiql: {
    defaults: HIQL_DEFAULTS,
    batchKeys: HIQL_BATCH_KEYS,
    targets: HIQL_TARGETS,
    loss: (g, P, b, c) => hiqlLoss(g, P, b as HiqlBatch, c as HiqlConfig),
    policy: (g, P, o, goal, c, a) => hiqlPolicy(g, P, o, goal, c as HiqlConfig, a),
  },
  gcivl: {
    defaults: GCIVL_DEFAULTS,
    batchKeys: GCIVL_BATCH_KEYS,
    targets: GCIVL_TARGETS,
    loss: (g, P, b, c) => gcivlLoss(g, P, b as GcivlBatch, c as GcivlConfig),
    policy: (g, P, o, goal, c, a) => gcivlPolicy(g, P, o, goal, c as GcivlConfig, a),
  },
  gcbc: {
    defaults: GCBC_DEFAULTS,
    batchKeys: GCBC_BATCH_KEYS,
    targets: GCBC_TARGETS,
    loss: (g, P, b, c) => gcbcLoss(g, P, b as GcbcBatch, c as GcbcConfig),
    policy: (g, P, o, goal, c, a) => gcbcPolicy(g, P, o, goal, c as GcbcConfig, a),
  },
};

/**
 * Shape of one batch entry: [B, dim] for states and actions ([B, H, W, C] for pixel observations),
 * [B] for rewards, masks and the action mask.
 */
export function batchShape(key: BatchKey | 'actionMask', dims: Dims, batchSize: number): number[] {
  if (key === 'rewards' || key === 'masks' || key === 'actionMask') return [batchSize];
  if (key === 'actions') return [batchSize, dims.actionDim];
  return [batchSize, ...obsInput(dims).shape];
}

/** Graph dtype of one batch entry: uint8 for pixel observations and goals, else float32. */
export function batchDtype(key: string, dims: Dims): 'float32' | 'uint8' {
  return NON_OBS_KEYS.has(key) ? 'float32' : obsInput(dims).dtype;
}

/** A ParamSource handing out prepared views (slices of flat vectors) by name. */
class ViewParams implements ParamSource {
  constructor(private readonly views: ReadonlyMap<string, Tensor>) {}
  get(name: string, shape: number[]): Tensor {
    const v = this.views.get(name);
    if (!v) throw new Error(`no parameter view '${name}'`);
    if (v.shape.join() !== shape.join()) throw new RangeError(`parameter '${name}' is [${v.shape}], asked for [${shape}]`);
    return v;
  }
}

export interface AgentStep {
  spec: StepGraphSpec;
  /** Every parameter (trainable and target), in creation order. */
  params: ParamSpec[];
  batchKeys: readonly (BatchKey | 'actionMask')[];
  /** Layouts of the flat state vectors: `params` (trainable) and `target_params`. */
  layouts: { params: FlatLayout; target_params: FlatLayout };
  /** Named parameters (online and target) -> the runner's state (flat vectors, zero Adam slots where missing). */
  toState(named: ReadonlyMap<string, Float32Array>, opt?: ReadonlyMap<string, Float32Array>): Map<string, Float32Array>;
  /** The runner's state -> named parameters (online and target); Adam slots stay flat under `opt/`. */
  fromState(state: ReadonlyMap<string, Float32Array>): Map<string, Float32Array>;
}

/**
 * The whole update of an agent as one graph: losses, gradients, Adam on every online parameter, and
 * the EMA of the target copies computed from the online parameters as they were before the step.
 * The batch size is static in the training graph. With `actionMask`, the actor losses use only the
 * rows whose mask is 1 (action-free data).
 *
 * Parameters live in two flat vectors, `params` (trained by Adam) and `target_params` (EMA), with
 * named views for the network code (see onnx/flat.ts for why).
 */
export function buildAgentStep(
  agent: AgentName,
  c: AgentConfig,
  dims: Dims,
  o: { actionMask?: boolean; outputGradients?: boolean } = {},
): AgentStep {
  const def = AGENTS[agent];
  const keys: (BatchKey | 'actionMask')[] = [...def.batchKeys, ...(o.actionMask ? (['actionMask'] as const) : [])];
  const build = (g: Graph, P: ParamSource) => {
    const batch: Record<string, Tensor> = {};
    for (const k of keys) batch[k] = g.input(k, batchDtype(k, dims), batchShape(k, dims, c.batchSize));
    const used = { ...batch };
    // Unlabelled rows may hold anything (zeros, NaN from a file): replace them before any arithmetic,
    // so that neither the loss nor its gradient can see them; the losses then weight rows by the mask.
    if (batch['actionMask'])
      used['actions'] = g.scope('action_mask', () => g.where(g.greater(g.unsqueeze(batch['actionMask']!, [1]), 0.5), batch['actions']!, 0));
    return { batch, ...def.loss(g, P, used, c) };
  };
  // Pass 1 finds the parameters (names, shapes, order) that the losses ask for.
  const probeGraph = new Graph('probe');
  const probe = new InputParams(probeGraph);
  build(probeGraph, probe);
  const specs = [...probe.specs.values()];
  const targetOf = (name: string) => def.targets.find(([t]) => name.startsWith(`${t}/`));
  const layouts = {
    params: new FlatLayout(specs.filter((s) => !targetOf(s.name))),
    target_params: new FlatLayout(specs.filter((s) => targetOf(s.name))),
  };

  // Pass 2 builds the step on flat vectors.
  const g = new Graph(`${agent}_train_step`);
  const flat = g.input('params', 'float32', [layouts.params.size]);
  const views = flatViews(g, flat, layouts.params);
  const tflat = layouts.target_params.size > 0 ? g.input('target_params', 'float32', [layouts.target_params.size]) : null;
  if (tflat) for (const [k, v] of flatViews(g, tflat, layouts.target_params)) views.set(k, v);
  const { batch, loss, metrics } = build(g, new ViewParams(views));
  const grad = flatGradient(g, loss, views, layouts.params);
  const extraState: { input: Tensor; next: Tensor }[] = [];
  if (tflat) {
    // The online counterparts of the targets, in target layout order, as read at the step's start.
    const online = g.scope('target_update', () =>
      g.concat(
        layouts.target_params.entries.map((e) => {
          const [tp, op] = targetOf(e.name)!;
          return g.reshape(views.get(op + e.name.slice(tp.length))!, [e.size]);
        }),
        0,
      ),
    );
    extraState.push({ input: tflat, next: ema(g, [tflat], [online], (c as { tau: number }).tau)[0]! });
  }
  const spec = buildTrainStep({
    g,
    trainable: [flat],
    grads: [grad],
    loss,
    metrics,
    extraState,
    batchInputs: keys.map((k) => batch[k]!),
    adam: { lr: c.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
    outputGradients: o.outputGradients,
  });
  return {
    spec,
    params: specs,
    batchKeys: keys,
    layouts,
    toState(named, opt) {
      const st = new Map<string, Float32Array>([['params', layouts.params.flatten(named)]]);
      if (tflat) st.set('target_params', layouts.target_params.flatten(named));
      for (const s of spec.state)
        if (!st.has(s.name)) st.set(s.name, opt?.get(s.name) ?? new Float32Array(s.dims.reduce((a, b) => a * b, 1)));
      return st;
    },
    fromState(state) {
      const named = layouts.params.unflatten(state.get('params')!);
      if (tflat) for (const [k, v] of layouts.target_params.unflatten(state.get('target_params')!)) named.set(k, v);
      return named;
    },
  };
}

/** Initial named parameters from a seed; targets are exact copies of their online networks. */
export function initAgentParams(agent: AgentName, step: AgentStep, seed: number): Map<string, Float32Array> {
  const def = AGENTS[agent];
  const values = initParams(step.params, seed);
  for (const [name, v] of values) {
    const t = def.targets.find(([tp]) => name.startsWith(`${tp}/`));
    if (t) v.set(values.get(t[1] + name.slice(t[0].length))!);
  }
  return values;
}

/**
 * Initial parameters and runner state together: the named parameters of initAgentParams (what
 * export reads) and the flat vectors with zero Adam slots (what StepRunner reads).
 */
export function initAgentState(agent: AgentName, step: AgentStep, seed: number): Map<string, Float32Array> {
  const named = initAgentParams(agent, step, seed);
  return new Map([...named, ...step.toState(named)]);
}

/** Converts a batch of typed arrays into ort tensors of the step's shapes. */
export function batchFeeds(
  keys: readonly string[],
  arrays: Record<string, Float32Array | Uint8Array>,
  dims: Dims,
  batchSize: number,
): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const k of keys) {
    const a = arrays[k];
    if (!a) throw new Error(`batch has no '${k}'`);
    const dtype = batchDtype(k, dims);
    if ((dtype === 'uint8') !== a instanceof Uint8Array) throw new TypeError(`batch '${k}' must be ${dtype}, got ${a.constructor.name}`);
    feeds[k] =
      dtype === 'uint8'
        ? new ort.Tensor('uint8', a as Uint8Array, batchShape(k as BatchKey, dims, batchSize))
        : new ort.Tensor('float32', a as Float32Array, batchShape(k as BatchKey, dims, batchSize));
  }
  return feeds;
}

export interface PolicyGraphOptions {
  /** Also output the subgoal latent (HIQL). */
  subgoal?: boolean;
}

/** Parameter values as initializers, or (null) as graph inputs, as in the training graph. */
export type ParamValues = ReadonlyMap<string, Float32Array> | null;
const sourceFor = (g: Graph, params: ParamValues): ParamSource => (params ? new ConstParams(g, params) : new InputParams(g));

/**
 * The deterministic policy as an inference graph: inputs `observation` [batch, obsDim] and `goal`
 * [batch, obsDim] (uint8 [batch, H, W, C] frames for pixel policies); outputs `action` (clipped to [-1, 1]) and, for HIQL, `subgoal` [batch, repDim].
 */
export function buildPolicyGraph(agent: AgentName, c: AgentConfig, dims: Dims, params: ParamValues): Graph {
  const g = new Graph(`${agent}_policy`);
  const obs = g.input('observation', obsInput(dims).dtype, ['batch', ...obsInput(dims).shape]);
  const goal = g.input('goal', obsInput(dims).dtype, ['batch', ...obsInput(dims).shape]);
  const P = sourceFor(g, params);
  const out = AGENTS[agent].policy(g, P, obs, goal, c, dims.actionDim);
  g.output(out.action, 'action');
  if (out.subgoal) g.output(out.subgoal, 'subgoal');
  return g;
}

/** HIQL's low level alone on a held subgoal: inputs `observation`, `subgoal`; output `action`. */
export function buildLowPolicyGraph(c: HiqlConfig, dims: Dims, params: ParamValues): Graph {
  const g = new Graph('hiql_low_policy');
  const obs = g.input('observation', obsInput(dims).dtype, ['batch', ...obsInput(dims).shape]);
  const z = g.input('subgoal', 'float32', ['batch', c.repDim]);
  g.output(hiqlLowPolicy(g, sourceFor(g, params), obs, z, c, dims.actionDim), 'action');
  return g;
}

/** HIQL's goal representation phi([s; g]): inputs `observation`, `goal`; output `representation`. */
export function buildGoalRepGraph(c: HiqlConfig, dims: Dims, params: ParamValues): Graph {
  const g = new Graph('hiql_goal_rep');
  const obs = g.input('observation', obsInput(dims).dtype, ['batch', ...obsInput(dims).shape]);
  const goal = g.input('goal', obsInput(dims).dtype, ['batch', ...obsInput(dims).shape]);
  g.output(hiqlGoalRep(g, sourceFor(g, params), obs, goal, c), 'representation');
  return g;
}

/** The online value V(s, g) (mean of the two heads) of HIQL or GCIVL: inputs `observation`, `goal`; output `value` [batch, 1]. */
export function buildValueGraph(agent: 'hiql' | 'gcivl', c: AgentConfig, dims: Dims, params: ParamValues): Graph {
  const g = new Graph(`${agent}_value`);
  const obs = g.input('observation', obsInput(dims).dtype, ['batch', ...obsInput(dims).shape]);
  const goal = g.input('goal', obsInput(dims).dtype, ['batch', ...obsInput(dims).shape]);
  const P = sourceFor(g, params);
  g.output(agent === 'hiql' ? hiqlValue(g, P, obs, goal, c as HiqlConfig) : gcivlValue(g, P, obs, goal, c as GcivlConfig), 'value');
  return g;
}
