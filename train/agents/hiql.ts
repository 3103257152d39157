// HIQL (Park et al., NeurIPS 2023), as in OGBench impls/agents/hiql.py: one action-free value
// function V(s, phi([s; g])) trained with an expectile loss, and two policies extracted from it by
// advantage-weighted regression: a high level that proposes the latent of the state k steps ahead,
// and a low level that outputs the action towards it. docs/spec.md sections 1-3 and 8.
//
// Reading order: config, batch, networks, value loss, low actor loss, high actor loss, target
// update, policy.
import { lengthNormalize, type Graph, type Tensor } from '../../onnx/index.ts';
import type { Batch, BatchSpec } from '../batch.ts';
import {
  actorLogStd,
  actorMean,
  goalRep,
  impalaEncoder,
  valueHeads,
  type EncoderOptions,
  type ParamSource,
  concatFeatures,
} from '../networks.ts';
import type { GoalSampling } from '../sampler.ts';
import { awrLoss, expectileValueLoss, mean2, stacked, type LossOut, type ValuePair } from './losses.ts';
import type { AgentDef, TargetUpdate } from './agent.ts';

export const HIQL_DEFAULTS = {
  lr: 3e-4, // Adam learning rate
  batchSize: 1024, // transitions per update
  actorHiddenDims: [512, 512, 512] as number[], // hidden layers of both actors (GELU, no LayerNorm)
  valueHiddenDims: [512, 512, 512] as number[], // hidden layers of phi and of each value head (GELU + LayerNorm)
  layerNorm: true, // LayerNorm (epsilon 1e-6) after each hidden activation of phi and the value heads
  actorActivation: 'gelu' as 'gelu' | 'relu', // actor hidden activation ('relu' in the paper preset)
  learnActorStd: false, // false: constant std 1 (OGBench); true: learned state-independent log-std (paper)
  discount: 0.99, // gamma (0.995 on giant mazes)
  tau: 0.005, // target value heads' Polyak rate
  expectile: 0.7, // expectile of the value loss
  lowAlpha: 3.0, // AWR inverse temperature of the low-level actor
  highAlpha: 3.0, // AWR inverse temperature of the high-level actor
  subgoalSteps: 25, // k: the low level's subgoal is the state k steps ahead
  repDim: 10, // size of the goal representation phi (length-normalised to sqrt(repDim))
  lowActorRepGrad: false, // whether the low actor's loss trains phi (true for pixels)
  valuePCurgoal: 0.2, // value goal = current state, with this probability
  valuePTrajgoal: 0.5, // value goal = future state of the same trajectory (geometric offset)
  valuePRandomgoal: 0.3, // value goal = uniformly random dataset state
  valueGeomSample: true, // future value goals at t + Geometric(1 - discount); else uniform in the future
  actorPRandomgoal: 0.0, // high-level goal = random dataset state (0.5 on stitch datasets)
  actorPTrajgoal: 1.0, // high-level goal = future state of the same trajectory
  actorGeomSample: false, // future actor goals geometric rather than uniform
  gcNegative: true, // rewards success - 1 (0 at the goal, -1 elsewhere) rather than success
  encoder: 'none' as 'none' | 'impala_small', // pixel encoder; 'impala_small' for uint8 frames (docs/spec.md section 8)
  encoderChannels: [16, 32, 32] as number[], // channels of the encoder's three conv stacks
  encoderDense: 512, // width of the encoder's final Dense + GELU
};
export type HiqlConfig = typeof HIQL_DEFAULTS;

/** What one HIQL batch holds (OGBench's HGCDataset); train/sampler.ts fills exactly these keys. */
export const HIQL_BATCH = {
  observations: 's: the state at t, uniform over indices with a successor',
  nextObservations: "s': the state at t + 1",
  actions: 'a: the action at t (action-free rows are masked)',
  rewards: 'r: 0 where the value goal is s, else -1',
  masks: 'm: 0 where the value goal is s, else 1',
  valueGoals: 'the value goal: s (p 0.2), a geometric future state (0.5) or a random state (0.3)',
  lowActorGoals: 'w: the subgoal s_{min(t + k, end of trajectory)}',
  highActorGoals: 'the high-level goal: a uniform future state of the trajectory (or a random state)',
  highActorTargets: 'the high-level target s_{min(t + k, goal)}, whose latent the high actor regresses on',
} satisfies BatchSpec;
export type HiqlBatch = Batch<typeof HIQL_BATCH>;

/** The goal sampler's settings, from the config. */
const sampling = (c: HiqlConfig): GoalSampling => ({
  batchSize: c.batchSize,
  discount: c.discount,
  gcNegative: c.gcNegative,
  value: { pCur: c.valuePCurgoal, pTraj: c.valuePTrajgoal, geom: c.valueGeomSample },
  highActor: { pRandom: c.actorPRandomgoal, geom: c.actorGeomSample, subgoalSteps: c.subgoalSteps },
});

