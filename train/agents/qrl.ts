// QRL, quasimetric RL (Wang et al., ICML 2023), as in OGBench impls/agents/qrl.py with its default
// variant (quasimetric_type 'iqe', actor_loss 'ddpgbc', const_std): a learned quasimetric d(s, g)
// between latents phi(s), phi(g) (the IQE distance of networks.py GCIQEValue), pushed up between
// random pairs (s, g) and held to at most 1 on transitions (s, s') by a Lagrange multiplier; a
// latent dynamics model phi(s') ~ phi(s) + f([phi(s); a]); and a DDPG+BC actor that minimises the
// distance from the predicted next latent to the goal's. V(s, g) = -d(s, g). docs/spec.md section 4.
//
// Reading order: config, batch, networks (phi, IQE, dynamics, lambda, actor), value loss, dynamics
// loss, actor loss, policy. QRL has no target network.
import type { Graph, Tensor } from '../../onnx/index.ts';
import type { Batch, BatchSpec } from '../batch.ts';
import { FrozenParams, actorMean, concatFeatures, mlp, type ParamSource } from '../networks.ts';
import type { GoalSampling } from '../sampler.ts';
import type { AgentDef } from './agent.ts';
import { batchMean, ddpgBcLoss, stacked, statesOnly, type LossOut } from './losses.ts';

export const QRL_DEFAULTS = {
  lr: 3e-4, // Adam learning rate
  batchSize: 1024, // transitions per update
  actorHiddenDims: [512, 512, 512] as number[], // actor hidden layers (GELU, no LayerNorm)
  valueHiddenDims: [512, 512, 512] as number[], // hidden layers of phi and of the dynamics model (GELU + LayerNorm)
  latentDim: 512, // size of phi(s), a multiple of IQE's 8 dimensions per component
  layerNorm: true, // LayerNorm (epsilon 1e-6) after each hidden activation of phi and the dynamics model
  discount: 0.99, // only sets the geometric offset of future goals (0.995 on giant mazes); the losses have none
  eps: 0.05, // margin of the dual constraint mean(relu(d(s, s') - 1)^2) <= eps
  alpha: 0.003, // BC coefficient of DDPG+BC (0.0003 on PointMaze)
  valuePCurgoal: 0.0, // value goal = current state
  valuePTrajgoal: 0.0, // value goal = future state of the same trajectory
  valuePRandomgoal: 1.0, // value goal = uniformly random dataset state (QRL's negative pairs)
  valueGeomSample: true, // future value goals at t + Geometric(1 - discount)
  actorPCurgoal: 0.0, // actor goal = current state
  actorPTrajgoal: 1.0, // actor goal = future state of the same trajectory
  actorPRandomgoal: 0.0, // actor goal = random dataset state (0.5 on stitch datasets)
  actorGeomSample: false, // future actor goals geometric rather than uniform
  gcNegative: false, // rewards are not used by QRL; kept so the sampler draws as OGBench's GCDataset
};
export type QrlConfig = typeof QRL_DEFAULTS;

/** IQE's dimensions per component (OGBench fixes dim_per_component = 8). */
export const IQE_DIM_PER_COMPONENT = 8;

/** What one QRL batch holds (OGBench's GCDataset). */
export const QRL_BATCH = {
  observations: 's: the state at t',
  nextObservations: "s': the state at t + 1 (the positive pair of the constraint d(s, s') <= 1)",
  actions: 'a: the action at t (the dynamics model and BC; action-free rows are masked)',
  valueGoals: 'the negative pair: a uniformly random dataset state whose distance from s is pushed up',
  actorGoals: "the actor's goal: a uniform future state of the trajectory (or a random state on stitch)",
} satisfies BatchSpec;
export type QrlBatch = Batch<typeof QRL_BATCH>;

const sampling = (c: QrlConfig): GoalSampling => ({
  batchSize: c.batchSize,
  discount: c.discount,
  gcNegative: c.gcNegative,
  value: { pCur: c.valuePCurgoal, pTraj: c.valuePTrajgoal, geom: c.valueGeomSample },
  actor: { pCur: c.actorPCurgoal, pTraj: c.actorPTrajgoal, geom: c.actorGeomSample },
});

/**
 * The interval quasimetric embedding distance (OGBench GCIQEValue, is_phi): latents x, y [..., L]
 * are cut into L / 8 components of 8 intervals [x_i, y_i] (empty where x_i >= y_i); a component's
 * distance is the length of the union of its intervals, and
 * d = a mean(components) + (1 - a) max(components), a = sigmoid(value/alpha).
 *
 * As the reference computes it: sort the 16 end points of a component (TopK, ascending and stable
 * like argsort); each sorted point adds +1 open interval if it is a valid start and -1 if a valid
 * end (the count is kept negated); where the running count changes between 0 and non-zero the union
 * starts or ends, and the distance is the sum of the ends minus the starts. The gradient reaches x
 * and y through the sorted values only (the coefficients are piecewise constant), as in JAX.
 */
