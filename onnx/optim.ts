// Optimisers as graph code: Adam (bias-corrected, the step count an input) and Polyak/EMA updates.
// They emit plain ai.onnx elementwise ops over any set of parameters, so the whole update is part of
// the one training-step graph.
import type { Graph, Tensor } from './graph.ts';

export interface AdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

export const ADAM_DEFAULTS: AdamConfig = { lr: 3e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8 };

export interface AdamSlots {
  m: Tensor;
  v: Tensor;
}

/**
 * One Adam step, as in optax.adam: m' = b1 m + (1-b1) g; v' = b2 v + (1-b2) g^2;
 * p' = p - lr * (m'/(1-b1^t)) / (sqrt(v'/(1-b2^t)) + eps). `step` is t (1 for the first update),
 * a scalar of the parameters' dtype.
 *
 * The bias corrections are folded into two scalars, the same update written as
 * p' = p - m' c / (sqrt(v') + e) with c = lr sqrt(1-b2^t) / (1-b1^t) and e = eps sqrt(1-b2^t): every
 * pass over the parameters costs a kernel (memory-bound), and this form needs 12 instead of 14.
 */
export function adam(
  g: Graph,
  params: readonly Tensor[],
  grads: readonly Tensor[],
  slots: readonly AdamSlots[],
  step: Tensor,
  cfg: AdamConfig = ADAM_DEFAULTS,
): { params: Tensor[]; slots: AdamSlots[] } {
  if (params.length !== grads.length || params.length !== slots.length)
    throw new RangeError(`adam: ${params.length} params, ${grads.length} grads, ${slots.length} slot pairs`);
  return g.scope('adam', () => {
    const dt = step.dtype;
    const bc1 = g.sub(1, g.pow(g.constant(cfg.beta1, dt), step));
    const sqrtBc2 = g.sqrt(g.sub(1, g.pow(g.constant(cfg.beta2, dt), step)));
    const c = g.div(g.mul(sqrtBc2, cfg.lr), bc1);
    const e = g.mul(sqrtBc2, cfg.eps);
    const newParams: Tensor[] = [];
    const newSlots: AdamSlots[] = [];
    params.forEach((p, i) => {
      const gr = grads[i]!;
      const { m, v } = slots[i]!;
      const m2 = g.add(g.mul(m, cfg.beta1), g.mul(gr, 1 - cfg.beta1));
      const v2 = g.add(g.mul(v, cfg.beta2), g.mul(g.mul(gr, gr), 1 - cfg.beta2));
      newParams.push(g.sub(p, g.div(g.mul(m2, c), g.add(g.sqrt(v2), e))));
      newSlots.push({ m: m2, v: v2 });
    });
    return { params: newParams, slots: newSlots };
  });
}

/** Polyak averaging: target' = (1 - tau) target + tau online, elementwise per pair. */
export function ema(g: Graph, targets: readonly Tensor[], online: readonly Tensor[], tau: number): Tensor[] {
  if (targets.length !== online.length) throw new RangeError(`ema: ${targets.length} targets but ${online.length} online tensors`);
  return g.scope('ema', () => targets.map((t, i) => g.add(g.mul(t, 1 - tau), g.mul(online[i]!, tau))));
}
