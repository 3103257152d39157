// CRL, contrastive RL (Eysenbach et al., NeurIPS 2022), as in OGBench impls/agents/crl.py with its
// default actor_loss 'ddpgbc': a critic Q(s, a, g) = phi(s, a)^T psi(g) / sqrt(d) (an ensemble of
// two phi/psi pairs, OGBench's GCBilinearValue, no length normalisation, no target network) fitted
// by binary NCE over all (state-action, goal) pairs of the batch, and a Gaussian actor trained by
// DDPG+BC: maximise min(Q1, Q2) at its own clipped mean action, plus alpha times its log-likelihood
// of the data action. docs/spec.md section 4.
//
// Reading order: config, batch, networks, critic loss, actor loss, policy.
import type { Graph, Tensor } from '../../onnx/index.ts';
import type { Batch, BatchSpec } from '../batch.ts';
import { FrozenParams, actorMean, concatFeatures, mlp, type ParamSource } from '../networks.ts';
import type { GoalSampling } from '../sampler.ts';
import type { AgentDef } from './agent.ts';
import { batchMean, ddpgBcLoss, stacked, statesOnly, type LossOut } from './losses.ts';

export const CRL_DEFAULTS = {
  lr: 3e-4, // Adam learning rate
  batchSize: 1024, // transitions per update (also the number of contrastive pairs per row)
  actorHiddenDims: [512, 512, 512] as number[], // actor hidden layers (GELU, no LayerNorm)
  valueHiddenDims: [512, 512, 512] as number[], // hidden layers of each phi and psi (GELU + LayerNorm)
  latentDim: 512, // d: size of phi(s, a) and psi(g) (not length-normalised)
  layerNorm: true, // LayerNorm (epsilon 1e-6) after each hidden activation of phi and psi
  actorActivation: 'gelu' as 'gelu' | 'relu', // actor hidden activation
  discount: 0.99, // gamma: only the geometric value-goal offsets use it (0.995 on giant mazes)
  alpha: 0.1, // BC coefficient of DDPG+BC (0.03 on PointMaze, OGBench impls/hyperparameters.sh)
  valuePCurgoal: 0.0, // critic goal = current state, with this probability
  valuePTrajgoal: 1.0, // critic goal = future state of the same trajectory (geometric offset)
  valuePRandomgoal: 0.0, // critic goal = uniformly random dataset state
  valueGeomSample: true, // future critic goals at t + Geometric(1 - discount): the positives of the contrastive loss
  actorPCurgoal: 0.0, // actor goal = current state
  actorPTrajgoal: 1.0, // actor goal = future state of the same trajectory
  actorPRandomgoal: 0.0, // actor goal = random dataset state (0.5 on stitch datasets)
  actorGeomSample: false, // future actor goals geometric rather than uniform
  gcNegative: false, // unused by the losses (CRL reads no rewards); OGBench's value, kept for the sampler
};
export type CrlConfig = typeof CRL_DEFAULTS;

/** What one CRL batch holds (OGBench's GCDataset; CRL reads no next states, rewards or masks). */
export const CRL_BATCH = {
  observations: 's: the state at t',
  actions: 'a: the action at t (every row labelled: the critic is Q(s, a, g))',
  valueGoals: "the critic's goal: a geometric future state of the trajectory (row i's positive; other rows' are its negatives)",
  actorGoals: "the actor's goal: a uniform future state of the trajectory (or a random state on stitch)",
} satisfies BatchSpec;
export type CrlBatch = Batch<typeof CRL_BATCH>;

const sampling = (c: CrlConfig): GoalSampling => ({
  batchSize: c.batchSize,
  discount: c.discount,
  gcNegative: c.gcNegative,
  value: { pCur: c.valuePCurgoal, pTraj: c.valuePTrajgoal, geom: c.valueGeomSample },
  actor: { pCur: c.actorPCurgoal, pTraj: c.actorPTrajgoal, geom: c.actorGeomSample },
});

const ENSEMBLE = 2;
const encOpts = (c: CrlConfig) => ({ hidden: c.valueHiddenDims, out: c.latentDim, layerNorm: c.layerNorm });
const actorOpts = (c: CrlConfig, actionDim: number) => ({ hidden: c.actorHiddenDims, outDim: actionDim, activation: c.actorActivation });

/** phi_e([s; a]) of each ensemble member e: [B, d] ([N, B, d] with seeds). */
const phis = (g: Graph, P: ParamSource, sa: Tensor, c: CrlConfig): Tensor[] =>
  Array.from({ length: ENSEMBLE }, (_, e) => g.scope(`critic/phi/${e}`, () => mlp(g, P, `critic/phi/${e}/mlp`, sa, encOpts(c))));
/** psi_e(g) of each ensemble member e. */
const psis = (g: Graph, P: ParamSource, goals: Tensor, c: CrlConfig): Tensor[] =>
  Array.from({ length: ENSEMBLE }, (_, e) => g.scope(`critic/psi/${e}`, () => mlp(g, P, `critic/psi/${e}/mlp`, goals, encOpts(c))));

/** Row-wise phi . psi / sqrt(d): [B] ([N, B]), Q of row i on its own goal. */
const pairValue = (g: Graph, phi: Tensor, psi: Tensor, d: number): Tensor => g.div(g.reduceSum(g.mul(phi, psi), [-1], false), Math.sqrt(d));

/** The same parameters with no gradient: the actor's Q uses the critic but does not train it (OGBench calls it without grad_params). */

/**
 * The binary NCE loss on the B x B logits of one member, logits[i, j] = phi(s_i, a_i) . psi(g_j) / sqrt(d):
 * optax.sigmoid_binary_cross_entropy with labels I, i.e. softplus(x) - I x (the stable form of
 * -I log sigmoid(x) - (1 - I) log sigmoid(-x)), averaged over all B^2 pairs.
 */
