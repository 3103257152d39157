// Loss values on a tiny hand-built batch equal the docs/spec.md section 2 formulas, computed here
// independently in plain TypeScript (float64) from the same parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StepRunner } from '../../onnx/index.ts';
import { AGENTS, type AgentName } from '../../train/agents/index.ts';
import { batchFeeds } from '../../train/batch.ts';
import { buildAgentStep, initAgentParams } from '../../train/step.ts';

type P = Map<string, Float32Array>;
type Vec = number[];

const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
function dense(p: P, name: string, x: Vec): Vec {
  const w = p.get(`${name}/kernel`)!;
  const b = p.get(`${name}/bias`)!;
  const out = b.length;
  return Array.from({ length: out }, (_, j) => x.reduce((s, xi, i) => s + xi * w[i * out + j]!, b[j]!));
}
function layerNorm(p: P, name: string, x: Vec): Vec {
  const m = x.reduce((a, b) => a + b, 0) / x.length;
  const v = x.reduce((a, b) => a + (b - m) ** 2, 0) / x.length;
  const s = p.get(`${name}/scale`)!;
  const b = p.get(`${name}/bias`)!;
  return x.map((xi, i) => ((xi - m) / Math.sqrt(v + 1e-6)) * s[i]! + b[i]!);
}
function mlp(p: P, prefix: string, x: Vec, hidden: number, ln: boolean, out?: number): Vec {
  let h = x;
  for (let i = 0; i < hidden; i++) {
    h = dense(p, `${prefix}/${i}`, h).map(gelu);
    if (ln) h = layerNorm(p, `${prefix}/${i}/ln`, h);
  }
  return out === undefined ? h : dense(p, `${prefix}/${hidden}`, h);
}
const normalize = (z: Vec) => {
  const n = Math.sqrt(z.reduce((a, b) => a + b * b, 0));
  return z.map((x) => (x / n) * Math.sqrt(z.length));
};
const phi = (p: P, s: Vec, g: Vec) => normalize(mlp(p, 'phi/mlp', [...s, ...g], 2, true, 1));
const heads = (p: P, prefix: string, x: Vec) => [0, 1].map((m) => mlp(p, `${prefix}/${m}/mlp`, x, 2, true, 1)[0]!);
const actor = (p: P, prefix: string, x: Vec) => dense(p, `${prefix}/mean`, mlp(p, `${prefix}/mlp`, x, 2, false));
const logProb = (a: Vec, mu: Vec) => -0.5 * a.reduce((s, ai, i) => s + (ai - mu[i]!) ** 2, 0) - (a.length / 2) * Math.log(2 * Math.PI);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

const B = 4;
const rows = (seed: number) => Array.from({ length: B }, (_, i) => [Math.sin(seed + 3 * i) * 5, Math.cos(seed * 2 + i) * 5]);
const batchRows: Record<string, Vec[]> = {
  observations: rows(1),
  nextObservations: rows(2),
  actions: rows(3).map((r) => r.map((x) => x / 6)),
  valueGoals: rows(4),
  lowActorGoals: rows(5),
  highActorGoals: rows(6),
  highActorTargets: rows(7),
  actorGoals: rows(8),
};
const rewards = [-1, 0, -1, -1];
const masks = [1, 0, 1, 1];

const small = { batchSize: B, actorHiddenDims: [8, 8], valueHiddenDims: [8, 8], repDim: 3 };

async function ours(agent: AgentName, extra: Record<string, unknown> = {}) {
  const c = { ...AGENTS[agent].defaults, ...small, ...extra } as never;
  const step = buildAgentStep(agent, c, { obsDim: 2, actionDim: 2 });
  const state = initAgentParams(step, 11);
  // Make targets differ from the online heads so the target path is exercised.
  for (const [k, v] of state) if (k.startsWith('target_')) v.forEach((x, i) => (v[i] = x * 0.9 + 0.01 * Math.sin(i)));
  const runner = await StepRunner.create(step.spec, step.toState(state), { threads: 1 });
  const arrays: Record<string, Float32Array> = { rewards: Float32Array.from(rewards), masks: Float32Array.from(masks) };
  for (const [k, v] of Object.entries(batchRows)) arrays[k] = Float32Array.from(v.flat());
  const m = await runner.step(batchFeeds(step.batchKeys, arrays, { obsDim: 2, actionDim: 2 }, B));
  const params = new Map([...state].map(([k, v]) => [k, Float32Array.from(v)]));
  // Read the float32 batch back, as the graph saw it.
  const f32 = (k: string) => batchRows[k]!.map((r) => r.map(Math.fround));
  return { m, params, f32 };
}

function near(a: number, b: number, what: string) {
  assert.ok(Math.abs(a - b) <= 2e-5 * Math.max(1, Math.abs(b)), `${what}: ours ${a}, formula ${b}`);
}

