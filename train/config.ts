// Config is resolved once: agent defaults, then a preset (with per-dataset overrides), then
// command-line overrides. Unknown keys are rejected with the list of valid ones, invariants are
// checked, and the result is frozen, saved with the run, and read back by eval and export.
import { createHash } from 'node:crypto';
import { AGENTS, AGENT_NAMES, type AgentConfig, type AgentName } from './agents/index.ts';

export const PRESET_NAMES = ['ogbench', 'quick', 'paper'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/** Settings of the training run itself (not of the agent). */
export const TRAINER_DEFAULTS = {
  steps: 1_000_000, // updates to run (presets may lower it)
  seed: 0, // seeds parameters, the goal sampler and evaluation
  seeds: 1, // independent agents trained together in one step graph; agent k uses seed + k (state observations)
  logEvery: 100, // progress line and metrics.jsonl row every N steps
  evalEvery: 100_000, // evaluate every N steps (0: only at the end)
  evalEpisodes: 50, // episodes per task at each evaluation
  saveEvery: 50_000, // checkpoint every N steps (and at the end)
  minutes: 0, // time budget: stop (checkpoint, evaluate) at the first step after this many minutes of this call (0: none)
  threads: 0, // onnxruntime intra-op threads (0: all cores)
  device: 'cpu' as 'cpu' | 'webgpu' | 'cuda', // execution provider of the training step
  actionFraction: 1, // keep actions on this fraction of trajectories (action-free data)
  labelledOnly: false, // train on the labelled trajectories only (flat baselines that cannot use action-free data)
};
export type TrainerConfig = typeof TRAINER_DEFAULTS;

export interface RunConfig {
  agent: AgentName;
  preset: PresetName;
  env: string;
  dataset: string;
  trainer: TrainerConfig;
  agentConfig: AgentConfig;
}

/** What a preset changes, for the agent and the trainer; `dataset` receives the environment name. */
interface Preset {
  agent: (env: string, agent: AgentName) => Record<string, unknown>;
  trainer: Record<string, unknown>;
}

/**
 * docs/spec.md per-dataset settings: discount 0.995 on giant mazes; half random (high-level) actor goals
 * on stitch; the BC weights of OGBench impls/hyperparameters.sh on PointMaze (GCIQL 0.003, QRL 0.0003, CRL 0.03).
 */
function datasetOverrides(env: string, agent: AgentName): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (env.includes('giant')) o['discount'] = 0.995;
  // Pixels (docs/spec.md section 8): the impala-small encoders, phi also trained by the low actor, batch 256.
  if (env.startsWith('visual-') && agent === 'hiql') Object.assign(o, { encoder: 'impala_small', lowActorRepGrad: true, batchSize: 256 });
  if (env.startsWith('pointmaze-') && agent === 'crl') o['alpha'] = 0.03;
  if (env.includes('stitch') && agent !== 'gcbc') {
    o['actorPRandomgoal'] = 0.5;
    o['actorPTrajgoal'] = 0.5;
  }
  if (agent === 'gciql' && env.includes('pointmaze')) o['alpha'] = 0.003;
  // QRL's BC coefficient (OGBench impls/hyperparameters.sh): 0.0003 on PointMaze, else its default 0.003.
  if (agent === 'qrl' && env.startsWith('pointmaze-')) o['alpha'] = 0.0003;
  return o;
}

/** The paper preset is the HIQL paper's setting of HIQL and its flat baselines; CRL is not one of them. */
function paperAgent(agent: AgentName): Record<string, never> {
  // OGBench's CRL maximises Q at the actor's clipped mean: a learned std (the paper preset's
  // actors) would need sampled actions in the step, which this implementation does not have.
  if (agent === 'crl')
    throw new RangeError(`preset 'paper' is the HIQL paper's setting of hiql, gcivl and gcbc; train crl with 'ogbench' or 'quick'`);
  return {};
}

