// What the golden-parity tests share: the fixtures' layout (the authors' code on fixed parameters and
// one fixed batch, test/fixtures/README.md), loading them, mapping flax parameter paths to ours, and
// tolerant comparisons. Each agent's test file (golden.test.ts, golden-*.test.ts) imports these.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AGENTS, type AgentName } from '../../train/agents/index.ts';

export interface Arr {
  shape: number[];
  data: number[];
}
export interface Golden {
  config: Record<string, unknown>;
  params: Record<string, Arr>;
  batch: Record<string, Arr>;
  loss: number;
  info: Record<string, number>;
  grads: Record<string, Arr>;
  params_after_one_update: Record<string, Arr>;
  actions_temperature0: Arr;
}

// HIQL_TEST_EP=webgpu (or cuda) runs the same checks on a GPU execution provider, state kept on the
// device between steps as training does; CI runs them on the CPU.
export const EP = process.env['HIQL_TEST_EP'] ?? 'cpu';
export const runnerOptions = EP === 'cpu' ? { threads: 1 } : { executionProviders: [EP], deviceResident: true };

export const load = (agent: string): Golden =>
  JSON.parse(readFileSync(fileURLToPath(new URL(`../fixtures/${agent}-ogbench-golden.json`, import.meta.url)), 'utf8'));

/** Maps a flax path to our parameter names, splitting ensembles stacked on axis 0 into members. */
export function mapParams(flax: Record<string, Arr>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [path, arr] of Object.entries(flax)) {
    const m = /^modules_(\w+?)\/(?:layers_0|value_net|actor_net|(mean_net))\/?(?:(Dense|LayerNorm)_(\d+)\/)?(kernel|bias|scale)$/.exec(
      path,
    );
    assert.ok(m, `unexpected fixture parameter ${path}`);
    const [, module, meanNet, kind, idx, leaf] = m;
    const prefix = module === 'goal_rep' ? 'phi' : module!;
    const local = meanNet ? `mean/${leaf}` : kind === 'LayerNorm' ? `mlp/${idx}/ln/${leaf}` : `mlp/${idx}/${leaf}`;
    if (module === 'value' || module === 'target_value') {
      const per = arr.data.length / 2;
      for (let e = 0; e < 2; e++) out.set(`${prefix}/${e}/${local}`, Float32Array.from(arr.data.slice(e * per, (e + 1) * per)));
    } else {
      out.set(`${prefix}/${local}`, Float32Array.from(arr.data));
    }
  }
  return out;
}

export const camel = (s: string) => s.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());

export function configFor(agent: AgentName, gold: Golden) {
  const c: Record<string, unknown> = { ...AGENTS[agent].defaults };
  const gc = gold.config;
  c['batchSize'] = gc['batch_size'];
  c['actorHiddenDims'] = gc['actor_hidden_dims'];
  if ('value_hidden_dims' in gc) c['valueHiddenDims'] = gc['value_hidden_dims'];
  for (const k of ['discount', 'tau', 'expectile', 'low_alpha', 'high_alpha', 'alpha', 'rep_dim', 'subgoal_steps', 'lr'])
    if (k in gc) c[camel(k)] = gc[k];
  return c as never;
}

export function close(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rel = 1e-5, abs = 1e-6) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i]! - expected[i]!) / (abs + rel * Math.abs(expected[i]!));
    if (err > worst) {
      worst = err;
      at = i;
    }
  }
  assert.ok(worst <= 1, `${what}: element ${at} is ${actual[at]}, reference ${expected[at]} (beyond ${rel} relative + ${abs} absolute)`);
}

/** Relative error of a whole tensor, ||a - b|| / ||b||: robust to float32 summation order in reductions. */
export function closeNorm(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rel: number) {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i]! - expected[i]!) ** 2;
    den += expected[i]! ** 2;
  }
  const err = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
  assert.ok(err <= rel, `${what}: relative error ${err.toExponential(2)} exceeds ${rel}`);
  return err;
}

export const BATCH_KEY: Record<string, string> = {
  observations: 'observations',
  nextObservations: 'next_observations',
  actions: 'actions',
  rewards: 'rewards',
  masks: 'masks',
  valueGoals: 'value_goals',
  lowActorGoals: 'low_actor_goals',
  highActorGoals: 'high_actor_goals',
  highActorTargets: 'high_actor_targets',
  actorGoals: 'actor_goals',
};
