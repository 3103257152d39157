// What an agent file provides: the contract between an algorithm (train/agents/hiql.ts, gcivl.ts,
// gcbc.ts) and the code that samples its batches, assembles its training step and exports it.
import type { Graph, Tensor } from '../../onnx/index.ts';
import type { Batch, BatchSpec } from '../batch.ts';
import type { ParamSource } from '../networks.ts';
import type { GoalSampling } from '../sampler.ts';
import type { LossOut } from './losses.ts';

/** Target networks that follow online ones: parameters under `target/...` track `online/...`. */
export interface TargetUpdate {
  /** [target prefix, online prefix] */
  pairs: [string, string][];
  /** Polyak rate: target <- (1 - tau) target + tau online, from the online values before the step. */
  tau: number;
}

export interface AgentDef<C, S extends BatchSpec> {
  /** The config, every key commented where it is defined. */
  defaults: C;
  /** The keys of one batch and what each holds. */
  batch: S;
  /** The goal sampler's settings for this config. */
  sampling(c: C): GoalSampling;
  /** The summed loss of one batch and the figures to log (`part/name`). */
  loss(g: Graph, P: ParamSource, b: Batch<S>, c: C): LossOut;
  /** The target networks and their rate, or null for none. */
  targetUpdate(c: C): TargetUpdate | null;
  /** The deterministic policy: action in [-1, 1] (and HIQL's subgoal latent). */
  policy(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: C, actionDim: number): { action: Tensor; subgoal?: Tensor };
  /** The online value V(s, g), mean of its heads (agents with a value function). */
  value?(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: C): Tensor;
  /** Hierarchical agents: the low level on a given subgoal latent, and the goal representation. */
  lowPolicy?(g: Graph, P: ParamSource, obs: Tensor, subgoal: Tensor, c: C, actionDim: number): Tensor;
  goalRep?(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: C): Tensor;
  /** Hierarchical agents: the size of the subgoal latent. */
  subgoalDim?(c: C): number;
}