export const PRESETS: Record<PresetName, Preset> = {
  // The published configuration (docs/spec.md sections 1-4): 3 x 512 networks, batch 1024, 1M steps.
  ogbench: { agent: datasetOverrides, trainer: {} },
  // Sized for a 2-core CPU: 3 x 256 networks, batch 256, 50k steps (the reference code reaches about
  // 80% on pointmaze-medium-navigate at this size and budget, docs/spec.md section 7).
  quick: {
    agent: (env, agent) => ({
      ...datasetOverrides(env, agent),
      batchSize: 256,
      actorHiddenDims: [256, 256, 256],
      ...(agent === 'gcbc' ? {} : { valueHiddenDims: [256, 256, 256] }),
      // Pixels on a CPU: narrower encoders (8 / 16 / 16 channels, Dense 128) and batch 64; meant for
      // 16 x 16 frames (hiql data generate --frame-size 16).
      ...(env.startsWith('visual-') && agent === 'hiql' ? { batchSize: 64, encoderChannels: [8, 16, 16], encoderDense: 128 } : {}),
    }),
    trainer: { steps: 50_000, evalEvery: 10_000, evalEpisodes: 20, saveEvery: 10_000 },
  },
  // The original HIQL code: actors 2 x 256 ReLU with a learned log-std, AWR temperature 1. It has no
  // QRL: for qrl this preset is the ogbench one (OGBench's QRL is its own reference implementation).
  paper: {
    agent: (env, agent) =>
      agent === 'qrl'
        ? datasetOverrides(env, agent)
        : {
            ...paperAgent(agent),
            ...datasetOverrides(env, agent),
            actorHiddenDims: [256, 256],
            actorActivation: 'relu',
            // GCIQL's DDPG+BC actor keeps the constant std: with a learned one OGBench evaluates Q at a sampled action.
            ...(agent === 'gciql' ? {} : { learnActorStd: true }),
            ...(agent === 'hiql' ? { lowAlpha: 1, highAlpha: 1 } : agent === 'gcivl' ? { alpha: 1 } : {}),
          },
    trainer: {},
  },
};

/** Parses a command-line string into the type of `like` (numbers, booleans, number lists, strings). */
function coerce(key: string, raw: unknown, like: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  if (typeof like === 'number') {
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new RangeError(`config '${key}' expects a number, got '${raw}'`);
    return n;
  }
  if (typeof like === 'boolean') {
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    throw new RangeError(`config '${key}' expects true or false, got '${raw}'`);
  }
  if (Array.isArray(like)) {
    const parts = raw.split(',').map((x) => Number(x.trim()));
    if (parts.length === 0 || parts.some((x) => !Number.isInteger(x) || x <= 0))
      throw new RangeError(`config '${key}' expects positive integers separated by commas, got '${raw}'`);
    return parts;
  }
  return raw;
}

function merge(target: Record<string, unknown>, src: Record<string, unknown>, where: string): void {
  for (const [k, v] of Object.entries(src)) {
    if (!(k in target)) throw new RangeError(`${where}: unknown key '${k}'; valid keys: ${Object.keys(target).join(', ')}`);
    target[k] = coerce(k, v, target[k]);
  }
}

function check(cond: boolean, msg: string): void {
  if (!cond) throw new RangeError(`invalid config: ${msg}`);
}

