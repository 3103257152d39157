// The agents by name. Each file owns its algorithm (config, batch, losses, target update, policy);
// this table is how the trainer, export and the CLI find them.
import type { Graph, Tensor } from '../../onnx/index.ts';
import type { BatchSpec } from '../batch.ts';
import type { ParamSource } from '../networks.ts';
import type { GoalSampling } from '../sampler.ts';
import type { AgentDef, TargetUpdate } from './agent.ts';
import { GCBC, type GcbcConfig } from './gcbc.ts';
import { GCIVL, type GcivlConfig } from './gcivl.ts';
import { HIQL, type HiqlConfig } from './hiql.ts';
import type { LossOut } from './losses.ts';

export type { AgentDef, TargetUpdate } from './agent.ts';

export type AgentName = 'hiql' | 'gcivl' | 'gcbc';
export const AGENT_NAMES: readonly AgentName[] = ['hiql', 'gcivl', 'gcbc'];

export type AgentConfig = HiqlConfig | GcivlConfig | GcbcConfig;

/**
 * An agent as code that serves every agent sees it: config and batch in their shared shapes. The
 * one place where an agent's own types are widened; `resolveConfig` (train/config.ts) guarantees
 * that a config handed to an agent is that agent's.
 */
export interface Agent {
  defaults: AgentConfig;
  batch: BatchSpec;
  sampling(c: AgentConfig): GoalSampling;
  loss(g: Graph, P: ParamSource, b: Readonly<Record<string, Tensor>>, c: AgentConfig): LossOut;
  targetUpdate(c: AgentConfig): TargetUpdate | null;
  policy(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: AgentConfig, actionDim: number): { action: Tensor; subgoal?: Tensor };
  value?(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: AgentConfig): Tensor;
  lowPolicy?(g: Graph, P: ParamSource, obs: Tensor, subgoal: Tensor, c: AgentConfig, actionDim: number): Tensor;
  goalRep?(g: Graph, P: ParamSource, obs: Tensor, goal: Tensor, c: AgentConfig): Tensor;
  subgoalDim?(c: AgentConfig): number;
}

const widen = <C extends AgentConfig, S extends BatchSpec>(def: AgentDef<C, S>): Agent => def as unknown as Agent;

export const AGENTS: Record<AgentName, Agent> = { hiql: widen(HIQL), gcivl: widen(GCIVL), gcbc: widen(GCBC) };

/** The agent of a name, or a RangeError listing the valid names. */
export function agentOf(name: string): Agent {
  if (!AGENT_NAMES.includes(name as AgentName)) throw new RangeError(`unknown agent '${name}'; valid agents: ${AGENT_NAMES.join(', ')}`);
  return AGENTS[name as AgentName];
}
