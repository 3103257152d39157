// GCIVL (OGBench impls/agents/gcivl.py): HIQL's action-free expectile value loss on V(s, g) with no
// goal representation, and one flat actor trained by AWR on adv = V(s', g) - V(s, g).
// docs/spec.md section 4. Reading order: config, batch, value loss, actor loss, target update, policy.
import type { Graph, Tensor } from '../../onnx/index.ts';
import type { Batch, BatchSpec } from '../batch.ts';
import { actorLogStd, actorMean, valueHeads, type ParamSource, concatFeatures } from '../networks.ts';
import type { GoalSampling } from '../sampler.ts';
import type { AgentDef, TargetUpdate } from './agent.ts';
import { awrLoss, expectileValueLoss, mean2, stacked, statesOnly, type LossOut, type ValuePair } from './losses.ts';

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

/** What one GCIVL batch holds (OGBench's GCDataset). */
export const GCIVL_BATCH = {
  observations: 's: the state at t',
  nextObservations: "s': the state at t + 1",
  actions: 'a: the action at t (action-free rows are masked)',
  rewards: 'r: 0 where the value goal is s, else -1',
  masks: 'm: 0 where the value goal is s, else 1',
  valueGoals: 'the value goal: s, a geometric future state or a random state',
  actorGoals: "the actor's goal: a uniform future state of the trajectory (or a random state on stitch)",
} satisfies BatchSpec;
export type GcivlBatch = Batch<typeof GCIVL_BATCH>;

const sampling = (c: GcivlConfig): GoalSampling => ({
  batchSize: c.batchSize,
  discount: c.discount,
  gcNegative: c.gcNegative,
  value: { pCur: c.valuePCurgoal, pTraj: c.valuePTrajgoal, geom: c.valueGeomSample },
  actor: { pCur: c.actorPCurgoal, pTraj: c.actorPTrajgoal, geom: c.actorGeomSample },
});

const headOpts = (c: GcivlConfig) => ({ hidden: c.valueHiddenDims, layerNorm: c.layerNorm });
const actorOpts = (c: GcivlConfig, actionDim: number) => ({
  hidden: c.actorHiddenDims,
  outDim: actionDim,
  activation: c.actorActivation,
  learnStd: c.learnActorStd,
});

export function gcivlLoss(g: Graph, P: ParamSource, b: GcivlBatch, c: GcivlConfig): LossOut {
  statesOnly(b.observations, 'gcivl');
  const { observations: s, nextObservations: sNext, valueGoals, actorGoals } = b;
  // A value ensemble on [s; g], without gradient (targets and advantages).
  const heads = (prefix: string) => (states: Tensor, goals: Tensor) =>
    valueHeads(g, P, prefix, concatFeatures(g, [states, goals]), headOpts(c)).map((v) => g.stopGradient(v));
  const pair = ([v1, v2]: Tensor[]): ValuePair => ({ v1: v1!, v2: v2! });

  // 1. Value loss.
  const value = g.scope('value_loss', () => {
    const target = stacked(g, heads('target_value'), { next: [sNext, valueGoals], here: [s, valueGoals] });
    const online = pair(valueHeads(g, P, 'value', concatFeatures(g, [s, valueGoals]), headOpts(c)));
    return expectileValueLoss(
      g,
      { targetNext: pair(target.next), targetHere: pair(target.here), online },
      b.rewards,
      b.masks,
      c.discount,
      c.expectile,
    );
  });

  // 2. Actor: AWR with adv = V(s', g) - V(s, g) from the online value, no gradient.
  const actor = g.scope('actor_loss', () => {
    const v = stacked(g, heads('value'), { here: [s, actorGoals], next: [sNext, actorGoals] });
    const adv = g.sub(mean2(g, v.next[0]!, v.next[1]!), mean2(g, v.here[0]!, v.here[1]!));
    const o = actorOpts(c, b.actions.shape[b.actions.shape.length - 1] as number);
    const mu = actorMean(g, P, 'actor', concatFeatures(g, [s, actorGoals]), o);
    return awrLoss(g, adv, c.alpha, { mu, logStd: actorLogStd(g, P, 'actor', o), target: b.actions, mask: b.actionMask });
  });

  const metrics: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(value.metrics)) metrics[`value/${k}`] = v;
  for (const [k, v] of Object.entries(actor.metrics)) metrics[`actor/${k}`] = v;
  return { loss: g.add(value.loss, actor.loss), metrics };
}

/** 3. Target update: the target value heads follow the online ones at rate tau. */
const targetUpdate = (c: GcivlConfig): TargetUpdate => ({ pairs: [['target_value', 'value']], tau: c.tau });

/** 4. Deterministic flat policy: a = clip(mean of pi(s, g), -1, 1). */
export function gcivlPolicy(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: GcivlConfig, actionDim: number) {
  statesOnly(obs, 'gcivl');
  return { action: g.clip(actorMean(g, P, 'actor', concatFeatures(g, [obs, goal]), actorOpts(c, actionDim)), -1, 1) };
}

/** The online value, mean of the two heads: V([s; g]) (diagnostics: bench/value-quality.ts). */
export function gcivlValue(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: GcivlConfig): Tensor {
  const [v1, v2] = valueHeads(g, P, 'value', concatFeatures(g, [obs, goal]), headOpts(c));
  return mean2(g, v1!, v2!);
}

export const GCIVL: AgentDef<GcivlConfig, typeof GCIVL_BATCH> = {
  defaults: GCIVL_DEFAULTS,
  batch: GCIVL_BATCH,
  sampling,
  loss: gcivlLoss,
  targetUpdate,
  policy: gcivlPolicy,
  value: gcivlValue,
};