function validate(c: Record<string, number & boolean & number[]>, t: TrainerConfig): void {
  const probs = (a: string, b: string, d: string) => {
    if (!(a in c)) return;
    const s = (c[a] ?? 0) + (c[b] ?? 0) + (c[d] ?? 0);
    check(Math.abs(s - 1) < 1e-9, `${a} + ${b} + ${d} must sum to 1, got ${s}`);
    for (const k of [a, b, d]) if (k in c) check(c[k]! >= 0 && c[k]! <= 1, `${k} must be in [0, 1], got ${c[k]}`);
  };
  probs('valuePCurgoal', 'valuePTrajgoal', 'valuePRandomgoal');
  if ('actorPCurgoal' in c) probs('actorPCurgoal', 'actorPTrajgoal', 'actorPRandomgoal');
  else check(Math.abs(c['actorPTrajgoal']! + c['actorPRandomgoal']! - 1) < 1e-9, `actorPTrajgoal + actorPRandomgoal must sum to 1`);
  check(c['lr']! > 0, `lr must be positive`);
  check(Number.isInteger(c['batchSize']) && c['batchSize']! > 0, `batchSize must be a positive integer`);
  check(c['discount']! > 0 && c['discount']! < 1, `discount must be in (0, 1)`);
  if ('expectile' in c) check(c['expectile']! > 0 && c['expectile']! < 1, `expectile must be in (0, 1)`);
  if ('tau' in c) check(c['tau']! > 0 && c['tau']! <= 1, `tau must be in (0, 1]`);
  if ('subgoalSteps' in c) check(Number.isInteger(c['subgoalSteps']) && c['subgoalSteps']! >= 1, `subgoalSteps must be a positive integer`);
  if ('repDim' in c) check(Number.isInteger(c['repDim']) && c['repDim']! >= 1, `repDim must be a positive integer`);
  // QRL's IQE cuts the latent into components of 8 (train/agents/qrl.ts).
  if ('latentDim' in c)
    check(
      Number.isInteger(c['latentDim']) && c['latentDim']! >= 8 && c['latentDim']! % 8 === 0,
      `latentDim must be a positive multiple of 8`,
    );
  if ('eps' in c) check(c['eps']! > 0, `eps must be positive`);
  if ('encoder' in c) {
    const enc = c['encoder'] as unknown as string;
    check(enc === 'none' || enc === 'impala_small', `encoder must be 'none' or 'impala_small', got '${enc}'`);
    check((c['encoderChannels'] as unknown as number[]).length >= 1, `encoderChannels needs at least one stack`);
    check(Number.isInteger(c['encoderDense']) && c['encoderDense']! >= 1, `encoderDense must be a positive integer`);
  }
  const act = c['actorActivation'] as unknown as string;
  // QRL's actor is OGBench's GELU one and has no such key.
  if ('actorActivation' in c) check(act === 'gelu' || act === 'relu', `actorActivation must be 'gelu' or 'relu', got '${act}'`);
  if ('actorLoss' in c) {
    const al = c['actorLoss'] as unknown as string;
    check(al === 'ddpgbc' || al === 'awr', `actorLoss must be 'ddpgbc' or 'awr', got '${al}'`);
    // OGBench's DDPG+BC with a learned std evaluates Q at an action sampled with the agent's RNG (not ported).
    check(al === 'awr' || !c['learnActorStd'], `actorLoss 'ddpgbc' needs learnActorStd false (constant std)`);
  }
  const int = (k: keyof TrainerConfig, min: number) => {
    const v = t[k] as number;
    check(Number.isInteger(v) && v >= min, `${k} must be ${min === 0 ? 'an integer >= 0' : 'a positive integer'}, got ${v}`);
  };
  int('steps', 1);
  int('seed', 0);
  int('seeds', 1);
  int('logEvery', 1);
  int('evalEvery', 0);
  int('evalEpisodes', 1);
  int('saveEvery', 0);
  int('threads', 0);
  check(t.actionFraction > 0 && t.actionFraction <= 1, `actionFraction must be in (0, 1]`);
  check(Number.isFinite(t.minutes) && t.minutes >= 0, `minutes must be a number >= 0, got ${t.minutes}`);
  check(['cpu', 'webgpu', 'cuda'].includes(t.device), `device must be cpu, webgpu or cuda, got '${t.device}'`);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/**
 * Resolves a run's config. `overrides` are key -> value (strings from the command line are coerced
 * to the default's type); each key must be a trainer or agent key.
 */
export function resolveConfig(o: {
  agent: string;
  preset?: string;
  env: string;
  dataset: string;
  overrides?: Record<string, unknown>;
}): RunConfig {
  if (!AGENT_NAMES.includes(o.agent as AgentName))
    throw new RangeError(`unknown agent '${o.agent}'; valid agents: ${AGENT_NAMES.join(', ')}`);
  const agent = o.agent as AgentName;
  const presetName = (o.preset ?? 'ogbench') as PresetName;
  if (!PRESET_NAMES.includes(presetName)) throw new RangeError(`unknown preset '${o.preset}'; valid presets: ${PRESET_NAMES.join(', ')}`);
  const preset = PRESETS[presetName];
  const agentConfig = structuredClone(AGENTS[agent].defaults) as unknown as Record<string, unknown>;
  const trainer = structuredClone(TRAINER_DEFAULTS) as unknown as Record<string, unknown>;
  merge(agentConfig, preset.agent(o.env, agent), `preset '${presetName}'`);
  merge(trainer, preset.trainer, `preset '${presetName}'`);
  for (const [k, v] of Object.entries(o.overrides ?? {})) {
    if (k in trainer) merge(trainer, { [k]: v }, 'override');
    else if (k in agentConfig) merge(agentConfig, { [k]: v }, 'override');
    else
      throw new RangeError(
        `unknown option '${k}' for agent ${agent}; valid keys: ${[...Object.keys(trainer), ...Object.keys(agentConfig)].join(', ')}`,
      );
  }
  validate(agentConfig as never, trainer as TrainerConfig);
  return deepFreeze({
    agent,
    preset: presetName,
    env: o.env,
    dataset: o.dataset,
    trainer: trainer as TrainerConfig,
    agentConfig: agentConfig as AgentConfig,
  });
}

/** sha256 of the canonical JSON of the agent config (what determines the network and the losses). */
export function configHash(c: RunConfig): string {
  // The encoder keys do not shape a state-based agent: leaving them out keeps the hashes of runs
  // and models made before pixels existed.
  const ac = { ...(c.agentConfig as Record<string, unknown>) };
  if (ac['encoder'] === undefined || ac['encoder'] === 'none') for (const k of ['encoder', 'encoderChannels', 'encoderDense']) delete ac[k];
  const canon = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, canon((v as Record<string, unknown>)[k])]),
        )
      : v;
  return createHash('sha256')
    .update(JSON.stringify(canon({ agent: c.agent, agentConfig: ac })))
    .digest('hex');
}