export function iqeDistance(g: Graph, P: ParamSource, x: Tensor, y: Tensor): Tensor {
  return g.scope('iqe', () => {
    const rank = x.shape.length;
    const latent = x.shape[rank - 1];
    const d = IQE_DIM_PER_COMPONENT;
    if (typeof latent !== 'number' || latent % d !== 0)
      throw new RangeError(`IQE: the latent size ${latent} must be a static multiple of ${d}`);
    // [..., L] -> [..., L / 8, 8]: leading dimensions copied (0), which keeps a symbolic batch.
    const split = (t: Tensor) => g.reshape(t, [...Array<number>(rank - 1).fill(0), latent / d, d]);
    const [xs, ys] = [split(x), split(y)];
    const valid = g.cast(g.less(xs, ys), x.dtype);
    const { values: sorted, indices: order } = g.topK(g.concat([xs, ys], rank), 2 * d, { axis: -1, largest: false });
    // -1 for a valid start (from x), +1 for a valid end (from y), at each sorted position.
    const negIncrement = g.gatherElements(g.concat([g.neg(valid), valid], rank), order, rank);
    const negOpen = g.cumSum(negIncrement, -1);
    const negInside = g.neg(g.cast(g.less(negOpen, 0), x.dtype));
    // Its first difference along the sorted points: -1 where the union starts, +1 where it ends.
    const pads = Array<number>(2 * (rank + 1)).fill(0);
    pads[rank] = 1;
    const shifted = g.pad(g.slice(negInside, [0], [2 * d - 1], [-1]), pads);
    const components = g.reduceSum(g.mul(sorted, g.sub(negInside, shifted)), [-1], false);
    const a0 = g.sigmoid(P.get('value/alpha', [], { kind: 'zeros' }));
    // With seeds alpha is [N]: one per seed, broadcast over the rows [N, B].
    const a = a0.shape.length === 0 ? a0 : g.unsqueeze(a0, [1]);
    return g.add(g.mul(a, g.reduceMean(components, [-1], false)), g.mul(g.sub(1, a), g.reduceMax(components, [-1], false)));
  });
}

/** QRL's networks on one parameter source. */
function networks(g: Graph, P: ParamSource, c: QrlConfig) {
  const hidden = { hidden: c.valueHiddenDims, out: c.latentDim, layerNorm: c.layerNorm };
  return {
    /** phi(s) [..., latentDim]: the value's state encoder (GELU + LayerNorm MLP, linear output). */
    phi: (s: Tensor) => g.scope('value/phi', () => mlp(g, P, 'value/phi/mlp', s, hidden)),
    /** The quasimetric d(phi_s, phi_g) [...]. */
    distance: (zs: Tensor, zg: Tensor) => iqeDistance(g, P, zs, zg),
    /** The latent dynamics: phi(s) + f([phi(s); a]), the predicted phi(s'). */
    nextLatent: (z: Tensor, a: Tensor) =>
      g.add(
        z,
        g.scope('dynamics', () => mlp(g, P, 'dynamics/mlp', concatFeatures(g, [z, a]), hidden)),
      ),
    /** The Lagrange multiplier lambda = exp(lam/log_value) (OGBench LogParam, initially 1). */
    lambda: () => g.exp(P.get('lam/log_value', [], { kind: 'zeros' })),
    /** The mean of pi(a | s, g) (constant std 1). */
    actor: (s: Tensor, goal: Tensor, actionDim: number) =>
      actorMean(g, P, 'actor', concatFeatures(g, [s, goal]), { hidden: c.actorHiddenDims, outDim: actionDim }),
  };
}

