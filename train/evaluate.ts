// Evaluation (docs/spec.md section 7): the evaluation tasks of a maze, N episodes each, deterministic
// actions; all episodes stepped in lockstep with one batched policy call per step. The policy is any
// function from (observations, goals) to actions, so the same protocol runs a training-time session
// and an exported model through the runtime.
import { getMaze } from '../envs/maze.ts';
import { VecPointMaze } from '../envs/pointmaze.ts';
import { deriveSeed } from '../rng/rng.ts';
import { parseEnvName } from '../envs/datasets.ts';
import { renderPixelObservations } from '../envs/render.ts';

/**
 * Actions [n * actionDim] for observations and goals [n * obsDim]: float32 positions, or for a
 * visual environment uint8 frames [n * size * size * 3] of envs/render.ts renderPixelObservation.
 */
export type BatchPolicy = (observations: Float32Array | Uint8Array, goals: Float32Array | Uint8Array, n: number) => Promise<Float32Array>;

export interface EvalResult {
  env: string;
  episodesPerTask: number;
  /** Success rate of each task (task 1 first). */
  tasks: { task: number; success: number; meanSteps: number }[];
  success: number;
}

export interface EvalOptions {
  episodesPerTask: number;
  seed: number;
  /**
   * Visual environments: the policy sees size x size x 3 frames rendered at the ball's position and
   * at the goal (the goal marker is never drawn). Required for a visual-* environment.
   */
  frameSize?: number;
  /** Tasks to run (default all five). */
  tasks?: number[];
  /** Called every `progressEvery` steps with (step, episodes still running). */
  onProgress?: (step: number, running: number) => void;
}

export async function evaluate(env: string, policy: BatchPolicy, o: EvalOptions): Promise<EvalResult> {
  const { maze, visual } = parseEnvName(env);
  const spec = getMaze(maze);
  if (visual && o.frameSize === undefined) throw new RangeError(`evaluate: '${env}' is a visual environment; give the policy's frameSize`);
  if (!visual && o.frameSize !== undefined)
    throw new RangeError(`evaluate: frameSize is for visual environments, '${env}' has state observations`);
  const tasks = o.tasks ?? spec.tasks.map((t) => t.id);
  const n = tasks.length * o.episodesPerTask;
  const vec = new VecPointMaze(spec, n);
  const ids = new Int32Array(n);
  tasks.forEach((t, i) => ids.fill(t, i * o.episodesPerTask, (i + 1) * o.episodesPerTask));
  // The seed stream is the state environment's: a visual run is evaluated on the same episodes.
  vec.reset(ids, deriveSeed(o.seed, 'eval', env.replace(/^visual-/, '')));
  const size = o.frameSize ?? 0;
  const obsFrames = visual ? new Uint8Array(n * size * size * 3) : null;
  const goalFrames = visual ? renderPixelObservations(spec, vec.goals, n, size) : null;
  let step = 0;
  while (vec.numRunning > 0) {
    const actions = obsFrames
      ? await policy(renderPixelObservations(spec, vec.obs, n, size, obsFrames), goalFrames!, n)
      : await policy(vec.obs, vec.goals, n);
    vec.step(actions);
    step++;
    if (o.onProgress && step % 100 === 0) o.onProgress(step, vec.numRunning);
  }
  const perTask = tasks.map((task, i) => {
    let s = 0;
    let steps = 0;
    for (let e = i * o.episodesPerTask; e < (i + 1) * o.episodesPerTask; e++) {
      s += vec.success[e]!;
      steps += vec.steps[e]!;
    }
    return { task, success: s / o.episodesPerTask, meanSteps: steps / o.episodesPerTask };
  });
  return { env, episodesPerTask: o.episodesPerTask, tasks: perTask, success: perTask.reduce((a, t) => a + t.success, 0) / perTask.length };
}
