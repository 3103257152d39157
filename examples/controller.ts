// A fixed-rate control loop: a HIQL policy (through @hiql/runtime) drives the PointMaze simulator at
// a fixed tick rate, as a robot controller would drive hardware. Each tick reads the observation,
// asks the policy for an action, applies it, then sleeps until the next tick. The loop records how
// long each policy call took and every missed deadline, and prints a summary.
//
//   node --import tsx examples/controller.ts [MODEL] [--hz 100] [--task 1] [--episodes 1] [--seed 0]
//        [--subgoal-every 1] [--backend cpu|wasm|cuda|webgpu] [--fallback cpu|wasm] [--threads 1]
//        [--max-steps 1000] [--spin-ms 1.5]
//
// MODEL defaults to models/pointmaze-medium-navigate-hiql.onnx (its .low/.phi companions beside it).
// Timing: a tick's deadline is the start of the next tick. Waiting uses setTimeout until `spin-ms`
// before the tick and then spins on performance.now(), because Node's timers alone jitter by about a
// millisecond (10% of a 100 Hz period).
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { loadPolicy, type Backend, type FallbackBackend } from '../runtime/src/index.ts';
import { parseEnvName } from '../envs/datasets.ts';
import { PointMazeEnv } from '../envs/pointmaze.ts';
import { Rng, deriveSeed } from '../rng/rng.ts';

export interface ControllerOptions {
  model: string;
  hz: number;
  task: number;
  episodes: number;
  seed: number;
  subgoalEvery: number;
  backend: Backend;
  fallback?: FallbackBackend;
  threads: number;
  maxSteps?: number;
  spinMs: number;
}

export interface ControllerSummary {
  model: string;
  env: string;
  backend: string;
  fallback: { from: string; reason: string } | null;
  hz: number;
  subgoalEvery: number;
  episodes: { task: number; success: boolean; steps: number; finalDistance: number }[];
  ticks: number;
  /** Ticks whose work (policy call + simulator step) ended after the next tick was due. */
  deadlineMisses: number;
  /** Ticks that started more than 10% of a period late (the loop was behind or the OS delayed it). */
  lateStarts: number;
  actUs: { p50: number; p90: number; p99: number; max: number; mean: number };
  startLatenessUs: { p50: number; p99: number; max: number };
  wallSeconds: number;
  achievedHz: number;
}

const HELP = `usage: node --import tsx examples/controller.ts [MODEL] [--hz 100] [--task 1] [--episodes 1] [--seed 0]
       [--subgoal-every 1] [--backend cpu|wasm|cuda|webgpu] [--fallback cpu|wasm] [--threads 1] [--max-steps N] [--spin-ms 1.5]`;

export function parseArgs(argv: readonly string[]): ControllerOptions {
  const o: ControllerOptions = {
    model: 'models/pointmaze-medium-navigate-hiql.onnx',
    hz: 100,
    task: 1,
    episodes: 1,
    seed: 0,
    subgoalEvery: 1,
    backend: 'cpu',
    threads: 1,
    spinMs: 1.5,
  };
  let positional = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (min: number, integer: boolean) => {
      const raw = argv[++i];
      const v = Number(raw);
      if (raw === undefined || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v)))
        throw new RangeError(`${a} expects ${integer ? 'an integer' : 'a number'} >= ${min}, got '${raw ?? ''}'`);
      return v;
    };
    if (a === '--hz') {
      o.hz = num(0, false);
      if (o.hz === 0) throw new RangeError(`--hz expects a positive number, got '0'`);
    } else if (a === '--task') o.task = num(1, true);
    else if (a === '--episodes') o.episodes = num(1, true);
    else if (a === '--seed') o.seed = num(0, true);
    else if (a === '--subgoal-every') o.subgoalEvery = num(1, true);
    else if (a === '--threads') o.threads = num(1, true);
    else if (a === '--max-steps') o.maxSteps = num(1, true);
    else if (a === '--spin-ms') o.spinMs = num(0, false);
    else if (a === '--backend') o.backend = argv[++i] as Backend;
    else if (a === '--fallback') o.fallback = argv[++i] as FallbackBackend;
    else if (a.startsWith('--')) throw new RangeError(`unknown option '${a}'\n${HELP}`);
    else if (positional++ === 0) o.model = a;
    else throw new RangeError(`unexpected argument '${a}'\n${HELP}`);
  }
  return o;
}

function quantile(sorted: Float64Array, p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN;
}

/** Waits until performance.now() >= t: a timer for the bulk, then a spin for the last `spinMs`. */
async function waitUntil(t: number, spinMs: number): Promise<void> {
  const coarse = t - performance.now() - spinMs;
  if (coarse > 0) await new Promise((r) => setTimeout(r, coarse));
  while (performance.now() < t) {
    // spin
  }
}

