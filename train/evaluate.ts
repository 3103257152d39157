// Evaluation (docs/spec.md section 7): the evaluation tasks of a maze, N episodes each, deterministic
// actions; all episodes stepped in lockstep with one batched policy call per step. The policy is any
// function from (observations, goals) to actions, so the same protocol runs a training-time session
// and an exported model through the runtime.
import { getMaze } from '../envs/maze.ts';
import { VecPointMaze } from '../envs/pointmaze.ts';
import { deriveSeed } from '../rng/rng.ts';
import { parseEnvName } from '../envs/datasets.ts';
import { COLORS, PALETTE, fillDisc, mazeTransform, renderMaze, renderPixelObservations, ring, type RGBAImage } from '../envs/render.ts';
import { GOAL_TOLERANCE } from '../envs/pointmaze.ts';

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
  /** With EvalOptions.record: the ball's path in the first `record` episodes of each task. */
  paths?: EpisodePath[];
}

export interface EpisodePath {
  task: number;
  /** Interleaved world positions x0, y0, x1, y1, ... from the reset to the episode's end. */
  xy: Float32Array;
  goal: [number, number];
  success: boolean;
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
  /** Keep the paths of this many episodes per task (the first ones) in the result's `paths`. */
  record?: number;
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
  // Recorded episodes (the first `record` of each task) and their paths so far; none unless asked.
  const record = Math.min(o.record ?? 0, o.episodesPerTask);
  const recorded = tasks.flatMap((_, i) => Array.from({ length: record }, (_, k) => i * o.episodesPerTask + k));
  const xs = recorded.map((e) => [vec.pos[2 * e]!, vec.pos[2 * e + 1]!]);
  let step = 0;
  while (vec.numRunning > 0) {
    const actions = obsFrames
      ? await policy(renderPixelObservations(spec, vec.obs, n, size, obsFrames), goalFrames!, n)
      : await policy(vec.obs, vec.goals, n);
    if (recorded.length === 0) vec.step(actions);
    else {
      const wasRunning = recorded.map((e) => !vec.done[e]);
      vec.step(actions);
      recorded.forEach((e, k) => {
        if (wasRunning[k]) xs[k]!.push(vec.pos[2 * e]!, vec.pos[2 * e + 1]!);
      });
    }
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
  const paths = recorded.map((e, k) => ({
    task: vec.taskIds[e]!,
    xy: Float32Array.from(xs[k]!),
    goal: [vec.goals[2 * e]!, vec.goals[2 * e + 1]!] as [number, number],
    success: vec.success[e] === 1,
  }));
  const success = perTask.reduce((a, t) => a + t.success, 0) / perTask.length;
  return { env, episodesPerTask: o.episodesPerTask, tasks: perTask, success, ...(record > 0 ? { paths } : {}) };
}

/**
 * A picture of recorded episodes (EvalOptions.record) on the maze: each task's paths in its own
 * colour, solid where the episode reached its goal and faint where it did not, the goals as discs
 * ringed at the success radius and each path's start as a dot edged in the walls' colour.
 */
export function evalPathsPicture(env: string, paths: readonly EpisodePath[], pixelsPerUnit = 12): RGBAImage {
  const maze = getMaze(parseEnvName(env).maze);
  const colour = (task: number) => PALETTE[(task - 1) % PALETTE.length]!;
  const img = renderMaze(maze, {
    pixelsPerUnit,
    trajectories: paths.map((p) => ({ points: p.xy, color: colour(p.task), width: 2, alpha: p.success ? 0.9 : 0.35 })),
  });
  const tf = mazeTransform(maze, pixelsPerUnit);
  for (const p of paths) {
    const [sx, sy] = tf.toPixel(p.xy[0]!, p.xy[1]!);
    fillDisc(img, sx, sy, 0.3 * pixelsPerUnit, COLORS.wall, 1);
    fillDisc(img, sx, sy, 0.18 * pixelsPerUnit, colour(p.task), 1);
    const [gx, gy] = tf.toPixel(p.goal[0], p.goal[1]);
    ring(img, gx, gy, GOAL_TOLERANCE * pixelsPerUnit, 1.5, colour(p.task), 0.9);
    fillDisc(img, gx, gy, 0.45 * pixelsPerUnit, colour(p.task), 1);
  }
  return img;
}
