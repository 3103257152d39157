// HIQL (Park et al., NeurIPS 2023), as in OGBench impls/agents/hiql.py: one action-free value
// function V(s, phi([s; g])) trained with an expectile loss, and two policies extracted from it by
// advantage-weighted regression. SPEC.md sections 1-2. The loss order follows the paper.
import { lengthNormalize, type Graph, type Tensor } from '../../onnx/index.ts';
import {
  actorLogStd,
  actorMean,
  gaussianLogProbStd,
  goalRep,
  impalaEncoder,
  valueHeads,
  type EncoderOptions,
  type ParamSource,
} from '../networks.ts';
import { awrLoss, expectileValueLoss, mean2, rowsOf, type LossOut } from './common.ts';

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
  encoder: 'none' as 'none' | 'impala_small', // pixel encoder; 'impala_small' for uint8 frames (SPEC.md section 8)
  encoderChannels: [16, 32, 32] as number[], // channels of the encoder's three conv stacks
  encoderDense: 512, // width of the encoder's final Dense + GELU
};
export type HiqlConfig = typeof HIQL_DEFAULTS;

export const HIQL_BATCH_KEYS = [
  'observations',
  'nextObservations',
  'actions',
  'rewards',
  'masks',
  'valueGoals',
  'lowActorGoals',
  'highActorGoals',
  'highActorTargets',
] as const;
export type HiqlBatch = Record<(typeof HIQL_BATCH_KEYS)[number], Tensor> & { actionMask?: Tensor };

export const HIQL_TARGETS: readonly [string, string][] = [['target_value', 'value']];

/** The pixel encoder's options, or null for state observations (configs saved before pixels have no 'encoder'). */
export function encoderOf(c: { encoder?: string; encoderChannels?: number[]; encoderDense?: number }): EncoderOptions | null {
  return c.encoder === undefined || c.encoder === 'none' ? null : { channels: c.encoderChannels!, dense: c.encoderDense! };
}
const phiOpts = (c: HiqlConfig) => ({ hidden: c.valueHiddenDims, repDim: c.repDim, layerNorm: c.layerNorm, encoder: encoderOf(c) });

/** Checks that observations and the encoder setting agree (uint8 frames need an encoder, states none). */
export function checkObsEncoder(obs: Tensor, c: { encoder?: string }, agent: string): void {
  const enc = c.encoder !== undefined && c.encoder !== 'none';
  if (obs.dtype === 'uint8' && !enc)
    throw new RangeError(`${agent}: pixel observations [${obs.shape}] need an encoder (--encoder impala_small)`);
  if (obs.dtype !== 'uint8' && enc)
    throw new RangeError(`${agent}: encoder '${c.encoder}' needs uint8 frame observations, got ${obs.dtype} [${obs.shape}]`);
}

/**
 * A network's own view of states: the states themselves, or with pixels its own encoder
 * (`PREFIX/encoder`; OGBench's GCEncoder state_encoder) applied once to the stacked rows.
 */
function stateFeatures(g: Graph, P: ParamSource, c: HiqlConfig, prefix: string, states: Tensor): Tensor {
  const enc = encoderOf(c);
  return enc ? impalaEncoder(g, P, `${prefix}/encoder`, states, enc) : states;
}

/** The high actor's input from (s, g): [s; g], or with pixels its encoder over the channel stack [s; g]. */
function highActorInput(g: Graph, P: ParamSource, c: HiqlConfig, obs: Tensor, goal: Tensor): Tensor {
  const enc = encoderOf(c);
  return enc ? impalaEncoder(g, P, 'high_actor/encoder', g.concat([obs, goal], 3), enc) : g.concat([obs, goal], 1);
}
const headOpts = (c: HiqlConfig) => ({ hidden: c.valueHiddenDims, layerNorm: c.layerNorm });
const lowActorOpts = (c: HiqlConfig, actionDim: number) => ({
  hidden: c.actorHiddenDims,
  outDim: actionDim,
  activation: c.actorActivation,
  learnStd: c.learnActorStd,
});
const highActorOpts = (c: HiqlConfig) => ({
  hidden: c.actorHiddenDims,
  outDim: c.repDim,
  activation: c.actorActivation,
  learnStd: c.learnActorStd,
});

/**
 * The summed HIQL loss. Calls of one network on several (state, goal) pairs are stacked along the
 * batch axis and run once; only the calls that carry gradient in OGBench are differentiated.
 */
