// The whole update of an agent as one graph: its losses, their gradients, Adam on every online
// parameter, and the target networks' update computed from the online parameters as they were
// before the step. Parameters live in two flat vectors, `params` (trained by Adam) and
// `target_params` (the targets), with named views for the network code (see onnx/flat.ts for why).
//
// Seeds: `seeds` N above 1 trains N independent agents in this one graph. The flat vectors are
// [N, size], batches [N, B, ...] (train/batch.ts), the networks batched over the seed axis
// (train/networks.ts), and the gradient is that of the sum of the seeds' losses, so each seed's
// parameters get exactly their own loss's gradient; Adam and the target update are elementwise.
// Named parameters of seed k are `seeds/k/<name>` (checkpoints hold them so).
import { FlatLayout, Graph, buildTrainStep, ema, flatGradient, flatViews, type StepGraphSpec, type Tensor } from '../onnx/index.ts';
import { AGENTS, type AgentConfig, type AgentName } from './agents/index.ts';
import { batchInputs, batchKeys, type Batch, type BatchKey, type BatchSpec } from './batch.ts';
import type { Dims } from './dims.ts';
import { InputParams, initParams, type ParamSource, type ParamSpec } from './networks.ts';

/** A ParamSource handing out prepared views (slices of flat vectors) by name. */
class ViewParams implements ParamSource {
  constructor(
    private readonly views: ReadonlyMap<string, Tensor>,
    private readonly seeds: number,
  ) {}
  get(name: string, shape: number[]): Tensor {
    const v = this.views.get(name);
    if (!v) throw new Error(`no parameter view '${name}'`);
    const want = this.seeds > 1 ? [this.seeds, ...shape] : shape;
    if (v.shape.join() !== want.join()) throw new RangeError(`parameter '${name}' is [${v.shape}], asked for [${want}]`);
    return v;
  }
}

/** The name of seed k's copy of a parameter in a seed-stacked run's named parameters. */
export const seedParamName = (seed: number, name: string): string => `seeds/${seed}/${name}`;