function valueLoss(p: P, s: Vec[], s1: Vec[], goals: Vec[], expectile: number, withPhi: boolean) {
  const input = (st: Vec, g: Vec) => (withPhi ? [...st, ...phi(p, st, g)] : [...st, ...g]);
  const terms = s.map((st, i) => {
    const [nv1t, nv2t] = heads(p, 'target_value', input(s1[i]!, goals[i]!));
    const [v1t, v2t] = heads(p, 'target_value', input(st, goals[i]!));
    const [v1, v2] = heads(p, 'value', input(st, goals[i]!));
    const q = rewards[i]! + 0.99 * masks[i]! * Math.min(nv1t!, nv2t!);
    const adv = q - (v1t! + v2t!) / 2;
    const w = adv >= 0 ? expectile : 1 - expectile;
    return [w * (rewards[i]! + 0.99 * masks[i]! * nv1t! - v1!) ** 2, w * (rewards[i]! + 0.99 * masks[i]! * nv2t! - v2!) ** 2];
  });
  return mean(terms.map((t) => t[0]!)) + mean(terms.map((t) => t[1]!));
}

test('hiql: value, low-actor and high-actor losses equal the SPEC formulas', async () => {
  const { m, params: p, f32 } = await ours('hiql');
  const s = f32('observations');
  const s1 = f32('nextObservations');
  const V = (st: Vec, g: Vec) => mean(heads(p, 'value', [...st, ...phi(p, st, g)]));
  const lv = valueLoss(p, s, s1, f32('valueGoals'), 0.7, true);
  const w = f32('lowActorGoals');
  const lo = -mean(
    s.map(
      (st, i) =>
        Math.min(Math.exp(3 * (V(s1[i]!, w[i]!) - V(st, w[i]!))), 100) *
        logProb(f32('actions')[i]!, actor(p, 'low_actor', [...st, ...phi(p, st, w[i]!)])),
    ),
  );
  const gh = f32('highActorGoals');
  const tg = f32('highActorTargets');
  const hi = -mean(
    s.map(
      (st, i) =>
        Math.min(Math.exp(3 * (V(tg[i]!, gh[i]!) - V(st, gh[i]!))), 100) *
        logProb(phi(p, st, tg[i]!), actor(p, 'high_actor', [...st, ...gh[i]!])),
    ),
  );
  near(m['value/value_loss']!, lv, 'value loss');
  near(m['low_actor/actor_loss']!, lo, 'low actor loss');
  near(m['high_actor/actor_loss']!, hi, 'high actor loss');
  near(m['loss']!, lv + lo + hi, 'total');
});

test("gcivl: expectile 0.9 value loss and AWR (alpha 10) on V(s', g) - V(s, g)", async () => {
  const { m, params: p, f32 } = await ours('gcivl');
  const s = f32('observations');
  const s1 = f32('nextObservations');
  const g = f32('actorGoals');
  const V = (st: Vec, gg: Vec) => mean(heads(p, 'value', [...st, ...gg]));
  const lv = valueLoss(p, s, s1, f32('valueGoals'), 0.9, false);
  const la = -mean(
    s.map(
      (st, i) =>
        Math.min(Math.exp(10 * (V(s1[i]!, g[i]!) - V(st, g[i]!))), 100) * logProb(f32('actions')[i]!, actor(p, 'actor', [...st, ...g[i]!])),
    ),
  );
  near(m['value/value_loss']!, lv, 'value loss');
  near(m['actor/actor_loss']!, la, 'actor loss');
});

test('gcbc: -mean log pi(a | s, g)', async () => {
  const { m, params: p, f32 } = await ours('gcbc');
  const s = f32('observations');
  const g = f32('actorGoals');
  near(m['actor/actor_loss']!, -mean(s.map((st, i) => logProb(f32('actions')[i]!, actor(p, 'actor', [...st, ...g[i]!])))), 'bc loss');
});

test("gciql: expectile value on the target critic, critic on r + gamma m V(s', g), and the AWR actor on min Q - V", async () => {
  // The DDPG+BC actor is checked against the authors' numbers (golden-gciql.test.ts); AWR here.
  const { m, params: p, f32 } = await ours('gciql', { actorLoss: 'awr', alpha: 3 });
  const [s, s1, a, vg, ag] = ['observations', 'nextObservations', 'actions', 'valueGoals', 'actorGoals'].map(f32) as Vec[][];
  const V = (st: Vec, g: Vec) => mlp(p, 'value/mlp', [...st, ...g], 2, true, 1)[0]!;
  const Q = (prefix: string, st: Vec, g: Vec, act: Vec) => heads(p, prefix, [...st, ...g, ...act]);
  const lv = mean(
    s!.map((st, i) => {
      const diff = Math.min(...Q('target_critic', st, vg![i]!, a![i]!)) - V(st, vg![i]!);
      return (diff >= 0 ? 0.9 : 0.1) * diff ** 2;
    }),
  );
  const lq = mean(
    s!.map((st, i) => {
      const q = rewards[i]! + 0.99 * masks[i]! * V(s1![i]!, vg![i]!);
      const [q1, q2] = Q('critic', st, vg![i]!, a![i]!);
      return (q1! - q) ** 2 + (q2! - q) ** 2;
    }),
  );
  const advs = s!.map((st, i) => Math.min(...Q('critic', st, ag![i]!, a![i]!)) - V(st, ag![i]!));
  const la = -mean(s!.map((st, i) => Math.min(Math.exp(3 * advs[i]!), 100) * logProb(a![i]!, actor(p, 'actor', [...st, ...ag![i]!]))));
  near(m['value/value_loss']!, lv, 'value loss');
  near(m['critic/critic_loss']!, lq, 'critic loss');
  near(m['actor/adv']!, mean(advs), 'mean advantage');
  near(m['actor/actor_loss']!, la, 'actor loss');
  near(m['loss']!, lv + lq + la, 'total');
});
