// Inference graphs of the agents' own policy functions, with the input and output names that
// export and the runtime use: `observation` and `goal` [batch, obsDim] (uint8 [batch, H, W, C]
// frames for pixel policies) -> `action` (and HIQL's `subgoal`). Parameters are initializers with
// known values, or (params null) graph inputs as in the training graph.
import { Graph, type Tensor } from '../onnx/index.ts';
import { AGENTS, type AgentConfig, type AgentName } from './agents/index.ts';
import { obsInput, type Dims } from './dims.ts';
import { ConstParams, InputParams, type ParamSource } from './networks.ts';

/** Parameter values as initializers, or (null) as graph inputs, as in the training graph. */
export type ParamValues = ReadonlyMap<string, Float32Array> | null;

const sourceFor = (g: Graph, params: ParamValues): ParamSource => (params ? new ConstParams(g, params) : new InputParams(g));
const obsOf = (g: Graph, name: string, dims: Dims) => g.input(name, obsInput(dims).dtype, ['batch', ...obsInput(dims).shape]);

/** The deterministic policy: `observation`, `goal` -> `action` in [-1, 1] (and `subgoal` [batch, repDim] for HIQL). */
export function buildPolicyGraph(agent: AgentName, c: AgentConfig, dims: Dims, params: ParamValues): Graph {
  const g = new Graph(`${agent}_policy`);
  const obs = obsOf(g, 'observation', dims);
  const goal = obsOf(g, 'goal', dims);
  const out = AGENTS[agent].policy(g, sourceFor(g, params), obs, goal, c, dims.actionDim);
  g.output(out.action, 'action');
  if (out.subgoal) g.output(out.subgoal, 'subgoal');
  return g;
}

/** A hierarchical agent's low level alone on a held subgoal: `observation`, `subgoal` -> `action`. */
export function buildLowPolicyGraph(agent: AgentName, c: AgentConfig, dims: Dims, params: ParamValues): Graph {
  const def = AGENTS[agent];
  if (!def.lowPolicy || !def.subgoalDim) throw new RangeError(`agent '${agent}' has no low-level policy`);
  const g = new Graph(`${agent}_low_policy`);
  const obs = obsOf(g, 'observation', dims);
  const z = g.input('subgoal', 'float32', ['batch', def.subgoalDim(c)]);
  g.output(def.lowPolicy(g, sourceFor(g, params), obs, z, c, dims.actionDim), 'action');
  return g;
}

/** A graph from (`observation`, `goal`) to one output, as the network function `f` computes it. */
function obsGoalGraph(
  name: string,
  dims: Dims,
  params: ParamValues,
  output: string,
  f: (g: Graph, P: ParamSource, obs: Tensor, goal: Tensor) => Tensor,
): Graph {
  const g = new Graph(name);
  const obs = obsOf(g, 'observation', dims);
  const goal = obsOf(g, 'goal', dims);
  g.output(f(g, sourceFor(g, params), obs, goal), output);
  return g;
}

/** A hierarchical agent's goal representation phi([s; g]): `observation`, `goal` -> `representation`. */
export function buildGoalRepGraph(agent: AgentName, c: AgentConfig, dims: Dims, params: ParamValues): Graph {
  const goalRep = AGENTS[agent].goalRep;
  if (!goalRep) throw new RangeError(`agent '${agent}' has no goal representation`);
  return obsGoalGraph(`${agent}_goal_rep`, dims, params, 'representation', (g, P, obs, goal) => goalRep(g, P, obs, goal, c));
}

/** The online value V(s, g) (mean of the heads): `observation`, `goal` -> `value` [batch, 1]. */
export function buildValueGraph(agent: AgentName, c: AgentConfig, dims: Dims, params: ParamValues): Graph {
  const value = AGENTS[agent].value;
  if (!value) throw new RangeError(`agent '${agent}' has no value function`);
  return obsGoalGraph(`${agent}_value`, dims, params, 'value', (g, P, obs, goal) => value(g, P, obs, goal, c));
}
