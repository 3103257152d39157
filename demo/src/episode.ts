// One PointMaze episode driven by a loaded policy: one policy call per environment step, with the
// trajectory, the high level's latest subgoal latent and per-step inference times recorded.
import { PointMazeEnv, MAX_EPISODE_STEPS } from '../../envs/pointmaze.ts';
import { cellCenter, getTask, type MazeSpec } from '../../envs/maze.ts';
import { Rng } from '../../rng/rng.ts';
import type { Policy } from '../../runtime/src/web.ts';

export type EpisodeStatus = 'idle' | 'running' | 'success' | 'timeout';

export class Episode {
  readonly env: PointMazeEnv;
  /** Interleaved x, y of every position visited (start included). */
  trajectory: number[] = [];
  start: [number, number] = [0, 0];
  /** The high level's subgoal latent z at the last step (null for flat policies or before a step). */
  z: Float32Array | null = null;
  /** Observation the latest z was computed at. */
  zAt: [number, number] = [0, 0];
  /** Milliseconds of each policy call of this episode. */
  times: number[] = [];
  status: EpisodeStatus = 'idle';
  task: number | null = null;
  /** Bumped by every reset: a step in flight across a reset is dropped. */
  private epoch = 0;
  private obs: Float32Array = new Float32Array(2);
  private goalV: Float32Array = new Float32Array(2);
  private rng = new Rng(1);

  constructor(
    readonly maze: MazeSpec,
    maxSteps = MAX_EPISODE_STEPS,
  ) {
    this.env = new PointMazeEnv(maze, { maxSteps });
  }

  /** Evaluation task `task` (1..5) with the reference reset noise, drawn from `seed`. */
  resetTask(task: number, seed: number): void {
    getTask(this.maze, task);
    this.rng = new Rng(seed);
    const { obs, goal } = this.env.reset(task, this.rng);
    this.begin(obs, goal);
    this.task = task;
  }

  /** An episode from `start` (pushed out of walls) to `goal`. */
  resetTo(start: readonly [number, number], goal: readonly [number, number]): void {
    const { obs, goal: g } = this.env.resetTo(start, goal, this.rng);
    this.begin(obs, g);
    this.task = null;
  }

  /** Task `task` without noise (cell centres): the state shown before anything runs. */
  resetTaskCentres(task: number): void {
    const t = getTask(this.maze, task);
    this.resetTo(cellCenter(t.start), cellCenter(t.goal));
    this.task = task;
  }

  private begin(obs: Float32Array, goal: Float32Array): void {
    this.obs = Float32Array.from(obs);
    this.goalV = Float32Array.from(goal);
    this.start = [obs[0]!, obs[1]!];
    this.trajectory = [obs[0]!, obs[1]!];
    this.z = null;
    this.times = [];
    this.status = 'running';
    this.epoch++;
  }

  get position(): [number, number] {
    return this.env.position;
  }
  get goal(): [number, number] {
    return [this.goalV[0]!, this.goalV[1]!];
  }
  get steps(): number {
    return this.env.steps;
  }
  get done(): boolean {
    return this.status === 'success' || this.status === 'timeout';
  }

  /** Runs up to `n` steps (fewer if the episode ends). */
  async advance(policy: Policy, n: number): Promise<void> {
    const hier = policy.info.hierarchical;
    const epoch = this.epoch;
    for (let k = 0; k < n && this.status === 'running' && epoch === this.epoch; k++) {
      const t0 = performance.now();
      const obs = this.obs;
      let action: Float32Array;
      let z: Float32Array | null = null;
      if (hier) {
        const r = await policy.actWithSubgoal(obs, this.goalV);
        action = r.action;
        z = Float32Array.from(r.subgoal);
      } else {
        action = await policy.act(obs, this.goalV);
      }
      if (epoch !== this.epoch) return;
      if (z) {
        this.z = z;
        this.zAt = [obs[0]!, obs[1]!];
      }
      this.times.push(performance.now() - t0);
      const r = this.env.step(action);
      this.obs = r.obs;
      this.trajectory.push(r.obs[0]!, r.obs[1]!);
      if (r.done) this.status = r.success ? 'success' : 'timeout';
    }
  }

  /** Mean and last policy-call time in ms (NaN before the first step). */
  timing(): { last: number; mean: number; median: number } {
    const t = this.times;
    if (t.length === 0) return { last: NaN, mean: NaN, median: NaN };
    const sorted = [...t].sort((a, b) => a - b);
    return { last: t[t.length - 1]!, mean: t.reduce((s, x) => s + x, 0) / t.length, median: sorted[sorted.length >> 1]! };
  }
}