/** The summed QRL loss: value (with the dual), dynamics and actor, on one batch. */
export function qrlLoss(g: Graph, P: ParamSource, b: QrlBatch, c: QrlConfig): LossOut {
  statesOnly(b.observations, 'qrl');
  const net = networks(g, P, c);
  const sg = (t: Tensor) => g.stopGradient(t);
  const { observations: s, nextObservations: sNext, valueGoals, actorGoals, actions } = b;
  const actionDim = actions.shape[actions.shape.length - 1] as number;
  const lead = s.shape.length - 2;
  const mean = (x: Tensor) => batchMean(g, x, lead);
  const rowAxes = (x: Tensor) => [...x.shape.keys()].slice(lead);
  const stats = (name: string, x: Tensor): Record<string, Tensor> => ({
    [`${name}_mean`]: mean(x),
    [`${name}_max`]: g.reduceMax(x, rowAxes(x), false),
    [`${name}_min`]: g.reduceMin(x, rowAxes(x), false),
  });
  // phi of the four kinds of states in one call; the actor's latents carry no gradient.
  const z = stacked(g, net.phi, { s: [s], next: [sNext], valueGoal: [valueGoals], actorGoal: [actorGoals] });
  // Action-free rows: the dynamics model and BC use the labelled rows only.
  const mask = b.actionMask;
  const maskedMean = (x: Tensor) =>
    mask ? g.div(g.reduceSum(g.mul(x, mask), rowAxes(x), false), g.max(g.reduceSum(mask, rowAxes(mask), false), 1)) : mean(x);

  // The distances that train phi and alpha: the value loss's pairs and the dynamics loss's.
  const predNext = net.nextLatent(z.s, actions);
  const dist = stacked(g, net.distance, {
    neg: [z.s, z.valueGoal],
    pos: [z.s, z.next],
    toPredicted: [z.next, predNext],
    fromPredicted: [predNext, z.next],
  });

  // 1. Value loss: d(s, g) for random g pushed up through 100 softplus(5 - d / 100), transitions
  //    held to d(s, s') <= 1 in the mean-square sense by lambda, which the dual loss raises while
  //    mean(relu(d(s, s') - 1)^2) exceeds eps (each side sees the other without gradient).
  const value = g.scope('value_loss', () => {
    const dNegLoss = mean(g.mul(g.softplus(g.sub(5, g.div(dist.neg, 100))), 100));
    const over = g.relu(g.sub(dist.pos, 1));
    const dPosLoss = mean(g.mul(over, over));
    const lam = net.lambda();
    const valueLoss = g.add(dNegLoss, g.mul(dPosLoss, sg(lam)));
    const lamLoss = g.mul(lam, g.sub(c.eps, sg(dPosLoss)));
    const total = g.add(valueLoss, lamLoss);
    return {
      loss: total,
      metrics: {
        total_loss: total,
        value_loss: valueLoss,
        lam_loss: lamLoss,
        d_neg_loss: dNegLoss,
        ...stats('d_neg', dist.neg),
        d_pos_loss: dPosLoss,
        ...stats('d_pos', dist.pos),
        lam,
      },
    };
  });

  // 2. Dynamics loss: the predicted next latent close to phi(s') in both directions of d.
  const dynamics = g.scope('dynamics_loss', () => {
    const loss = g.div(maskedMean(g.add(dist.toPredicted, dist.fromPredicted)), 2);
    return { loss, metrics: { dynamics_loss: loss } };
  });

  // 3. Actor loss, DDPG+BC: q = -d(phi(s) + f([phi(s); clip(mu)]), phi(g)) through the current value
  //    and dynamics networks (no gradient to them), normalised by sg(mean |q|), plus alpha times BC.
  const actor = g.scope('actor_loss', () => {
    const fixed = networks(g, new FrozenParams(g, P), c);
    const [zs, zg] = [sg(z.s), sg(z.actorGoal)];
    const mu = net.actor(s, actorGoals, actionDim);
    const q = g.neg(fixed.distance(fixed.nextLatent(zs, g.clip(mu, -1, 1)), zg));
    return ddpgBcLoss(g, q, c.alpha, { mu, logStd: null, target: actions, mask });
  });

  const metrics: Record<string, Tensor> = {};
  for (const [part, out] of [
    ['value', value],
    ['dynamics', dynamics],
    ['actor', actor],
  ] as const)
    for (const [k, m] of Object.entries(out.metrics)) metrics[`${part}/${k}`] = m;
  return { loss: g.add(g.add(value.loss, dynamics.loss), actor.loss), metrics };
}

/** 4. Deterministic policy: a = clip(mean of pi(s, g), -1, 1). */
export function qrlPolicy(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: QrlConfig, actionDim: number) {
  statesOnly(obs, 'qrl');
  return { action: g.clip(networks(g, P, c).actor(obs, goal, actionDim), -1, 1) };
}

/** The value V(s, g) = -d(phi(s), phi(g)) (diagnostics: bench/value-quality.ts). */
export function qrlValue(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: QrlConfig): Tensor {
  // Two calls rather than one stacked: an exported graph's batch is symbolic and cannot be split.
  const net = networks(g, P, c);
  return g.neg(net.distance(net.phi(obs), net.phi(goal)));
}

export const QRL: AgentDef<QrlConfig, typeof QRL_BATCH> = {
  defaults: QRL_DEFAULTS,
  batch: QRL_BATCH,
  sampling,
  loss: qrlLoss,
  targetUpdate: () => null,
  policy: qrlPolicy,
  value: qrlValue,
};