/** The pixel encoder's options, or null for state observations (configs saved before pixels have no 'encoder'). */
export function encoderOf(c: { encoder?: string; encoderChannels?: number[]; encoderDense?: number }): EncoderOptions | null {
  if (c.encoder === undefined || c.encoder === 'none') return null;
  return { channels: c.encoderChannels ?? HIQL_DEFAULTS.encoderChannels, dense: c.encoderDense ?? HIQL_DEFAULTS.encoderDense };
}

/** Checks that observations and the encoder setting agree (uint8 frames need an encoder, states none). */
export function checkObsEncoder(obs: Tensor, c: { encoder?: string }, agent: string): void {
  const enc = c.encoder !== undefined && c.encoder !== 'none';
  if (obs.dtype === 'uint8' && !enc)
    throw new RangeError(`${agent}: pixel observations [${obs.shape}] need an encoder (--encoder impala_small)`);
  if (obs.dtype !== 'uint8' && enc)
    throw new RangeError(`${agent}: encoder '${c.encoder}' needs uint8 frame observations, got ${obs.dtype} [${obs.shape}]`);
}

/**
 * HIQL's networks on one graph. With pixels, each network has its own encoder of the states
 * (`PREFIX/encoder`, OGBench's GCEncoder); phi and the high actor encode the channel stack [s; g].
 */
function networks(g: Graph, P: ParamSource, c: HiqlConfig, actionDim: number) {
  const enc = encoderOf(c);
  const features = (prefix: string, states: Tensor) => (enc ? impalaEncoder(g, P, `${prefix}/encoder`, states, enc) : states);
  const head = { hidden: c.valueHiddenDims, layerNorm: c.layerNorm };
  const actor = (outDim: number) => ({ hidden: c.actorHiddenDims, outDim, activation: c.actorActivation, learnStd: c.learnActorStd });
  const valueOf = (prefix: string) => (states: Tensor, z: Tensor) =>
    valueHeads(g, P, prefix, concatFeatures(g, [features(prefix, states), z]), head);
  return {
    /** phi([s; g]), length sqrt(repDim). */
    phi: (s: Tensor, goal: Tensor) =>
      goalRep(g, P, s, goal, { hidden: c.valueHiddenDims, repDim: c.repDim, layerNorm: c.layerNorm, encoder: enc }),
    /** The online value heads [V1, V2](s, z) and their target copies. */
    value: valueOf('value'),
    targetValue: valueOf('target_value'),
    /** The mean of pi_lo(a | s, z). */
    lowActor: (s: Tensor, z: Tensor) => actorMean(g, P, 'low_actor', concatFeatures(g, [features('low_actor', s), z]), actor(actionDim)),
    /** The mean of pi_hi(z | s, g), the subgoal latent before normalisation. */
    highActor: (s: Tensor, goal: Tensor) => {
      const input = enc ? impalaEncoder(g, P, 'high_actor/encoder', g.concat([s, goal], 3), enc) : concatFeatures(g, [s, goal]);
      return actorMean(g, P, 'high_actor', input, actor(c.repDim));
    },
    /** The actors' log-std (null: std 1). */
    lowActorLogStd: () => actorLogStd(g, P, 'low_actor', actor(actionDim)),
    highActorLogStd: () => actorLogStd(g, P, 'high_actor', actor(c.repDim)),
  };
}

const pair = ([v1, v2]: Tensor[]): ValuePair => ({ v1: v1!, v2: v2! });