export function hiqlLoss(g: Graph, P: ParamSource, b: HiqlBatch, c: HiqlConfig): LossOut {
  const s = b.observations;
  const s1 = b.nextObservations;
  const phi = (pairs: [Tensor, Tensor][]) =>
    rowsOf(
      g,
      goalRep(
        g,
        P,
        g.concat(
          pairs.map((p) => p[0]),
          0,
        ),
        g.concat(
          pairs.map((p) => p[1]),
          0,
        ),
        phiOpts(c),
      ),
      pairs.length,
    );
  checkObsEncoder(s, c, 'hiql');
  // A value network's input: its view of the states beside the goal latents, [f(s); z].
  const valueInput = (prefix: string, pairs: [Tensor, Tensor][]) =>
    g.concat(
      [
        stateFeatures(
          g,
          P,
          c,
          prefix,
          g.concat(
            pairs.map((p) => p[0]),
            0,
          ),
        ),
        g.concat(
          pairs.map((p) => p[1]),
          0,
        ),
      ],
      1,
    );
  const heads = (prefix: string, pairs: [Tensor, Tensor][]) => {
    const [v1, v2] = valueHeads(g, P, prefix, valueInput(prefix, pairs), headOpts(c));
    return { v1: rowsOf(g, v1!, pairs.length), v2: rowsOf(g, v2!, pairs.length) };
  };

  // phi with gradient: the value loss's (s, value goal), and the low actor's subgoal if lowActorRepGrad.
  const gradPhi = phi(
    c.lowActorRepGrad
      ? [
          [s, b.valueGoals],
          [s, b.lowActorGoals],
        ]
      : [[s, b.valueGoals]],
  );
  const zSvg = gradPhi[0]!;
  // phi without gradient, for the target value and the advantages.
  const [zS1vg, zSw, zS1w, zStgh, zSgh, zSst] = phi([
    [s1, b.valueGoals],
    [s, b.lowActorGoals],
    [s1, b.lowActorGoals],
    [b.highActorTargets, b.highActorGoals],
    [s, b.highActorGoals],
    [s, b.highActorTargets],
  ]).map((z) => g.stopGradient(z)) as Tensor[];

  // 1. Value loss (action-free IQL with an expectile, double-value style).
  const value = g.scope('value_loss', () => {
    const tgt = heads('target_value', [
      [s1, zS1vg!],
      [s, g.stopGradient(zSvg)],
    ]);
    const [v1, v2] = valueHeads(g, P, 'value', valueInput('value', [[s, zSvg]]), headOpts(c));
    return expectileValueLoss(
      g,
      {
        nv1t: g.stopGradient(tgt.v1[0]!),
        nv2t: g.stopGradient(tgt.v2[0]!),
        v1t: g.stopGradient(tgt.v1[1]!),
        v2t: g.stopGradient(tgt.v2[1]!),
        v1: v1!,
        v2: v2!,
      },
      b.rewards,
      b.masks,
      c.discount,
      c.expectile,
    );
  });

  // Online value (no gradient) on the low and high actors' pairs.
  const on = heads('value', [
    [s, zSw!],
    [s1, zS1w!],
    [s, zSgh!],
    [b.highActorTargets, zStgh!],
  ]);
  const vOf = (i: number) => g.stopGradient(mean2(g, on.v1[i]!, on.v2[i]!));

  // 2. Low-level actor: AWR towards the subgoal w = s_{t+k}, conditioned on z = phi([s; w]).
  const low = g.scope('low_actor_loss', () => {
    const adv = g.sub(vOf(1), vOf(0));
    const z = c.lowActorRepGrad ? gradPhi[1]! : zSw!;
    const mu = actorMean(
      g,
      P,
      'low_actor',
      g.concat([stateFeatures(g, P, c, 'low_actor', s), z], 1),
      lowActorOpts(c, b.actions.shape[1] as number),
    );
    const logStd = actorLogStd(g, P, 'low_actor', lowActorOpts(c, b.actions.shape[1] as number));
    return awrLoss(g, adv, c.lowAlpha, gaussianLogProbStd(g, b.actions, mu, logStd), mu, b.actions, logStd, b.actionMask);
  });

  // 3. High-level actor: AWR towards the latent of the target state, phi([s; s_target]).
  const high = g.scope('high_actor_loss', () => {
    const adv = g.sub(vOf(3), vOf(2));
    const mu = actorMean(g, P, 'high_actor', highActorInput(g, P, c, s, b.highActorGoals), highActorOpts(c));
    const logStd = actorLogStd(g, P, 'high_actor', highActorOpts(c));
    return awrLoss(g, adv, c.highAlpha, gaussianLogProbStd(g, zSst!, mu, logStd), mu, zSst!, logStd);
  });

  const total = g.add(g.add(value.loss, low.loss), high.loss);
  const metrics: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(value.metrics)) metrics[`value/${k}`] = v;
  for (const [k, v] of Object.entries(low.metrics)) metrics[`low_actor/${k}`] = v;
  for (const [k, v] of Object.entries(high.metrics)) metrics[`high_actor/${k}`] = v;
  return { loss: total, metrics };
}

/**
 * Deterministic hierarchical policy: z = mean of pi_hi(s, g) rescaled to length sqrt(repDim), then
 * a = mean of pi_lo(s, z) clipped to [-1, 1]. Returns both, plus the low level on a given latent.
 */
export function hiqlPolicy(
  g: Graph,
  P: ParamSource,
  obs: Tensor,
  goal: Tensor,
  c: HiqlConfig,
  actionDim: number,
): { action: Tensor; subgoal: Tensor } {
  checkObsEncoder(obs, c, 'hiql');
  const raw = actorMean(g, P, 'high_actor', highActorInput(g, P, c, obs, goal), highActorOpts(c));
  const subgoal = lengthNormalize(g, raw);
  return { action: hiqlLowPolicy(g, P, obs, subgoal, c, actionDim), subgoal };
}

/** The low level alone: a = clip(mean of pi_lo(s, z), -1, 1) for a given subgoal latent z. */
export function hiqlLowPolicy(g: Graph, P: ParamSource, obs: Tensor, subgoal: Tensor, c: HiqlConfig, actionDim: number): Tensor {
  return g.clip(
    actorMean(g, P, 'low_actor', g.concat([stateFeatures(g, P, c, 'low_actor', obs), subgoal], 1), lowActorOpts(c, actionDim)),
    -1,
    1,
  );
}

/** phi([s; g]): the goal representation, used to show subgoals as maze positions. */
export function hiqlGoalRep(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: HiqlConfig): Tensor {
  return goalRep(g, P, obs, goal, phiOpts(c));
}

/** The online value, mean of the two heads: V(s, phi([s; g])) (diagnostics: bench/value-quality.ts). */
export function hiqlValue(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: HiqlConfig): Tensor {
  const z = goalRep(g, P, obs, goal, phiOpts(c));
  const [v1, v2] = valueHeads(g, P, 'value', g.concat([stateFeatures(g, P, c, 'value', obs), z], 1), headOpts(c));
  return mean2(g, v1!, v2!);
}
