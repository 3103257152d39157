// Loss formulas that HIQL, GCIVL and GCBC share, written as in docs/spec.md section 2 (and GCIQL's
// DDPG+BC, section 4), and the helper that runs one network once on several named batches.
//
// Seeds: with a leading seed axis (batches [N, B, ...], train/networks.ts) every mean below is
// taken per seed, so losses and figures are [N] vectors; without one they are scalars.
import { gaussianLogProb, type Graph, type Tensor } from '../../onnx/index.ts';

export interface LossOut {
  /** The loss: a scalar, or [N] with a seed axis. */
  loss: Tensor;
  /** Figures to log, each shaped like the loss. */
  metrics: Record<string, Tensor>;
}

/** The axes after the first `lead` ones (a seed axis, when lead is 1). */
const batchAxes = (x: Tensor, lead: number): number[] => [...x.shape.keys()].slice(lead);

/** Mean over everything but the `lead` leading (seed) axes: a scalar, or [N]. */
export const batchMean = (g: Graph, x: Tensor, lead: number): Tensor => g.reduceMean(x, batchAxes(x, lead), false);
const batchSum = (g: Graph, x: Tensor, lead: number): Tensor => g.reduceSum(x, batchAxes(x, lead), false);

/** The leading (seed) axes of a per-row quantity [B] or [N, B]: 0 or 1. */
const leadOf = (rows: Tensor): number => rows.shape.length - 1;

/** The flat baselines have no pixel encoder: a clear error for uint8 frame observations. */
export function statesOnly(obs: Tensor, agent: string): void {
  if (obs.dtype === 'uint8')
    throw new RangeError(
      `${agent} has no pixel encoder: it needs state observations, got uint8 frames [${obs.shape}] (train hiql on pixel datasets)`,
    );
}

/**
 * Runs `net` once on several equal-sized batches stacked along the batch axis, and returns its
 * outputs split back per name: `stacked(g, net, { next: [s1, goal], here: [s, goal] })` gives
 * `{ next: net(s1, goal), here: net(s, goal) }`. One call of a larger matrix product is cheaper
 * than several small ones. `net` returns a tensor, or a list of tensors (ensemble members). The
 * inputs are [B, d] rows ([N, B, d] with seeds: the batch axis is the one after the seed axis), or
 * uint8 frames [B, H, W, C].
 */
export function stacked<K extends string, Out extends Tensor | Tensor[]>(
  g: Graph,
  net: (...inputs: Tensor[]) => Out,
  calls: Readonly<Record<K, readonly Tensor[]>>,
): Record<K, Out> {
  const names = Object.keys(calls) as K[];
  const arity = calls[names[0]!].length;
  // Rows are [B, d] or [N, B, d] (states, latents); uint8 frames [B, H, W, C] have no seed axis.
  const first = calls[names[0]!][0]!;
  const axis = first.dtype === 'uint8' ? 0 : first.shape.length - 2;
  const inputs = Array.from({ length: arity }, (_, i) =>
    g.concat(
      names.map((n) => calls[n][i]!),
      axis,
    ),
  );
  const out = net(...inputs);
  const split = (x: Tensor) => rowsOf(g, x, names.length, axis);
  const parts: Tensor[][] = Array.isArray(out) ? out.map(split) : [split(out)];
  const result = {} as Record<K, Out>;
  names.forEach((n, j) => {
    const mine = parts.map((p) => p[j]!);
    result[n] = (Array.isArray(out) ? mine : mine[0]) as Out;
  });
  return result;
}

/** Splits the rows (along `axis`) of a tensor stacked from `n` equal static batches back into the n batches. */
function rowsOf(g: Graph, x: Tensor, n: number, axis: number): Tensor[] {
  if (n === 1) return [x];
  const rows = x.shape[axis];
  if (typeof rows !== 'number' || rows % n !== 0) throw new RangeError(`stacked: ${rows} rows do not split into ${n} equal static parts`);
  return g.split(x, Array<number>(n).fill(rows / n), axis);
}

/** The mean of two tensors: the value of a two-member ensemble. */
export const mean2 = (g: Graph, a: Tensor, b: Tensor): Tensor => g.div(g.add(a, b), 2);

/** A two-member value ensemble's outputs. */
export interface ValuePair {
  v1: Tensor;
  v2: Tensor;
}

/**
 * Action-free IQL value loss, double-value style (docs/spec.md section 2), from the target values
 * at s' (`targetNext`) and at s (`targetHere`) and the online values at s (`online`):
 * q = r + gamma m min(v1t', v2t'); adv = q - (v1t + v2t)/2; qi = r + gamma m vit';
 * L = sum_i mean(w (qi - vi)^2), w = expectile where adv >= 0, else 1 - expectile.
 */