/** The summed HIQL loss: value, low actor and high actor, on one batch. */
export function hiqlLoss(g: Graph, P: ParamSource, b: HiqlBatch, c: HiqlConfig): LossOut {
  checkObsEncoder(b.observations, c, 'hiql');
  const net = networks(g, P, c, b.actions.shape[b.actions.shape.length - 1] as number);
  const { observations: s, nextObservations: sNext, valueGoals, lowActorGoals: w, highActorGoals, highActorTargets } = b;
  const sg = (t: Tensor) => g.stopGradient(t);

  // Goal latents that carry gradient: the value loss's phi([s; g]), and with lowActorRepGrad the
  // low actor's phi([s; w]). All others are computed without gradient, as in OGBench.
  const repGrad = c.lowActorRepGrad;
  const trained = repGrad
    ? stacked(g, net.phi, { valueGoal: [s, valueGoals], subgoal: [s, w] })
    : { ...stacked(g, net.phi, { valueGoal: [s, valueGoals] }), subgoal: undefined };
  const z = stacked(g, net.phi, {
    nextValueGoal: [sNext, valueGoals],
    subgoal: [s, w],
    nextSubgoal: [sNext, w],
    targetToHighGoal: [highActorTargets, highActorGoals],
    highGoal: [s, highActorGoals],
    highTarget: [s, highActorTargets],
  });
  for (const k of Object.keys(z) as (keyof typeof z)[]) z[k] = sg(z[k]);

  // 1. Value loss: action-free IQL with an expectile, two heads, targets from the EMA copies.
  const value = g.scope('value_loss', () => {
    const target = stacked(g, net.targetValue, { next: [sNext, z.nextValueGoal], here: [s, sg(trained.valueGoal)] });
    const online = pair(net.value(s, trained.valueGoal));
    const [targetNext, targetHere] = [pair(target.next.map(sg)), pair(target.here.map(sg))];
    return expectileValueLoss(g, { targetNext, targetHere, online }, b.rewards, b.masks, c.discount, c.expectile);
  });

  // The online value without gradient, where the actors' advantages need it.
  const v = stacked(g, net.value, {
    here: [s, z.subgoal],
    nextTowardsSubgoal: [sNext, z.nextSubgoal],
    towardsHighGoal: [s, z.highGoal],
    targetTowardsHighGoal: [highActorTargets, z.targetToHighGoal],
  });
  const vMean = (heads: Tensor[]) => sg(mean2(g, heads[0]!, heads[1]!));

  // 2. Low-level actor: AWR towards the subgoal w = s_{t+k}, conditioned on phi([s; w]):
  //    adv = V(s', phi([s'; w])) - V(s, phi([s; w])).
  const low = g.scope('low_actor_loss', () => {
    const adv = g.sub(vMean(v.nextTowardsSubgoal), vMean(v.here));
    const mu = net.lowActor(s, trained.subgoal ?? z.subgoal);
    return awrLoss(g, adv, c.lowAlpha, { mu, logStd: net.lowActorLogStd(), target: b.actions, mask: b.actionMask });
  });

  // 3. High-level actor: AWR towards the latent of the target state phi([s; s_target]):
  //    adv = V(s_target, phi([s_target; g])) - V(s, phi([s; g])).
  const high = g.scope('high_actor_loss', () => {
    const adv = g.sub(vMean(v.targetTowardsHighGoal), vMean(v.towardsHighGoal));
    const mu = net.highActor(s, highActorGoals);
    return awrLoss(g, adv, c.highAlpha, { mu, logStd: net.highActorLogStd(), target: z.highTarget });
  });

  const metrics: Record<string, Tensor> = {};
  for (const [part, out] of [
    ['value', value],
    ['low_actor', low],
    ['high_actor', high],
  ] as const)
    for (const [k, m] of Object.entries(out.metrics)) metrics[`${part}/${k}`] = m;
  return { loss: g.add(g.add(value.loss, low.loss), high.loss), metrics };
}

/** 4. Target update: the target value heads follow the online ones by Polyak averaging at rate tau. */
const targetUpdate = (c: HiqlConfig): TargetUpdate => ({ pairs: [['target_value', 'value']], tau: c.tau });

/**
 * 5. The deterministic hierarchical policy: z = mean of pi_hi(s, g) rescaled to length
 * sqrt(repDim), then a = clip(mean of pi_lo(s, z), -1, 1). Returns both.
 */
export function hiqlPolicy(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: HiqlConfig, actionDim: number) {
  checkObsEncoder(obs, c, 'hiql');
  const subgoal = lengthNormalize(g, networks(g, P, c, actionDim).highActor(obs, goal));
  return { action: hiqlLowPolicy(g, P, obs, subgoal, c, actionDim), subgoal };
}

/** The low level alone on a given subgoal latent z: a = clip(mean of pi_lo(s, z), -1, 1). */
export function hiqlLowPolicy(g: Graph, P: ParamSource, obs: Tensor, subgoal: Tensor, c: HiqlConfig, actionDim: number): Tensor {
  return g.clip(networks(g, P, c, actionDim).lowActor(obs, subgoal), -1, 1);
}

/** phi([s; g]): the goal representation, used to show subgoals as maze positions. */
export const hiqlGoalRep = (g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: HiqlConfig): Tensor =>
  networks(g, P, c, 0).phi(obs, goal);

/** The online value V(s, phi([s; g])), mean of the two heads (diagnostics: bench/value-quality.ts). */
export function hiqlValue(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: HiqlConfig): Tensor {
  const net = networks(g, P, c, 0);
  const [v1, v2] = net.value(obs, net.phi(obs, goal));
  return mean2(g, v1!, v2!);
}

export const HIQL: AgentDef<HiqlConfig, typeof HIQL_BATCH> = {
  defaults: HIQL_DEFAULTS,
  batch: HIQL_BATCH,
  sampling,
  loss: hiqlLoss,
  targetUpdate,
  policy: hiqlPolicy,
  value: hiqlValue,
  lowPolicy: hiqlLowPolicy,
  goalRep: hiqlGoalRep,
  subgoalDim: (c) => c.repDim,
};
