// GCIVL (OGBench impls/agents/gcivl.py): HIQL's action-free expectile value loss on V(s, g) with no
// goal representation, and one flat actor trained by AWR on adv = V(s', g) - V(s, g). SPEC.md section 4.
import type { Graph, Tensor } from '../../onnx/index.ts';
import { actorLogStd, actorMean, gaussianLogProbStd, valueHeads, type ParamSource } from '../networks.ts';
import { awrLoss, expectileValueLoss, mean2, rowsOf, type LossOut, statesOnly } from './common.ts';

export const GCIVL_DEFAULTS = {
  lr: 3e-4, // Adam learning rate
  batchSize: 1024, // transitions per update
  actorHiddenDims: [512, 512, 512] as number[], // actor hidden layers (GELU, no LayerNorm)
  valueHiddenDims: [512, 512, 512] as number[], // value head hidden layers (GELU + LayerNorm)
  layerNorm: true, // LayerNorm (epsilon 1e-6) in the value heads
  actorActivation: 'gelu' as 'gelu' | 'relu', // actor hidden activation
  learnActorStd: false, // false: constant std 1; true: learned state-independent log-std
  discount: 0.99, // gamma (0.995 on giant mazes)
  tau: 0.005, // target value's Polyak rate
  expectile: 0.9, // expectile of the value loss
  alpha: 10.0, // AWR inverse temperature
  valuePCurgoal: 0.2, // value goal = current state, with this probability
  valuePTrajgoal: 0.5, // value goal = future state of the same trajectory (geometric offset)
  valuePRandomgoal: 0.3, // value goal = uniformly random dataset state
  valueGeomSample: true, // future value goals at t + Geometric(1 - discount)
  actorPCurgoal: 0.0, // actor goal = current state
  actorPTrajgoal: 1.0, // actor goal = future state of the same trajectory
  actorPRandomgoal: 0.0, // actor goal = random dataset state (0.5 on stitch datasets)
  actorGeomSample: false, // future actor goals geometric rather than uniform
  gcNegative: true, // rewards success - 1 rather than success
};
export type GcivlConfig = typeof GCIVL_DEFAULTS;

export const GCIVL_BATCH_KEYS = ['observations', 'nextObservations', 'actions', 'rewards', 'masks', 'valueGoals', 'actorGoals'] as const;
export type GcivlBatch = Record<(typeof GCIVL_BATCH_KEYS)[number], Tensor> & { actionMask?: Tensor };

export const GCIVL_TARGETS: readonly [string, string][] = [['target_value', 'value']];

const headOpts = (c: GcivlConfig) => ({ hidden: c.valueHiddenDims, layerNorm: c.layerNorm });
const actorOpts = (c: GcivlConfig, actionDim: number) => ({
  hidden: c.actorHiddenDims,
  outDim: actionDim,
  activation: c.actorActivation,
  learnStd: c.learnActorStd,
});

export function gcivlLoss(g: Graph, P: ParamSource, b: GcivlBatch, c: GcivlConfig): LossOut {
  statesOnly(b.observations, 'gcivl');
  const s = b.observations;
  const s1 = b.nextObservations;
  const heads = (prefix: string, pairs: [Tensor, Tensor][]) => {
    const [v1, v2] = valueHeads(
      g,
      P,
      prefix,
      g.concat(
        pairs.map(([st, goal]) => g.concat([st, goal], 1)),
        0,
      ),
      headOpts(c),
    );
    return {
      v1: rowsOf(g, v1!, pairs.length).map((t) => g.stopGradient(t)),
      v2: rowsOf(g, v2!, pairs.length).map((t) => g.stopGradient(t)),
    };
  };

  // 1. Value loss.
  const value = g.scope('value_loss', () => {
    const tgt = heads('target_value', [
      [s1, b.valueGoals],
      [s, b.valueGoals],
    ]);
    const [v1, v2] = valueHeads(g, P, 'value', g.concat([s, b.valueGoals], 1), headOpts(c));
    return expectileValueLoss(
      g,
      { nv1t: tgt.v1[0]!, nv2t: tgt.v2[0]!, v1t: tgt.v1[1]!, v2t: tgt.v2[1]!, v1: v1!, v2: v2! },
      b.rewards,
      b.masks,
      c.discount,
      c.expectile,
    );
  });

  // 2. Actor: AWR with adv = V(s', g) - V(s, g) from the online value, no gradient.
  const actor = g.scope('actor_loss', () => {
    const on = heads('value', [
      [s, b.actorGoals],
      [s1, b.actorGoals],
    ]);
    const adv = g.sub(mean2(g, on.v1[1]!, on.v2[1]!), mean2(g, on.v1[0]!, on.v2[0]!));
    const o = actorOpts(c, b.actions.shape[1] as number);
    const mu = actorMean(g, P, 'actor', g.concat([s, b.actorGoals], 1), o);
    const logStd = actorLogStd(g, P, 'actor', o);
    return awrLoss(g, adv, c.alpha, gaussianLogProbStd(g, b.actions, mu, logStd), mu, b.actions, logStd, b.actionMask);
  });

  const metrics: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(value.metrics)) metrics[`value/${k}`] = v;
  for (const [k, v] of Object.entries(actor.metrics)) metrics[`actor/${k}`] = v;
  return { loss: g.add(value.loss, actor.loss), metrics };
}

/** Deterministic flat policy: a = clip(mean of pi(s, g), -1, 1). */
export function gcivlPolicy(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: GcivlConfig, actionDim: number): { action: Tensor } {
  statesOnly(obs, 'gcivl');
  return { action: g.clip(actorMean(g, P, 'actor', g.concat([obs, goal], 1), actorOpts(c, actionDim)), -1, 1) };
}

/** The online value, mean of the two heads: V([s; g]) (diagnostics: bench/value-quality.ts). */
export function gcivlValue(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: GcivlConfig): Tensor {
  const [v1, v2] = valueHeads(g, P, 'value', g.concat([obs, goal], 1), headOpts(c));
  return mean2(g, v1!, v2!);
}