export async function runController(
  o: ControllerOptions,
  onEpisode?: (e: ControllerSummary['episodes'][number]) => void,
  signal?: AbortSignal,
): Promise<ControllerSummary> {
  if (!existsSync(o.model)) throw new Error(`no policy at '${o.model}'; export one with: hiql export runs/NAME --out ${o.model}`);
  const policy = await loadPolicy(o.model, { backend: o.backend, fallback: o.fallback, threads: o.threads });
  const info = policy.info;
  const { maze } = parseEnvName(info.env);
  const env = new PointMazeEnv(maze, o.maxSteps ? { maxSteps: o.maxSteps } : {});
  const controller = policy.controller({ subgoalEvery: o.subgoalEvery });
  const period = 1000 / o.hz;
  const maxTicks = o.episodes * env.maxSteps;
  const actMs = new Float64Array(maxTicks);
  const lateness = new Float64Array(maxTicks);
  let ticks = 0;
  let misses = 0;
  let lateStarts = 0;
  const episodes: ControllerSummary['episodes'] = [];

  // Warm-up: the first calls of a session are slower (allocation, caches); not part of the loop.
  const warm = env.reset(o.task, new Rng(1));
  for (let i = 0; i < 50; i++) await policy.act(warm.obs, warm.goal);

  const t0 = performance.now();
  let next = t0;
  for (let ep = 0; ep < o.episodes && !signal?.aborted; ep++) {
    const start0 = env.reset(o.task, new Rng(deriveSeed(o.seed, 'controller', o.task, ep)));
    let obs = start0.obs;
    const goal = start0.goal;
    controller.reset();
    while (!env.done && !signal?.aborted) {
      await waitUntil(next, o.spinMs);
      const start = performance.now();
      const late = start - next;
      lateness[ticks] = late;
      if (late > 0.1 * period) lateStarts++;
      const action = await controller.act(obs, goal);
      actMs[ticks] = performance.now() - start;
      obs = env.step(action).obs;
      const deadline = next + period;
      if (performance.now() > deadline) misses++;
      ticks++;
      // Fixed rate: the next tick is due one period after this one was, however late this one ran;
      // if the loop fell more than a period behind, skip the missed ticks rather than burst.
      next = deadline;
      if (performance.now() > next + period) next = performance.now();
    }
    const [x, y] = env.position;
    const [gx, gy] = env.goal;
    const e = { task: o.task, success: env.success, steps: env.steps, finalDistance: Math.hypot(x - gx, y - gy) };
    episodes.push(e);
    onEpisode?.(e);
  }
  const wallSeconds = (performance.now() - t0) / 1000;
  await policy.release();
  const act = actMs.slice(0, ticks).sort();
  const lat = lateness.slice(0, ticks).sort();
  let sum = 0;
  for (const v of act) sum += v;
  return {
    model: o.model,
    env: info.env,
    backend: `${policy.engine} ${policy.backend}`,
    fallback: policy.fallback,
    hz: o.hz,
    subgoalEvery: o.subgoalEvery,
    episodes,
    ticks,
    deadlineMisses: misses,
    lateStarts,
    actUs: {
      p50: quantile(act, 0.5) * 1e3,
      p90: quantile(act, 0.9) * 1e3,
      p99: quantile(act, 0.99) * 1e3,
      max: (act[ticks - 1] ?? NaN) * 1e3,
      mean: (sum / Math.max(1, ticks)) * 1e3,
    },
    startLatenessUs: { p50: quantile(lat, 0.5) * 1e3, p99: quantile(lat, 0.99) * 1e3, max: (lat[ticks - 1] ?? NaN) * 1e3 },
    wallSeconds,
    achievedHz: ticks / wallSeconds,
  };
}

export function formatSummary(s: ControllerSummary): string {
  const f = (x: number) => x.toFixed(1);
  const fell = s.fallback ? ` (fell back from ${s.fallback.from}: ${s.fallback.reason})` : '';
  const episode = (e: ControllerSummary['episodes'][number]) =>
    `task ${e.task}: ${e.success ? 'reached the goal' : 'did not reach the goal'} in ${e.steps} steps ` +
    `(final distance ${e.finalDistance.toFixed(2)})`;
  const missed = ((100 * s.deadlineMisses) / Math.max(1, s.ticks)).toFixed(2);
  const a = s.actUs;
  const j = s.startLatenessUs;
  const lines = [
    `policy   ${s.model} (${s.env}), ${s.backend}${fell}, subgoal every ${s.subgoalEvery} step(s)`,
    `episodes ${s.episodes.map(episode).join('; ')}`,
    `rate     ${s.hz} Hz target, ${f(s.achievedHz)} Hz achieved over ${s.ticks} ticks in ${s.wallSeconds.toFixed(2)} s`,
    `deadline ${s.deadlineMisses} missed (${missed}%), ${s.lateStarts} ticks started more than 10% of a period late`,
    `act      p50 ${f(a.p50)} us, p90 ${f(a.p90)} us, p99 ${f(a.p99)} us, max ${f(a.max)} us, mean ${f(a.mean)} us ` +
      `(budget ${f(1e6 / s.hz)} us per tick)`,
    `jitter   tick start lateness p50 ${f(j.p50)} us, p99 ${f(j.p99)} us, max ${f(j.max)} us`,
  ];
  return lines.join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  const o = parseArgs(argv);
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  console.error(`driving PointMaze with ${o.model} at ${o.hz} Hz (Ctrl-C stops and prints the summary) ...`);
  const s = await runController(
    o,
    (e) => console.error(`  episode: task ${e.task}, ${e.success ? 'success' : 'no success'} after ${e.steps} steps`),
    abort.signal,
  );
  console.log(formatSummary(s));
  console.log(JSON.stringify(s));
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (e) {
    console.error(`controller: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  }
}