/** A parameter's name without its seed prefix (the name in one seed's step); plain names stay as they are. */
export const baseParamName = (name: string): string => name.replace(/^seeds\/\d+\//, '');

/** Seed k's named parameters out of a seed-stacked set (names without the `seeds/k/` prefix). */
export function paramsOfSeed(named: ReadonlyMap<string, Float32Array>, seed: number): Map<string, Float32Array> {
  const prefix = seedParamName(seed, '');
  const out = new Map<string, Float32Array>();
  for (const [k, v] of named) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

export interface AgentStep {
  spec: StepGraphSpec;
  /** Every parameter (trainable and target), in creation order (one seed's; shapes without the seed axis). */
  params: ParamSpec[];
  /** Independent seeds trained by the step (1: no seed axis). */
  seeds: number;
  /** The batch inputs, in order: the agent's batch spec, then `actionMask` for action-free data. */
  batchKeys: readonly (BatchKey | 'actionMask')[];
  /** [target prefix, online prefix] of the agent's target networks. */
  targets: readonly [string, string][];
  /** Layouts of the flat state vectors: `params` (trainable) and `target_params`. */
  layouts: { params: FlatLayout; target_params: FlatLayout };
  /** Named parameters (online and target; `seeds/k/...` with seeds) -> the runner's state (flat vectors, zero Adam slots where missing). */
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
 * losses use only the rows whose mask is 1 (action-free data). With `seeds` N above 1, N seeds in one
 * graph. contribOps (default true): see GraphOptions.
 */
export function buildAgentStep(
  agent: AgentName,
  c: AgentConfig,
  dims: Dims,
  o: { actionMask?: boolean; outputGradients?: boolean; seeds?: number; contribOps?: boolean } = {},
): AgentStep {
  const def = AGENTS[agent];
  const seeds = o.seeds ?? 1;
  if (!Number.isInteger(seeds) || seeds < 1) throw new RangeError(`seeds must be an integer >= 1, got ${seeds}`);
  if (seeds > 1 && dims.obsShape?.length === 3)
    throw new RangeError(`${seeds} seeds in one graph are for state observations; train pixel agents one seed at a time`);
  const keys = batchKeys(def.batch, o.actionMask ?? false);
  const targets = def.targetUpdate(c);
  const pairs = targets?.pairs ?? [];
  const build = (g: Graph, P: ParamSource, n: number) => {
    const batch = batchInputs(g, keys, dims, c.batchSize, n);
    const used = { ...batch };
    // Unlabelled rows may hold anything (zeros, NaN from a file): replace them before any arithmetic,
    // so that neither the loss nor its gradient can see them; the losses then weight rows by the mask.
    const mask = batch['actionMask'];
    const actions = batch['actions'];
    if (mask && actions) used['actions'] = g.scope('action_mask', () => g.where(g.greater(g.unsqueeze(mask, [-1]), 0.5), actions, 0));
    // The inputs are exactly the keys of the agent's own batch spec (batchKeys above).
    return { batch, ...def.loss(g, P, used as Batch<BatchSpec>, c) };
  };
  // Pass 1 finds the parameters (names, shapes, order) that the losses ask for.
  const probeGraph = new Graph('probe');
  const probe = new InputParams(probeGraph);
  build(probeGraph, probe, 1);
  const specs = [...probe.specs.values()];
  const layouts = {
    params: new FlatLayout(specs.filter((s) => !targetPairOf(pairs, s.name))),
    target_params: new FlatLayout(specs.filter((s) => targetPairOf(pairs, s.name))),
  };

  // Pass 2 builds the step on flat vectors.
  // The step runs only in onnxruntime, so it may use onnxruntime's contrib ops (GraphOptions) unless
  // contribOps is false; the exported networks are built on their own graphs, standard ai.onnx.
  const g = new Graph(`${agent}_train_step`, { contribOps: o.contribOps ?? true });
  const lead = seeds > 1 ? [seeds] : [];
  const flat = g.input('params', 'float32', [...lead, layouts.params.size]);
  const views = flatViews(g, flat, layouts.params, seeds);
  const tflat = layouts.target_params.size > 0 ? g.input('target_params', 'float32', [...lead, layouts.target_params.size]) : null;
  if (tflat) for (const [k, v] of flatViews(g, tflat, layouts.target_params, seeds)) views.set(k, v);
  const { batch, loss: seedLoss, metrics } = build(g, new ViewParams(views, seeds), seeds);
  // The seeds' losses [N] summed: the gradient of the sum is each seed's own gradient.
  const loss = seeds > 1 ? g.reduceSum(seedLoss, undefined, false) : seedLoss;
  const grad = flatGradient(g, loss, views, layouts.params, seeds);
  const extraState: { input: Tensor; next: Tensor }[] = [];
  if (tflat && targets) {
    // The online counterparts of the targets, in target layout order, as read at the step's start: one
    // Slice of `params` (of each seed's row). They lie there in that order because each target network
    // asks for its parameters in the same order as its online network, and nothing in between (every
    // agent here); the check keeps a new agent from getting a wrong update silently.
    const counterparts = layouts.target_params.entries.map((e) => {
      const [tp, op] = targetPairOf(pairs, e.name) ?? ['', ''];
      const name = op + e.name.slice(tp.length);
      if (!layouts.params.has(name)) throw new Error(`target '${e.name}' has no online parameter under '${op}/'`);
      return { target: e, online: layouts.params.entry(name) };
    });
    const start = counterparts[0]!.online.offset;
    const stray = counterparts.find((c) => c.online.offset !== start + c.target.offset || c.online.size !== c.target.size);
    if (stray) throw new Error(`target '${stray.target.name}': the online parameters are not laid out in the targets' order`);
    const online = g.scope('target_update', () => g.slice(flat, [start], [start + layouts.target_params.size], [lead.length]));
    const [next] = ema(g, [tflat], [online], targets.tau);
    if (next) extraState.push({ input: tflat, next });
  }
  const spec = buildTrainStep({
    g,
    trainable: [flat],
    grads: [grad],
    loss,
    reportedLoss: seedLoss,
    metrics,
    extraState,
    batchInputs: keys.map((k) => batch[k]!),
    adam: { lr: c.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
    outputGradients: o.outputGradients,
  });
  // Seed k's row of a flat vector is its flat vector; one seed has no seed names.
  const seedIds = [...Array(seeds).keys()];
  const flattenSeeds = (layout: FlatLayout, named: ReadonlyMap<string, Float32Array>) => {
    if (seeds === 1) return layout.flatten(named);
    const out = new Float32Array(seeds * layout.size);
    for (const k of seedIds) out.set(layout.flatten(paramsOfSeed(named, k)), k * layout.size);
    return out;
  };
  const unflattenSeeds = (layout: FlatLayout, flatValues: Float32Array, into: Map<string, Float32Array>) => {
    if (seeds === 1) {
      for (const [k, v] of layout.unflatten(flatValues)) into.set(k, v);
      return;
    }
    if (flatValues.length !== seeds * layout.size)
      throw new RangeError(`training state: ${flatValues.length} values, ${seeds} seeds x ${layout.size} expected`);
    for (const k of seedIds)
      for (const [name, v] of layout.unflatten(flatValues.subarray(k * layout.size, (k + 1) * layout.size)))
        into.set(seedParamName(k, name), v);
  };
  return {
    spec,
    params: specs,
    seeds,
    batchKeys: keys,
    targets: pairs,
    layouts,
    toState(named, opt) {
      const st = new Map<string, Float32Array>([['params', flattenSeeds(layouts.params, named)]]);
      if (tflat) st.set('target_params', flattenSeeds(layouts.target_params, named));
      for (const s of spec.state)
        if (!st.has(s.name)) st.set(s.name, opt?.get(s.name) ?? new Float32Array(s.dims.reduce((a, b) => a * b, 1)));
      return st;
    },
    fromState(state) {
      const p = state.get('params');
      if (!p) throw new Error("training state has no 'params'");
      const named = new Map<string, Float32Array>();
      unflattenSeeds(layouts.params, p, named);
      const t = state.get('target_params');
      if (tflat && t) unflattenSeeds(layouts.target_params, t, named);
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
 * export reads) and the flat vectors with zero Adam slots (what StepRunner reads). Seed k of a
 * seed-stacked step starts from seed `seed + k`: what a one-seed run with that seed starts from.
 */
export function initAgentState(step: AgentStep, seed: number): Map<string, Float32Array> {
  const named =
    step.seeds === 1
      ? initAgentParams(step, seed)
      : new Map(
          [...Array(step.seeds).keys()].flatMap((k) =>
            [...initAgentParams(step, seed + k)].map(([n, v]) => [seedParamName(k, n), v] as const),
          ),
        );
  return new Map([...named, ...step.toState(named)]);
}
