// GCBC (OGBench impls/agents/gcbc.py): goal-conditioned behaviour cloning, -log pi(a | s, g) with
// goals drawn uniformly from the trajectory's future. docs/spec.md section 4.
import type { Graph, Tensor } from '../../onnx/index.ts';
import type { Batch, BatchSpec } from '../batch.ts';
import { actorLogStd, actorMean, type ParamSource, concatFeatures } from '../networks.ts';
import type { GoalSampling } from '../sampler.ts';
import type { AgentDef } from './agent.ts';
import { bcLoss, statesOnly, type LossOut } from './losses.ts';

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

/** What one GCBC batch holds. */
export const GCBC_BATCH = {
  observations: 's: the state at t',
  actions: 'a: the action at t (action-free rows are masked)',
  actorGoals: 'the goal: a uniform future state of the trajectory',
} satisfies BatchSpec;
export type GcbcBatch = Batch<typeof GCBC_BATCH>;

const sampling = (c: GcbcConfig): GoalSampling => ({
  batchSize: c.batchSize,
  discount: c.discount,
  gcNegative: c.gcNegative,
  // OGBench's GCDataset draws a value goal for every agent; GCBC's batch does not hold it, but
  // drawing it keeps GCBC's batch stream that of the dataset class.
  value: { pCur: 0, pTraj: 1, geom: true },
  actor: { pCur: c.actorPCurgoal, pTraj: c.actorPTrajgoal, geom: c.actorGeomSample },
});

const actorOpts = (c: GcbcConfig, actionDim: number) => ({
  hidden: c.actorHiddenDims,
  outDim: actionDim,
  activation: c.actorActivation,
  learnStd: c.learnActorStd,
});

/** Behaviour cloning towards the batch's actions. */
export function gcbcLoss(g: Graph, P: ParamSource, b: GcbcBatch, c: GcbcConfig): LossOut {
  statesOnly(b.observations, 'gcbc');
  const actor = g.scope('actor_loss', () => {
    const o = actorOpts(c, b.actions.shape[b.actions.shape.length - 1] as number);
    const mu = actorMean(g, P, 'actor', concatFeatures(g, [b.observations, b.actorGoals]), o);
    return bcLoss(g, { mu, logStd: actorLogStd(g, P, 'actor', o), target: b.actions, mask: b.actionMask });
  });
  const metrics: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(actor.metrics)) metrics[`actor/${k}`] = v;
  return { loss: actor.loss, metrics };
}

/** Deterministic flat policy: a = clip(mean of pi(s, g), -1, 1). */
export function gcbcPolicy(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: GcbcConfig, actionDim: number) {
  statesOnly(obs, 'gcbc');
  return { action: g.clip(actorMean(g, P, 'actor', concatFeatures(g, [obs, goal]), actorOpts(c, actionDim)), -1, 1) };
}

export const GCBC: AgentDef<GcbcConfig, typeof GCBC_BATCH> = {
  defaults: GCBC_DEFAULTS,
  batch: GCBC_BATCH,
  sampling,
  loss: gcbcLoss,
  targetUpdate: () => null,
  policy: gcbcPolicy,
};