function binaryNce(g: Graph, logits: Tensor, eye: Tensor, lead: number): Tensor {
  return batchMean(g, g.sub(g.softplus(logits), g.mul(logits, eye)), lead);
}

export function crlLoss(g: Graph, P: ParamSource, b: CrlBatch, c: CrlConfig): LossOut {
  statesOnly(b.observations, 'crl');
  if (b.actionMask)
    throw new RangeError(
      'crl trains its critic Q(s, a, g) on every row, so it needs actions on every transition; ' +
        'train on the labelled trajectories only (--labelledOnly true)',
    );
  const { observations: s, actions: a, valueGoals, actorGoals } = b;
  const rank = s.shape.length;
  const lead = rank - 2;
  const rows = s.shape[rank - 2];
  if (typeof rows !== 'number') throw new RangeError('crl: the batch size must be static (the contrastive labels are a B x B identity)');
  const d = c.latentDim;
  const eyeData = new Float32Array(rows * rows);
  for (let i = 0; i < rows; i++) eyeData[i * rows + i] = 1;
  const eye = g.constant(eyeData, 'float32', [rows, rows]);
  // psi on both goal sets in one call per member; the actor's half is a constant for the actor loss.
  const psi = stacked(g, (goals: Tensor) => psis(g, P, goals, c), { value: [valueGoals], actor: [actorGoals] });

  // 1. Critic: binary NCE over all pairs, each member on its own, averaged over members (OGBench's
  // mean over the [B, B, e] losses).
  const critic = g.scope('critic_loss', () => {
    const phi = phis(g, P, concatFeatures(g, [s, a]), c);
    const perm = [...Array(rank).keys()].map((i) => (i < rank - 2 ? i : 2 * rank - 3 - i));
    const logits = phi.map((p, e) => g.div(g.matMul(p, g.transpose(psi.value[e]!, perm)), Math.sqrt(d)));
    const losses = logits.map((l) => binaryNce(g, l, eye, lead));
    const loss = g.div(g.add(losses[0]!, losses[1]!), ENSEMBLE);

    // Figures, as OGBench reports them: v = exp(Q) on the positive pairs, over both members; the
    // accuracies and logit means on the members' mean logits.
    const mean = (x: Tensor) => batchMean(g, x, lead);
    const v = phi.map((p, e) => g.exp(pairValue(g, p, psi.value[e]!, d)));
    const vAxes = [...Array(rank - 1).keys()].slice(lead);
    const lm = g.div(g.add(logits[0]!, logits[1]!), ENSEMBLE);
    const arange = g.constant(
      Array.from({ length: rows }, (_, i) => i),
      'int64',
      [rows],
    );
    const correct = g.cast(g.equal(g.argMax(lm, -1, false), arange), 'float32');
    const positive = g.cast(g.greater(lm, 0), 'float32');
    const binaryHit = g.cast(g.equal(positive, eye), 'float32');
    return {
      loss,
      metrics: {
        contrastive_loss: loss,
        v_mean: g.div(g.add(mean(v[0]!), mean(v[1]!)), ENSEMBLE),
        v_max: g.max(g.reduceMax(v[0]!, vAxes, false), g.reduceMax(v[1]!, vAxes, false)),
        v_min: g.min(g.reduceMin(v[0]!, vAxes, false), g.reduceMin(v[1]!, vAxes, false)),
        binary_accuracy: mean(binaryHit),
        categorical_accuracy: mean(correct),
        // sum(L I) / B and sum(L (1 - I)) / (B (B - 1)), from means over the B^2 pairs.
        logits_pos: g.mul(mean(g.mul(lm, eye)), rows),
        logits_neg: g.mul(mean(g.mul(lm, g.sub(1, eye))), rows / (rows - 1)),
        logits: mean(lm),
      },
    };
  });

  // 2. Actor, DDPG+BC with constant std: the action whose Q is maximised is the clipped mean; Q is
  // normalised by its batch |Q| mean (no gradient) so the BC weight alpha is scale-free.
  const actor = g.scope('actor_loss', () => {
    const actionDim = a.shape[rank - 1] as number;
    const mu = actorMean(g, P, 'actor', concatFeatures(g, [s, actorGoals]), actorOpts(c, actionDim));
    const phiPi = phis(g, new FrozenParams(g, P), concatFeatures(g, [s, g.clip(mu, -1, 1)]), c);
    const q = g.min(...(phiPi.map((p, e) => pairValue(g, p, g.stopGradient(psi.actor[e]!), d)) as [Tensor, Tensor]));
    return ddpgBcLoss(g, q, c.alpha, { mu, logStd: null, target: a });
  });

  const metrics: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(critic.metrics)) metrics[`critic/${k}`] = v;
  for (const [k, v] of Object.entries(actor.metrics)) metrics[`actor/${k}`] = v;
  return { loss: g.add(critic.loss, actor.loss), metrics };
}

/** 3. Deterministic policy: a = clip(mean of pi(s, g), -1, 1) (OGBench's temperature 0). */
export function crlPolicy(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: CrlConfig, actionDim: number) {
  statesOnly(obs, 'crl');
  return { action: g.clip(actorMean(g, P, 'actor', concatFeatures(g, [obs, goal]), actorOpts(c, actionDim)), -1, 1) };
}

export const CRL: AgentDef<CrlConfig, typeof CRL_BATCH> = {
  defaults: CRL_DEFAULTS,
  batch: CRL_BATCH,
  sampling,
  loss: crlLoss,
  // No target network: the contrastive critic regresses on no bootstrapped target.
  targetUpdate: () => null,
  policy: crlPolicy,
};