export function expectileValueLoss(
  g: Graph,
  v: { targetNext: ValuePair; targetHere: ValuePair; online: ValuePair },
  rewards: Tensor,
  masks: Tensor,
  discount: number,
  expectile: number,
): LossOut {
  const { targetNext: next, targetHere: here, online } = v;
  const lead = leadOf(rewards);
  const mean = (x: Tensor) => batchMean(g, x, lead);
  const gm = g.mul(masks, discount);
  const q = g.add(rewards, g.mul(gm, g.min(next.v1, next.v2)));
  const adv = g.sub(q, mean2(g, here.v1, here.v2));
  const q1 = g.add(rewards, g.mul(gm, next.v1));
  const q2 = g.add(rewards, g.mul(gm, next.v2));
  const w = g.where(g.greaterOrEqual(adv, 0), expectile, 1 - expectile);
  const sq = (d: Tensor) => g.mul(d, d);
  const loss = g.add(mean(g.mul(w, sq(g.sub(q1, online.v1)))), mean(g.mul(w, sq(g.sub(q2, online.v2)))));
  const vm = mean2(g, online.v1, online.v2);
  const axes = batchAxes(vm, lead);
  return {
    loss,
    metrics: { value_loss: loss, v_mean: mean(vm), v_max: g.reduceMax(vm, axes, false), v_min: g.reduceMin(vm, axes, false) },
  };
}

/** A Gaussian actor's output on a batch, and the targets it is fitted to. */
export interface ActorFit {
  /** Mean of the action (or subgoal) distribution [B, d] ([N, B, d] with seeds). */
  mu: Tensor;
  /** Learned log-std [d] ([N, 1, d] with seeds), or null for std 1. */
  logStd: Tensor | null;
  /** What the actor should put probability on [B, d] ([N, B, d]). */
  target: Tensor;
  /** Action-free data: [B] ([N, B]), 1 where the row has an action (the mean runs over those rows only). */
  mask?: Tensor;
}

/** Advantage-weighted regression: L = -mean(min(exp(alpha adv), 100) log pi(target)). */
export function awrLoss(g: Graph, adv: Tensor, alpha: number, fit: ActorFit): LossOut {
  const logProb = gaussianLogProb(g, fit.target, fit.mu, fit.logStd);
  const weight = g.min(g.exp(g.mul(adv, alpha)), 100);
  return weightedLogLikelihood(g, weight, logProb, fit, { adv: batchMean(g, adv, leadOf(adv)) });
}

/** Behaviour cloning: L = -mean(log pi(target)). */
export function bcLoss(g: Graph, fit: ActorFit): LossOut {
  return weightedLogLikelihood(g, null, gaussianLogProb(g, fit.target, fit.mu, fit.logStd), fit, {});
}

function weightedLogLikelihood(g: Graph, weight: Tensor | null, logProb: Tensor, fit: ActorFit, extra: Record<string, Tensor>): LossOut {
  const { mu, logStd, target, mask } = fit;
  const lead = leadOf(logProb);
  const mean = (x: Tensor) => batchMean(g, x, lead);
  const sum = (x: Tensor) => batchSum(g, x, lead);
  const wl = weight ? g.mul(weight, logProb) : logProb;
  let loss: Tensor;
  let bc: Tensor;
  let mse: Tensor;
  const d = g.sub(mu, target);
  if (mask) {
    // Mean over labelled rows only; max(count, 1) keeps a batch with no labelled row finite (loss 0).
    const count = g.max(sum(mask), 1);
    loss = g.neg(g.div(sum(g.mul(wl, mask)), count));
    bc = g.div(sum(g.mul(logProb, mask)), count);
    const dm = g.mul(d, g.unsqueeze(mask, [-1]));
    mse = g.div(mean(g.mul(dm, dm)), g.div(count, mask.shape[mask.shape.length - 1] as number));
  } else {
    loss = g.neg(mean(wl));
    bc = mean(logProb);
    mse = mean(g.mul(d, d));
  }
  // The std figure has the loss's shape: a scalar, or one per seed.
  const one = g.constant(1, mu.dtype);
  const std = logStd ? batchMean(g, g.exp(logStd), lead) : lead === 0 ? one : g.expand(one, [mu.shape[0] as number]);
  return { loss, metrics: { actor_loss: loss, ...extra, bc_log_prob: bc, mse, std } };
}

/**
 * DDPG+BC (OGBench's ddpgbc actor loss, GCIQL): L = -mean(q) / sg(mean|q| + 1e-6) - alpha mean(log pi(a)),
 * where q = Q(s, clip(mu, -1, 1), g) from a critic read without gradient to its parameters, so the Q
 * term trains the actor only through the action. Dividing by the stop-gradient mean |q| makes the
 * term's scale independent of the value scale; alpha weighs the behaviour cloning.
 */
export function ddpgBcLoss(g: Graph, q: Tensor, alpha: number, fit: ActorFit): LossOut {
  const lead = leadOf(q);
  const mean = (x: Tensor) => batchMean(g, x, lead);
  const qAbsMean = mean(g.abs(q));
  const qMean = mean(q);
  const qLoss = g.neg(g.div(qMean, g.stopGradient(g.add(qAbsMean, 1e-6))));
  const bc = bcLoss(g, fit);
  const bcTerm = g.mul(bc.loss, alpha);
  const loss = g.add(qLoss, bcTerm);
  const { bc_log_prob, mse, std } = bc.metrics as Record<'bc_log_prob' | 'mse' | 'std', Tensor>;
  return {
    loss,
    metrics: { actor_loss: loss, q_loss: qLoss, bc_loss: bcTerm, q_mean: qMean, q_abs_mean: qAbsMean, bc_log_prob, mse, std },
  };
}
