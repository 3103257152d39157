// GCBC (OGBench impls/agents/gcbc.py): goal-conditioned behaviour cloning, -log pi(a | s, g) with
// goals drawn uniformly from the trajectory's future. SPEC.md section 4.
import type { Graph, Tensor } from '../../onnx/index.ts';
import { actorLogStd, actorMean, gaussianLogProbStd, type ParamSource } from '../networks.ts';
import { bcLoss, type LossOut, statesOnly } from './common.ts';

export const GCBC_DEFAULTS = {
  lr: 3e-4, // Adam learning rate
  batchSize: 1024, // transitions per update
  actorHiddenDims: [512, 512, 512] as number[], // actor hidden layers (GELU, no LayerNorm)
  actorActivation: 'gelu' as 'gelu' | 'relu', // actor hidden activation
  learnActorStd: false, // false: constant std 1; true: learned state-independent log-std
  discount: 0.99, // only used by geometric goal sampling
  actorPCurgoal: 0.0, // actor goal = current state
  actorPTrajgoal: 1.0, // actor goal = future state of the same trajectory
  actorPRandomgoal: 0.0, // actor goal = random dataset state
  actorGeomSample: false, // future actor goals geometric rather than uniform
  gcNegative: true, // unused by the loss; kept so batches match the other agents
};
export type GcbcConfig = typeof GCBC_DEFAULTS;

export const GCBC_BATCH_KEYS = ['observations', 'actions', 'actorGoals'] as const;
export type GcbcBatch = Record<(typeof GCBC_BATCH_KEYS)[number], Tensor> & { actionMask?: Tensor };

export const GCBC_TARGETS: readonly [string, string][] = [];

const actorOpts = (c: GcbcConfig, actionDim: number) => ({
  hidden: c.actorHiddenDims,
  outDim: actionDim,
  activation: c.actorActivation,
  learnStd: c.learnActorStd,
});

export function gcbcLoss(g: Graph, P: ParamSource, b: GcbcBatch, c: GcbcConfig): LossOut {
  statesOnly(b.observations, 'gcbc');
  const actor = g.scope('actor_loss', () => {
    const o = actorOpts(c, b.actions.shape[1] as number);
    const mu = actorMean(g, P, 'actor', g.concat([b.observations, b.actorGoals], 1), o);
    const logStd = actorLogStd(g, P, 'actor', o);
    return bcLoss(g, gaussianLogProbStd(g, b.actions, mu, logStd), mu, b.actions, logStd, b.actionMask);
  });
  const metrics: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(actor.metrics)) metrics[`actor/${k}`] = v;
  return { loss: actor.loss, metrics };
}

/** Deterministic flat policy: a = clip(mean of pi(s, g), -1, 1). */
export function gcbcPolicy(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: GcbcConfig, actionDim: number): { action: Tensor } {
  statesOnly(obs, 'gcbc');
  return { action: g.clip(actorMean(g, P, 'actor', g.concat([obs, goal], 1), actorOpts(c, actionDim)), -1, 1) };
}
