// Golden parity with the authors' implementation (OGBench, JAX): the fixtures hold parameters, one
// batch, and what the reference computed from them. Our agents must reproduce every figure. The
// checks are golden.ts's (checkOneStep, checkFourSeeds, valueStats), shared with golden-*.test.ts.
import { test } from 'node:test';
import type { AgentName } from '../../train/agents/index.ts';
import { EP, checkFourSeeds, checkOneStep, close, configFor, load, mapParams, valueStats, type GoldenCase } from './golden.ts';

const caseOf = (agent: AgentName): GoldenCase => {
  const gold = load(agent);
  return { agent, gold, config: configFor(agent, gold), map: mapParams, policyGoal: agent === 'hiql' ? 'high_actor_goals' : 'actor_goals' };
};

for (const agent of ['hiql', 'gcivl', 'gcbc'] as AgentName[]) {
  test(`${agent} (${EP}): loss, per-part figures, gradients, one update and actions equal the reference`, (t) =>
    checkOneStep(t, caseOf(agent)));
}

for (const agent of ['hiql', 'gcivl'] as const) {
  test(`${agent}: the value graph (bench/value-quality.ts) gives the reference's value statistics`, async () => {
    // OGBench reports v = (v1 + v2) / 2 of the online value on (observations, value_goals).
    const g = caseOf(agent);
    const info = g.gold.info;
    close(await valueStats(g), [info['value/v_mean']!, info['value/v_max']!, info['value/v_min']!], 'value mean, max, min');
  });
}

for (const agent of ['hiql', 'gcivl', 'gcbc'] as AgentName[]) {
  test(`${agent} (${EP}), 4 seeds in one graph: seeds given the reference's inputs reproduce it, others their one-seed step`, (t) =>
    checkFourSeeds(t, caseOf(agent)));
}
