// The three agents behind one table: what each needs in a batch, which target networks it keeps,
// its loss and its deterministic policy. Builds the training-step graph and inference graphs.
import { Graph, buildTrainStep, ema, ort, type StepGraphSpec, type Tensor } from '../../onnx/index.ts';
import { ConstParams, InputParams, initParams, type ParamSource, type ParamSpec } from '../networks.ts';
import type { LossOut } from './common.ts';
import { GCBC_BATCH_KEYS, GCBC_DEFAULTS, GCBC_TARGETS, gcbcLoss, gcbcPolicy, type GcbcBatch, type GcbcConfig } from './gcbc.ts';
import { GCIVL_BATCH_KEYS, GCIVL_DEFAULTS, GCIVL_TARGETS, gcivlLoss, gcivlPolicy, type GcivlBatch, type GcivlConfig } from './gcivl.ts';
import { HIQL_BATCH_KEYS, HIQL_DEFAULTS, HIQL_TARGETS, hiqlGoalRep, hiqlLoss, hiqlLowPolicy, hiqlPolicy, type HiqlBatch, type HiqlConfig } from './hiql.ts';

export type AgentName = 'hiql' | 'gcivl' | 'gcbc';
export const AGENT_NAMES: readonly AgentName[] = ['hiql', 'gcivl', 'gcbc'];

export type AgentConfig = HiqlConfig | GcivlConfig | GcbcConfig;

export interface Dims {
  obsDim: number;
  actionDim: number;
}

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

/** Shape of one batch entry: [B, dim] for states and actions, [B] for rewards, masks and the action mask. */
export function batchShape(key: BatchKey | 'actionMask', dims: Dims, batchSize: number): number[] {
  if (key === 'rewards' || key === 'masks' || key === 'actionMask') return [batchSize];
  if (key === 'actions') return [batchSize, dims.actionDim];
  return [batchSize, dims.obsDim];
}

export interface AgentStep {
  spec: StepGraphSpec;
  /** Every parameter (trainable and target), in creation order. */
  params: ParamSpec[];
  batchKeys: readonly (BatchKey | 'actionMask')[];
}

/**
 * The whole update of an agent as one graph: losses, gradients, Adam on every online parameter, and
 * the EMA of the target copies computed from the online parameters as they were before the step.
 * The batch size is static in the training graph. With `actionMask`, the actor losses use only the
 * rows whose mask is 1 (action-free data).
 */
export function buildAgentStep(agent: AgentName, c: AgentConfig, dims: Dims, o: { actionMask?: boolean; outputGradients?: boolean } = {}): AgentStep {
  const def = AGENTS[agent];
  const g = new Graph(`${agent}_train_step`);
  const keys: (BatchKey | 'actionMask')[] = [...def.batchKeys, ...(o.actionMask ? (['actionMask'] as const) : [])];
  const batch: Record<string, Tensor> = {};
  for (const k of keys) batch[k] = g.input(k, 'float32', batchShape(k, dims, c.batchSize));
  const P = new InputParams(g);
  const { loss, metrics } = def.loss(g, P, batch, c);
  const isTarget = (name: string) => def.targets.some(([t]) => name.startsWith(`${t}/`));
  const trainable = [...P.tensors.values()].filter((t) => !isTarget(t.name));
  const targets = [...P.tensors.values()].filter((t) => isTarget(t.name));
  const online = targets.map((t) => {
    const [tp, op] = def.targets.find(([tt]) => t.name.startsWith(`${tt}/`))!;
    const o = P.tensors.get(op + t.name.slice(tp.length));
    if (!o) throw new Error(`target '${t.name}' has no online parameter`);
    return o;
  });
  // The EMA reads the online parameters as graph inputs, i.e. their values before this step's update.
  const next = ema(g, targets, online, (c as { tau: number }).tau);
  const extraState = targets.map((t, i) => ({ input: t, next: next[i]! }));
  const spec = buildTrainStep({ g, trainable, loss, metrics, extraState, batchInputs: keys.map((k) => batch[k]!), adam: { lr: c.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 }, outputGradients: o.outputGradients });
  return { spec, params: [...P.specs.values()], batchKeys: keys };
}

/** Initial parameters from a seed: targets are exact copies of their online networks; Adam slots zero. */
export function initAgentState(agent: AgentName, step: AgentStep, seed: number): Map<string, Float32Array> {
  const def = AGENTS[agent];
  const values = initParams(step.params, seed);
  for (const [name, v] of values) {
    const t = def.targets.find(([tp]) => name.startsWith(`${tp}/`));
    if (t) v.set(values.get(t[1] + name.slice(t[0].length))!);
  }
  for (const s of step.spec.state) if (!values.has(s.name)) values.set(s.name, new Float32Array(s.dims.reduce((a, b) => a * b, 1)));
  return values;
}

/** Converts a batch of typed arrays into ort tensors of the step's shapes. */
export function batchFeeds(keys: readonly string[], arrays: Record<string, Float32Array>, dims: Dims, batchSize: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const k of keys) {
    const a = arrays[k];
    if (!a) throw new Error(`batch has no '${k}'`);
    feeds[k] = new ort.Tensor('float32', a, batchShape(k as BatchKey, dims, batchSize));
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
 * [batch, obsDim]; outputs `action` (clipped to [-1, 1]) and, for HIQL, `subgoal` [batch, repDim].
 */
export function buildPolicyGraph(agent: AgentName, c: AgentConfig, dims: Dims, params: ParamValues): Graph {
  const g = new Graph(`${agent}_policy`);
  const obs = g.input('observation', 'float32', ['batch', dims.obsDim]);
  const goal = g.input('goal', 'float32', ['batch', dims.obsDim]);
  const P = sourceFor(g, params);
  const out = AGENTS[agent].policy(g, P, obs, goal, c, dims.actionDim);
  g.output(out.action, 'action');
  if (out.subgoal) g.output(out.subgoal, 'subgoal');
  return g;
}

/** HIQL's low level alone on a held subgoal: inputs `observation`, `subgoal`; output `action`. */
export function buildLowPolicyGraph(c: HiqlConfig, dims: Dims, params: ParamValues): Graph {
  const g = new Graph('hiql_low_policy');
  const obs = g.input('observation', 'float32', ['batch', dims.obsDim]);
  const z = g.input('subgoal', 'float32', ['batch', c.repDim]);
  g.output(hiqlLowPolicy(g, sourceFor(g, params), obs, z, c, dims.actionDim), 'action');
  return g;
}

/** HIQL's goal representation phi([s; g]): inputs `observation`, `goal`; output `representation`. */
export function buildGoalRepGraph(c: HiqlConfig, dims: Dims, params: ParamValues): Graph {
  const g = new Graph('hiql_goal_rep');
  const obs = g.input('observation', 'float32', ['batch', dims.obsDim]);
  const goal = g.input('goal', 'float32', ['batch', dims.obsDim]);
  g.output(hiqlGoalRep(g, sourceFor(g, params), obs, goal, c), 'representation');
  return g;
}
