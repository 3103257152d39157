// GCIQL (OGBench impls/agents/gciql.py): goal-conditioned implicit Q-learning. A value V(s, g) is
// fitted by an expectile to the target critic's min_i Qt_i(s, a, g); a critic ensemble Q_1, Q_2
// (s, a, g) regresses on r + gamma m V(s', g); the target critic follows the critic by EMA; the actor
// is DDPG+BC (OGBench's default, the PointMaze setting) or AWR on Q - V. docs/spec.md section 4.
// Reading order: config, batch, networks, value loss, critic loss, actor loss, target update, policy.
import type { Graph, Tensor } from '../../onnx/index.ts';
import type { Batch, BatchSpec } from '../batch.ts';
import { FrozenParams, actorLogStd, actorMean, concatFeatures, mlp, valueHeads, type ParamSource } from '../networks.ts';
import type { GoalSampling } from '../sampler.ts';
import type { AgentDef, TargetUpdate } from './agent.ts';
import { awrLoss, batchMean, ddpgBcLoss, stacked, statesOnly, type LossOut } from './losses.ts';

export const GCIQL_DEFAULTS = {
  lr: 3e-4, // Adam learning rate
  batchSize: 1024, // transitions per update
  actorHiddenDims: [512, 512, 512] as number[], // actor hidden layers (GELU, no LayerNorm)
  valueHiddenDims: [512, 512, 512] as number[], // hidden layers of the value V and of each critic head Q_i
  layerNorm: true, // LayerNorm (epsilon 1e-6) in the value and critic networks
  actorActivation: 'gelu' as 'gelu' | 'relu', // actor hidden activation
  learnActorStd: false, // false: constant std 1 (OGBench); true: learned state-independent log-std (AWR only)
  discount: 0.99, // gamma (0.995 on giant mazes)
  tau: 0.005, // target critic's Polyak rate
  expectile: 0.9, // expectile of the value loss
  actorLoss: 'ddpgbc' as 'ddpgbc' | 'awr', // DDPG+BC (OGBench's default) or AWR on adv = min_i Q_i - V
  alpha: 0.3, // DDPG+BC: weight of the BC term (0.003 on PointMaze); AWR: inverse temperature
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
export type GciqlConfig = typeof GCIQL_DEFAULTS;

/** What one GCIQL batch holds (OGBench's GCDataset). */
export const GCIQL_BATCH = {
  observations: 's: the state at t',
  nextObservations: "s': the state at t + 1",
  actions: 'a: the action at t (every row: the critic is Q(s, a, g))',
  rewards: 'r: 0 where the value goal is s, else -1',
  masks: 'm: 0 where the value goal is s, else 1',
  valueGoals: 'the value and critic goal: s, a geometric future state or a random state',
  actorGoals: "the actor's goal: a uniform future state of the trajectory (or a random state on stitch)",
} satisfies BatchSpec;
export type GciqlBatch = Batch<typeof GCIQL_BATCH>;

const sampling = (c: GciqlConfig): GoalSampling => ({
  batchSize: c.batchSize,
  discount: c.discount,
  gcNegative: c.gcNegative,
  value: { pCur: c.valuePCurgoal, pTraj: c.valuePTrajgoal, geom: c.valueGeomSample },
  actor: { pCur: c.actorPCurgoal, pTraj: c.actorPTrajgoal, geom: c.actorGeomSample },
});

const netOpts = (c: GciqlConfig) => ({ hidden: c.valueHiddenDims, layerNorm: c.layerNorm });
const actorOpts = (c: GciqlConfig, actionDim: number) => ({
  hidden: c.actorHiddenDims,
  outDim: actionDim,
  activation: c.actorActivation,
  learnStd: c.learnActorStd,
});

// Networks. The value is one MLP (OGBench: GCValue with ensemble=False), parameters `value/mlp/...`;
// the critic and its target are two-member ensembles on [s; g; a], `critic/{0,1}/mlp/...` and
// `target_critic/{0,1}/mlp/...`.

/** V([s; g]): [B] ([N, B] with seeds). */
const valueNet = (g: Graph, P: ParamSource, c: GciqlConfig, s: Tensor, goal: Tensor): Tensor =>
  g.scope('value', () => g.squeeze(mlp(g, P, 'value/mlp', concatFeatures(g, [s, goal]), { ...netOpts(c), out: 1 }), [-1]));

/** [Q_1, Q_2]([s; g; a]) of the ensemble under `prefix` ('critic' or 'target_critic'). */
const criticNet = (g: Graph, P: ParamSource, c: GciqlConfig, prefix: string, s: Tensor, goal: Tensor, a: Tensor): Tensor[] =>
  valueHeads(g, P, prefix, concatFeatures(g, [s, goal, a]), netOpts(c));

/**
 * The same parameters, read without gradient: OGBench calls a network with its current parameters
 * rather than `grad_params` where a loss must not train it (the critic inside the actor's loss, whose
 * gradient still reaches the action it is evaluated on).
 */

export function gciqlLoss(g: Graph, P: ParamSource, b: GciqlBatch, c: GciqlConfig): LossOut {
  statesOnly(b.observations, 'gciql');
  const frozen = new FrozenParams(g, P);
  if (b.actionMask)
    throw new RangeError(
      "gciql's critic Q(s, a, g) and value target need the action of every transition; " +
        'train it on the labelled trajectories only (--labelledOnly true)',
    );
  const { observations: s, nextObservations: sNext, actions: a, valueGoals, actorGoals } = b;
  const lead = b.rewards.shape.length - 1;
  const mean = (x: Tensor) => batchMean(g, x, lead);
  const rowAxes = [...b.rewards.shape.keys()].slice(lead);
  const stats = (x: Tensor) => ({ mean: mean(x), max: g.reduceMax(x, rowAxes, false), min: g.reduceMin(x, rowAxes, false) });
  const sq = (d: Tensor) => g.mul(d, d);
  // The online value at (s, g) (trained by the value loss) and at (s', g) (the critic's target, no gradient), in one call.
  const v = stacked(g, (st: Tensor, gl: Tensor) => valueNet(g, P, c, st, gl), { here: [s, valueGoals], next: [sNext, valueGoals] });

  // 1. Value loss: expectile regression of V(s, g) on min_i Qt_i(s, a, g).
  const value = g.scope('value_loss', () => {
    const [qt1, qt2] = criticNet(g, P, c, 'target_critic', s, valueGoals, a);
    const diff = g.sub(g.min(qt1!, qt2!), v.here);
    const w = g.where(g.greaterOrEqual(diff, 0), c.expectile, 1 - c.expectile);
    const loss = mean(g.mul(w, sq(diff)));
    const st = stats(v.here);
    return { loss, metrics: { value_loss: loss, v_mean: st.mean, v_max: st.max, v_min: st.min } };
  });

  // 2. Critic loss: both heads regress on q = r + gamma m V(s', g).
  const critic = g.scope('critic_loss', () => {
    const q = g.add(b.rewards, g.mul(g.mul(b.masks, c.discount), g.stopGradient(v.next)));
    const [q1, q2] = criticNet(g, P, c, 'critic', s, valueGoals, a);
    const loss = mean(g.add(sq(g.sub(q1!, q)), sq(g.sub(q2!, q))));
    const st = stats(q);
    return { loss, metrics: { critic_loss: loss, q_mean: st.mean, q_max: st.max, q_min: st.min } };
  });

  // 3. Actor loss on the actor goals; the value and critic are read without gradient.
  const actor = g.scope('actor_loss', () => {
    const o = actorOpts(c, b.actions.shape[b.actions.shape.length - 1] as number);
    const mu = actorMean(g, P, 'actor', concatFeatures(g, [s, actorGoals]), o);
    const fit = { mu, logStd: actorLogStd(g, P, 'actor', o), target: a };
    if (c.actorLoss === 'awr') {
      const [q1, q2] = criticNet(g, frozen, c, 'critic', s, actorGoals, a);
      const adv = g.sub(g.min(q1!, q2!), valueNet(g, frozen, c, s, actorGoals));
      return awrLoss(g, adv, c.alpha, fit);
    }
    // DDPG+BC with a constant std evaluates Q at the mean action; with a learned std OGBench
    // evaluates it at a sampled action, which needs its RNG stream.
    if (c.learnActorStd) throw new RangeError('gciql: the DDPG+BC actor (actorLoss ddpgbc) needs learnActorStd false (constant std)');
    const [q1, q2] = criticNet(g, frozen, c, 'critic', s, actorGoals, g.clip(mu, -1, 1));
    return ddpgBcLoss(g, g.min(q1!, q2!), c.alpha, fit);
  });

  const metrics: Record<string, Tensor> = {};
  for (const [k, x] of Object.entries(value.metrics)) metrics[`value/${k}`] = x;
  for (const [k, x] of Object.entries(critic.metrics)) metrics[`critic/${k}`] = x;
  for (const [k, x] of Object.entries(actor.metrics)) metrics[`actor/${k}`] = x;
  return { loss: g.add(g.add(value.loss, critic.loss), actor.loss), metrics };
}

/** 4. Target update: the target critic follows the critic at rate tau (the value has no target). */
const targetUpdate = (c: GciqlConfig): TargetUpdate => ({ pairs: [['target_critic', 'critic']], tau: c.tau });

/** 5. Deterministic flat policy: a = clip(mean of pi(s, g), -1, 1). */
export function gciqlPolicy(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: GciqlConfig, actionDim: number) {
  statesOnly(obs, 'gciql');
  return { action: g.clip(actorMean(g, P, 'actor', concatFeatures(g, [obs, goal]), actorOpts(c, actionDim)), -1, 1) };
}

/** The online value V([s; g]) (one network, no ensemble). */
export const gciqlValue = (g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: GciqlConfig): Tensor => valueNet(g, P, c, obs, goal);

export const GCIQL: AgentDef<GciqlConfig, typeof GCIQL_BATCH> = {
  defaults: GCIQL_DEFAULTS,
  batch: GCIQL_BATCH,
  sampling,
  loss: gciqlLoss,
  targetUpdate,
  policy: gciqlPolicy,
  value: gciqlValue,
};
