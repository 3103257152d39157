// The whole update of an agent as one graph: its losses, their gradients, Adam on every online
// parameter, and the target networks' update computed from the online parameters as they were
// before the step. Parameters live in two flat vectors, `params` (trained by Adam) and
// `target_params` (the targets), with named views for the network code (see onnx/flat.ts for why).
import { FlatLayout, Graph, buildTrainStep, ema, flatGradient, flatViews, type StepGraphSpec, type Tensor } from '../onnx/index.ts';
import { AGENTS, type AgentConfig, type AgentName } from './agents/index.ts';
import { batchInputs, batchKeys, type Batch, type BatchKey, type BatchSpec } from './batch.ts';
import type { Dims } from './dims.ts';
import { InputParams, initParams, type ParamSource, type ParamSpec } from './networks.ts';

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
  /** The batch inputs, in order: the agent's batch spec, then `actionMask` for action-free data. */
  batchKeys: readonly (BatchKey | 'actionMask')[];
  /** [target prefix, online prefix] of the agent's target networks. */
  targets: readonly [string, string][];
  /** Layouts of the flat state vectors: `params` (trainable) and `target_params`. */
  layouts: { params: FlatLayout; target_params: FlatLayout };
  /** Named parameters (online and target) -> the runner's state (flat vectors, zero Adam slots where missing). */
  toState(named: ReadonlyMap<string, Float32Array>, opt?: ReadonlyMap<string, Float32Array>): Map<string, Float32Array>;
  /** The runner's state -> named parameters (online and target); Adam slots stay flat under `opt/`. */
  fromState(state: ReadonlyMap<string, Float32Array>): Map<string, Float32Array>;
}

/** The [target prefix, online prefix] pair a parameter belongs to as a target, if any. */
function targetPairOf(pairs: readonly [string, string][], name: string): [string, string] | undefined {
  return pairs.find(([t]) => name.startsWith(`${t}/`));
}

/**
 * Builds the training step of `agent`. The batch size is static. With `actionMask`, the actor
 * losses use only the rows whose mask is 1 (action-free data). contribOps (default true): see GraphOptions.
 */
export function buildAgentStep(
  agent: AgentName,
  c: AgentConfig,
  dims: Dims,
  o: { actionMask?: boolean; outputGradients?: boolean; contribOps?: boolean } = {},
): AgentStep {
  const def = AGENTS[agent];
  const keys = batchKeys(def.batch, o.actionMask ?? false);
  const targets = def.targetUpdate(c);
  const pairs = targets?.pairs ?? [];
  const build = (g: Graph, P: ParamSource) => {
    const batch = batchInputs(g, keys, dims, c.batchSize);
    const used = { ...batch };
    // Unlabelled rows may hold anything (zeros, NaN from a file): replace them before any arithmetic,
    // so that neither the loss nor its gradient can see them; the losses then weight rows by the mask.
    const mask = batch['actionMask'];
    const actions = batch['actions'];
    if (mask && actions) used['actions'] = g.scope('action_mask', () => g.where(g.greater(g.unsqueeze(mask, [1]), 0.5), actions, 0));
    // The inputs are exactly the keys of the agent's own batch spec (batchKeys above).
    return { batch, ...def.loss(g, P, used as Batch<BatchSpec>, c) };
  };
  // Pass 1 finds the parameters (names, shapes, order) that the losses ask for.
  const probeGraph = new Graph('probe');
  const probe = new InputParams(probeGraph);
  build(probeGraph, probe);
  const specs = [...probe.specs.values()];
  const layouts = {
    params: new FlatLayout(specs.filter((s) => !targetPairOf(pairs, s.name))),
    target_params: new FlatLayout(specs.filter((s) => targetPairOf(pairs, s.name))),
  };

  // Pass 2 builds the step on flat vectors.
  // The step runs only in onnxruntime, so it may use onnxruntime's contrib ops (GraphOptions) unless
  // contribOps is false; the exported networks are built on their own graphs, standard ai.onnx.
  const g = new Graph(`${agent}_train_step`, { contribOps: o.contribOps ?? true });
  const flat = g.input('params', 'float32', [layouts.params.size]);
  const views = flatViews(g, flat, layouts.params);
  const tflat = layouts.target_params.size > 0 ? g.input('target_params', 'float32', [layouts.target_params.size]) : null;
  if (tflat) for (const [k, v] of flatViews(g, tflat, layouts.target_params)) views.set(k, v);
  const { batch, loss, metrics } = build(g, new ViewParams(views));
  const grad = flatGradient(g, loss, views, layouts.params);
  const extraState: { input: Tensor; next: Tensor }[] = [];
  if (tflat && targets) {
    // The online counterparts of the targets, in target layout order, as read at the step's start: one
    // Slice of `params`. They lie there in that order because each target network asks for its
    // parameters in the same order as its online network, and nothing in between (every agent here);
    // the check keeps a new agent from getting a wrong update silently.
    const counterparts = layouts.target_params.entries.map((e) => {
      const [tp, op] = targetPairOf(pairs, e.name) ?? ['', ''];
      const name = op + e.name.slice(tp.length);
      if (!layouts.params.has(name)) throw new Error(`target '${e.name}' has no online parameter under '${op}/'`);
      return { target: e, online: layouts.params.entry(name) };
    });
    const start = counterparts[0]!.online.offset;
    const stray = counterparts.find((c) => c.online.offset !== start + c.target.offset || c.online.size !== c.target.size);
    if (stray) throw new Error(`target '${stray.target.name}': the online parameters are not laid out in the targets' order`);
    const online = g.scope('target_update', () => g.slice(flat, [start], [start + layouts.target_params.size], [0]));
    const [next] = ema(g, [tflat], [online], targets.tau);
    if (next) extraState.push({ input: tflat, next });
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
    targets: pairs,
    layouts,
    toState(named, opt) {
      const st = new Map<string, Float32Array>([['params', layouts.params.flatten(named)]]);
      if (tflat) st.set('target_params', layouts.target_params.flatten(named));
      for (const s of spec.state)
        if (!st.has(s.name)) st.set(s.name, opt?.get(s.name) ?? new Float32Array(s.dims.reduce((a, b) => a * b, 1)));
      return st;
    },
    fromState(state) {
      const p = state.get('params');
      if (!p) throw new Error("training state has no 'params'");
      const named = layouts.params.unflatten(p);
      const t = state.get('target_params');
      if (tflat && t) for (const [k, v] of layouts.target_params.unflatten(t)) named.set(k, v);
      return named;
    },
  };
}

/** Initial named parameters from a seed; targets are exact copies of their online networks. */
export function initAgentParams(step: AgentStep, seed: number): Map<string, Float32Array> {
  const values = initParams(step.params, seed);
  for (const [name, v] of values) {
    const t = targetPairOf(step.targets, name);
    const online = t && values.get(t[1] + name.slice(t[0].length));
    if (online) v.set(online);
  }
  return values;
}

/**
 * Initial parameters and runner state together: the named parameters of initAgentParams (what
 * export reads) and the flat vectors with zero Adam slots (what StepRunner reads).
 */
export function initAgentState(step: AgentStep, seed: number): Map<string, Float32Array> {
  const named = initAgentParams(step, seed);
  return new Map([...named, ...step.toState(named)]);
}
