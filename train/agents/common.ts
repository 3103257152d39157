// Loss pieces that HIQL, GCIVL and GCBC share, written as the formulas of SPEC.md section 2.
import type { Graph, Tensor } from '../../onnx/index.ts';

/** The flat baselines have no pixel encoder: a clear error for uint8 frame observations. */
export function statesOnly(obs: Tensor, agent: string): void {
  if (obs.dtype === 'uint8')
    throw new RangeError(
      `${agent} has no pixel encoder: it needs state observations, got uint8 frames [${obs.shape}] (train hiql on pixel datasets)`,
    );
}

export interface LossOut {
  loss: Tensor;
  metrics: Record<string, Tensor>;
}

/** Splits the rows of a tensor stacked from `n` equal static batches back into the n batches. */
export function rowsOf(g: Graph, x: Tensor, n: number): Tensor[] {
  if (n === 1) return [x];
  const rows = x.shape[0];
  if (typeof rows !== 'number' || rows % n !== 0) throw new RangeError(`rowsOf: ${rows} rows do not split into ${n} equal static parts`);
  return g.split(x, Array<number>(n).fill(rows / n), 0);
}

export const mean2 = (g: Graph, a: Tensor, b: Tensor): Tensor => g.div(g.add(a, b), 2);
const meanAll = (g: Graph, x: Tensor): Tensor => g.reduceMean(x, undefined, false);

/**
 * Action-free IQL value loss, double-value style (SPEC.md section 2):
 * q = r + gamma m min(v1t', v2t'); adv = q - (v1t + v2t)/2; qi = r + gamma m vit';
 * L = sum_i mean(w (qi - vi)^2), w = expectile where adv >= 0, else 1 - expectile.
 */
export function expectileValueLoss(
  g: Graph,
  v: { nv1t: Tensor; nv2t: Tensor; v1t: Tensor; v2t: Tensor; v1: Tensor; v2: Tensor },
  rewards: Tensor,
  masks: Tensor,
  discount: number,
  expectile: number,
): LossOut {
  const gm = g.mul(masks, discount);
  const q = g.add(rewards, g.mul(gm, g.min(v.nv1t, v.nv2t)));
  const adv = g.sub(q, mean2(g, v.v1t, v.v2t));
  const q1 = g.add(rewards, g.mul(gm, v.nv1t));
  const q2 = g.add(rewards, g.mul(gm, v.nv2t));
  const w = g.where(g.greaterOrEqual(adv, 0), expectile, 1 - expectile);
  const sq = (d: Tensor) => g.mul(d, d);
  const loss = g.add(meanAll(g, g.mul(w, sq(g.sub(q1, v.v1)))), meanAll(g, g.mul(w, sq(g.sub(q2, v.v2)))));
  const vm = mean2(g, v.v1, v.v2);
  return {
    loss,
    metrics: {
      value_loss: loss,
      v_mean: meanAll(g, vm),
      v_max: g.reduceMax(vm, undefined, false),
      v_min: g.reduceMin(vm, undefined, false),
    },
  };
}

/**
 * Advantage-weighted regression: L = -mean(min(exp(alpha adv), 100) log pi(target)).
 * With `mask` (action-free data) the mean runs over the rows whose mask is 1 only.
 */
export function awrLoss(
  g: Graph,
  adv: Tensor,
  alpha: number,
  logProb: Tensor,
  mu: Tensor,
  target: Tensor,
  logStd: Tensor | null,
  mask?: Tensor,
): LossOut {
  const weight = g.min(g.exp(g.mul(adv, alpha)), 100);
  return weightedLogLikelihood(g, weight, logProb, mu, target, logStd, mask, { adv: meanAll(g, adv) });
}

/** Behaviour cloning: L = -mean(log pi(target)). */
export function bcLoss(g: Graph, logProb: Tensor, mu: Tensor, target: Tensor, logStd: Tensor | null, mask?: Tensor): LossOut {
  return weightedLogLikelihood(g, null, logProb, mu, target, logStd, mask, {});
}

function weightedLogLikelihood(
  g: Graph,
  weight: Tensor | null,
  logProb: Tensor,
  mu: Tensor,
  target: Tensor,
  logStd: Tensor | null,
  mask: Tensor | undefined,
  extra: Record<string, Tensor>,
): LossOut {
  const wl = weight ? g.mul(weight, logProb) : logProb;
  let loss: Tensor;
  let bc: Tensor;
  let mse: Tensor;
  const d = g.sub(mu, target);
  if (mask) {
    // Mean over labelled rows only; max(count, 1) keeps a batch with no labelled row finite (loss 0).
    const count = g.max(g.reduceSum(mask, undefined, false), 1);
    loss = g.neg(g.div(g.reduceSum(g.mul(wl, mask), undefined, false), count));
    bc = g.div(g.reduceSum(g.mul(logProb, mask), undefined, false), count);
    const dm = g.mul(d, g.unsqueeze(mask, [1]));
    mse = g.div(meanAll(g, g.mul(dm, dm)), g.div(count, mask.shape[0] as number));
  } else {
    loss = g.neg(meanAll(g, wl));
    bc = meanAll(g, logProb);
    mse = meanAll(g, g.mul(d, d));
  }
  const std = logStd ? meanAll(g, g.exp(logStd)) : g.constant(1, mu.dtype);
  return { loss, metrics: { actor_loss: loss, ...extra, bc_log_prob: bc, mse, std } };
}
